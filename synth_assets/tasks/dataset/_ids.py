"""Making a day's ids distinct, so that each row can be a custom_id.

The rules need a view of the whole day (a row's id is repeated if any earlier row of the
day has it; a derived id must not take the id of any row, even one further down), but a
day may hold ten million rows. :class:`DayIds` keeps that view exact and on disk: a day
whose ids are all present and strictly increasing (the usual case: keys in order) is
distinct by construction and needs nothing; any other day's ids go into a temporary SQLite
table (the full id is the key: no hashing, nothing can collide) that tells which rows
repeat an earlier id, and which ids are taken.
"""

import bisect
import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ._spec import ID_COLUMN, PROBLEM_COLUMN, ROW_NUMBER
from ._validate import DUPLICATE, Part, quote

# Rows sent to SQLite per statement batch.
_CHUNK = 10_000


class DayIds:
    """A day's ids made distinct, a batch at a time (see :meth:`settle`).

    A blank id becomes ``row-<file name>-<row number>``; an id seen on an earlier row of
    the day (in any file) becomes ``<id>#dup<k>`` and its row is marked. Every real id is
    reserved up front for its first row, so no derived id can take the id of a row further
    down. Opening reads the parts' id columns once (twice when the day needs the table);
    ``duplicates`` and ``good_duplicates`` (repeated rows that had no other problem) are
    known from then on, before any row is settled. Use it as a context manager: the table
    is deleted on exit.
    """

    def __init__(self, parts: Sequence[Part], folder: Path) -> None:
        self._parts = list(parts)
        self._starts = [0]
        for part in self._parts:
            self._starts.append(self._starts[-1] + part.rows)
        self._path = folder / "ids.sqlite"
        self._db: sqlite3.Connection | None = None
        self.duplicates = 0
        self.good_duplicates = 0
        if self._in_order():
            return
        self._db = sqlite3.connect(self._path, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE"):
            self._db.execute(f"PRAGMA {pragma}")
        self._load()

    @property
    def clean(self) -> bool:
        """Whether every id is already distinct and present (nothing to settle)."""
        return self._db is None

    def _in_order(self) -> bool:
        """True when no id is blank and each is greater than the one before: distinct."""
        last: str | None = None
        for part in self._parts:
            for batch in part.batches([ID_COLUMN]):
                ids = batch.column(0)
                if not len(ids):
                    continue
                if pc.any(_blank(ids)).as_py():
                    return False
                first = ids[0].as_py()
                if last is not None and not last < first:
                    return False
                if len(ids) > 1 and not pc.all(pc.less(ids[:-1], ids[1:])).as_py():
                    return False
                last = ids[-1].as_py()
        return True

    def _load(self) -> None:
        """Every real id with its row, then the rows that repeat an earlier row's id."""
        db = self._require()
        db.execute(
            "CREATE TABLE occ (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, "
            "row INTEGER NOT NULL, good INTEGER NOT NULL)"
        )
        db.execute("CREATE TABLE derived (id TEXT PRIMARY KEY) WITHOUT ROWID")
        db.execute("CREATE TABLE next_k (id TEXT PRIMARY KEY, k INTEGER NOT NULL) WITHOUT ROWID")
        blanks = 0
        db.execute("BEGIN")
        for index, part in enumerate(self._parts):
            seq = self._starts[index]
            for batch in part.batches([ID_COLUMN, PROBLEM_COLUMN, ROW_NUMBER]):
                real = pc.invert(_blank(batch.column(0)))
                blanks += len(real) - (pc.sum(real).as_py() or 0)
                kept = batch.filter(real)
                positions = pc.add(pc.indices_nonzero(real), seq).to_pylist()
                good = pc.is_null(kept.column(1)).to_pylist()
                values = kept.column(0).to_pylist()
                rows = kept.column(2).to_pylist()
                for start in range(0, len(values), _CHUNK):
                    end = start + _CHUNK
                    db.executemany(
                        "INSERT INTO occ VALUES (?, ?, ?, ?)",
                        zip(
                            positions[start:end],
                            values[start:end],
                            rows[start:end],
                            good[start:end],
                            strict=True,
                        ),
                    )
                seq += batch.num_rows
        db.execute("COMMIT")
        db.execute("CREATE INDEX occ_id ON occ (id, seq)")
        # The rows whose id an earlier row has: each with that first row's position.
        db.execute("CREATE TABLE dup (seq INTEGER PRIMARY KEY, first INTEGER NOT NULL)")
        db.execute(
            "INSERT INTO dup SELECT o.seq, f.first FROM occ o JOIN "
            "(SELECT id, min(seq) AS first FROM occ GROUP BY id HAVING count(*) > 1) f "
            "ON o.id = f.id WHERE o.seq > f.first ORDER BY o.seq"
        )
        self.duplicates = db.execute("SELECT count(*) FROM dup").fetchone()[0]
        self.good_duplicates = db.execute(
            "SELECT count(*) FROM dup d JOIN occ o ON o.seq = d.seq WHERE o.good"
        ).fetchone()[0]
        if not blanks and not self.duplicates:
            self.close()  # distinct after all: nothing to settle

    def count(self, counts: Counter[str]) -> None:
        """Add the repeated ids to the day's count of problems by kind."""
        if self.duplicates:
            counts[DUPLICATE] += self.duplicates

    def settle(self, index: int, batch: pa.RecordBatch, seq: int) -> pa.RecordBatch:
        """Part ``index``'s ``batch``, whose first row is the day's row ``seq`` (from 0,
        parts in order), with distinct ids and its repeated ids marked. Batches must come
        in order: a derived id is reserved when it is given."""
        if self._db is None:
            return batch
        db = self._db
        column = batch.column(ID_COLUMN)
        blanks = _blank(column)
        repeats = {
            at: (first, row)
            for at, first, row in db.execute(
                "SELECT d.seq, d.first, o.row FROM dup d JOIN occ o ON o.seq = d.first "
                "WHERE d.seq >= ? AND d.seq < ?",
                (seq, seq + batch.num_rows),
            )
        }
        if not repeats and not pc.any(blanks).as_py():
            return batch
        name = self._parts[index].path.name
        values = column.to_pylist()
        problems = batch.column(PROBLEM_COLUMN).to_pylist()
        rows = batch.column(ROW_NUMBER).to_pylist()
        for i, blank in enumerate(blanks.to_pylist()):
            if blank:
                placeholder = f"row-{name}-{rows[i]}"
                values[i] = (
                    placeholder
                    if not self._taken(placeholder)
                    else self._derived(placeholder, 2)[0]
                )
                self._take(values[i])
            elif seq + i in repeats:
                value = values[i]
                first, first_row = repeats[seq + i]
                found = db.execute("SELECT k FROM next_k WHERE id = ?", (value,)).fetchone()
                values[i], k = self._derived(value, found[0] if found else 2)
                db.execute("INSERT OR REPLACE INTO next_k VALUES (?, ?)", (value, k + 1))
                self._take(values[i])
                seen_in = self._parts[bisect.bisect_right(self._starts, first) - 1].path.name
                clause = f"id {quote(value)} already appears on row {first_row} of {seen_in}"
                # The id comes first in a row's problems; this one is found last.
                problems[i] = clause if problems[i] is None else f"{clause}; {problems[i]}"
        names = batch.schema.names
        arrays = batch.columns
        arrays[names.index(ID_COLUMN)] = pa.array(values, pa.string())
        arrays[names.index(PROBLEM_COLUMN)] = pa.array(problems, pa.string())
        return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)

    def _taken(self, value: str) -> bool:
        db = self._require()
        found = db.execute(
            "SELECT EXISTS (SELECT 1 FROM occ WHERE id = ?) "
            "OR EXISTS (SELECT 1 FROM derived WHERE id = ?)",
            (value, value),
        ).fetchone()
        return bool(found[0])

    def _take(self, value: str) -> None:
        self._require().execute("INSERT INTO derived VALUES (?)", (value,))

    def _derived(self, base: str, k: int) -> tuple[str, int]:
        """``<base>#dup<k>`` for the lowest k from ``k`` on that no row has taken, and that k."""
        while self._taken(f"{base}#dup{k}"):
            k += 1
        return f"{base}#dup{k}", k

    def _require(self) -> sqlite3.Connection:
        assert self._db is not None
        return self._db

    def close(self) -> None:
        """Delete the table (if the day needed one)."""
        if self._db is not None:
            self._db.close()
            self._db = None
        self._path.unlink(missing_ok=True)

    def __enter__(self) -> "DayIds":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _blank(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """True where a string is null, empty or only whitespace."""
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.fill_null(pc.equal(pc.utf8_length(trimmed), 0), True)
