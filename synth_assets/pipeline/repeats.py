"""Rows that repeat an earlier row, exactly or nearly, in flat memory (no Dagster).

Exactly: the same text after :func:`normalize` (case folded, letters only, single spaces).
Nearly: MinHash signatures of word shingles, locality-sensitive hashing in bands to find
candidate pairs, then the estimated Jaccard similarity of each pair. Nothing per row is
kept in memory: normalized texts go to hash buckets on disk (exact repeats are found bucket
by bucket), each distinct text's signature to a row-indexed scratch file, and each band's
keys to buckets again (rows sharing a key are the candidates, verified on their
signatures). Exact: every comparison is on values, the hashes only pick files.
"""

import itertools
import os
import random
import re
import tempfile
import unicodedata
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from . import buckets

# MinHash: NUM_PERM hash functions in BANDS bands of ROWS; two texts whose estimated
# Jaccard similarity of word shingles is at least NEAR_DUPLICATE are near-duplicates.
NUM_PERM = 32
BANDS, ROWS = 8, 4
SHINGLE_WORDS = 3
NEAR_DUPLICATE = 0.8
_PRIME = (1 << 61) - 1
_rng = random.Random(20261101)  # fixed: the same check gives the same figures
_HASHES = tuple((_rng.randrange(1, _PRIME), _rng.randrange(0, _PRIME)) for _ in range(NUM_PERM))
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# Texts read (or handled) at a time: texts run long, and 8,192 of 600 bytes are ~5 MB as
# Python strings (a 64K slice of them took ~100 MB).
TEXT_SLICE_ROWS = 8192


def normalize(text: str) -> str:
    """Lower case, letters only (any script), single spaces: what "the same text" means."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(folded))


def _shingles(normalized: str) -> set[int]:
    words = normalized.split()
    if len(words) >= SHINGLE_WORDS * 2:
        grams = (" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - 2))
    else:  # short texts, and scripts written without spaces: character 4-grams
        chars = normalized.replace(" ", "")
        grams = (chars[i : i + 4] for i in range(max(1, len(chars) - 3)))
    return {zlib.crc32(g.encode()) for g in grams}


def _signature(shingles: set[int]) -> tuple[int, ...]:
    """The MinHash signature: per hash function (a * x + b) mod p, its least value."""
    return tuple(min((a * x + b) % _PRIME for x in shingles) for a, b in _HASHES)


# Texts signed at once: their shingles (~60 a text) and a column of hashes per hash
# function come to ~15 MB; larger slices were no faster and peaked higher.
SIGN_ROWS = 1024
_U64 = pa.uint64()
_LOW29 = (1 << 29) - 1


def _u64(value: int) -> pa.Scalar:
    return pa.scalar(value, _U64)


def _hashed(x: pa.Array, a: int, b: int) -> pa.Array:
    """``(a * x + b) mod p`` for every ``x`` (< 2**32) in 64-bit Arrow arithmetic, exactly
    as the Python integers of :func:`_signature` compute it: ``a`` in 32-bit halves, and
    ``p = 2**61 - 1`` folds a value's bits above 61 back in (2**61 is 1 modulo p)."""
    high = pc.multiply(x, _u64(a >> 32))  # < 2**61
    low = pc.multiply(x, _u64(a & 0xFFFFFFFF))  # < 2**64
    # high * 2**32 mod p: its low 29 bits move up 32, the rest wrap around.
    value = pc.add(
        pc.shift_left(pc.bit_wise_and(high, _u64(_LOW29)), _u64(32)), pc.shift_right(high, _u64(29))
    )
    value = pc.add(value, pc.add(pc.bit_wise_and(low, _u64(_PRIME)), pc.shift_right(low, _u64(61))))
    value = pc.add(value, _u64(b))  # below 2**63
    value = pc.add(pc.bit_wise_and(value, _u64(_PRIME)), pc.shift_right(value, _u64(61)))
    # Now below p + 5: at or above p, value - p is the smaller; below p, it wraps around.
    return pc.min_element_wise(value, pc.subtract(value, _u64(_PRIME)))


