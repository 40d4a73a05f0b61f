"""Background processing of batches, in chunks, safe across restarts and processes.

One runner thread per server process leases one live batch at a time (round robin: the
batch that has waited longest for work goes next) and does one step of it. A step is short
by construction, so one heavy batch never keeps the others waiting: a synthetic chunk ends
early once it has run ``max_step_s`` or written ``CHUNK_OUTPUT_BYTES`` of answers (the rest
of the chunk is the next step, after other batches had their turn), and each answer is
bounded in size and time (:mod:`.schemagen`).

* ``validating``: check the input file (:func:`validate_request_file`) -> ``failed`` with
  line-numbered ``errors.data``, or ``in_progress``.
* ``in_progress``: answer the next chunk of requests. The chunk's output and error lines are
  written to new part files first, then one transaction records those parts together with
  the new input offset, counts and usage. A crash before the commit leaves unregistered
  part files that are never read; after it, the chunk is done. So a restart resumes at the
  committed offset and no request is ever answered twice.
* past ``expires_at``, or ``cancelling``: the requests not yet run go to the error file as
  ``batch_expired`` / ``batch_cancelled`` lines.
* ``finalizing`` (and the end of the two above): the parts are joined into the output and
  error files (ids derived from the batch id, so a redone finalization makes the same
  files), registered, and the batch reaches its terminal status in the same transaction.

A lease is renewed by a heartbeat while a step runs, and every write is fenced by it: another
process can take the batch over only after the lease lapses, and then this one can no longer
write.
"""

import logging
import os
import random
import secrets
import shutil
import socket
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pydantic_core import from_json

from synth_assets.batch import (
    RequestLineParser,
    iter_blocks,
    paused_gc,
    validate_request_file,
)

from . import faults as fault_lib
from .answers import CANCELLED, EXPIRED, Reply, Request, line_for, output_line
from .config import BatchSettings, Responder, ServerSettings
from .faults import CONTENT_FAULTS, NO_ANSWER, FaultKind
from .forward import ForwardResponder
from .ids import derived_file_id
from .records import BatchRecord, NewFile, Part
from .shapes import ChatAnswer, Usage
from .store import Store
from .synthetic import SchemaCache, SyntheticResponder

log = logging.getLogger(__name__)

MAX_LISTED_ERRORS = 1000
# A chunk stops taking requests once its answers pass this size: bounds a step's memory.
CHUNK_OUTPUT_BYTES = 32 * 1024 * 1024
_MAX_STEP_FAILURES = 3
_COPY_BUFFER = 1 << 20
_SLICE = 16  # synthetic requests answered between two looks at the step's clock and size


@dataclass(slots=True)
class _Tally:
    """What a chunk has answered so far: its lines, counts and usage."""

    out: list[bytes] = field(default_factory=list)
    err: list[bytes] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    completed: int = 0
    failed: int = 0
    nbytes: int = 0


class LeaseLostError(Exception):
    """Another process took the batch over; this one must drop what it was doing."""


