"""Throughput of the local Batch server, for the benchmark script (``bench/``).

:func:`measure` writes an N-request file for one of two tasks (``spam``: the tutorial's
one-field spam label on ~630-byte emails; ``rich``: a nested response model with enums,
lists and bounded numbers), starts a real server (a subprocess, as in use), and times each
phase through the real ``openai`` client: upload, run (create -> completed, synthetic
responder), download. It also reports the server's peak memory, which should stay flat as
N grows (every phase streams).
"""

import os
import tempfile
import time
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import openai
from pydantic import BaseModel, Field

from synth_assets.batch.remote import TERMINAL as _TERMINAL
from synth_assets.batch.requests import RequestBuilder
from synth_assets.batch.shards import write_request_file
from synth_assets.localbatch.background import ServerProcess, settings_for


class _Urgency(str, Enum):
    LOW = "low"
    NORMAL = "normal"
    URGENT = "urgent"


class _Party(BaseModel):
    name: str
    email: str | None
    role: Literal["customer", "vendor", "employee", "unknown"]


class _LineItem(BaseModel):
    sku: str
    quantity: int = Field(ge=1, le=100)
    unit_price: float = Field(ge=0, le=10000)


class BenchTriage(BaseModel):
    """A rich-ish response model: enums, nested models, lists, bounded numbers, optionals."""

    label: Literal["spam", "ham", "phishing", "newsletter"]
    urgency: _Urgency
    confidence: float = Field(ge=0, le=1)
    summary: str = Field(max_length=300)
    topics: list[str] = Field(min_length=1, max_length=5)
    sender: _Party
    recipients: list[_Party]
    line_items: list[_LineItem]
    needs_reply: bool
    reply_deadline_days: int | None


TASKS = ("spam", "rich")
_SPAM_BODY = (
    "Dear customer, your account statement for this month is ready. We have noticed a "
    "problem with the invoice we discussed last week and we are looking into it. Please "
    "confirm that the delivery can be moved to Friday, and reply to this message if you "
    "have any questions about the payment. You can find the contract in the attachment of "
    "this email. Our records show that the renewal is still open on your account; it "
    "would help us a lot if you could sign it before next week. Kind regards, the billing "
    "team."
)


def write_bench_requests(
    path: Path, n: int, *, model: str = "gpt-4o-mini", task: str = "rich"
) -> Path:
    """Write ``n`` chat-completions requests (json_schema mode) for ``task``: ``rich``
    (:class:`BenchTriage`) or ``spam`` (the tutorial's ``SinglePrediction`` label)."""
    if task == "spam":
        return _write_spam_requests(path, n, model)
    builder = RequestBuilder(model=model, response_model=BenchTriage)
    system = {"role": "system", "content": "Triage the email and extract its parties and items."}
    requests = (
        (
            f"email-{i:07d}",
            [
                system,
                {
                    "role": "user",
                    "content": f"From: customer{i}@example.com\nSubject: Order {i}\n\n"
                    f"Hello, please send {i % 17 + 1} units of SKU-{i % 997:04d} "
                    "and confirm the delivery date. Thanks!",
                },
            ],
        )
        for i in range(n)
    )
    write_request_file(requests, builder, path)
    return path


def _write_spam_requests(path: Path, n: int, model: str) -> Path:
    from synth_assets.tasks.spam import SYSTEM_PROMPT, SinglePrediction

    builder = RequestBuilder(model=model, response_model=SinglePrediction)
    system = {"role": "system", "content": SYSTEM_PROMPT}
    requests = (
        (
            f"email-{i:08d}",
            [
                system,
                {
                    "role": "user",
                    "content": f"From: customer{i}@example.com\nSubject: Statement {i}\n\n"
                    + _SPAM_BODY,
                },
            ],
        )
        for i in range(n)
    )
    write_request_file(requests, builder, path)
    return path


def measure(
    n: int, *, task: str = "rich", work_dir: str | Path | None = None, **settings: Any
) -> dict[str, Any]:
    """Upload, run and download an ``n``-request batch; seconds and requests/s per phase.

    ``settings`` are extra server settings (e.g. ``chunk_size=5000``). The per-file limits
    are lifted to fit ``n`` (one batch of 10M requests is this benchmark's point, not a
    shape OpenAI accepts).
    """
    with tempfile.TemporaryDirectory(dir=work_dir) as folder:
        root = Path(folder)
        requests = write_bench_requests(root / "requests.jsonl", n, task=task)
        size = requests.stat().st_size
        limits = {"max_requests": n, "max_file_bytes": size, "max_upload_bytes": size}
        server = ServerProcess(settings_for(root / "server", **{**limits, **settings}))
        client = openai.OpenAI(
            base_url=server.start(), api_key="bench", max_retries=0, timeout=600.0
        )
        try:
            started = time.perf_counter()
            with open(requests, "rb") as handle:
                file_id = client.files.create(file=handle, purpose="batch").id
            uploaded = time.perf_counter()
            requests.unlink()  # the server holds its copy: 10M requests are ~14 GB each
            cpu_before = _cpu_s(server)
            batch = client.batches.create(
                input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            while batch.status not in _TERMINAL:
                # Every look costs the server a request (on the GIL the runner needs): look
                # often enough to time a short batch, not so often as to slow a long one.
                time.sleep(0.1)
                batch = client.batches.retrieve(batch.id)
            ran = time.perf_counter()
            cpu_run = _cpu_s(server)
            if batch.status != "completed" or batch.output_file_id is None:
                raise RuntimeError(f"the bench batch ended {batch.status}: {batch.errors}")
            output_bytes = 0
            with client.files.with_streaming_response.content(batch.output_file_id) as response:
                for block in response.iter_bytes(1 << 20):  # read, counted, not kept
                    output_bytes += len(block)
            downloaded = time.perf_counter()
            peak = _peak_rss_mb(server)
        finally:
            server.stop()
        upload_s, run_s, download_s = uploaded - started, ran - uploaded, downloaded - ran
        return {
            "task": task,
            "requests": n,
            "input_mb": round(size / 1e6, 2),
            "output_mb": round(output_bytes / 1e6, 2),
            "upload_s": round(upload_s, 3),
            "upload_rps": round(n / upload_s),
            "run_s": round(run_s, 3),
            "run_rps": round(n / run_s),
            # CPU seconds the server spent running the batch: on a busy machine, requests per
            # CPU-second says more about the server than wall-clock does.
            "run_cpu_s": round(cpu_run - cpu_before, 3) if cpu_run and cpu_before else None,
            "run_rps_per_cpu_s": round(n / (cpu_run - cpu_before))
            if cpu_run and cpu_before and cpu_run > cpu_before
            else None,
            "download_s": round(download_s, 3),
            "download_rps": round(n / download_s),
            "total_s": round(downloaded - started, 3),
            "server_peak_rss_mb": peak,
        }


def _cpu_s(server: ServerProcess) -> float | None:
    """User + system CPU seconds of the server process so far (Linux only; None elsewhere)."""
    if server.process is None:
        return None
    try:
        fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(server: ServerProcess) -> float | None:
    """The server process's peak resident memory (Linux only; None elsewhere)."""
    if server.process is None:
        return None
    try:
        status = Path(f"/proc/{server.process.pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None