def _signatures(shingle_sets: Sequence[set[int]]) -> list[tuple[int, ...]]:
    """:func:`_signature` of each (non-empty) set, the same values, computed in Arrow for
    all of them at once: about a tenth of the time."""
    values: array[int] = array("Q")
    owners: array[int] = array("q")
    for index, shingles in enumerate(shingle_sets):
        values.extend(shingles)
        owners.extend(itertools.repeat(index, len(shingles)))
    x = pa.Array.from_buffers(_U64, len(values), [None, pa.py_buffer(values)])
    columns = {"text": pa.Array.from_buffers(pa.int64(), len(owners), [None, pa.py_buffer(owners)])}
    for k, (a, b) in enumerate(_HASHES):
        columns[f"h{k}"] = _hashed(x, a, b)
    least = (
        pa.table(columns)
        .group_by("text", use_threads=False)
        .aggregate([(f"h{k}", "min") for k in range(NUM_PERM)])
        .sort_by("text")
    )
    assert least.num_rows == len(shingle_sets), "every text has a shingle"
    return list(zip(*(least.column(f"h{k}_min").to_pylist() for k in range(NUM_PERM)), strict=True))


def _similarity(one: Sequence[int], other: Sequence[int]) -> float:
    """The estimated Jaccard similarity of two signatures' shingle sets."""
    return sum(x == y for x, y in zip(one, other, strict=True)) / NUM_PERM


TEXT_BUCKET_BYTES = 32 * 1024 * 1024  # normalized text per exact bucket aimed at
_EXACT_SCHEMA = pa.schema([("text", pa.string()), ("row", pa.int64())])
_BAND_SCHEMA = pa.schema([("key", pa.binary(ROWS * 8)), ("row", pa.int64())])


class _RowFile:
    """``width`` 64-bit values per row in a scratch file, read and written by row index.

    Values are stored plus one, so a row never written (the sparse file's zeros) reads as
    None. pread/pwrite, not mmap: the page cache holds the file, not this process's RSS.
    """

    def __init__(self, path: Path, rows: int, width: int) -> None:
        self.size = width * 8  # bytes per row
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.ftruncate(self._fd, rows * self.size)

    def write(self, row: int, values: Sequence[int]) -> None:
        os.pwrite(self._fd, array("Q", [v + 1 for v in values]).tobytes(), row * self.size)

    def read(self, row: int) -> "array[int] | None":
        stored = array("Q", os.pread(self._fd, self.size, row * self.size))
        return array("Q", [v - 1 for v in stored]) if stored[0] else None

    def stored(self, start: int, rows: int) -> bytes:
        """Rows ``start`` to ``start + rows`` as stored (plus one; zeros when unwritten)."""
        return os.pread(self._fd, rows * self.size, start * self.size)

    def close(self) -> None:
        os.close(self._fd)


