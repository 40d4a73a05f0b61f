"""Streaming Batch-API output and error files into parsed and unparsed records.

Conservation is the law: every requested custom_id ends exactly once, in ``parsed`` or in
``unparsed``. The first answer for a custom_id wins (output file before error file); a
second one is a ``duplicate`` row; a requested id never answered is ``missing`` (or
``expired`` / ``cancelled`` / ``batch_failed`` after such a batch); a line that is not a
Batch-API line is ``invalid_line`` (with the request's id when it still names one).
Second answers and lines naming no requested id are extra rows, counted apart
(``records.is_extra_line``): parsed + unparsed (other rows) == requested. With several
attempts (resubmissions of failed requests), the last attempt's outcome wins.
"""

import gc
import logging
import multiprocessing
import os
import threading
from collections import Counter
from collections.abc import Container, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel
from pydantic_core import from_json, to_json

from .classify import LineClassifier, ParsedRow
from .errors import SynthError
from .idset import IdSet
from .lines import BLOCK, custom_id_of, is_line, iter_blocks, iter_lines, read_span
from .reasons import Reason
from .records import LineMeta, Parsed, Unparsed
from .tables import (
    META_COLUMNS,
    ROW_GROUP_ROWS,
    UNPARSED_SCHEMA,
    ModelColumns,
    ParquetSink,
    parsed_schema,
)

# What admission returns for an id that a later attempt answers: not a row at all.
SUPERSEDED = Unparsed(None, Reason.INVALID_LINE, "superseded by a later attempt")
# Requested ids that got no line: why, by the batch's final status.
_UNANSWERED_REASON = {
    "expired": Reason.EXPIRED,
    "cancelled": Reason.CANCELLED,
    "cancelling": Reason.CANCELLED,
    "failed": Reason.BATCH_FAILED,
}
# Files smaller than this are parsed in-process: worker start-up would cost more than it saves.
PARALLEL_MIN_BYTES = 32 << 20
# Default worker processes: one per core, at most this many (beyond, the writer in this
# process is the bottleneck).
MAX_WORKERS = 4
# Parsed rows turned into Arrow at a time while the GC runs: a rich row holds a dozen or
# more tracked objects, so this many stay below a young collection's 700.
_YOUNG_ROWS = 32
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResultFiles:
    """The result files of one batch, and what was asked of it.

    ``requested`` is the request file (a path) or the custom_ids themselves; without it,
    missing answers cannot be detected. ``status`` is the batch's final status.
    ``request_hashes`` fills the tables' ``request_hash`` column: a mapping custom_id ->
    hash, or a JSON-lines file of ``{"custom_id": ..., "request_hash": ...}`` objects (read
    when the batch is parsed, then dropped: a day of many batches is never held at once).
    """

    output_path: str | os.PathLike[str] | None
    error_path: str | os.PathLike[str] | None = None
    batch_id: str | None = None
    status: str | None = None
    requested: str | os.PathLike[str] | Iterable[str] | None = None
    batch_error: str | None = None
    # Resubmissions: attempt k+1 holds requests of attempt k retried; the last outcome wins.
    attempt: int = 1
    # custom_id -> the request's hash, for the tables' request_hash column (when known).
    request_hashes: Mapping[str, str] | str | os.PathLike[str] | None = None


@dataclass(slots=True)
class ParseSummary:
    """Counts of one parse: rows per table, reasons, tokens."""

    requested: int | None = None
    parsed: int = 0
    unparsed: int = 0
    extra_lines: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, record: Parsed | Unparsed) -> None:
        """Count one record."""
        meta = record.meta
        if isinstance(record, Parsed):
            self.parsed += 1
        else:
            self.unparsed += 1
            self.reasons[record.reason.value] += 1
            self.extra_lines += record.is_extra_line
        if meta is not None:
            self.prompt_tokens += meta.prompt_tokens or 0
            self.completion_tokens += meta.completion_tokens or 0


def requested_ids(requested: str | os.PathLike[str] | Iterable[str]) -> dict[str, None]:
    """The requested custom_ids in order: from a request file (streamed) or an iterable."""
    if not isinstance(requested, str | os.PathLike):
        return dict.fromkeys(requested)
    ids: dict[str, None] = {}
    for line in iter_lines(requested):
        custom_id = custom_id_of(line)
        if custom_id is not None:
            ids[custom_id] = None
    return ids


