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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synth_assets.batch.errors import SynthError
from synth_assets.tasks.dataset import (
    DatasetError,
    DatasetSpec,
    _readers,
    _validate,
    list_partitions,
    open_partition,
    read_partition,
)

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


def raises(spec: DatasetSpec, date: str | None = None, max_text_chars: object = None) -> str:
    """Run read_partition (or list_partitions without a date) and return the error."""
    with pytest.raises(DatasetError) as info:
        if date is None:
            list_partitions(spec)
        else:
            read_partition(spec, date, max_text_chars=max_text_chars)  # type: ignore[arg-type]
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
        assert table.schema.names == ["id", "text", "label", "language", "problem"]
        assert table.schema.field("id").type == pa.string()
        assert table.schema.field("text").type == pa.string()
        assert table.schema.field("problem").type == pa.string()
        # The committed sample is clean: not one row is marked.
        assert table.column("problem").null_count == table.num_rows
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
        assert got.schema.names == ["id", "text", "label", "problem"]
        assert got.column("problem").null_count == got.num_rows
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
        "problem": [None, None],
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
    assert table.to_pydict() == {"id": ["b"], "text": ["y"], "score": [2.0], "problem": [None]}


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
        "problem": [None, None, None],
    }


def test_streaming_type_inference_falls_back_to_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tiny blocks make the first block see only nulls for "note" and no "extra" at all;
    # the streaming reader gives up and the file is re-read whole, without losing or
    # repeating rows.
    monkeypatch.setattr(_readers, "BLOCK_SIZE", 4096)
    monkeypatch.setattr(_readers, "PEEK_BLOCK_SIZE", 4096)
    whole_reads: list[bool] = []
    real_open = _readers._open

    def spy_open(*args, **kwargs):
        whole_reads.append(kwargs["whole"])
        return real_open(*args, **kwargs)

    monkeypatch.setattr(_readers, "_open", spy_open)
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
    assert table.schema.names[-1] == "problem"
    assert table.schema.field("id").type == pa.string()
    assert table.schema.field("text").type == pa.string()
    assert table.schema.field("problem").type == pa.string()


def test_missing_partition_folder_is_an_empty_day() -> None:
    spec = DatasetSpec(str(SAMPLE))
    table = read_partition(spec, "2026-12-25")
    assert_empty_typed(table)
    assert table.schema.names == ["id", "text", "problem"]


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
    assert read_partition(spec, DAYS[2]).schema.names == ["id", "text", "label", "problem"]
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
        # A JSON key is a column name: not UTF-8, the file has no readable schema.
        ("emails.jsonl", b'{"email_id": "a", "body": "x", "\xffkey": 1}\n', "column name"),
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


# ---------------------------------------------------------------------------------------
# Bad rows: kept, marked, never dropped
# ---------------------------------------------------------------------------------------


def marked(table: pa.Table) -> dict[str, str | None]:
    """id -> problem, after checking the invariants every returned table keeps."""
    ids = table.column("id").to_pylist()
    assert len(set(ids)) == len(ids), "ids must be unique across good and bad rows"
    assert all(isinstance(i, str) and i.strip() for i in ids)
    problems = table.column("problem").to_pylist()
    for problem in problems:
        # One sentence without its full stop: clauses joined by "; ", lower case.
        assert problem is None or (problem[0].islower() and "\n" not in problem), problem
        assert problem is None or not problem.endswith("."), problem
    return dict(zip(ids, problems, strict=True))


def line_count(path: Path) -> int:
    return len(path.read_bytes().splitlines())


def test_empty_or_missing_text_is_marked(tmp_path: Path) -> None:
    rows = [{"email_id": f"m{i}", "body": "fine", "date": DAYS[0]} for i in range(6)]
    rows[1]["body"] = None
    rows[2]["body"] = ""
    rows[3]["body"] = "   \n\t"
    del rows[4]["body"]  # key absent: missing as well
    rows.append({"email_id": "late", "body": "", "date": DAYS[1]})  # another day's row
    path = write_jsonl(tmp_path / "emails.jsonl", rows)
    table = read_partition(DatasetSpec(str(path)), DAYS[0])
    assert table.num_rows == 6
    assert marked(table) == {
        "m0": None,
        "m1": "text is missing",
        "m2": "text is empty",
        "m3": "text is only whitespace",
        "m4": "text is missing",
        "m5": None,
    }
    # Texts are kept as they were (null stays null), in file order.
    assert table.column("text").to_pylist() == ["fine", None, "", "   \n\t", None, "fine"]


