"""Exact joins and distinct counts over a day's rows in flat memory: hash buckets on disk.

Each side's rows are split by a key column into ``count`` scratch Arrow IPC files, the
bucket chosen by the key's hash. Equal keys land in the same bucket, so joining (or
counting distinct keys) bucket by bucket gives exactly what the whole day would: the hash
only picks a file, every comparison is on the keys themselves. Memory is one bucket at a
time, about ``rows / count`` rows; a day small enough for one bucket stays in memory.
"""

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# Rows per bucket aimed at: a join of two such buckets of short ids and a label stays
# within some 50 MB (Arrow's hash join), and a 10M-row day opens 200 files at a time.
BUCKET_ROWS = 100_000
# Rows read from a Parquet file at a time.
SLICE_ROWS = 64 * 1024


def bucket_count(rows: int, bucket_rows: int | None = None) -> int:
    """Buckets for ``rows`` rows: enough that each holds about ``bucket_rows`` (default
    :data:`BUCKET_ROWS`)."""
    per_bucket = bucket_rows or BUCKET_ROWS
    return max(1, -(-rows // per_bucket))


def slices(
    source: str | Path, columns: list[str] | None = None, rows: int = SLICE_ROWS
) -> Iterator[pa.RecordBatch]:
    """Some columns of a Parquet file (a path or a URL; default every column), ``rows`` at
    a time, in flat memory.

    ``pre_buffer=False``: with pyarrow's default, ``iter_batches`` keeps what it read of
    every row group until the file is done (a 1M-row manifest grew a process by ~80 MB).
    """
    with pq.ParquetFile(source, pre_buffer=False) as parquet:
        yield from parquet.iter_batches(batch_size=rows, columns=columns)


def parquet_rows(source: str | Path) -> int:
    """A Parquet file's row count, from its footer (no rows read)."""
    with pq.ParquetFile(source) as parquet:
        return parquet.metadata.num_rows


@contextmanager
def scratch_folder(parent: Path) -> Iterator[Path]:
    """A fresh folder under ``parent`` for bucket files, removed afterwards."""
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="buckets-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Buckets:
    """One side's rows, split by the hash of ``key`` into ``count`` buckets: Arrow IPC files
    under ``folder`` (or a list in memory when ``count`` is 1).

    Both sides of a join must be bucketed in the same process with the same ``count``
    (Python's string hash is the same within a process, not across processes).
    """

    def __init__(self, folder: Path, name: str, schema: pa.Schema, key: str, count: int) -> None:
        self.schema = schema
        self.count = count
        self._key = schema.get_field_index(key)
        self._paths = [folder / f"{name}-{index}.arrow" for index in range(count)]
        self._writers: list[pa.ipc.RecordBatchStreamWriter | None] = [None] * count
        self._memory: list[pa.RecordBatch] = []

    def write(self, batch: pa.RecordBatch) -> None:
        """Add rows: ``batch`` has the buckets' column types (a column the file declares
        not-null goes into a nullable one as it is)."""
        if batch.num_rows == 0:
            return
        if not batch.schema.equals(self.schema):
            batch = pa.record_batch(batch.columns, schema=self.schema)
        if self.count == 1:
            self._memory.append(batch)
            return
        count = self.count
        keys = [hash(value) % count for value in batch.column(self._key).to_pylist()]
        # Stable: rows keep their order within a bucket.
        ordered = batch.take(pc.array_sort_indices(pa.array(keys, pa.int32())))
        offset = 0
        for index, rows in sorted(Counter(keys).items()):
            writer = self._writers[index]
            if writer is None:
                path = str(self._paths[index])
                writer = self._writers[index] = pa.ipc.new_stream(path, self.schema)
            writer.write_batch(ordered.slice(offset, rows))
            offset += rows

    def close(self) -> None:
        """Finish writing (call before reading buckets)."""
        for writer in self._writers:
            if writer is not None:
                writer.close()
        self._writers = [None] * self.count

    def bucket(self, index: int) -> pa.Table:
        """The rows of one bucket, in the order they were written."""
        if self.count == 1:
            return pa.Table.from_batches(self._memory, schema=self.schema)
        path = self._paths[index]
        if not path.exists():
            return self.schema.empty_table()
        with pa.OSFile(str(path)) as source, pa.ipc.open_stream(source) as reader:
            return reader.read_all()

    def batches(self, index: int) -> Iterator[pa.RecordBatch]:
        """The rows of one bucket, in the order they were written, a batch at a time (a
        bucket's rows need not fit in memory together)."""
        if self.count == 1:
            yield from self._memory
            return
        path = self._paths[index]
        if not path.exists():
            return
        with pa.OSFile(str(path)) as source, pa.ipc.open_stream(source) as reader:
            yield from reader

    def discard(self) -> None:
        """Drop every bucket's rows (files removed, so a day's scratch does not pile up)."""
        self.close()
        self._memory = []
        for path in self._paths:
            path.unlink(missing_ok=True)

    def __iter__(self) -> Iterator[pa.Table]:
        for index in range(self.count):
            yield self.bucket(index)
