"""The local Batch server's durable state: SQLite (WAL) for objects, plain files for content.

Layout of a data dir::

    localbatch.sqlite3        files, batches, and the parts of batches still running
    files/<file-id>.jsonl     uploaded input files and finalized output/error files
    parts/<batch-id>/         per-chunk output/error parts of a running batch

Several processes may open the same data dir (server processes, tests): every write is one
short ``BEGIN IMMEDIATE`` transaction, and a batch is worked on only by the process holding
its lease, whose every write is fenced by ``lease_owner`` so a process that lost its lease
can change nothing. Paths in the database are server-made and relative to the data dir; a
client only ever names objects by id, and ids are checked against their pattern first.
"""

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from pydantic_core import from_json, to_json

from .config import BatchSettings
from .ids import batch_id as new_batch_id
from .ids import file_id as new_file_id
from .ids import is_batch_id, is_file_id
from .records import BatchRecord, FileRecord, NewFile, Part

DB_NAME = "localbatch.sqlite3"
LIVE = ("validating", "in_progress", "finalizing", "cancelling")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    path TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    endpoint TEXT NOT NULL,
    model TEXT,
    input_file_id TEXT NOT NULL,
    input_path TEXT NOT NULL,
    input_bytes INTEGER NOT NULL,
    completion_window TEXT NOT NULL,
    status TEXT NOT NULL,
    metadata TEXT,
    settings TEXT NOT NULL,
    output_file_id TEXT,
    error_file_id TEXT,
    errors TEXT,
    created_at INTEGER NOT NULL,
    in_progress_at INTEGER,
    expires_at INTEGER NOT NULL,
    expires_at_exact REAL NOT NULL,
    finalizing_at INTEGER,
    completed_at INTEGER,
    failed_at INTEGER,
    expired_at INTEGER,
    cancelling_at INTEGER,
    cancelled_at INTEGER,
    total INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    input_offset INTEGER NOT NULL DEFAULT 0,
    next_chunk INTEGER NOT NULL DEFAULT 0,
    next_run_at REAL NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    step_failures INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS batches_by_status ON batches (status, next_run_at);
