"""Request files, a response model and polling for the local Batch server tests."""

import json
import time
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import openai
from openai.types import Batch
from pydantic import BaseModel, Field
from pydantic_core import from_json

from synth_assets.batch.requests import CHAT_COMPLETIONS, RESPONSES, RequestBuilder
from synth_assets.batch.shards import write_request_file

MODEL = "gpt-4o-mini"
TERMINAL = ("completed", "failed", "expired", "cancelled")
MODES = [
    ("json_schema", CHAT_COMPLETIONS),
    ("tools", CHAT_COMPLETIONS),
    ("json_schema", RESPONSES),
    ("tools", RESPONSES),
]


class Priority(str, Enum):
    """How urgent an email is."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Sender(BaseModel):
    """Who wrote the email."""

    name: str
    email: str | None


class Action(BaseModel):
    """One follow-up."""

    verb: Literal["reply", "forward", "archive", "escalate"]
    due_in_days: int = Field(ge=0, le=30)


class Triage(BaseModel):
    """One email's triage: enums, a nested model, a list of models, bounded numbers."""

    label: Literal["spam", "ham", "phishing"]
    priority: Priority
    confidence: float = Field(ge=0, le=1)
    summary: str = Field(max_length=120)
    tags: list[str] = Field(min_length=1, max_length=4)
    sender: Sender
    actions: list[Action]
    score: int | None


def messages(index: int, *, parts: bool = False, endpoint: str = CHAT_COMPLETIONS) -> list[Any]:
    """The messages of request ``index``; ``parts`` uses text + image content parts."""
    text = f"Email {index}: Dear customer, your invoice {index * 7} is overdue."
    if not parts:
        return [
            {"role": "system", "content": "Triage the email."},
            {"role": "user", "content": text},
        ]
    if endpoint == RESPONSES:
        content: list[dict[str, Any]] = [
            {"type": "input_text", "text": text},
            {"type": "input_image", "image_url": "https://example.com/scan.png"},
        ]
    else:
        content = [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": "https://example.com/scan.png"}},
        ]
    return [{"role": "user", "content": content}]


def write_requests(
    path: Path,
    count: int,
    *,
    mode: str = "json_schema",
    endpoint: str = CHAT_COMPLETIONS,
    prefix: str = "email",
    model: str = MODEL,
    response_model: type[BaseModel] = Triage,
) -> list[str]:
    """Write ``count`` realistic requests (every third with content parts); return the ids."""
    builder = RequestBuilder(
        model=model, response_model=response_model, mode=mode, endpoint=endpoint
    )
    ids = [f"{prefix}-{i:05d}" for i in range(count)]
    requests = (
        (custom_id, messages(i, parts=i % 3 == 2, endpoint=endpoint))
        for i, custom_id in enumerate(ids)
    )
    write_request_file(requests, builder, path)
    return ids


def upload(client: openai.OpenAI, path: Path) -> str:
    """Upload a request file (purpose batch); return its id."""
    with open(path, "rb") as handle:
        return client.files.create(file=handle, purpose="batch").id


def submit(
    client: openai.OpenAI,
    path: Path,
    *,
    endpoint: str = CHAT_COMPLETIONS,
    metadata: dict[str, str] | None = None,
) -> Batch:
    """Upload ``path`` and create a batch for it."""
    return client.batches.create(
        input_file_id=upload(client, path),
        endpoint=endpoint,  # type: ignore[arg-type]
        completion_window="24h",
        metadata=metadata,
    )


def wait(
    client: openai.OpenAI,
    batch_id: str,
    *,
    until: Any = None,
    timeout: float = 30.0,
) -> Batch:
    """Poll until ``until(batch)`` holds (default: a terminal status); return the batch."""
    check = until or (lambda b: b.status in TERMINAL)
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if check(batch):
            return batch
        if time.monotonic() > deadline:
            raise AssertionError(f"batch {batch_id} still {batch.status}: {batch}")
        time.sleep(0.05)


def download(client: openai.OpenAI, file_id: str | None, dest: Path) -> Path | None:
    """Stream a file's content to ``dest`` (None when there is no file)."""
    if file_id is None:
        return None
    with client.files.with_streaming_response.content(file_id) as response:
        response.stream_to_file(dest)
    return dest


def read_lines(path: Path | None) -> list[dict[str, Any]]:
    """The JSON lines of a downloaded file ([] for None)."""
    if path is None:
        return []
    return [from_json(line) for line in path.read_bytes().splitlines() if line.strip()]


def answer_text(body: dict[str, Any], endpoint: str) -> str:
    """The answer JSON inside a 200 body of either endpoint (content or tool arguments)."""
    if endpoint == RESPONSES:
        for item in body["output"]:
            if item["type"] == "function_call":
                return item["arguments"]
            if item["type"] == "message":
                return item["content"][0]["text"]
        raise AssertionError(f"no answer in {body}")
    message = body["choices"][0]["message"]
    if message.get("tool_calls"):
        return message["tool_calls"][0]["function"]["arguments"]
    return message["content"]


def chat_body(schema: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A chat-completions body; with ``schema``, asking for a json_schema answer."""
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Hi."}]}
    if schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "Answer", "strict": True, "schema": schema},
        }
    return {**body, **extra}


def write_bodies(path: Path, bodies: dict[str, Any], *, endpoint: str = CHAT_COMPLETIONS) -> Path:
    """Write one request line per ``custom_id -> body`` (bodies as given, however odd)."""
    with open(path, "w") as handle:
        for custom_id, body in bodies.items():
            line = {"custom_id": custom_id, "method": "POST", "url": endpoint, "body": body}
            handle.write(json.dumps(line) + "\n")
    return path


def results(client: openai.OpenAI, batch: Batch, folder: Path) -> dict[str, dict[str, Any]]:
    """Every output and error line of a finished batch, by custom_id."""
    lines = read_lines(download(client, batch.output_file_id, folder / "output.jsonl"))
    lines += read_lines(download(client, batch.error_file_id, folder / "errors.jsonl"))
    return {line["custom_id"]: line for line in lines}


def unreferenced_files(client: openai.OpenAI, data_dir: Path) -> list[str]:
    """Files in the server's store that no file record points to (partial uploads included)."""
    known = {f.id for f in client.files.list(limit=10000)}
    return sorted(p.name for p in (data_dir / "files").iterdir() if p.stem not in known)


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of process ``pid`` so far (Linux ``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")