def test_empty_or_missing_id_gets_a_placeholder(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / f"date={DAYS[0]}" / "emails.jsonl",
        [
            {"email_id": "a", "body": "x"},
            {"email_id": "", "body": "y"},
            {"body": "z"},
            {"email_id": None, "body": "w"},
            {"email_id": " \t", "body": "v"},
        ],
    )
    table = read_partition(DatasetSpec(str(tmp_path)), DAYS[0])
    assert table.num_rows == line_count(path) == 5
    assert marked(table) == {
        "a": None,
        "row-emails.jsonl-2": "id is empty",
        "row-emails.jsonl-3": "id is missing",
        "row-emails.jsonl-4": "id is missing",
        "row-emails.jsonl-5": "id is only whitespace",
    }
    assert table.column("text").to_pylist() == ["x", "y", "z", "w", "v"]
    # Stable: the same file gives the same placeholders.
    assert read_partition(DatasetSpec(str(tmp_path)), DAYS[0]).equals(table)


def test_duplicate_ids_keep_the_first_and_derive_the_rest(tmp_path: Path) -> None:
    ids = ["a", "b", "a", "c", "a", "b"]
    rows = [{"email_id": i, "body": f"text {n}", "date": DAYS[0]} for n, i in enumerate(ids)]
    rows.append({"email_id": "a", "body": "other day", "date": DAYS[1]})  # not a duplicate
    path = write_jsonl(tmp_path / "emails.jsonl", rows)
    table = read_partition(DatasetSpec(str(path)), DAYS[0])
    assert table.num_rows == 6
    assert marked(table) == {
        "a": None,
        "b": None,
        "a#dup2": "id 'a' already appears on row 1 of emails.jsonl",
        "c": None,
        "a#dup3": "id 'a' already appears on row 1 of emails.jsonl",
        "b#dup2": "id 'b' already appears on row 2 of emails.jsonl",
    }
    # The first occurrence keeps its text; nothing moved.
    assert table.column("text").to_pylist() == [f"text {n}" for n in range(6)]
    assert marked(read_partition(DatasetSpec(str(path)), DAYS[1])) == {"a": None}


def test_derived_ids_never_take_a_real_id(tmp_path: Path) -> None:
    # "a#dup2" and "row-e.jsonl-3" are real ids further down: the derived ids step aside,
    # and the real rows keep theirs.
    rows = [
        {"email_id": "a", "body": "1"},
        {"email_id": "a", "body": "2"},
        {"email_id": "", "body": "3"},
        {"email_id": "a#dup2", "body": "4"},
        {"email_id": "row-e.jsonl-3", "body": "5"},
        {"email_id": "a", "body": "6"},
    ]
    write_jsonl(tmp_path / f"date={DAYS[0]}" / "e.jsonl", rows)
    table = read_partition(DatasetSpec(str(tmp_path)), DAYS[0])
    assert table.column("id").to_pylist() == [
        "a",
        "a#dup3",
        "row-e.jsonl-3#dup2",
        "a#dup2",
        "row-e.jsonl-3",
        "a#dup4",
    ]
    problems = marked(table)
    assert problems["a#dup2"] is None and problems["row-e.jsonl-3"] is None
    assert problems["row-e.jsonl-3#dup2"] == "id is empty"


def test_duplicate_ids_across_files_of_a_partition(tmp_path: Path) -> None:
    folder = tmp_path / f"date={DAYS[0]}"
    write_jsonl(
        folder / "a.jsonl", [{"email_id": "x", "body": "1"}, {"email_id": "y", "body": "2"}]
    )
    write_jsonl(folder / "b.jsonl", [{"email_id": "q", "body": "3"}, {"email_id": "y", "body": ""}])
    table = read_partition(DatasetSpec(str(tmp_path)), DAYS[0])
    # Several problems in one row: the repeated id comes first.
    assert marked(table) == {
        "x": None,
        "y": None,
        "q": None,
        "y#dup2": "id 'y' already appears on row 2 of a.jsonl; text is empty",
    }