def _request_hashes(
    source: Mapping[str, str] | str | os.PathLike[str] | None,
) -> Mapping[str, str] | None:
    """A batch's request hashes: the mapping itself, or read from a JSON-lines file of
    ``{"custom_id": ..., "request_hash": ...}`` objects (streamed)."""
    if source is None or isinstance(source, Mapping):
        return source
    hashes: dict[str, str] = {}
    for number, line in enumerate(iter_lines(source), start=1):
        if not is_line(line):
            continue
        try:
            value = from_json(line)
            custom_id, request_hash = value["custom_id"], value["request_hash"]
        except (ValueError, KeyError, TypeError):
            custom_id = request_hash = None
        if not isinstance(custom_id, str) or not isinstance(request_hash, str):
            raise SynthError(
                f"{source}, line {number}: not a request-hash line; each line must be "
                '{"custom_id": "...", "request_hash": "..."}.'
            )
        hashes[custom_id] = request_hash
    return hashes


def _wanted_and_hashes(
    files: ResultFiles,
) -> tuple[dict[str, None] | None, Mapping[str, str] | None]:
    """A batch's requested ids and request hashes, each file read once (a file that holds
    both, as the pipeline writes, is read once for both)."""
    hashes = _request_hashes(files.request_hashes)
    if files.requested is None:
        return None, hashes
    if (
        isinstance(files.requested, str | os.PathLike)
        and files.requested == files.request_hashes
        and hashes is not None
    ):
        return dict.fromkeys(hashes), hashes  # the same ids, in the same order
    return requested_ids(files.requested), hashes


def _not_requested(custom_id: str) -> Unparsed:
    return Unparsed(None, Reason.INVALID_LINE, f"custom_id {custom_id!r} was not requested")


class _FirstAnswers:
    """The requested ids answered so far (first answer wins).

    Without ``shared``, every id is remembered for the whole parse. With it (the ids that
    more than one batch, or a batch and a rejected input, request: a caller that knows
    says so), only those are remembered across batches; any other id is requested by one
    batch at most, so it is remembered only while that batch is admitted. The decisions
    are the same; memory is then bounded by a batch, not by the day.
    """

    def __init__(self, shared: Container[str] | None = None) -> None:
        self._shared = shared
        self._day = IdSet()
        self._batch = IdSet() if shared is not None else self._day

    def begin_batch(self) -> None:
        """Start a batch: what the previous one answered is no longer asked about."""
        if self._shared is not None:
            self._batch = IdSet()

    def add_all(self, ids: list[str]) -> list[int]:
        """Add ids in order; the positions of those already answered (see IdSet.add_all)."""
        shared = self._shared
        if not shared:
            return self._batch.add_all(ids)
        across = [i for i, custom_id in enumerate(ids) if custom_id in shared]
        if not across:
            return self._batch.add_all(ids)
        marked = set(across)
        within = [i for i in range(len(ids)) if i not in marked]
        present = [across[p] for p in self._day.add_all([ids[i] for i in across])]
        present += [within[p] for p in self._batch.add_all([ids[i] for i in within])]
        return sorted(present)

    def update(self, ids: Iterable[str]) -> None:
        """Add every id of ``ids``."""
        self.add_all(list(ids))