class Runner:
    """Processes the batches of one data dir in a background thread."""

    def __init__(self, store: Store, settings: ServerSettings) -> None:
        self.store = store
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._cache = SchemaCache()
        self._forward = (
            ForwardResponder(
                settings.forward_url,
                api_key=settings.forward_api_key,
                model=settings.forward_model,
                concurrency=settings.forward_concurrency,
                retries=settings.forward_retries,
                timeout_s=settings.forward_timeout_s,
            )
            if settings.forward_url
            else None
        )
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._held: str | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker and heartbeat threads (after freeing leases of dead processes)."""
        for batch_id in self.store.release_dead_leases(self._owner_is_dead):
            log.warning("localbatch resumes %s, left by a server that stopped mid-step", batch_id)
        for target, name in ((self._loop, "localbatch-runner"), (self._beat, "localbatch-lease")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current step and stop (its batch continues at the next start)."""
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        if self._forward is not None:
            self._forward.close()

    def _owner_is_dead(self, owner: str) -> bool:
        """True when ``owner`` is a process on this host that no longer runs."""
        parts = owner.rsplit(":", 2)  # "<host>:<pid>:<token>"
        if len(parts) != 3 or parts[0] != socket.gethostname() or owner == self.owner:
            return False
        try:
            pid = int(parts[1])
        except ValueError:
            return False
        if pid == os.getpid():
            return False  # another runner in this process may be alive: let the lease lapse
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def wake(self) -> None:
        """Look for work now (a batch was created or cancelled in this process)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                worked = self.run_once()
            except Exception:  # a bug or a broken disk: log it, keep serving the API
                log.exception("localbatch runner step failed")
                worked = False
            if not worked:
                self._wake.wait(self.settings.poll_interval_s)
                self._wake.clear()
        self.store.close()

    def _beat(self) -> None:
        interval = self.settings.lease_s / 3
        while not self._stopping.wait(interval):
            held = self._held
            if held is not None:
                try:
                    self.store.renew(held, self.owner, self.settings.lease_s)
                except Exception:
                    log.exception("localbatch could not renew the lease of %s", held)
        self.store.close()

    def run_once(self) -> bool:
        """Do one step of the batch most due for work; False when none is due."""
        batch = self.store.claim(self.owner, self.settings.lease_s)
        if batch is None:
            return False
        self._held = batch.id
        next_run = 0.0
        # Synthetic steps are short and CPU-bound: pausing the GC pays (a chunk ~40% cheaper),
        # but only in a process of one thread (paused_gc checks), never beside the API's
        # threads. A forwarded chunk may wait on a model for minutes, so it keeps the GC.
        synthetic = batch.batch_settings.responder is Responder.SYNTHETIC
        try:
            with paused_gc() if synthetic else nullcontext():
                next_run = self._step(batch)
        except LeaseLostError:
            log.warning("localbatch lost the lease of %s to another process", batch.id)
            return True
        except Exception as exc:
            log.exception("localbatch step of %s failed", batch.id)
            failures = self.store.note_step_failure(batch.id, self.owner)
            if failures >= _MAX_STEP_FAILURES:
                current = self.store.get_batch(batch.id)
                if current is not None and current.status in ("validating", "in_progress"):
                    message = f"the local server could not process this batch: {exc}"
                    self.store.fail(current, self.owner, [_error("server_error", message)])
            next_run = time.time() + min(2.0**failures, 60.0)
        finally:
            self._held = None
            self.store.release(batch.id, self.owner, next_run)
        return True

    # -- steps ---------------------------------------------------------------------------

    def _step(self, batch: BatchRecord) -> float:
        """Advance ``batch`` by one step; return when it next wants work (0: at once)."""
        settings = batch.batch_settings
        if batch.status == "validating":
            self._validate(batch, settings)
            return 0.0
        if batch.status == "cancelling":
            self._finish(batch, CANCELLED, "cancelled")
            return 0.0
        if batch.status == "finalizing":
            self._finalize(batch, "completed")
            return 0.0
        if time.time() >= batch.expires_at_exact:
            self._finish(batch, EXPIRED, "expired")
            return 0.0
        self._chunk(batch, settings)
        # Slow progress (delay_s) never postpones expiry past its moment.
        return min(time.time() + settings.delay_s, batch.expires_at_exact)

    def _validate(self, batch: BatchRecord, settings: BatchSettings) -> None:
        path = self.store.resolve(batch.input_path)
        if not path.is_file():
            message = f"the input file {batch.input_file_id} was deleted before the batch ran"
            self._fail(batch, [_error("input_file_missing", message)])
            return
        if settings.fault_rates.batch_fails(self.store.fault_key(batch)):
            message = (
                "The batch input file was refused (injected by localbatch fault batch_failed)."
            )
            self._fail(batch, [_error("invalid_request", message)])
            return
        problems = validate_request_file(
            path,
            max_requests=self.settings.max_requests,
            max_bytes=self.settings.max_file_bytes,
            endpoints=(batch.endpoint,),
        )
        if problems:
            errors = [_error(p.code, p.message, p.line) for p in problems[:MAX_LISTED_ERRORS]]
            if len(problems) > MAX_LISTED_ERRORS:
                more = len(problems) - MAX_LISTED_ERRORS
                errors.append(_error("too_many_errors", f"{more} more problems are not listed"))
            self._fail(batch, errors)
            return
        total, model = _count_and_model(path)
        if self._over_enqueued_limit(batch, model):
            return
        changed = self.store.update(
            batch.id,
            self.owner,
            expect_status="validating",
            status="in_progress",
            in_progress_at=int(time.time()),
            total=total,
            model=model,
        )
        if not changed:
            self._check_lease(batch)

    def _fail(self, batch: BatchRecord, errors: list[dict[str, Any]]) -> None:
        if not self.store.fail(batch, self.owner, errors):
            self._check_lease(batch)
            return
        self.store.forget_deleted_input(batch)

    def _check_lease(self, batch: BatchRecord) -> None:
        """After a fenced write matched nothing: lost lease, or just a status change (cancel)."""
        current = self.store.get_batch(batch.id)
        if current is None or current.lease_owner != self.owner:
            raise LeaseLostError(batch.id)

    def _responder(self, settings: BatchSettings) -> Any:
        if settings.responder is Responder.FORWARD:
            if self._forward is None:
                raise RuntimeError("this batch forwards, but the server has no --forward-url")
            return self._forward
        return SyntheticResponder(
            settings.seed,
            self._cache,
            max_answer_bytes=self.settings.max_answer_bytes,
            answer_timeout_s=self.settings.answer_timeout_s,
        )

    def _over_enqueued_limit(self, batch: BatchRecord, model: str | None) -> bool:
        """Fail the batch as OpenAI does when its tokens would push the model's enqueued
        tokens (batches in progress) past ``--enqueued-token-limit``."""
        limit = self.settings.enqueued_token_limit
        if limit is None:
            return False
        tokens = batch.input_bytes // 4
        enqueued = self.store.enqueued_tokens(model, exclude=batch.id)
        if enqueued + tokens <= limit:
            return False
        message = (
            f"Enqueued token limit reached for {model} in organization. Limit: {limit:,} "
            f"enqueued tokens ({enqueued:,} enqueued, this batch {tokens:,}). Please try again "
            "once some in_progress batches have been completed."
        )
        self._fail(batch, [_error("token_limit_exceeded", message)])
        return True

    def _chunk(self, batch: BatchRecord, settings: BatchSettings) -> None:
        path = self.store.resolve(batch.input_path)
        requests: list[Request] = []
        ends: list[int] = []  # the input offset right after each request
        position = batch.input_offset
        parse = RequestLineParser()
        with open(path, "rb") as handle:
            handle.seek(position)
            for _ in range(settings.chunk_size):
                raw = handle.readline()
                if not raw:
                    break
                position += len(raw)
                if raw.strip():
                    line = parse(raw)  # validated: every line is a request object
                    requests.append(Request(line["custom_id"], line["body"], len(raw)))
                    ends.append(position)
            offset = handle.tell()
        tally = _Tally()
        answered = self._answer_slices(batch, settings, requests, tally)
        if answered < len(requests):
            offset = ends[answered - 1]  # the rest of the chunk is the next step
        done = offset >= batch.input_bytes
        # Output order need not be input order (as with OpenAI): shuffling makes a client
        # that wrongly relies on it fail here rather than in production.
        if self.settings.shuffle:
            random.Random(f"{batch.id}:{batch.next_chunk}").shuffle(tally.out)
        parts = self._write_parts(batch, {"output": tally.out, "error": tally.err})
        usage = tally.usage
        usage_counts = (
            usage.input_tokens,
            usage.output_tokens,
            usage.cached_tokens,
            usage.reasoning_tokens,
        )
        committed = self.store.commit_chunk(
            batch,
            self.owner,
            new_offset=offset,
            parts=parts,
            completed=tally.completed,
            failed=tally.failed,
            usage=usage_counts,
            done=done,
        )
        if not committed:
            for part in parts:
                self.store.resolve(part.path).unlink(missing_ok=True)
            raise LeaseLostError(batch.id)

    def _answer_slices(
        self, batch: BatchRecord, settings: BatchSettings, requests: list[Request], tally: _Tally
    ) -> int:
        """Answer the chunk a slice at a time until the step has run long enough.

        Returns how many requests were answered. A forwarded chunk is one slice: its
        requests go out together (with bounded concurrency) and its time is the model's.
        """
        rates, responder = settings.fault_rates, self._responder(settings)
        if settings.responder is Responder.FORWARD:
            self._answer(batch, rates, responder, requests, tally)
            return len(requests)
        started = time.monotonic()
        answered = 0
        while answered < len(requests):
            part = requests[answered : answered + _SLICE]
            self._answer(batch, rates, responder, part, tally)
            answered = min(len(requests), answered + _SLICE)
            if tally.nbytes >= CHUNK_OUTPUT_BYTES:
                break
            if time.monotonic() - started >= self.settings.max_step_s:
                break
        return answered

    def _answer(
        self,
        batch: BatchRecord,
        rates: fault_lib.Faults,
        responder: Any,
        requests: list[Request],
        tally: _Tally,
    ) -> None:
        """Answer requests into ``tally``: faults decided per custom_id, the rest asked of the
        responder."""
        key = self.store.fault_key(batch)
        chosen = [rates.for_request(r.custom_id, key) for r in requests]
        out, err = tally.out, tally.err
        nbytes = 0
        to_ask = [r for r, kind in zip(requests, chosen, strict=True) if kind not in NO_ANSWER]
        replies = iter(responder.answer(batch.endpoint, to_ask))
        for request, kind in zip(requests, chosen, strict=True):
            if kind is FaultKind.MISSING:
                tally.completed += 1  # the server claims it answered; the line is just lost
                continue
            if kind in (FaultKind.HTTP_429, FaultKind.HTTP_500):
                status, body = fault_lib.http_error_body(kind)
                err.append(line_for(request.custom_id, Reply(status, body)))
                nbytes += len(err[-1])
                tally.failed += 1
                continue
            if kind is FaultKind.REQUEST_ERROR:
                err.append(line_for(request.custom_id, Reply(error=fault_lib.request_error())))
                nbytes += len(err[-1])
                tally.failed += 1
                continue
            reply = next(replies)
            if not reply.ok:
                err.append(line_for(request.custom_id, reply))
                nbytes += len(err[-1])
                tally.failed += 1
                continue
            if kind in CONTENT_FAULTS:
                if isinstance(reply.body, ChatAnswer):
                    reply = Reply(reply.status, reply.body.to_dict())
                if isinstance(reply.body, dict):
                    fault_lib.apply_content_fault(kind, reply.body, batch.endpoint)
            tally.usage.add_body(reply.body)
            out.append(output_line(request.custom_id, reply))
            nbytes += len(out[-1])
            if kind is FaultKind.DUPLICATE:
                out.append(output_line(request.custom_id, reply))
                nbytes += len(out[-1])
            tally.completed += 1
        tally.nbytes += nbytes

    def _write_parts(self, batch: BatchRecord, lines: dict[str, list[bytes]]) -> list[Part]:
        folder = self.store.parts_path(batch.id)
        folder.mkdir(parents=True, exist_ok=True)
        parts = []
        # The owner token in the name keeps a stalled process from overwriting the parts of
        # the process that took the batch over.
        token = self.owner.rsplit(":", 1)[-1]
        for kind, kind_lines in lines.items():
            if not kind_lines:
                continue
            path = folder / f"{batch.next_chunk:06d}-{token}.{kind}.jsonl"
            with open(path, "wb") as handle:
                handle.writelines(kind_lines)  # no joined copy of the chunk in memory
                handle.flush()
                os.fsync(handle.fileno())
            relative = str(path.relative_to(self.store.data_dir))
            size = sum(len(line) for line in kind_lines)
            parts.append(Part(batch.id, batch.next_chunk, kind, relative, size))
        return parts

    def _finish(self, batch: BatchRecord, error: dict[str, str], status: str) -> None:
        """End a batch early: every request not yet run becomes an error line, then finalize."""
        path = self.store.resolve(batch.input_path)
        lines: list[bytes] = []
        if batch.input_offset < batch.input_bytes and path.is_file():
            with open(path, "rb") as handle:
                handle.seek(batch.input_offset)
                for raw in handle:
                    custom_id = _custom_id(raw)
                    if custom_id is not None:
                        lines.append(line_for(custom_id, Reply(error=error)))
            parts = self._write_parts(batch, {"error": lines})
            committed = self.store.commit_chunk(
                batch,
                self.owner,
                new_offset=batch.input_bytes,
                parts=parts,
                completed=0,
                failed=len(lines),
                usage=(0, 0, 0, 0),
                done=False,
            )
            if not committed:
                raise LeaseLostError(batch.id)
            refreshed = self.store.get_batch(batch.id)
            assert refreshed is not None
            batch = refreshed
        self._finalize(batch, status)

    def _finalize(self, batch: BatchRecord, status: str) -> None:
        parts = self.store.parts(batch.id)
        files: dict[str, NewFile | None] = {}
        for kind, suffix in (("output", "output"), ("error", "error")):
            chosen = [p for p in parts if p.kind == kind and p.bytes > 0]
            files[kind] = self._join(batch, chosen, suffix) if chosen else None
        if not self.store.finalize(batch, self.owner, files=files, status=status):
            self._check_lease(batch)
            return
        shutil.rmtree(self.store.parts_path(batch.id), ignore_errors=True)
        self.store.forget_deleted_input(batch)

    def _join(self, batch: BatchRecord, parts: list[Part], suffix: str) -> NewFile:
        """Concatenate parts into one file named by an id derived from the batch."""
        file_id = derived_file_id(batch.id, suffix)
        target = self.store.files_dir / f"{file_id}.jsonl"
        temporary = target.with_name(target.name + ".part")
        size = 0
        with open(temporary, "wb") as sink:
            for part in parts:
                with open(self.store.resolve(part.path), "rb") as source:
                    _copy(source, sink, part.bytes)
                size += part.bytes
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temporary, target)
        return NewFile(
            id=file_id,
            filename=f"{batch.id}_{suffix}.jsonl",
            purpose="batch_output",
            bytes=size,
            path=str(Path(target).relative_to(self.store.data_dir)),
        )


def _copy(source: BinaryIO, sink: BinaryIO, nbytes: int) -> None:
    """Append ``source`` to ``sink``: inside the kernel where it can (no copy through Python
    buffers: the output of 1M answers is a gigabyte), else through a buffer."""
    done = 0
    if hasattr(os, "copy_file_range"):
        sink.flush()
        try:
            while done < nbytes:
                copied = os.copy_file_range(source.fileno(), sink.fileno(), nbytes - done)
                if copied == 0:
                    break
                done += copied
        except OSError:
            pass  # another filesystem: the buffered copy below does the rest
        if done:
            source.seek(done)
            sink.seek(0, os.SEEK_END)
    shutil.copyfileobj(source, sink, _COPY_BUFFER)


def _error(code: str, message: str, line: int | None = None) -> dict[str, Any]:
    return {"code": code, "line": line, "message": message, "param": None}


def _custom_id(raw: bytes) -> str | None:
    try:
        value = from_json(raw)
    except ValueError:
        return None
    custom_id = value.get("custom_id") if isinstance(value, dict) else None
    return custom_id if isinstance(custom_id, str) else None


def _count_and_model(path: Path) -> tuple[int, str | None]:
    """Number of requests and the model of a validated file (one model on every line)."""
    total = 0
    model = None
    for lines in iter_blocks(path):
        if model is None and lines:
            body = from_json(lines[0]).get("body")
            model = body.get("model") if isinstance(body, dict) else None
        total += len(lines)
    return total, model