def test_row_date_disagrees_with_hive_folder(tmp_path: Path) -> None:
    rows = [
        {"email_id": "ok", "body": "x", "date": DAYS[0]},
        {"email_id": "nulldate", "body": "x", "date": None},  # the folder supplies it
        {"email_id": "blank", "body": "x", "date": " "},  # so does a blank one
        {"email_id": "moved", "body": "x", "date": DAYS[1]},
        {"email_id": "garbled", "body": "x", "date": "yesterday"},
        {"email_id": "stamped", "body": "x", "date": f"{DAYS[0]}T23:59:59+02:00"},
    ]
    path = write_jsonl(tmp_path / f"date={DAYS[0]}" / "emails.jsonl", rows)
    table = read_partition(DatasetSpec(str(tmp_path)), DAYS[0])
    assert table.num_rows == line_count(path)
    assert marked(table) == {
        "ok": None,
        "nulldate": None,
        "blank": None,
        "moved": f"date {DAYS[1]} is outside the partition {DAYS[0]}",
        "garbled": "date 'yesterday' is not a valid YYYY-MM-DD date",
        "stamped": None,
    }


def test_text_budget(tmp_path: Path) -> None:
    rows = [
        {"email_id": "fits", "body": "é" * 10},  # 10 characters (20 bytes): at the budget
        {"email_id": "over", "body": "😊" * 11},
        {"email_id": "long", "body": "x" * 250_000},
    ]
    write_jsonl(tmp_path / f"date={DAYS[0]}" / "e.jsonl", rows)
    spec = DatasetSpec(str(tmp_path))
    assert marked(read_partition(spec, DAYS[0], max_text_chars=10)) == {
        "fits": None,
        "over": "text has 11 characters, over the budget of 10",
        "long": "text has 250,000 characters, over the budget of 10",
    }
    assert set(marked(read_partition(spec, DAYS[0])).values()) == {None}  # no budget
    table = read_partition(spec, DAYS[0], max_text_chars=100_000)
    assert marked(table)["long"] == "text has 250,000 characters, over the budget of 100,000"
    assert table.column("text")[2].as_py() == "x" * 250_000  # kept whole, never cut
    for bad in (0, -1, 2.5, True, "100"):
        assert "max_text_chars" in raises(spec, DAYS[0], max_text_chars=bad)


def test_jsonl_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / f"date={DAYS[0]}" / "emails.jsonl"
    path.parent.mkdir()
    path.write_bytes(
        b'{"email_id": "good", "body": "caf\xc3\xa9", "subject": "hi"}\n'
        b'{"email_id": "latin", "body": "caf\xe9 au lait", "subject": "hi"}\n'
        b'{"email_id": "cut", "body": "\xe2\x82", "subject": "hi"}\n'
        b'{"email_id": "id\xff", "body": "fine"}\n'
        b'{"email_id": "subj", "body": "fine", "subject": "\xfeoops"}\n'
    )
    table = read_partition(DatasetSpec(str(tmp_path), extra_columns=("subject",)), DAYS[0])
    assert table.num_rows == line_count(path) == 5
    assert table.schema.field("subject").type == pa.string()
    assert marked(table) == {
        "good": None,
        "latin": "text is not valid UTF-8 (byte 0xe9 at offset 3)",
        "cut": "text is not valid UTF-8 (byte 0xe2 at offset 0)",
        "id\ufffd": "id is not valid UTF-8 (byte 0xff at offset 2)",
        "subj": "column 'subject' is not valid UTF-8 (byte 0xfe at offset 0)",
    }
    # The kept values are valid strings, bad bytes replaced with U+FFFD.
    assert table.column("text").to_pylist()[:3] == ["café", "caf\ufffd au lait", "\ufffd"]
    assert table.column("subject").to_pylist()[-1] == "\ufffdoops"
    pq.write_table(table, tmp_path / "snapshot.parquet")  # what the pipeline does next