class _Admission:
    """Enforces conservation over a stream of records: first answer wins, ids requested.

    Batches are admitted newest attempt first; ids a later attempt requested again are
    ``superseded`` in earlier attempts, whose lines for them are skipped (kept on disk).
    The ids are kept in :class:`IdSet`: a few bytes each, so memory stays nearly flat in
    the number of rows (flat with ``shared``, see :class:`_FirstAnswers`).
    """

    def __init__(
        self, attempts: Iterable[int] = (1,), shared: Container[str] | None = None
    ) -> None:
        self.seen = _FirstAnswers(shared)
        self.superseded = IdSet()
        numbers = set(attempts)
        # With a single attempt nothing is superseded: skip remembering what it decided;
        # likewise for the oldest attempt, which nothing comes after.
        self._several_attempts = len(numbers) > 1
        self._oldest = min(numbers, default=1)
        self._decided = IdSet()  # requested by the attempt being admitted
        self._attempt: int | None = None
        self._superseding = False

    def begin(self, attempt: int) -> None:
        """Start a batch; moving to an earlier attempt supersedes what later ones decided."""
        self.seen.begin_batch()
        if attempt != self._attempt:
            self.superseded.update(self._decided)
            self._decided = IdSet()
            self._attempt = attempt
            self._superseding = len(self.superseded) > 0  # a flag: checked for every row

    def check_all(
        self, ids: list[str], wanted: dict[str, None] | None
    ) -> list[tuple[int, Unparsed]]:
        """For ids in file order, ``(position, reject)`` of each id that is not the first
        answer for a requested id, in order: a duplicate or invalid-line row, or
        :data:`SUPERSEDED` for an id a later attempt answers."""
        rejects: dict[int, Unparsed] = {}
        if self._superseding:
            superseded = self.superseded
            rejects.update((i, SUPERSEDED) for i, c in enumerate(ids) if c in superseded)
        if wanted is not None:
            rejects.update(
                (i, _not_requested(c))
                for i, c in enumerate(ids)
                if c not in wanted and i not in rejects
            )
        # The rest are answers to requested ids: the first one for each wins.
        candidates = [i for i in range(len(ids)) if i not in rejects] if rejects else None
        answers = ids if candidates is None else [ids[i] for i in candidates]
        for position in self.seen.add_all(answers):
            i = position if candidates is None else candidates[position]
            rejects[i] = Unparsed(ids[i], Reason.DUPLICATE, "a second answer; the first was kept")
        return sorted(rejects.items(), key=lambda item: item[0])

    def admit_all(
        self, records: list[Parsed | Unparsed], wanted: dict[str, None] | None, attempt: int
    ) -> list[Parsed | Unparsed]:
        """The records in file order, each stamped with the attempt, as it stands: itself,
        the duplicate / invalid-line row it turns into, or left out when a later attempt
        supersedes it."""
        named: list[int] = []
        for index, record in enumerate(records):
            if record.meta is None:
                record.meta = LineMeta()
            record.meta.attempt = attempt
            if record.custom_id is not None:
                named.append(index)
        ids = [records[i].custom_id for i in named]
        rejects = self.check_all(ids, wanted)  # type: ignore[arg-type]
        if not rejects:
            return records
        admitted: list[Parsed | Unparsed | None] = list(records)
        for position, reject in rejects:
            index = named[position]
            record = records[index]
            if reject is not SUPERSEDED:
                if isinstance(record, Parsed):
                    reject.raw, reject.source = (
                        record.value.model_dump_json(by_alias=True),
                        "output",
                    )
                else:
                    reject.raw, reject.source = record.raw, record.source
                reject.meta = record.meta
            admitted[index] = None if reject is SUPERSEDED else reject
        return [record for record in admitted if record is not None]

    def requested(self, wanted: dict[str, None]) -> int:
        """How many of ``wanted`` are this attempt's to answer (not superseded)."""
        return sum(1 for custom_id in wanted if custom_id not in self.superseded)

    def close_batch(self, wanted: dict[str, None] | None) -> None:
        """After a batch: its requested ids are decided; earlier attempts will skip them."""
        if wanted is not None and self._several_attempts and self._attempt != self._oldest:
            self._decided.update(wanted)

    def unanswered(self, files: ResultFiles, wanted: dict[str, None]) -> Iterator[Unparsed]:
        """Rows for requested ids that no line answered."""
        reason = _UNANSWERED_REASON.get(files.status or "", Reason.MISSING)
        message = {
            Reason.MISSING: "requested, but in neither the output nor the error file",
            Reason.EXPIRED: "never run: the batch expired first",
            Reason.CANCELLED: "never run: the batch was cancelled",
            Reason.BATCH_FAILED: files.batch_error or "the batch failed validation",
        }[reason]
        meta = LineMeta(batch_id=files.batch_id, attempt=files.attempt)
        ids = [c for c in wanted if c not in self.superseded] if self._superseding else [*wanted]
        answered = set(self.seen.add_all(ids))
        for position, custom_id in enumerate(ids):
            if position not in answered:
                yield Unparsed(custom_id, reason, message, source="request", meta=meta)


