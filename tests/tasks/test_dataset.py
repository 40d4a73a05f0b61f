"""Tests of the input-dataset loader and of the committed sample email dataset."""

import datetime as dt
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from synth_assets.batch.errors import SynthError
from synth_assets.tasks import dataset
from synth_assets.tasks.dataset import DatasetError, DatasetSpec, list_partitions, read_partition

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "emails"
GENERATOR = REPO / "scripts" / "make_sample_emails.py"
DAYS = [f"2026-11-0{d}" for d in range(1, 8)]
COLUMNS = ["email_id", "date", "sender", "subject", "body", "language", "label"]


def sample_rows() -> list[dict]:
    """The committed sample, parsed with the standard library (the reference reading)."""
    rows = []
    for day in DAYS:
        with (SAMPLE / f"date={day}" / "emails.jsonl").open(encoding="utf-8") as f:
            rows += [json.loads(line) for line in f]
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def assert_one_sentence(message: str) -> None:
    """User-facing errors are one sentence: one line, one full stop at the end."""
    assert "\n" not in message
    assert message.endswith(".")
    assert not re.search(r"[.!?] [A-Z]", message), message


def raises(spec: DatasetSpec, date: str | None = None) -> str:
    """Run read_partition (or list_partitions without a date) and return the error."""
    with pytest.raises(DatasetError) as info:
        if date is None:
            list_partitions(spec)
        else:
            read_partition(spec, date)
    message = str(info.value)
    assert_one_sentence(message)
    return message


# ---------------------------------------------------------------------------------------
# The committed sample dataset
# ---------------------------------------------------------------------------------------


def test_sample_dataset_shape() -> None:
    rows = sample_rows()
    assert sorted(p.name for p in SAMPLE.iterdir()) == [f"date={d}" for d in DAYS]
    per_day = {day: [r for r in rows if r["date"] == day] for day in DAYS}
    assert all(200 <= len(day_rows) <= 400 for day_rows in per_day.values())
    assert len({len(day_rows) for day_rows in per_day.values()}) > 3  # varies per day
    assert all(list(r) == COLUMNS for r in rows)
    ids = [r["email_id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"em-\d{8}-\d{4}", i) and len(i) <= 40 for i in ids)
    assert {r["label"] for r in rows} == {"spam", "not_spam"}
    spam_share = sum(r["label"] == "spam" for r in rows) / len(rows)
    assert 0.30 <= spam_share <= 0.45
    assert {"en", "de", "fr", "es", "pt", "it"} <= {r["language"] for r in rows}
    bodies = [r["body"] for r in rows]
    assert sum(len(b) > 2000 for b in bodies) >= 3
    assert min(len(b) for b in bodies) < 100
    for needle in [
        "\u200b",
        "\t",
        "\\",
        '"',
        "\n",
        "\r",
        "\ufeff",
        "😊",
        "🎉",
        "東京",
        "مع",
        "בברכה",
    ]:
        assert any(needle in b for b in bodies), needle
    assert sum(p.stat().st_size for p in SAMPLE.rglob("*.jsonl")) < 3_000_000


def test_read_sample_partitions() -> None:
    spec = DatasetSpec(str(SAMPLE), extra_columns=("label", "language"))
    assert list_partitions(spec) == DAYS
    reference = sample_rows()
    for day in DAYS:
        table = read_partition(spec, day)
        assert table.schema.names == ["id", "text", "label", "language"]
        assert table.schema.field("id").type == pa.string()
        assert table.schema.field("text").type == pa.string()
        expected = [r for r in reference if r["date"] == day]
        # Byte-exact text (emoji, RTL, zero-width spaces, BOMs, CRLF) and file order.
        assert table.column("id").to_pylist() == [r["email_id"] for r in expected]
        assert table.column("text").to_pylist() == [r["body"] for r in expected]
        assert table.column("label").to_pylist() == [r["label"] for r in expected]


def test_generator_is_deterministic_and_matches_committed_files(tmp_path: Path) -> None:
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        subprocess.run(
            [sys.executable, str(GENERATOR), "--out", str(out)],
            check=True,
            capture_output=True,
            cwd=tmp_path,
        )
    for day in DAYS:
        name = Path(f"date={day}") / "emails.jsonl"
        committed = (SAMPLE / name).read_bytes()
        assert (outs[0] / name).read_bytes() == committed
        assert (outs[1] / name).read_bytes() == committed
    assert sorted(p.name for p in outs[0].iterdir()) == [f"date={d}" for d in DAYS]


def test_generator_seed_changes_output(tmp_path: Path) -> None:
    out = tmp_path / "seed7"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out), "--seed", "7"],
        check=True,
        capture_output=True,
    )
    name = Path(f"date={DAYS[0]}") / "emails.jsonl"
    assert (out / name).read_bytes() != (SAMPLE / name).read_bytes()