def test_csv_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "emails.csv"
    path.write_bytes(
        b"email_id,body,date,subject\n"
        b"good,plain,2026-11-01,hi\n"
        b'latin,"caf\xe9\nsecond line",2026-11-01,hi\n'
        b"\xff,x,2026-11-01,hi\n"
        b"subj,fine,2026-11-01,\xe9t\xe9\n"
        b"other,\xe9,2026-11-02,hi\n"
    )
    spec = DatasetSpec(str(path), extra_columns=("subject",))
    assert list_partitions(spec) == DAYS[:2]
    table = read_partition(spec, DAYS[0])
    assert table.num_rows == 4
    assert marked(table) == {
        "good": None,
        "latin": "text is not valid UTF-8 (byte 0xe9 at offset 3)",
        "\ufffd": "id is not valid UTF-8 (byte 0xff at offset 0)",
        "subj": "column 'subject' is not valid UTF-8 (byte 0xe9 at offset 0)",
    }
    assert table.column("text").to_pylist()[1] == "caf\ufffd\nsecond line"
    assert table.column("subject").to_pylist() == ["hi", "hi", "hi", "\ufffdt\ufffd"]
    # A whole file in Latin-1 is marked row by row too, as long as one row is usable.
    latin = tmp_path / f"date={DAYS[0]}" / "emails.csv"
    latin.parent.mkdir()
    latin.write_bytes("email_id,body\na,café\nb,plain\n".encode("latin-1"))
    assert marked(read_partition(DatasetSpec(str(tmp_path)), DAYS[0])) == {
        "a": "text is not valid UTF-8 (byte 0xe9 at offset 3)",
        "b": None,
    }


def test_parquet_binary_text_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    table = pa.table(
        {
            "email_id": ["a", "b"],
            "body": pa.array([b"ok", b"\x80bad"], pa.binary()),
            "date": [DAYS[0]] * 2,
            "blob": pa.array([b"\x00\xff", b"\xfe"], pa.binary()),  # real bytes: untouched
        }
    )
    pq.write_table(table, path)
    got = read_partition(DatasetSpec(str(path), extra_columns=("blob",)), DAYS[0])
    assert marked(got) == {"a": None, "b": "text is not valid UTF-8 (byte 0x80 at offset 0)"}
    assert got.column("blob").to_pylist() == [b"\x00\xff", b"\xfe"]


def test_bad_bytes_in_a_later_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first block infers "subject" as text; a later one holds bytes that are not
    # UTF-8, so the file is re-read whole (subject becomes binary) and each row is marked
    # once, none lost or repeated.
    monkeypatch.setattr(_readers, "BLOCK_SIZE", 4096)
    whole_reads: list[bool] = []
    real_open = _readers._open

    def spy_open(*args, **kwargs):
        whole_reads.append(kwargs["whole"])
        return real_open(*args, **kwargs)

    monkeypatch.setattr(_readers, "_open", spy_open)
    lines = ["email_id,body,date,subject"] + [f"m{i},b{i},{DAYS[0]},s{i}" for i in range(600)]
    path = tmp_path / "e.csv"
    path.write_bytes(
        ("\n".join(lines) + "\n").encode() + f"late,\xe9,{DAYS[0]},\xe9\n".encode("latin-1")
    )
    table = read_partition(DatasetSpec(str(path), extra_columns=("subject",)), DAYS[0])
    problems = marked(table)
    assert table.num_rows == 601
    assert [p for p in problems.values() if p] == [
        "text is not valid UTF-8 (byte 0xe9 at offset 0); "
        "column 'subject' is not valid UTF-8 (byte 0xe9 at offset 0)"
    ]
    assert table.column("subject").type == pa.string()
    assert whole_reads == [False, True]