def _sources(files: ResultFiles) -> Iterator[tuple[str, Path]]:
    for source, path in (("output", files.output_path), ("error", files.error_path)):
        if path is None:
            continue
        if not Path(path).is_file():
            raise SynthError(
                f"result file {path} does not exist; download the batch's files first."
            )
        yield source, Path(path)


def iter_results(
    results: ResultFiles | Iterable[ResultFiles], response_model: type[BaseModel]
) -> Iterator[Parsed | Unparsed]:
    """Yield one record per requested row (plus extra lines), streaming every file once."""
    batches = _newest_attempt_first(results)
    admission = _Admission(files.attempt for files in batches)
    for files in batches:
        admission.begin(files.attempt)
        classify = LineClassifier(response_model, files.batch_id)
        wanted, hashes = _wanted_and_hashes(files)
        for source, path in _sources(files):
            for lines in iter_blocks(path):
                records = [classify.record(o) for o in classify.decide_lines(lines, source)]
                yield from _stamp_hashes(
                    admission.admit_all(records, wanted, files.attempt), hashes
                )
        if wanted is not None:
            yield from _stamp_hashes(admission.unanswered(files, wanted), hashes)
        admission.close_batch(wanted)


def _stamp_hashes(
    records: Iterable[Parsed | Unparsed], hashes: Mapping[str, str] | None
) -> Iterable[Parsed | Unparsed]:
    """Give each record its request's hash, when the batch's hashes are known."""
    if not hashes:
        return records
    records = list(records)
    for record in records:
        if record.custom_id is not None and record.meta is not None:
            record.meta.request_hash = hashes.get(record.custom_id)
    return records


def _newest_attempt_first(results: ResultFiles | Iterable[ResultFiles]) -> list[ResultFiles]:
    batches = [results] if isinstance(results, ResultFiles) else list(results)
    return sorted(batches, key=lambda files: -files.attempt)


def parse_results(
    output_path: str | os.PathLike[str] | None,
    error_path: str | os.PathLike[str] | None = None,
    *,
    response_model: type[BaseModel],
    requested: str | os.PathLike[str] | Iterable[str] | None = None,
    batch_id: str | None = None,
    status: str | None = None,
) -> Iterator[Parsed | Unparsed]:
    """Yield records for one batch's output and error files (either may be None)."""
    files = ResultFiles(output_path, error_path, batch_id, status, requested)
    return iter_results(files, response_model)