def near_duplicates(
    texts: Iterable[str | None], scratch: Path | None = None, *, bucket_rows: int | None = None
) -> Iterator[tuple[int, int]]:
    """Pairs ``(row, earlier_row)`` in row order: each row that repeats an earlier one, with
    the first earlier row it repeats.

    A row repeats exactly when it equals an earlier row after :func:`normalize` (the first
    such row); otherwise nearly when its MinHash signature and an earlier distinct row's
    share a band's key and their estimated similarity is at least :data:`NEAR_DUPLICATE`:
    the first band (in order) holding such a row, and in it the earliest. Empty texts are
    skipped; texts that normalize to nothing only repeat each other exactly.

    ``texts`` is read twice (a list, or a :class:`Column`). Memory stays flat in the rows:
    the work is in hash buckets and scratch files in a folder under ``scratch`` (default
    the system's temporary folder), removed when the pairs are consumed: ~256 bytes a row
    for the signatures, and the normalized texts for a while. Only a band key that very many
    rows share costs memory: 8 bytes for each such row. ``bucket_rows`` sets the rows per
    bucket (tests force tiny buckets).
    """
    rows = text_chars = written = 0
    for text in texts:
        rows += 1
        if text:
            written += 1
            text_chars += len(text)
    exact_count = max(
        buckets.bucket_count(written, bucket_rows), -(-text_chars // TEXT_BUCKET_BYTES)
    )
    with buckets.scratch_folder(scratch or Path(tempfile.gettempdir())) as folder:
        matches = _RowFile(folder / "matches", rows, 1)  # each row's earlier row, if any
        signatures = _RowFile(folder / "signatures", rows, NUM_PERM)  # of distinct texts
        try:
            exact = buckets.Buckets(folder, "exact", _EXACT_SCHEMA, "text", exact_count)
            _bucket_normalized(texts, exact)
            signed = _exact_repeats(exact, matches, signatures)
            exact.discard()
            band_count = buckets.bucket_count(signed, bucket_rows)
            for band in range(BANDS):
                keys = buckets.Buckets(folder, f"band-{band}", _BAND_SCHEMA, "key", band_count)
                _bucket_band_keys(signatures, rows, band, keys)
                for index in range(band_count):
                    _near_repeats(keys.batches(index), matches, signatures)
                keys.discard()
            for start in range(0, rows, TEXT_SLICE_ROWS):
                stored = array("Q", matches.stored(start, min(TEXT_SLICE_ROWS, rows - start)))
                for offset, earlier in enumerate(stored):
                    if earlier:
                        yield start + offset, earlier - 1
        finally:
            matches.close()
            signatures.close()


def _bucket_normalized(texts: Iterable[str | None], exact: buckets.Buckets) -> None:
    """Each non-empty text, normalized, with its row, into ``exact`` (in row order)."""
    normalized: list[str] = []
    at: list[int] = []
    for index, text in enumerate(texts):
        if text:
            normalized.append(normalize(text))
            at.append(index)
        if len(at) == TEXT_SLICE_ROWS:
            exact.write(pa.record_batch([normalized, at], schema=_EXACT_SCHEMA))
            normalized, at = [], []
    exact.write(pa.record_batch([normalized, at], schema=_EXACT_SCHEMA))
    exact.close()


def _exact_repeats(exact: buckets.Buckets, matches: _RowFile, signatures: _RowFile) -> int:
    """Each row whose normalized text an earlier row has: that row, into ``matches``; each
    first occurrence of a non-empty text: its signature, into ``signatures``. Equal texts
    share a bucket, in row order. Returns the count of signatures."""
    signed = 0
    to_sign: list[tuple[int, str]] = []  # first occurrences, signed SIGN_ROWS at a time
    for index in range(exact.count):
        first: dict[str, int] = {}  # this bucket's distinct texts
        for batch in exact.batches(index):
            for text, row in zip(
                batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True
            ):
                earlier = first.setdefault(text, row)
                if earlier != row:
                    matches.write(row, [earlier])
                elif text:
                    to_sign.append((row, text))
                    if len(to_sign) == SIGN_ROWS:
                        signed += _sign(to_sign, signatures)
    return signed + _sign(to_sign, signatures)


def _sign(to_sign: list[tuple[int, str]], signatures: _RowFile) -> int:
    """Each ``(row, text)``'s signature, into ``signatures``; empties ``to_sign``."""
    if not to_sign:
        return 0
    made = _signatures([_shingles(text) for _, text in to_sign])
    for (row, _), signature in zip(to_sign, made, strict=True):
        signatures.write(row, signature)
    count = len(to_sign)
    to_sign.clear()
    return count


def _bucket_band_keys(signatures: _RowFile, rows: int, band: int, keys: buckets.Buckets) -> None:
    """Each signed row's key for ``band`` (its stored values there), with the row, into
    ``keys``, in row order."""
    width = signatures.size
    cut = slice(band * ROWS * 8, (band + 1) * ROWS * 8)
    for start in range(0, rows, TEXT_SLICE_ROWS):
        stored = memoryview(signatures.stored(start, min(TEXT_SLICE_ROWS, rows - start)))
        found: list[bytes] = []
        at: list[int] = []
        for offset in range(len(stored) // width):
            signature = stored[offset * width : (offset + 1) * width]
            if any(signature[:8]):  # a row without a signature reads as zeros
                found.append(bytes(signature[cut]))
                at.append(start + offset)
        keys.write(pa.record_batch([found, at], schema=_BAND_SCHEMA))
    keys.close()


def _near_repeats(
    batches: Iterable[pa.RecordBatch], matches: _RowFile, signatures: _RowFile
) -> None:
    """For one bucket of a band's keys (in row order): each row not matched yet, with the
    earliest earlier row sharing its key whose signature is near enough, into ``matches``.
    Bands are taken in order, so a row keeps the match of the first band that has one."""
    earlier: dict[bytes, array[int]] = {}  # each key's rows so far
    for batch in batches:
        for key, row in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
            candidates = earlier.setdefault(key, array("q"))
            if candidates and matches.read(row) is None:
                own = signatures.read(row)
                assert own is not None
                for other in candidates:
                    theirs = signatures.read(other)
                    assert theirs is not None
                    if _similarity(theirs, own) >= NEAR_DUPLICATE:
                        matches.write(row, [other])
                        break
            candidates.append(row)
