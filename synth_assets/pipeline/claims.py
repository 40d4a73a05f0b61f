"""The requests a build sends: an exact set of request hashes, on disk, beside the build.

A day's build sends each request once, by the first row that asks for it. A day of 10M rows
would hold ~1.5 GB of hashes in a Python set, so the set lives in the build's folder:

- every claimed hash, 32 bytes each, in a file in claim order (written once per slice);
- a SQLite table from each hash's first 16 hex digits to the first claim with them. A short
  key keeps the B-tree small, and inserting a slice's keys costs about half as much as
  inserting the full hashes;
- a claim whose key is taken is compared in full with that first claim: the same hash is a
  repeat; another hash (two requests sharing 64 bits of hash: vanishingly rare, yet possible)
  goes to a second table keyed by the full hash. Nothing is ever merged on a partial match.
"""

import os
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from pydantic_core import to_json

HASH_BYTES = 32  # a sha256
KEY_CHARS = 16  # hex digits of a hash in the key table


class ClaimedHashes:
    """The request hashes claimed so far in a build (see the module); its files are deleted
    when it is closed. Use as a context manager.

    Its work runs in a thread of its own, beside the build (SQLite lets go of the GIL):
    :meth:`claim` returns at once, and claims run in the order they were made, each seeing
    every claim before it. ``key_chars`` is for tests (a short key makes keys collide).
    """

    def __init__(self, folder: Path, *, key_chars: int = KEY_CHARS) -> None:
        self._paths = (folder / ".sending.sqlite", folder / ".sending.hashes")
        # Used by the one worker thread only (and closed once it has stopped).
        self._db = sqlite3.connect(self._paths[0], isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")  # a scratch table: nothing to recover
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE firsts (key TEXT PRIMARY KEY, claim INTEGER NOT NULL) WITHOUT ROWID"
        )
        self._db.execute("CREATE TABLE others (hash TEXT PRIMARY KEY) WITHOUT ROWID")
        self._claims: BinaryIO = open(self._paths[1], "w+b")  # noqa: SIM115 (closed in __exit__)
        self._count = 0
        self._key_chars = key_chars
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="build-claims")

    def claim(self, hashes: list[str]) -> Future[set[str]]:
        """Claim ``hashes`` (hex sha256s); the future holds those no earlier claim had."""
        return self._worker.submit(self._claim, hashes)

    def _claim(self, hashes: list[str]) -> set[str]:
        if not hashes:
            return set()
        base = self._count
        self._claims.write(bytes.fromhex("".join(hashes)))
        self._claims.flush()  # read back below, by position
        self._count += len(hashes)
        # One statement for the slice (a JSON array), in key order: neighbouring keys share
        # the B-tree's pages. A claim's number is its position in the file.
        array, changes = to_json(hashes).decode(), self._db.total_changes
        self._db.execute(
            "INSERT OR IGNORE INTO firsts SELECT substr(value, 1, ?), ? + key FROM json_each(?) "
            "ORDER BY 1",
            (self._key_chars, base, array),
        )
        if self._db.total_changes - changes == len(hashes):  # every key was free: all new
            return set(hashes)
        # Which positions took their key (rows are only fetched, holding the GIL, here).
        firsts = {
            claim - base
            for (claim,) in self._db.execute(
                "SELECT claim FROM firsts WHERE claim >= ? AND key IN "
                "(SELECT substr(value, 1, ?) FROM json_each(?))",
                (base, self._key_chars, array),
            )
        }
        new = {hashes[position] for position in firsts}
        return new | self._new_among_taken_keys(
            [h for position, h in enumerate(hashes) if position not in firsts]
        )

    def _new_among_taken_keys(self, hashes: list[str]) -> set[str]:
        """Those of ``hashes`` (whose keys are taken) never claimed before."""
        keys = sorted({h[: self._key_chars] for h in hashes})
        first_claim = dict(
            self._db.execute(
                "SELECT key, claim FROM firsts WHERE key IN (SELECT value FROM json_each(?))",
                (to_json(keys).decode(),),
            )
        )
        fd = self._claims.fileno()
        others = [
            h
            for h in hashes
            if os.pread(fd, HASH_BYTES, first_claim[h[: self._key_chars]] * HASH_BYTES)
            != bytes.fromhex(h)
        ]
        if not others:
            return set()
        rows = self._db.execute(
            "INSERT OR IGNORE INTO others SELECT value FROM json_each(?) RETURNING hash",
            (to_json(others).decode(),),
        )
        return {h for (h,) in rows}

    def __enter__(self) -> "ClaimedHashes":
        return self

    def __exit__(self, *_: object) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)
        self._db.close()
        self._claims.close()
        for path in self._paths:
            path.unlink(missing_ok=True)