def _alone() -> bool:
    """True when the calling thread is the only Python thread of the process."""
    return threading.active_count() == 1


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic GC during bulk work, and leave it exactly as it was found.

    Each parsed row adds a dozen or more tracked objects (a model, its ``__dict__``, its
    fields set, nested models and lists); with the GC on, every full collection re-traverses
    all of them as they pile up, which makes a list parse several times slower.

    The GC is process-wide, so it is paused only when the GC is enabled and this thread is
    the only one (a server's or a notebook's other threads keep theirs running). On exit
    the objects made meanwhile join the oldest generation without being traversed
    (``freeze()`` then ``unfreeze()``: O(1), and nothing stays frozen), as they would after
    surviving young collections; the caller's young garbage cycles, if any, then wait for
    the next full collection. That is done only when nothing was frozen before, since
    ``unfreeze()`` would release the caller's frozen objects too. Enabled state,
    thresholds and freeze count are as before; ``gc.collect()`` still frees any cycle.
    """
    if not gc.isenabled() or not _alone():
        yield
        return
    promote = gc.get_freeze_count() == 0
    gc.disable()
    try:
        yield
    finally:
        if promote:
            gc.freeze()
            gc.unfreeze()
        gc.enable()


# ---- Parquet: blocks of lines, parsed in worker processes when the files are large ----


@dataclass(slots=True)
class _Block:
    parsed: pa.Table
    # Each unparsed record with the number of parsed rows before it: the file order, which
    # first-answer-wins needs.
    unparsed: list[tuple[int, Unparsed]]


class _BlockParser:
    """Parses a byte span of a result file into an Arrow table and unparsed records."""

    def __init__(self, response_model: type[BaseModel]) -> None:
        self.response_model = response_model
        self.columns = ModelColumns(response_model)
        self.schema = parsed_schema(response_model)
        self._buffer = bytearray()  # reused by every block this parser reads

    def parse(self, path: Path, start: int, end: int, source: str, batch_id: str | None) -> _Block:
        data = read_span(path, start, end, self._buffer)
        classify = LineClassifier(self.response_model, batch_id)
        # With the GC running (beside other threads), rows go to Arrow a few dozen at a
        # time: their models then die young, instead of being promoted and re-traversed.
        piece = _YOUNG_ROWS if gc.isenabled() else None
        pieces: list[pa.Table] = []
        done = 0  # parsed rows already in pieces
        rows: list[ParsedRow] = []
        unparsed: list[tuple[int, Unparsed]] = []
        for outcome in classify.decide_lines(data.split(b"\n"), source):
            if isinstance(outcome, Unparsed):
                unparsed.append((done + len(rows), outcome))
                continue
            rows.append(outcome)
            if piece is not None and len(rows) >= piece:
                pieces.append(self.table(rows, batch_id))
                done, rows = done + len(rows), []
        if rows or not pieces:
            pieces.append(self.table(rows, batch_id))
        return _Block(pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces), unparsed)

    def table(self, rows: list[ParsedRow], batch_id: str | None) -> pa.Table:
        """Arrow table of parsed rows: custom_id, the model's columns, then metadata."""
        columns = list(zip(*rows, strict=True)) if rows else [()] * 7
        ids, values, models, request_ids, prompt, completion, total = columns
        field_columns = self.columns.table(list(values)).columns
        int64 = pa.int64()
        meta = {
            "model": pa.array(models, type=pa.string()),
            "batch_id": pa.array([batch_id] * len(rows), type=pa.string()),
            "request_id": pa.array(request_ids, type=pa.string()),
            "prompt_tokens": pa.array(prompt, type=int64),
            "completion_tokens": pa.array(completion, type=int64),
            "total_tokens": pa.array(total, type=int64),
            "attempt": pa.nulls(len(rows), type=pa.int32()),  # stamped at admission
            "request_hash": pa.nulls(len(rows), type=pa.string()),  # likewise
        }
        arrays = [pa.array(ids, type=pa.string()), *field_columns, *(meta[n] for n in META_COLUMNS)]
        return pa.Table.from_arrays(arrays, schema=self.schema)


_worker: _BlockParser | None = None


def _init_worker(response_model: type[BaseModel]) -> None:
    global _worker
    # A worker process is ours alone and holds only short-lived blocks: no GC needed.
    gc.disable()
    _worker = _BlockParser(response_model)


def _parse_in_worker(path: Path, start: int, end: int, source: str, batch_id: str | None) -> _Block:
    assert _worker is not None
    return _worker.parse(path, start, end, source, batch_id)