CREATE TABLE IF NOT EXISTS parts (
    batch_id TEXT NOT NULL,
    chunk INTEGER NOT NULL,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (batch_id, chunk, kind)
);
"""


class UnknownCursorError(LookupError):
    """A list cursor (``after``) that names no object."""


class BatchStateError(Exception):
    """The batch is in a status that does not allow the operation; message says which."""


_BATCH_COLUMNS = {f.name for f in fields(BatchRecord)}
_FILE_COLUMNS = ", ".join(f.name for f in fields(FileRecord))


class Store:
    """SQLite + files under one data dir; safe to use from several threads and processes."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.files_dir = self.data_dir / "files"
        self.parts_dir = self.data_dir / "parts"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        self._db = self.data_dir / DB_NAME
        self._local = threading.local()
        self._con().executescript(_SCHEMA)  # idempotent: every process may run it

    # -- connections ---------------------------------------------------------------------

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            # One connection per thread: sqlite3 connections must not cross threads.
            con = sqlite3.connect(self._db, timeout=30.0, isolation_level=None)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            con.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL-safe
            con.execute("PRAGMA busy_timeout=30000")
            self._local.con = con
        return con

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    # -- paths ---------------------------------------------------------------------------

    def resolve(self, relative: str) -> Path:
        """The absolute path of a stored relative path, refusing anything outside the data dir."""
        path = (self.data_dir / relative).resolve()
        if not path.is_relative_to(self.data_dir):
            raise PermissionError(f"{relative!r} is outside the data dir")
        return path

    def new_upload(self) -> tuple[str, Path]:
        """A fresh file id and the temporary path its upload streams into."""
        file_id = new_file_id()
        return file_id, self.files_dir / f"{file_id}.jsonl.part"

    def parts_path(self, batch_id: str) -> Path:
        """The directory holding a running batch's chunk parts."""
        return self.parts_dir / batch_id

    # -- files ---------------------------------------------------------------------------

    def add_file(
        self,
        file_id: str,
        *,
        filename: str,
        purpose: str,
        nbytes: int,
        path: Path,
        expires_at: int | None = None,
    ) -> FileRecord:
        """Register a file whose content is already at ``path`` (inside the data dir)."""
        relative = str(path.resolve().relative_to(self.data_dir))
        with self._write() as con:
            con.execute(
                "INSERT INTO files (id, filename, purpose, bytes, created_at, expires_at, path)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (file_id, filename, purpose, nbytes, int(time.time()), expires_at, relative),
            )
        record = self.get_file(file_id)
        assert record is not None
        return record

    def get_file(self, file_id: str) -> FileRecord | None:
        """The file with this id, or None (also for ids that are not even id-shaped)."""
        if not is_file_id(file_id):
            return None
        row = (
            self._con()
            .execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE id = ?", (file_id,))
            .fetchone()
        )
        return FileRecord(**dict(row)) if row else None

    def list_files(
        self, *, after: str | None, limit: int, order: str = "desc", purpose: str | None = None
    ) -> tuple[list[FileRecord], bool]:
        """A page of files and whether more follow."""
        where = ("purpose = ?", (purpose,)) if purpose else None
        return self._page("files", FileRecord, after=after, limit=limit, order=order, where=where)

    def delete_file(self, file_id: str) -> bool:
        """Delete a file; False if there was no such file.

        The content of a file that a live batch is still reading stays on disk until that
        batch ends (the runner removes it then): deleting an input file never breaks a batch.
        """
        record = self.get_file(file_id)
        if record is None:
            return False
        with self._write() as con:
            con.execute("DELETE FROM files WHERE id = ?", (file_id,))
            in_use = con.execute(
                "SELECT 1 FROM batches WHERE input_file_id = ? AND status IN (?, ?, ?, ?)",
                (file_id, *LIVE),
            ).fetchone()
        if in_use is None:
            self.resolve(record.path).unlink(missing_ok=True)
        return True

    def forget_deleted_input(self, batch: BatchRecord) -> None:
        """Remove a finished batch's input content if its file was deleted meanwhile."""
        if self.get_file(batch.input_file_id) is None:
            self.resolve(batch.input_path).unlink(missing_ok=True)

    # -- batches -------------------------------------------------------------------------

    def create_batch(
        self,
        *,
        endpoint: str,
        input_file: FileRecord,
        completion_window: str,
        metadata: dict[str, str] | None,
        settings: BatchSettings,
    ) -> BatchRecord:
        """Create a batch in status ``validating``."""
        now = time.time()
        expires = now + settings.expire_after_s
        batch_id = new_batch_id()
        with self._write() as con:
            con.execute(
                "INSERT INTO batches (id, endpoint, input_file_id, input_path, input_bytes,"
                " completion_window, status, metadata, settings, created_at, expires_at,"
                " expires_at_exact) VALUES (?, ?, ?, ?, ?, ?, 'validating', ?, ?, ?, ?, ?)",
                (
                    batch_id,
                    endpoint,
                    input_file.id,
                    input_file.path,
                    input_file.bytes,
                    completion_window,
                    to_json(metadata).decode() if metadata is not None else None,
                    to_json(settings.to_json()).decode(),
                    int(now),
                    int(expires),
                    expires,
                ),
            )
        record = self.get_batch(batch_id)
        assert record is not None
        return record

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        """The batch with this id, or None."""
        if not is_batch_id(batch_id):
            return None
        row = self._con().execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
        return BatchRecord(**dict(row)) if row else None

    def enqueued_tokens(self, model: str | None, *, exclude: str) -> int:
        """Input tokens (bytes / 4) of the model's batches in progress, but ``exclude``."""
        (tokens,) = (
            self._con()
            .execute(
                "SELECT coalesce(sum(input_bytes / 4), 0) FROM batches WHERE model IS ? AND"
                " status IN ('in_progress', 'finalizing') AND id != ?",
                (model, exclude),
            )
            .fetchone()
        )
        return int(tokens)

    def batches_created_since(self, since: float) -> int:
        """How many batches were created at or after ``since`` (epoch seconds)."""
        (count,) = (
            self._con()
            .execute("SELECT count(*) FROM batches WHERE created_at >= ?", (int(since),))
            .fetchone()
        )
        return int(count)

    def fault_key(self, batch: BatchRecord) -> str:
        """What a batch's injected faults are drawn from. A batch whose metadata carries an
        identity of the client's (keys other than ``localbatch_*``) draws from it and from
        how many batches with the same metadata came before it: the n-th identical
        submission draws the same in every run, and a resubmission draws anew. Any other
        batch draws from its (random) id."""
        identity = {
            k: v
            for k, v in (from_json(batch.metadata) if batch.metadata else {}).items()
            if not k.startswith("localbatch_")
        }
        if not identity:
            return batch.id
        (earlier,) = (
            self._con()
            .execute(
                "SELECT count(*) FROM batches WHERE metadata = ? AND seq < ?",
                (batch.metadata, batch.seq),
            )
            .fetchone()
        )
        return f"{sorted(identity.items())}#{earlier}"

    def list_batches(self, *, after: str | None, limit: int) -> tuple[list[BatchRecord], bool]:
        """A page of batches, newest first, and whether more follow."""
        return self._page("batches", BatchRecord, after=after, limit=limit, order="desc")

    def _page(
        self,
        table: str,
        record: Any,
        *,
        after: str | None,
        limit: int,
        order: str,
        where: tuple[str, tuple[Any, ...]] | None = None,
    ) -> tuple[list[Any], bool]:
        clauses, params = [], []
        if where:
            clauses.append(where[0])
            params.extend(where[1])
        if after is not None:
            row = self._con().execute(f"SELECT seq FROM {table} WHERE id = ?", (after,)).fetchone()
            if row is None:
                raise UnknownCursorError(after)
            clauses.append("seq < ?" if order == "desc" else "seq > ?")
            params.append(row["seq"])
        sql = f"SELECT * FROM {table}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY seq {'DESC' if order == 'desc' else 'ASC'} LIMIT ?"
        rows = self._con().execute(sql, (*params, limit + 1)).fetchall()
        items = [record(**dict(r)) for r in rows[:limit]]
        return items, len(rows) > limit

    def request_cancel(self, batch_id: str) -> BatchRecord:
        """Move a live batch to ``cancelling`` (a no-op when already cancelling/cancelled)."""
        now = int(time.time())
        with self._write() as con:
            row = con.execute("SELECT status FROM batches WHERE id = ?", (batch_id,)).fetchone()
            if row is None:
                raise KeyError(batch_id)
            status = row["status"]
            if status in ("validating", "in_progress", "finalizing"):
                con.execute(
                    "UPDATE batches SET status = 'cancelling', cancelling_at = ?,"
                    " next_run_at = 0 WHERE id = ?",
                    (now, batch_id),
                )
            elif status not in ("cancelling", "cancelled"):
                raise BatchStateError(f"Cannot cancel a batch with status '{status}'.")
        record = self.get_batch(batch_id)
        assert record is not None
        return record

    # -- the runner's side: leases and fenced writes -------------------------------------

    def claim(self, owner: str, lease_s: float) -> BatchRecord | None:
        """Lease the live batch that has waited longest for work, if any is due."""
        now = time.time()
        with self._write() as con:
            row = con.execute(
                "SELECT id FROM batches WHERE status IN (?, ?, ?, ?)"
                " AND lease_until < ? AND next_run_at <= ? ORDER BY next_run_at, seq LIMIT 1",
                (*LIVE, now, now),
            ).fetchone()
            if row is None:
                return None
            con.execute(
                "UPDATE batches SET lease_owner = ?, lease_until = ? WHERE id = ?",
                (owner, now + lease_s, row["id"]),
            )
        return self.get_batch(row["id"])

    def release_dead_leases(self, is_dead: Callable[[str], bool]) -> list[str]:
        """Drop the leases of owners ``is_dead`` says are gone; returns the batch ids freed.

        A server killed mid-step leaves its lease behind; a restarted server on the same
        host sees that its holder's process no longer exists and resumes at once instead
        of waiting for the lease to lapse.
        """
        rows = (
            self._con()
            .execute(
                "SELECT id, lease_owner FROM batches WHERE lease_owner IS NOT NULL"
                " AND lease_until >= ?",
                (time.time(),),
            )
            .fetchall()
        )
        freed = []
        for row in rows:
            if is_dead(row["lease_owner"]):
                with self._write() as con:
                    con.execute(
                        "UPDATE batches SET lease_owner = NULL, lease_until = 0"
                        " WHERE id = ? AND lease_owner = ?",
                        (row["id"], row["lease_owner"]),
                    )
                freed.append(row["id"])
        return freed

    def renew(self, batch_id: str, owner: str, lease_s: float) -> bool:
        """Extend a lease this owner holds; False if it is no longer held."""
        with self._write() as con:
            cursor = con.execute(
                "UPDATE batches SET lease_until = ? WHERE id = ? AND lease_owner = ?",
                (time.time() + lease_s, batch_id, owner),
            )
        return cursor.rowcount == 1

    def release(self, batch_id: str, owner: str, next_run_at: float) -> None:
        """Give the lease back and say when the batch next wants work.

        A batch that was cancelled (or finished its last chunk) during the step wants work
        at once, whatever pause the step asked for.
        """
        with self._write() as con:
            con.execute(
                "UPDATE batches SET lease_owner = NULL, lease_until = 0, next_run_at ="
                " CASE WHEN status IN ('cancelling', 'finalizing') THEN 0 ELSE ? END"
                " WHERE id = ? AND lease_owner = ?",
                (next_run_at, batch_id, owner),
            )

    def update(self, batch_id: str, owner: str, *, expect_status: str, **changes: Any) -> bool:
        """Change columns of a leased batch still in ``expect_status``; False if not."""
        unknown = set(changes) - _BATCH_COLUMNS
        if unknown:
            raise ValueError(f"unknown batch columns {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in changes)
        with self._write() as con:
            cursor = con.execute(
                f"UPDATE batches SET {assignments} WHERE id = ? AND lease_owner = ? AND status = ?",
                (*changes.values(), batch_id, owner, expect_status),
            )
        return cursor.rowcount == 1

    def commit_chunk(
        self,
        batch: BatchRecord,
        owner: str,
        *,
        new_offset: int,
        parts: list[Part],
        completed: int,
        failed: int,
        usage: tuple[int, int, int, int],
        done: bool,
    ) -> bool:
        """Record one processed chunk atomically: its parts, the new offset, counts, usage.

        Fenced by the lease and by the offset the chunk started from, so a chunk is counted
        at most once even if two processes ever raced on it. When ``done``, an
        ``in_progress`` batch moves to ``finalizing`` (a cancelling one stays cancelling).
        """
        now = int(time.time())
        with self._write() as con:
            cursor = con.execute(
                "UPDATE batches SET input_offset = ?, next_chunk = next_chunk + 1,"
                " completed = completed + ?, failed = failed + ?, input_tokens = input_tokens + ?,"
                " output_tokens = output_tokens + ?, cached_tokens = cached_tokens + ?,"
                " reasoning_tokens = reasoning_tokens + ?, step_failures = 0,"
                " status = CASE WHEN ? AND status = 'in_progress'"
                " THEN 'finalizing' ELSE status END,"
                " finalizing_at = CASE WHEN ? AND status = 'in_progress'"
                " THEN ? ELSE finalizing_at END"
                " WHERE id = ? AND lease_owner = ? AND input_offset = ? AND next_chunk = ?",
                (
                    new_offset,
                    completed,
                    failed,
                    *usage,
                    done,
                    done,
                    now,
                    batch.id,
                    owner,
                    batch.input_offset,
                    batch.next_chunk,
                ),
            )
            if cursor.rowcount != 1:
                return False
            con.executemany(
                "INSERT INTO parts (batch_id, chunk, kind, path, bytes) VALUES (?, ?, ?, ?, ?)",
                [(p.batch_id, p.chunk, p.kind, p.path, p.bytes) for p in parts],
            )
        return True

    def parts(self, batch_id: str) -> list[Part]:
        """The committed parts of a batch, in chunk order."""
        rows = (
            self._con()
            .execute(
                "SELECT batch_id, chunk, kind, path, bytes FROM parts WHERE batch_id = ?"
                " ORDER BY chunk, kind",
                (batch_id,),
            )
            .fetchall()
        )
        return [Part(**dict(r)) for r in rows]

    def finalize(
        self,
        batch: BatchRecord,
        owner: str,
        *,
        files: dict[str, NewFile | None],
        status: str,
    ) -> bool:
        """Register the output/error files and move the batch to its terminal ``status``."""
        now = int(time.time())
        stamp = {"completed": "completed_at", "cancelled": "cancelled_at", "expired": "expired_at"}
        try:
            self._finalize(batch, owner, files=files, status=status, now=now, stamp=stamp[status])
        except _Rollback:
            return False
        return True

    def _finalize(
        self,
        batch: BatchRecord,
        owner: str,
        *,
        files: dict[str, NewFile | None],
        status: str,
        now: int,
        stamp: str,
    ) -> None:
        with self._write() as con:
            for new in files.values():
                if new is not None:
                    # Derived ids: a finalization redone after a crash registers nothing twice.
                    con.execute(
                        "INSERT OR IGNORE INTO files (id, filename, purpose, bytes, created_at,"
                        " path) VALUES (?, ?, ?, ?, ?, ?)",
                        (new.id, new.filename, new.purpose, new.bytes, now, new.path),
                    )
            output, error = files.get("output"), files.get("error")
            cursor = con.execute(
                f"UPDATE batches SET status = ?, {stamp} = ?, output_file_id = ?,"
                " error_file_id = ?, total = MAX(total, completed + failed),"
                " finalizing_at = COALESCE(finalizing_at, ?)"
                " WHERE id = ? AND lease_owner = ? AND status = ?",
                (
                    status,
                    now,
                    output.id if output else None,
                    error.id if error else None,
                    now if status == "completed" else None,
                    batch.id,
                    owner,
                    batch.status,
                ),
            )
            if cursor.rowcount != 1:
                raise _Rollback
            con.execute("DELETE FROM parts WHERE batch_id = ?", (batch.id,))

    def fail(self, batch: BatchRecord, owner: str, errors: list[dict[str, Any]]) -> bool:
        """Move a leased batch to ``failed`` with ``errors.data`` items."""
        return self.update(
            batch.id,
            owner,
            expect_status=batch.status,
            status="failed",
            failed_at=int(time.time()),
            errors=to_json(errors).decode(),
        )

    def note_step_failure(self, batch_id: str, owner: str) -> int:
        """Count a step that crashed; returns the consecutive failures so far."""
        with self._write() as con:
            con.execute(
                "UPDATE batches SET step_failures = step_failures + 1"
                " WHERE id = ? AND lease_owner = ?",
                (batch_id, owner),
            )
            row = con.execute(
                "SELECT step_failures FROM batches WHERE id = ?", (batch_id,)
            ).fetchone()
        return int(row["step_failures"]) if row else 0


class _Rollback(Exception):
    """Raised inside a write transaction to undo it (the fenced update matched nothing)."""
