"""A chained task's input: the upstream's parsed table of the day, read a slice at a time,
and the one sentence a missing, unreadable or mismatched table gets."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synth_assets.tasks.dataset import DatasetError
from synth_assets.tasks.upstream import UpstreamSpec, open_upstream

DATE = "2026-11-02"
EMPTY = "text is missing or empty"
OVER = "text is over the budget of 12 characters"


def write_parsed(path: Path) -> Path:
    """A small parsed table: custom_id, three answer fields (one not-null, one a list),
    and some of the library's columns."""
    schema = pa.schema(
        [
            pa.field("custom_id", pa.string(), nullable=False),
            pa.field("sender", pa.string(), nullable=False),
            pa.field("body", pa.string()),
            pa.field("tags", pa.list_(pa.string())),
            pa.field("model", pa.string()),
            pa.field("attempt", pa.int32()),
        ]
    )
    rows = [
        {"custom_id": "a", "sender": "ann", "body": "hello", "tags": ["x"]},
        {"custom_id": "b", "sender": "bob", "body": None, "tags": []},
        {"custom_id": "c", "sender": "cid", "body": "   ", "tags": None},
        {"custom_id": "d", "sender": "dan", "body": "far too long a text", "tags": ["y", "z"]},
        {"custom_id": "e", "sender": "eve", "body": "bye", "tags": ["w"]},
    ]
    table = pa.Table.from_pylist([{**r, "model": "m", "attempt": 1} for r in rows], schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=2)
    return path


def read_all(spec: UpstreamSpec, location: str, **options: object) -> pa.Table:
    with open_upstream(spec, location, DATE, downstream="triage", **options) as day:  # type: ignore[arg-type]
        return pa.Table.from_batches(list(day.batches()), day.schema)


def test_the_upstream_rows_become_input_rows_with_their_problems(tmp_path: Path) -> None:
    parsed = write_parsed(tmp_path / "parsed" / f"date={DATE}" / "part-0.parquet")
    spec = UpstreamSpec(task="emails", text_column="body")

    day = read_all(spec, str(parsed), max_text_chars=12)

    # What the whole-table version made of this table.
    expected = pa.table(
        {
            "id": ["a", "b", "c", "d", "e"],
            "text": ["hello", None, "   ", "far too long a text", "bye"],
            "sender": ["ann", "bob", "cid", "dan", "eve"],
            "body": ["hello", None, "   ", "far too long a text", "bye"],
            "tags": pa.array([["x"], [], None, ["y", "z"], ["w"]], pa.list_(pa.string())),
            "problem": pa.array([None, EMPTY, EMPTY, OVER, None], pa.string()),
        }
    )
    assert day.equals(expected)
    assert day.schema.equals(expected.schema)  # nullable columns, as the whole table had


@pytest.mark.parametrize("rows", [1, 2, 3, 100])
def test_any_slice_size_gives_the_same_rows_a_slice_at_a_time(tmp_path: Path, rows: int) -> None:
    parsed = write_parsed(tmp_path / "part-0.parquet")
    spec = UpstreamSpec(task="emails", text_column="body", extra_columns=["tags", "sender"])

    with open_upstream(spec, str(parsed), DATE, downstream="triage", rows=rows) as day:
        batches = list(day.batches())

    assert all(batch.num_rows <= rows for batch in batches)
    assert len(batches) >= -(-5 // rows)
    table = pa.Table.from_batches(batches, day.schema)
    assert table.column_names == ["id", "text", "tags", "sender", "problem"]
    assert table.equals(read_all(spec, str(parsed)))
    assert table.column("problem").to_pylist() == [None, EMPTY, EMPTY, None, None]


def test_a_url_is_read_as_a_path_is(tmp_path: Path) -> None:
    parsed = write_parsed(tmp_path / "part-0.parquet")
    spec = UpstreamSpec(task="emails", text_column="body")

    assert read_all(spec, parsed.as_uri()).equals(read_all(spec, str(parsed)))


def test_an_empty_upstream_day_is_an_empty_input_with_the_columns(tmp_path: Path) -> None:
    parsed = tmp_path / "part-0.parquet"
    pq.write_table(pq.read_table(write_parsed(parsed)).slice(0, 0), parsed)

    day = read_all(UpstreamSpec(task="emails", text_column="body"), str(parsed))

    assert day.num_rows == 0
    assert day.column_names == ["id", "text", "sender", "body", "tags", "problem"]


@pytest.mark.parametrize("as_url", [False, True])
def test_a_missing_upstream_table_says_to_materialize_the_upstream_first(
    tmp_path: Path, as_url: bool
) -> None:
    missing = tmp_path / "parsed" / f"date={DATE}" / "part-0.parquet"
    location = missing.as_uri() if as_url else str(missing)

    with pytest.raises(DatasetError) as raised:
        read_all(UpstreamSpec(task="emails", text_column="body"), location)

    assert str(raised.value) == (
        f"triage reads emails's parsed table for {DATE}, which does not exist yet "
        f"({location}); materialize emails for that day first."
    )


def test_a_file_that_is_not_parquet_cannot_be_read(tmp_path: Path) -> None:
    broken = tmp_path / "part-0.parquet"
    broken.write_text("not parquet")

    with pytest.raises(DatasetError) as raised:
        read_all(UpstreamSpec(task="emails", text_column="body"), str(broken))

    assert str(raised.value).startswith(f"emails's parsed table {broken} cannot be read: ")
    assert "magic bytes" in str(raised.value)
    assert str(raised.value).endswith(".") and not str(raised.value).endswith("..")


def test_a_table_broken_after_its_footer_was_read_cannot_be_read(tmp_path: Path) -> None:
    parsed = write_parsed(tmp_path / "part-0.parquet")
    spec = UpstreamSpec(task="emails", text_column="body")

    with open_upstream(spec, str(parsed), DATE, downstream="triage", rows=1) as day:
        rows = day.batches()
        next(rows)
        parsed.write_bytes(b"\0" * parsed.stat().st_size)  # the pages, not the footer read
        with pytest.raises(
            DatasetError, match=rf"^emails's parsed table {parsed} cannot be read: "
        ):
            list(rows)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            UpstreamSpec(task="emails", text_column="content"),
            "triage: upstream.text_column 'content' is not a field of emails's answers "
            "(sender, body, tags).",
        ),
        (
            UpstreamSpec(task="emails", text_column="model"),  # the library's, not an answer
            "triage: upstream.text_column 'model' is not a field of emails's answers "
            "(sender, body, tags).",
        ),
        (
            UpstreamSpec(task="emails", text_column="body", extra_columns=["sender", "subject"]),
            "triage: upstream.extra_columns names 'subject', which is not a field of "
            "emails's answers (sender, body, tags).",
        ),
    ],
)
def test_columns_the_upstream_lacks_are_named_before_any_row_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: UpstreamSpec, message: str
) -> None:
    parsed = write_parsed(tmp_path / "part-0.parquet")

    def no_rows(*args: object, **kwargs: object) -> None:
        raise AssertionError("rows were read before the columns were checked")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", no_rows)
    monkeypatch.setattr(pq.ParquetFile, "read", no_rows)
    with (
        pytest.raises(DatasetError) as raised,
        open_upstream(spec, str(parsed), DATE, downstream="triage"),
    ):
        pass

    assert str(raised.value) == message