def _spans(path: Path, block: int = BLOCK) -> Iterator[tuple[int, int]]:
    """Newline-aligned byte spans of about ``block`` bytes covering the file."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        start = 0
        while start < size:
            handle.seek(min(start + block, size))
            handle.readline()
            end = min(handle.tell(), size)
            yield start, end
            start = end


def _can_fork() -> bool:
    """Whether worker processes may be forked from this one now.

    Only ``fork`` lets a worker use the response model as it is (a class from a notebook,
    a script's ``__main__`` or a function cannot be pickled by name for ``spawn`` or
    ``forkserver``, and those re-run an unguarded script). Forking while another thread
    runs can copy a lock it holds into the child and deadlock there (Dagster steps,
    uvicorn), so then nothing is forked and the files are parsed in this process.
    """
    return "fork" in multiprocessing.get_all_start_methods() and _alone()


def _choose_workers(workers: int | None, total_bytes: int) -> int:
    """Worker processes for a parse: ``workers`` if given, else one per core, at most
    :data:`MAX_WORKERS`, for files of :data:`PARALLEL_MIN_BYTES` or more; 1 (in-process)
    whenever forking is unsafe (see :func:`_can_fork`)."""
    wanted = max(1, workers) if workers is not None else None
    if wanted is None:
        big = total_bytes >= PARALLEL_MIN_BYTES
        wanted = min(os.cpu_count() or 1, MAX_WORKERS) if big else 1
    if wanted > 1 and not _can_fork():
        log.info("parsing in-process: forking is unavailable, or unsafe beside other threads")
        return 1
    return wanted


def write_tables(
    results: ResultFiles | Iterable[ResultFiles],
    *,
    response_model: type[BaseModel],
    parsed_path: str | os.PathLike[str],
    unparsed_path: str | os.PathLike[str],
    rejected_inputs: Iterable[Unparsed] = (),
    workers: int | None = None,
    shared_ids: Container[str] | None = None,
) -> ParseSummary:
    """Parse result files into a parsed and an unparsed Parquet file; return the counts.

    ``rejected_inputs`` are rows never sent (``invalid_input``): they are written to the
    unparsed table and counted as requested, so conservation covers every input row. They
    are consumed as a stream (a generator reading a file keeps memory flat).

    Memory stays flat in the number of lines: files are read in blocks, tables are written
    in row groups. Large inputs are parsed by ``workers`` forked processes (default: one
    per core, at most 4, when the files reach 32 MB); ``workers=1`` keeps everything
    in-process, and so does a process running other threads, where forking is unsafe.
    No ``if __name__ == "__main__"`` guard is ever needed. The caller's GC is left as found
    (see :func:`paused_gc`).
    Both files are written under temporary names and renamed, so a crash leaves no half file.

    First answer wins across the whole parse, so every answered id is remembered (a few
    bytes each). A caller that knows which custom_ids more than one batch, or a batch and
    a rejected input, request passes them as ``shared_ids`` (often none): then only those
    are remembered across batches, the others while their batch is parsed, and memory is
    bounded by a batch. Every batch must then say what it requested.
    """
    batches = _newest_attempt_first(results)
    if shared_ids is not None and any(files.requested is None for files in batches):
        raise ValueError("shared_ids needs what each batch requested (ResultFiles.requested)")
    total = sum(path.stat().st_size for files in batches for _, path in _sources(files))
    count = _choose_workers(workers, total)
    block_parser = _BlockParser(response_model)
    summary = ParseSummary()
    admission = _Admission((files.attempt for files in batches), shared_ids)
    with (
        paused_gc(),
        ParquetSink(parsed_path, block_parser.schema) as parsed_sink,
        ParquetSink(unparsed_path, UNPARSED_SCHEMA) as unparsed_sink,
        _executor(count, response_model) as pool,
    ):
        never_sent = 0
        for chunk in _chunks(rejected_inputs, ROW_GROUP_ROWS):
            admission.seen.update(record.custom_id for record in chunk)  # type: ignore[misc]
            for record in chunk:
                summary.add(record)
            never_sent += len(chunk)
            unparsed_sink.write(_unparsed_table(chunk))
        summary.requested = never_sent or None
        for files in batches:
            admission.begin(files.attempt)
            wanted, hashes = _wanted_and_hashes(files)
            if wanted is not None:
                summary.requested = (summary.requested or 0) + admission.requested(wanted)
            for block in _blocks(files, block_parser, pool, count):
                kept, rejected = _admit_block(block, admission, wanted, block_parser, files.attempt)
                kept = _with_hashes(kept, hashes)
                rejected = list(_stamp_hashes(rejected, hashes))  # type: ignore[arg-type]
                parsed_sink.write(kept)
                summary.parsed += kept.num_rows
                summary.prompt_tokens += pc.sum(kept["prompt_tokens"]).as_py() or 0
                summary.completion_tokens += pc.sum(kept["completion_tokens"]).as_py() or 0
                for record in rejected:
                    summary.add(record)
                unparsed_sink.write(_unparsed_table(rejected))
            if wanted is not None:
                missing = list(_stamp_hashes(admission.unanswered(files, wanted), hashes))
                for record in missing:
                    summary.add(record)
                unparsed_sink.write(_unparsed_table(missing))
            admission.close_batch(wanted)
    return summary


def _chunks(records: Iterable[Unparsed], size: int) -> Iterator[list[Unparsed]]:
    """``records`` in lists of at most ``size``."""
    chunk: list[Unparsed] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextmanager
def _executor(count: int, response_model: type[BaseModel]) -> Iterator[Executor | None]:
    if count <= 1:
        yield None
        return
    # fork (only while no other thread runs, see _can_fork): the worker inherits the
    # response model as it is, even a class defined in a notebook or a function, and
    # nothing re-imports the caller's script.
    pool = ProcessPoolExecutor(
        max_workers=count,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_init_worker,
        initargs=(response_model,),
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _blocks(
    files: ResultFiles, block_parser: _BlockParser, pool: Executor | None, count: int
) -> Iterator[_Block]:
    """Parsed blocks of a batch's files, in file order, at most 2 per worker in flight."""
    pending: list[Future[_Block]] = []
    for source, path in _sources(files):
        for start, end in _spans(path):
            if pool is None:
                yield block_parser.parse(path, start, end, source, files.batch_id)
                continue
            pending.append(pool.submit(_parse_in_worker, path, start, end, source, files.batch_id))
            if len(pending) >= 2 * count:
                yield pending.pop(0).result()
    for future in pending:
        yield future.result()


