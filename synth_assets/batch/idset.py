"""An exact, compact set of custom_ids: what conservation remembers about millions of rows.

A Python ``set`` of short str costs ~100 bytes per id (a 64-byte str object plus ~32
bytes of hash table), so first-answer-wins over a million rows would hold ~100 MB. Here
each id costs about its length plus a few bytes: ids live in string buckets chosen by
hash, each bucket a run of ``NUL id NUL id NUL``. A search for ``NUL id NUL`` matches one
whole id and nothing else, so membership is exact, never a probabilistic guess (a hash
collision only puts two ids in the same bucket). The rare id that contains NUL itself
goes to a plain set.
"""

from collections.abc import Iterable, Iterator

_SEP = "\x00"
# Empty buckets all share one interned "\x00": 65,536 of them cost only the list (512 KB).
_START_BUCKETS = 1 << 16
# Average ids per bucket before the buckets grow fourfold: a lookup scans a few hundred
# characters, ~0.1 µs, while each bucket's own overhead stays a few bytes per id.
_PER_BUCKET = 32


class IdSet:
    """A set of strings stored in about ``len(id) + 4`` bytes each.

    Supports ``add`` (which says whether the id was new), ``add_all`` (which says which
    ones were not), ``in``, ``len`` and iteration (in no particular order). ``buckets`` is
    the starting number of buckets, a power of two.
    """

    __slots__ = ("_buckets", "_count", "_limit", "_mask", "_with_sep")

    def __init__(self, ids: Iterable[str] = (), *, buckets: int = _START_BUCKETS) -> None:
        if buckets < 1 or buckets & (buckets - 1):
            raise ValueError(f"buckets must be a power of two, not {buckets}")
        self._buckets = [_SEP] * buckets
        self._mask = buckets - 1
        self._limit = _PER_BUCKET * buckets
        self._count = 0
        self._with_sep: set[str] = set()
        self.update(ids)

    def add(self, custom_id: str) -> bool:
        """Add ``custom_id``; True when it was not there yet."""
        return not self.add_all((custom_id,))

    def add_all(self, ids: Iterable[str]) -> list[int]:
        """Add ids in order; return the positions of those already present (including
        repeats of an earlier id in ``ids``)."""
        present: list[int] = []
        buckets, mask = self._buckets, self._mask
        for position, custom_id in enumerate(ids):
            if _SEP in custom_id:
                if custom_id in self._with_sep:
                    present.append(position)
                    continue
                self._with_sep.add(custom_id)
            else:
                needle = f"{_SEP}{custom_id}{_SEP}"
                index = hash(needle) & mask
                bucket = buckets[index]
                if needle in bucket:
                    present.append(position)
                    continue
                buckets[index] = bucket + needle[1:]  # it already ends with a separator
            self._count += 1
            if self._count > self._limit:
                self._grow()
                buckets, mask = self._buckets, self._mask
        return present

    def update(self, ids: Iterable[str]) -> None:
        """Add every id of ``ids``."""
        self.add_all(ids)

    def __contains__(self, custom_id: object) -> bool:
        if not isinstance(custom_id, str):
            return False
        if _SEP in custom_id:
            return custom_id in self._with_sep
        needle = f"{_SEP}{custom_id}{_SEP}"
        return needle in self._buckets[hash(needle) & self._mask]

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        if not self._count:
            return
        for bucket in self._buckets:
            yield from bucket.split(_SEP)[1:-1]
        yield from self._with_sep

    def _grow(self) -> None:
        """Quadruple the buckets in place, one old bucket at a time (no transient copy)."""
        size = len(self._buckets)
        mask = 4 * size - 1
        buckets = self._buckets
        buckets.extend([_SEP] * (3 * size))
        for index in range(size):
            ids, buckets[index] = buckets[index].split(_SEP)[1:-1], _SEP
            for custom_id in ids:
                needle = f"{_SEP}{custom_id}{_SEP}"
                buckets[hash(needle) & mask] += needle[1:]
        self._mask, self._limit = mask, _PER_BUCKET * 4 * size
