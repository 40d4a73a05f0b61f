"""Hash buckets on disk: every row lands in exactly one bucket, equal keys together, in the
order they were written."""

from pathlib import Path

import pyarrow as pa
import pytest

from synth_assets.pipeline.buckets import Buckets, bucket_count, scratch_folder


@pytest.mark.parametrize("count", [1, 7])
def test_every_row_lands_once_with_its_equals_in_written_order(tmp_path: Path, count: int) -> None:
    schema = pa.schema([("custom_id", pa.string()), ("n", pa.int64())])
    # A file's not-null column goes into the buckets' nullable one.
    strict = pa.schema([pa.field("custom_id", pa.string(), nullable=False), ("n", pa.int64())])
    keys = [f"id-{n % 300}" for n in range(1000)]
    with scratch_folder(tmp_path) as folder:
        buckets = Buckets(folder, "side", schema, "custom_id", count)
        for start in range(0, 1000, 64):
            rows = range(start, min(start + 64, 1000))
            batch = pa.record_batch(
                [pa.array([keys[n] for n in rows]), pa.array(list(rows))], schema=strict
            )
            buckets.write(batch)
        buckets.close()
        seen: dict[str, int] = {}
        everything = []
        for index, bucket in enumerate(buckets):
            numbers = bucket.column("n").to_pylist()
            assert numbers == sorted(numbers)  # written order within a bucket
            for key in bucket.column("custom_id").to_pylist():
                assert seen.setdefault(key, index) == index  # equal keys share a bucket
            everything += numbers
        assert sorted(everything) == list(range(1000))
        assert len(set(seen.values())) == count
    assert list(tmp_path.iterdir()) == []


def test_bucket_count_aims_at_the_rows_per_bucket() -> None:
    assert [bucket_count(n, 10) for n in (0, 1, 10, 11, 95)] == [1, 1, 1, 2, 10]