def test_every_kind_in_one_file_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / f"date={DAYS[0]}" / "emails.jsonl"
    path.parent.mkdir()
    path.write_bytes(
        b'{"email_id": "ok", "body": "fine"}\n'
        b'{"email_id": "ok", "body": "fine"}\n'
        b'{"email_id": "", "body": "fine"}\n'
        b'{"email_id": "e", "body": ""}\n'
        b'{"email_id": "u", "body": "\xff"}\n'
        b'{"email_id": "l", "body": "' + b"y" * 50 + b'"}\n'
        b'{"email_id": "d", "body": "fine", "date": "2026-11-05"}\n'
    )
    table = read_partition(DatasetSpec(str(tmp_path)), DAYS[0], max_text_chars=20)
    assert table.num_rows == line_count(path) == 7
    problems = marked(table)
    assert sum(p is None for p in problems.values()) == 1
    assert list(problems) == ["ok", "ok#dup2", "row-emails.jsonl-3", "e", "u", "l", "d"]


# ---------------------------------------------------------------------------------------
# A day with rows and none usable stops, in one sentence
# ---------------------------------------------------------------------------------------


def test_day_with_no_usable_row_raises(tmp_path: Path) -> None:
    rows = [{"email_id": f"m{i}", "body": "", "date": DAYS[0]} for i in range(5)]
    rows += [{"email_id": "n", "body": None, "date": DAYS[0]}]
    rows += [{"email_id": "good", "body": "fine", "date": DAYS[1]}]  # another day
    path = write_jsonl(tmp_path / "emails.jsonl", rows)
    spec = DatasetSpec(str(path))
    message = raises(spec, DAYS[0])
    assert message.startswith(f"{path} has no usable row for {DAYS[0]}:")
    assert 'all 6 rows have a problem, most often "text is empty" (5 rows)' in message
    assert read_partition(spec, DAYS[1]).num_rows == 1  # the other day is fine
    assert_empty_typed(read_partition(spec, DAYS[2]))  # no rows is not "unusable"


def test_one_usable_row_is_enough(tmp_path: Path) -> None:
    rows = [{"email_id": "same", "body": ""} for _ in range(9)] + [{"email_id": "ok", "body": "x"}]
    write_jsonl(tmp_path / f"date={DAYS[0]}" / "e.jsonl", rows)
    problems = marked(read_partition(DatasetSpec(str(tmp_path)), DAYS[0]))
    assert len(problems) == 10
    assert problems["ok"] is None


def test_unusable_day_names_the_file_or_the_folder(tmp_path: Path) -> None:
    one = tmp_path / "one"
    path = write_jsonl(one / f"date={DAYS[0]}" / "e.jsonl", [{"email_id": "a", "body": " "}])
    message = raises(DatasetSpec(str(one)), DAYS[0])
    assert message.startswith(f"{path} has no usable row for {DAYS[0]}:")
    assert 'its only row has a problem, "text is only whitespace"' in message

    many = tmp_path / "many" / f"date={DAYS[0]}"
    write_jsonl(many / "a.jsonl", [{"email_id": "a", "body": "x" * 30}])
    write_jsonl(
        many / "b.jsonl", [{"email_id": "b", "body": "y" * 30}, {"email_id": "", "body": "z" * 30}]
    )
    message = raises(DatasetSpec(str(tmp_path / "many")), DAYS[0], max_text_chars=10)
    assert message.startswith(f"{many} (2 files) has no usable row for {DAYS[0]}:")
    assert '"text is over the character budget" (3 rows)' in message
    assert "raise max_text_chars" in message


def test_problem_is_a_reserved_column_name() -> None:
    with pytest.raises(DatasetError, match="'problem'"):
        DatasetSpec("x", extra_columns=("problem",))


# -- streaming: the day-wide rules hold across slices and files -------------------------