# ---------------------------------------------------------------------------------------
# The same data in every supported layout and format
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def single_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sample as one file per format, each with a date column."""
    folder = tmp_path_factory.mktemp("single")
    rows = sample_rows()
    table = pa.Table.from_pylist(rows)
    files = {"jsonl": write_jsonl(folder / "emails.jsonl", rows)}
    pa_csv.write_csv(table, folder / "emails.csv")
    files["csv"] = folder / "emails.csv"
    # Parquet with a real date32 column, the way most warehouses export it.
    typed = table.set_column(
        table.schema.get_field_index("date"),
        "date",
        pa.array([dt.date.fromisoformat(r["date"]) for r in rows], pa.date32()),
    )
    pq.write_table(typed, folder / "emails.parquet", row_group_size=500)
    files["parquet"] = folder / "emails.parquet"
    with gzip.open(folder / "emails.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    files["jsonl.gz"] = folder / "emails.jsonl.gz"
    return files


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "jsonl.gz"])
def test_single_file_matches_hive_folder(single_files: dict[str, Path], fmt: str) -> None:
    hive = DatasetSpec(str(SAMPLE), extra_columns=("label",))
    single = DatasetSpec(str(single_files[fmt]), extra_columns=("label",))
    assert list_partitions(single) == DAYS
    for day in DAYS:
        expected = read_partition(hive, day)
        got = read_partition(single, day)
        assert got.schema.names == ["id", "text", "label"]
        assert got.column("id").to_pylist() == expected.column("id").to_pylist()
        assert got.column("text").to_pylist() == expected.column("text").to_pylist()
        assert got.column("label").to_pylist() == expected.column("label").to_pylist()


def test_explicit_format_overrides_extension(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "emails.txt", [{"email_id": "a", "body": "x", "date": DAYS[0]}])
    assert raises(DatasetSpec(str(path)), DAYS[0]).startswith("Cannot tell the format of")
    table = read_partition(DatasetSpec(str(path), format="jsonl"), DAYS[0])
    assert table.column("id").to_pylist() == ["a"]


def test_custom_columns_integer_ids_and_extras(tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(
        "ticket,content,day,priority\n"
        "00042,first,2026-11-01,1\n"
        "7,second,2026-11-01,3\n"
        "8,other day,2026-11-02,2\n",
        encoding="utf-8",
    )
    spec = DatasetSpec(
        str(path),
        id_column="ticket",
        text_column="content",
        date_column="day",
        extra_columns=("priority", "not_there"),
    )
    table = read_partition(spec, "2026-11-01")
    # CSV ids are read as text: leading zeros survive.
    assert table.to_pydict() == {
        "id": ["00042", "7"],
        "text": ["first", "second"],
        "priority": [1, 3],
    }
    parquet = tmp_path / "tickets.parquet"
    pq.write_table(
        pa.table({"ticket": [1, 2], "content": ["a", "b"], "day": [DAYS[0]] * 2}), parquet
    )
    spec = DatasetSpec(str(parquet), id_column="ticket", text_column="content", date_column="day")
    assert read_partition(spec, DAYS[0]).column("id").to_pylist() == ["1", "2"]

    # Required (not null) fields and dictionary-encoded strings, as warehouses write them.
    schema = pa.schema(
        [
            pa.field("email_id", pa.string(), nullable=False),
            pa.field("body", pa.dictionary(pa.int32(), pa.string())),
            pa.field("date", pa.string(), nullable=False),
            pa.field("score", pa.float64(), nullable=False, metadata={"unit": "pct"}),
        ]
    )
    strict = tmp_path / "strict.parquet"
    rows = {"email_id": ["a", "b"], "body": ["x", "y"], "date": DAYS[:2], "score": [1.5, 2.0]}
    pq.write_table(pa.Table.from_pydict(rows, schema=schema), strict)
    table = read_partition(DatasetSpec(str(strict), extra_columns=("score",)), DAYS[1])
    assert table.to_pydict() == {"id": ["b"], "text": ["y"], "score": [2.0]}


def test_date_column_types(tmp_path: Path) -> None:
    berlin = pa.timestamp("s", tz="Europe/Berlin")
    # 23:30 UTC on Oct 31 is 00:30 on Nov 1 in Berlin: the row belongs to Nov 1.
    stamps = [dt.datetime(2026, 10, 31, 23, 30, tzinfo=dt.UTC), dt.datetime(2026, 11, 1, 12, 0)]
    table = pa.table(
        {
            "email_id": ["a", "b"],
            "body": ["x", "y"],
            "date": pa.array([int(s.replace(tzinfo=dt.UTC).timestamp()) for s in stamps], berlin),
        }
    )
    pq.write_table(table, tmp_path / "aware.parquet")
    spec = DatasetSpec(str(tmp_path / "aware.parquet"))
    assert list_partitions(spec) == ["2026-11-01"]
    assert read_partition(spec, "2026-11-01").column("id").to_pylist() == ["a", "b"]

    # Strings with a time part: the day written is the day used, whatever the offset.
    rows = [
        {"email_id": "c", "body": "x", "date": "2026-11-01T01:30:00+02:00"},
        {"email_id": "d", "body": "y", "date": "2026-11-01 23:59:59"},
        {"email_id": "e", "body": "z", "date": " 2026-11-02 "},
    ]
    spec = DatasetSpec(str(write_jsonl(tmp_path / "strings.jsonl", rows)))
    assert list_partitions(spec) == ["2026-11-01", "2026-11-02"]
    assert read_partition(spec, "2026-11-01").column("id").to_pylist() == ["c", "d"]


def test_hive_folder_with_several_files_and_formats(tmp_path: Path) -> None:
    day = tmp_path / "ds" / f"date={DAYS[0]}"
    write_jsonl(day / "part-10.jsonl", [{"email_id": "c", "body": "third", "label": "spam"}])
    write_jsonl(day / "part-2.jsonl", [{"email_id": "b", "body": "second"}])
    pq.write_table(pa.table({"email_id": ["a"], "body": ["first"]}), day / "part-1.parquet")
    (day / "_SUCCESS").write_text("")
    (day / ".part-2.jsonl.crc").write_text("junk")
    spec = DatasetSpec(str(tmp_path / "ds"), extra_columns=("label",))
    table = read_partition(spec, DAYS[0])
    # Natural order of file names (part-2 before part-10); the label column only exists in
    # one file and is null elsewhere.
    assert table.to_pydict() == {
        "id": ["a", "b", "c"],
        "text": ["first", "second", "third"],
        "label": [None, None, "spam"],
    }


def test_streaming_type_inference_falls_back_to_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tiny blocks make the first block see only nulls for "note" and no "extra" at all;
    # the streaming reader gives up and the file is re-read whole, without losing or
    # repeating rows.
    monkeypatch.setattr(dataset, "BLOCK_SIZE", 4096)
    monkeypatch.setattr(dataset, "PEEK_BLOCK_SIZE", 4096)
    whole_reads: list[bool] = []
    real_open = dataset._open

    def spy_open(*args, **kwargs):
        whole_reads.append(kwargs["whole"])
        return real_open(*args, **kwargs)

    monkeypatch.setattr(dataset, "_open", spy_open)
    rows = [
        {"email_id": f"m{i}", "body": f"b{i}", "date": DAYS[0], "note": None} for i in range(300)
    ]
    rows += [{"email_id": "late", "body": "x", "date": DAYS[0], "note": "hi", "extra": 1}]
    spec = DatasetSpec(str(write_jsonl(tmp_path / "e.jsonl", rows)), extra_columns=("note",))
    table = read_partition(spec, DAYS[0])
    assert table.num_rows == 301
    assert table.column("id").to_pylist()[-2:] == ["m299", "late"]
    assert table.column("note").to_pylist()[-1] == "hi"
    assert whole_reads == [False, True]

    csv = tmp_path / "e.csv"
    lines = ["email_id,body,date,n"] + [f"m{i},b{i},{DAYS[0]},{i}" for i in range(600)]
    csv.write_text("\n".join([*lines, f"late,x,{DAYS[0]},not a number"]) + "\n")
    table = read_partition(DatasetSpec(str(csv), extra_columns=("n",)), DAYS[0])
    assert table.num_rows == 601
    assert table.column("n").type == pa.string()
    assert whole_reads[-2:] == [False, True]

    # A line longer than a block is read too.
    long_rows = [{"email_id": "long", "body": "é" * 10_000, "date": DAYS[0]}]
    table = read_partition(DatasetSpec(str(write_jsonl(tmp_path / "l.jsonl", long_rows))), DAYS[0])
    assert table.column("text")[0].as_py() == "é" * 10_000


# ---------------------------------------------------------------------------------------
# Empty days
# ---------------------------------------------------------------------------------------


def assert_empty_typed(table: pa.Table) -> None:
    assert table.num_rows == 0
    assert table.schema.names[:2] == ["id", "text"]
    assert table.schema.field("id").type == pa.string()
    assert table.schema.field("text").type == pa.string()


def test_missing_partition_folder_is_an_empty_day() -> None:
    spec = DatasetSpec(str(SAMPLE))
    table = read_partition(spec, "2026-12-25")
    assert_empty_typed(table)
    assert table.schema.names == ["id", "text"]


def test_empty_folder_empty_file_and_header_only_csv(tmp_path: Path) -> None:
    (tmp_path / f"date={DAYS[0]}").mkdir()
    (tmp_path / f"date={DAYS[1]}").mkdir()
    (tmp_path / f"date={DAYS[1]}" / "emails.jsonl").write_text("")
    (tmp_path / f"date={DAYS[2]}").mkdir()
    (tmp_path / f"date={DAYS[2]}" / "emails.csv").write_text("email_id,body,label\n")
    spec = DatasetSpec(str(tmp_path), extra_columns=("label",))
    assert list_partitions(spec) == DAYS[:3]
    for day in DAYS[:3]:
        assert_empty_typed(read_partition(spec, day))
    assert read_partition(spec, DAYS[2]).schema.names == ["id", "text", "label"]
    # A single file with no row on that day.
    single = DatasetSpec(
        str(write_jsonl(tmp_path / "one.jsonl", [{"email_id": "a", "body": "x", "date": DAYS[0]}]))
    )
    assert_empty_typed(read_partition(single, DAYS[3]))


# ---------------------------------------------------------------------------------------
# Errors a user can cause
# ---------------------------------------------------------------------------------------


def test_dataset_error_is_a_synth_error() -> None:
    assert issubclass(DatasetError, SynthError)


def test_path_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    for message in (raises(DatasetSpec(str(missing)), DAYS[0]), raises(DatasetSpec(str(missing)))):
        assert str(missing) in message
        assert "does not exist" in message


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("emails.jsonl", b'{"email_id": "a", "body": "x"}\n{"email_id": "b", body}\n', "JSONL"),
        ("emails.jsonl", b'[{"email_id": "a", "body": "x"}]\n', "JSONL"),
        ("emails.csv", b"email_id,body\na,x,surplus\n", "CSV"),
        ("emails.csv", "email_id,body\na,café\n".encode("latin-1"), "UTF-8"),
        ("emails.parquet", b"definitely not parquet", "Parquet"),
    ],
)
def test_corrupt_file_names_the_file(
    tmp_path: Path, name: str, content: bytes, fragment: str
) -> None:
    folder = tmp_path / f"date={DAYS[0]}"
    folder.mkdir()
    write_jsonl(folder / "a-good.jsonl", [{"email_id": "ok", "body": "fine"}])
    (folder / name).write_bytes(content)
    message = raises(DatasetSpec(str(tmp_path)), DAYS[0])
    assert str(folder / name) in message
    assert fragment in message


@pytest.mark.parametrize(
    ("role", "kwargs"),
    [
        ("id", {"id_column": "message_id"}),
        ("text", {"text_column": "content"}),
        ("date", {"date_column": "day"}),
    ],
)
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_missing_column(single_files: dict[str, Path], role: str, kwargs: dict, fmt: str) -> None:
    spec = DatasetSpec(str(single_files[fmt]), **kwargs)
    column = next(iter(kwargs.values()))
    for message in (raises(spec, DAYS[0]), raises(spec)):
        assert str(single_files[fmt]) in message
        assert f"no column {column!r} (the {role} column)" in message
        # The available columns are listed so the fix is obvious.
        assert "email_id, date, sender, subject, body, language, label" in message


def test_missing_column_in_hive_file(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / f"date={DAYS[0]}" / "emails.jsonl", [{"email_id": "a", "text": "x"}]
    )
    message = raises(DatasetSpec(str(tmp_path)), DAYS[0])
    assert str(path) in message
    assert "'body'" in message
    assert "available columns: email_id, text" in message


def test_empty_or_null_text(tmp_path: Path) -> None:
    rows = [{"email_id": f"m{i}", "body": "fine", "date": DAYS[0]} for i in range(10)]
    for i, bad in enumerate([None, "", "   \n\t", None, "", None, ""]):
        rows[i + 2]["body"] = bad
    rows.append({"email_id": "no-key", "date": DAYS[0]})  # key absent: null as well
    path = write_jsonl(tmp_path / "emails.jsonl", rows)
    message = raises(DatasetSpec(str(path)), DAYS[0])
    assert str(path) in message
    assert "8 rows" in message
    assert "'body'" in message
    assert "m2, m3, m4, m5, m6" in message  # the first five are named
    assert "m7" not in message


def test_empty_or_null_id(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / f"date={DAYS[0]}" / "emails.jsonl",
        [{"email_id": "a", "body": "x"}, {"email_id": "", "body": "y"}, {"body": "z"}],
    )
    message = raises(DatasetSpec(str(tmp_path)), DAYS[0])
    assert str(path) in message
    assert "2 rows" in message
    assert "'email_id'" in message
    assert "rows 2, 3" in message


def test_duplicate_ids(tmp_path: Path) -> None:
    ids = ["a", "b", "a", "c", "d", "e", "f", "g", "b", "c", "d", "e", "f", "g", "h"]
    rows = [{"email_id": i, "body": f"text {n}", "date": DAYS[0]} for n, i in enumerate(ids)]
    rows.append({"email_id": "h", "body": "other day", "date": DAYS[1]})  # not a duplicate
    path = write_jsonl(tmp_path / "emails.jsonl", rows)
    message = raises(DatasetSpec(str(path)), DAYS[0])
    assert str(path) in message
    assert "7 ids" in message
    assert "(a, b, c, d, e)" in message
    assert "'email_id'" in message
    assert read_partition(DatasetSpec(str(path)), DAYS[1]).num_rows == 1


def test_duplicate_ids_across_files_of_a_partition(tmp_path: Path) -> None:
    folder = tmp_path / f"date={DAYS[0]}"
    first = write_jsonl(
        folder / "a.jsonl", [{"email_id": "x", "body": "1"}, {"email_id": "y", "body": "2"}]
    )
    second = write_jsonl(folder / "b.jsonl", [{"email_id": "x", "body": "3"}])
    message = raises(DatasetSpec(str(tmp_path)), DAYS[0])
    assert str(first) in message and str(second) in message
    assert "1 id that appears more than once" in message
    assert "(x)" in message


def test_row_date_disagrees_with_hive_folder(tmp_path: Path) -> None:
    rows = [
        {"email_id": "ok", "body": "x", "date": DAYS[0]},
        {"email_id": "nulldate", "body": "x", "date": None},  # the folder supplies it
        {"email_id": "moved", "body": "x", "date": DAYS[1]},
        {"email_id": "garbled", "body": "x", "date": "yesterday"},
    ]
    path = write_jsonl(tmp_path / f"date={DAYS[0]}" / "emails.jsonl", rows)
    message = raises(DatasetSpec(str(tmp_path)), DAYS[0])
    assert str(path) in message
    assert "2 rows" in message
    assert "moved, garbled" in message
    assert DAYS[0] in message


def test_single_file_rows_without_valid_date(tmp_path: Path) -> None:
    rows = [
        {"email_id": "ok", "body": "x", "date": DAYS[0]},
        {"email_id": "none", "body": "x", "date": None},
        {"email_id": "feb30", "body": "x", "date": "2026-02-30"},
        {"email_id": "words", "body": "x", "date": "last tuesday"},
    ]
    path = write_jsonl(tmp_path / "emails.jsonl", rows)
    spec = DatasetSpec(str(path))
    # A row with no day belongs to no partition: reading any day would silently drop it.
    for message in (raises(spec, DAYS[0]), raises(spec, DAYS[5]), raises(spec)):
        assert str(path) in message
        assert "3 rows" in message
        assert "none, feb30, words" in message
        assert "'date'" in message


def test_wrong_column_types(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"email_id": ["a"], "body": [[1, 2]], "date": [20261101]}), path)
    message = raises(DatasetSpec(str(path)), DAYS[0])
    assert str(path) in message and "'body'" in message
    message = raises(DatasetSpec(str(path), text_column="email_id"), DAYS[0])
    assert str(path) in message and "'date'" in message and "int64" in message


def test_unknown_file_in_partition_and_loose_files(tmp_path: Path) -> None:
    folder = tmp_path / "ds" / f"date={DAYS[0]}"
    write_jsonl(folder / "emails.jsonl", [{"email_id": "a", "body": "x"}])
    (folder / "notes.xlsx").write_bytes(b"PK")
    message = raises(DatasetSpec(str(tmp_path / "ds")), DAYS[0])
    assert str(folder / "notes.xlsx") in message

    loose = tmp_path / "loose"
    write_jsonl(loose / "emails.jsonl", [{"email_id": "a", "body": "x", "date": DAYS[0]}])
    for message in (raises(DatasetSpec(str(loose)), DAYS[0]), raises(DatasetSpec(str(loose)))):
        assert str(loose) in message
        assert "emails.jsonl" in message


def test_malformed_partition_folder(tmp_path: Path) -> None:
    (tmp_path / "date=2026-11-01").mkdir()
    (tmp_path / "date=2026-13-01").mkdir()
    message = raises(DatasetSpec(str(tmp_path)))
    assert str(tmp_path / "date=2026-13-01") in message


def test_bad_partition_argument_and_bad_spec() -> None:
    assert "'2026-11-1'" in raises(DatasetSpec(str(SAMPLE)), "2026-11-1")
    with pytest.raises(DatasetError, match="'xlsx'"):
        DatasetSpec("x", format="xlsx")  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match="'text'"):
        DatasetSpec("x", extra_columns=("text",))
    assert DatasetSpec("x", extra_columns=["a"]).extra_columns == ("a",)  # type: ignore[arg-type]