def _admit_block(
    block: _Block,
    admission: _Admission,
    wanted: dict[str, None] | None,
    parser: _BlockParser,
    attempt: int,
) -> tuple[pa.Table, list[Unparsed]]:
    """Apply first-answer-wins to a block in file order; rejected parsed rows become unparsed."""
    rejected: list[Unparsed] = []
    keep: list[bool] | None = None  # None: every parsed row is kept
    ids = block.parsed.column("custom_id").to_pylist()
    start = 0
    # Parsed rows up to each unparsed record's position, then that record: the file order.
    for end, record in [*block.unparsed, (len(ids), None)]:
        for offset, reject in admission.check_all(ids[start:end], wanted):
            index = start + offset
            if keep is None:
                keep = [True] * len(ids)
            keep[index] = False
            if reject is not SUPERSEDED:
                rejected.append(_rejected_row(reject, block.parsed, index, parser, attempt))
        start = end
        if record is not None:
            rejected.extend(admission.admit_all([record], wanted, attempt))  # type: ignore[arg-type]
    kept = block.parsed if keep is None else block.parsed.filter(pa.array(keep, type=pa.bool_()))
    if kept.num_rows:
        kept = kept.set_column(
            kept.schema.get_field_index("attempt"),
            "attempt",
            pa.array([attempt] * kept.num_rows, type=pa.int32()),
        )
    return kept, rejected


def _with_hashes(table: pa.Table, hashes: Mapping[str, str] | None) -> pa.Table:
    """The parsed rows with their request hashes filled in (when known)."""
    if not hashes or not table.num_rows:
        return table
    ids = table.column("custom_id").to_pylist()
    column = pa.array([hashes.get(custom_id) for custom_id in ids], type=pa.string())
    return table.set_column(table.schema.get_field_index("request_hash"), "request_hash", column)


def _rejected_row(
    reject: Unparsed, parsed: pa.Table, index: int, parser: _BlockParser, attempt: int
) -> Unparsed:
    """A parsed row that lost (e.g. a second answer): its answer and metadata, from Arrow."""
    row = parsed.slice(index, 1).to_pylist()[0]
    values = {f.name: row[f.name] for f in parser.columns.fields}
    reject.raw = to_json(values).decode()
    reject.source = "output"
    reject.meta = LineMeta(**{name: row[name] for name in META_COLUMNS})
    reject.meta.attempt = attempt
    return reject


def _unparsed_table(records: list[Unparsed]) -> pa.Table:
    return pa.Table.from_pylist([r.as_row() for r in records], schema=UNPARSED_SCHEMA)


def parse_to_parquet(
    output_path: str | os.PathLike[str] | None,
    error_path: str | os.PathLike[str] | None = None,
    *,
    response_model: type[BaseModel],
    parsed_path: str | os.PathLike[str],
    unparsed_path: str | os.PathLike[str],
    requested: str | os.PathLike[str] | Iterable[str] | None = None,
    batch_id: str | None = None,
    status: str | None = None,
    workers: int | None = None,
) -> ParseSummary:
    """Parse one batch's output and error files into two Parquet files (see write_tables)."""
    return write_tables(
        ResultFiles(output_path, error_path, batch_id, status, requested),
        response_model=response_model,
        parsed_path=parsed_path,
        unparsed_path=unparsed_path,
        workers=workers,
    )