def reference_ids(files: list[tuple[str, list[str | None]]]) -> list[tuple[str, str | None]]:
    """The id rules of read_partition over a whole day held in memory: (id, its clause)."""
    blank = [[v is None or not v.strip() for v in ids] for _, ids in files]
    taken = {
        v
        for (_, ids), b in zip(files, blank, strict=True)
        for v, x in zip(ids, b, strict=True)
        if not x
    }
    first: dict[str, tuple[str, int]] = {}
    out = []

    def derived(base: str) -> str:
        k = 2
        while f"{base}#dup{k}" in taken:
            k += 1
        taken.add(f"{base}#dup{k}")
        return f"{base}#dup{k}"

    for (name, ids), blanks in zip(files, blank, strict=True):
        for row, (value, is_blank) in enumerate(zip(ids, blanks, strict=True), start=1):
            if is_blank:
                placeholder = f"row-{name}-{row}"
                if placeholder in taken:
                    placeholder = derived(placeholder)
                taken.add(placeholder)
                out.append((placeholder, "id is missing" if value is None else "blank"))
            elif value in first:
                seen_in, seen_row = first[value]
                clause = f"id {value!r} already appears on row {seen_row} of {seen_in}"
                out.append((derived(value), clause))
            else:
                first[value] = (name, row)
                out.append((value, None))
    return out


ID_POOL = ["a", "b", "c", "a#dup2", "row-f0.jsonl-2", "row-f1.jsonl-1#dup2", "", " ", None]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.lists(
        st.lists(st.one_of(st.sampled_from(ID_POOL), st.from_regex(r"u[0-9]", fullmatch=True))),
        min_size=1,
        max_size=3,
    )
)
def test_ids_are_settled_over_the_whole_day_whatever_the_slices(
    files: list[list[str | None]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("day")
    named = [(f"f{n}.jsonl", ids) for n, ids in enumerate(files)]
    for name, ids in named:
        write_jsonl(root / f"date={DAYS[0]}" / name, [{"email_id": v, "body": "x"} for v in ids])
    expected = reference_ids(named)
    if not expected:
        return
    if all(clause is not None for _, clause in expected):  # no usable row: a dataset error
        with pytest.raises(DatasetError, match="has no usable row"):
            read_partition(DatasetSpec(str(root)), DAYS[0])
        return

    # Slices of 2 rows: repeats and reserved ids meet across slices and files.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_validate, "SPILL_BATCH_ROWS", 2)
        with open_partition(DatasetSpec(str(root)), DAYS[0]) as day:
            batches = list(day.batches())
    table = pa.Table.from_batches(batches, schema=day.schema)

    assert table.column("id").to_pylist() == [value for value, _ in expected]
    for problem, (_, clause) in zip(table.column("problem").to_pylist(), expected, strict=True):
        if clause is None:
            assert problem is None
        elif clause.startswith("id '"):
            assert problem == clause
        else:
            assert problem is not None and problem.startswith("id is ")
    assert day.rows == len(expected)
    assert day.problems == sum(clause is not None for _, clause in expected)


def test_a_day_streams_in_slices_with_its_counts(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(_readers, "BLOCK_SIZE", 4096)
    monkeypatch.setattr(_validate, "SPILL_BATCH_ROWS", 100)
    # Ids out of order (so the day's ids go through the on-disk table), one repeated far
    # down, one extra column only in the second file.
    first = [{"email_id": f"e{n:04d}", "body": f"text {n}"} for n in range(999, -1, -1)]
    second = [{"email_id": "e0500", "body": "again", "subject": "s"}]
    write_jsonl(tmp_path / f"date={DAYS[0]}" / "a.jsonl", first)
    write_jsonl(tmp_path / f"date={DAYS[0]}" / "b.jsonl", second)
    spec = DatasetSpec(str(tmp_path), extra_columns=("subject",))

    with open_partition(spec, DAYS[0], scratch_dir=tmp_path) as day:
        assert (day.rows, day.problems) == (1001, 1)
        assert day.schema.names == ["id", "text", "subject", "problem"]
        batches = list(day.batches())
        assert list(tmp_path.glob(".synth-day-*"))  # the rows wait on disk, under scratch_dir
    assert not list(tmp_path.glob(".synth-day-*"))  # and are gone afterwards

    assert len(batches) > 1 and max(b.num_rows for b in batches) <= 100
    table = pa.Table.from_batches(batches)
    assert table.equals(read_partition(spec, DAYS[0]))
    assert table.column("id")[-1].as_py() == "e0500#dup2"
    assert table.column("problem")[-1].as_py() == "id 'e0500' already appears on row 500 of a.jsonl"
    assert table.column("subject").null_count == 1000
