"""The forward responder against a small chat-completions server this test starts itself."""

import email.utils
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from synth_assets.batch import Parsed, Reason, parse_results
from synth_assets.localbatch.answers import Request
from synth_assets.localbatch.faults import FaultKind, Faults
from synth_assets.localbatch.forward import ForwardResponder

from .helpers import Triage, download, read_lines, submit, wait, write_requests


class FakeModelServer:
    """An OpenAI-compatible ``/v1/chat/completions`` that answers Triage JSON.

    Request ``email-…1`` answers 429 on its first attempt, ``email-…7`` always answers 500;
    every answer takes a little while, so the concurrency the caller uses is measurable.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls: Counter[int] = Counter()
        self.authorization: set[str] = set()
        self.models: set[str] = set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                fake.authorization.add(self.headers.get("authorization", ""))
                status, answer = fake.answer(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                if status == 429:
                    self.send_header("retry-after", "0")
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        if path != "/v1/chat/completions":
            return 404, {"error": {"message": "not found", "type": "invalid_request_error"}}
        text = json.dumps(body["messages"])
        index = int(re.search(r"Email (\d+):", text).group(1))
        with self.lock:
            self.calls[index] += 1
            attempt = self.calls[index]
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.models.add(body["model"])
        try:
            time.sleep(0.02)
            if index % 10 == 7:
                return 500, {"error": {"message": "model crashed", "type": "server_error"}}
            if index % 10 == 1 and attempt == 1:
                return 429, {"error": {"message": "slow down", "type": "rate_limit"}}
            triage = {
                "label": "spam" if index % 2 else "ham",
                "priority": "high",
                "confidence": 0.5,
                "summary": f"email {index}",
                "tags": ["invoice"],
                "sender": {"name": "Ann", "email": None},
                "actions": [],
                "score": index,
            }
            return 200, {
                "id": f"chatcmpl-fake{index}",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": json.dumps(triage)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50},
                "system_fingerprint": "fp_fake_model_server",
            }
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def fake_model() -> Iterator[FakeModelServer]:
    fake = FakeModelServer()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_forwarding_records_the_model_servers_answers_with_bounded_concurrency_and_retries(
    fake_model: FakeModelServer, start_localbatch, make_client, tmp_path: Path
) -> None:
    server = start_localbatch(
        thread=True,
        forward_url=fake_model.url,
        forward_api_key="sk-forward",
        forward_model="served-model",
        forward_concurrency=3,
        forward_retries=2,
    )
    client = make_client(server.base_url)
    requests = tmp_path / "requests.jsonl"
    ids = write_requests(requests, 30)

    batch = wait(client, submit(client, requests, metadata={"localbatch_responder": "forward"}).id)

    assert batch.status == "completed"
    assert (batch.request_counts.completed, batch.request_counts.failed) == (27, 3)
    output = read_lines(download(client, batch.output_file_id, tmp_path / "out.jsonl"))
    errors = read_lines(download(client, batch.error_file_id, tmp_path / "err.jsonl"))
    assert {line["response"]["body"]["system_fingerprint"] for line in output} == {
        "fp_fake_model_server"
    }
    assert sorted(line["custom_id"] for line in output + errors) == ids
    assert {e["custom_id"] for e in errors} == {ids[7], ids[17], ids[27]}
    assert {e["response"]["status_code"] for e in errors} == {500}
    assert batch.usage.input_tokens == 27 * 30
    # Retries: the 429s were tried again and answered, the 500s given up after 1 + 2 tries.
    assert all(fake_model.calls[i] == 2 for i in (1, 11, 21))
    assert all(fake_model.calls[i] == 3 for i in (7, 17, 27))
    assert 2 <= fake_model.max_in_flight <= 3
    assert fake_model.authorization == {"Bearer sk-forward"}
    assert fake_model.models == {"served-model"}
    records = list(
        parse_results(
            download(client, batch.output_file_id, tmp_path / "o.jsonl"),
            tmp_path / "err.jsonl",
            response_model=Triage,
            requested=requests,
        )
    )
    assert Counter(type(r).__name__ for r in records) == {"Parsed": 27, "Unparsed": 3}


def test_faults_mix_into_forwarded_answers_and_spare_the_model(
    fake_model: FakeModelServer, start_localbatch, make_client, tmp_path: Path
) -> None:
    server = start_localbatch(
        thread=True, forward_url=fake_model.url, responder="forward", forward_retries=0
    )
    client = make_client(server.base_url)
    requests = tmp_path / "requests.jsonl"
    ids = write_requests(requests, 40, prefix="fwd")
    spec = "refusal=0.25,http_429=0.25"

    batch = wait(
        client,
        submit(client, requests, metadata={"localbatch_faults": spec, "localbatch_seed": "3"}).id,
    )

    faults = Faults.parse(spec, seed=3)
    chosen = {custom_id: faults.for_request(custom_id, batch.id) for custom_id in ids}
    never_sent = {
        int(c.rsplit("-", 1)[1]) for c, kind in chosen.items() if kind is FaultKind.HTTP_429
    }
    assert never_sent and not never_sent & set(fake_model.calls)
    records = parse_results(
        download(client, batch.output_file_id, tmp_path / "out.jsonl"),
        download(client, batch.error_file_id, tmp_path / "err.jsonl"),
        response_model=Triage,
        requested=requests,
    )
    for record in records:
        index = int(record.custom_id.rsplit("-", 1)[1])
        kind = chosen[record.custom_id]
        if kind is FaultKind.HTTP_429 or index % 10 in (1, 7):  # injected, or the model's own
            assert record.reason is Reason.HTTP_ERROR
        elif kind is FaultKind.REFUSAL:
            assert record.reason is Reason.REFUSAL
        else:
            assert isinstance(record, Parsed)


class RetryAfterServer:
    """A chat-completions server that refuses each request's first attempt with a 429 that
    carries the headers it is given, then answers; it notes when and on which connection
    (client port) each attempt arrived."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.headers = headers or {}
        self.arrivals: dict[str, list[float]] = {}
        self.ports: list[int] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: a reused client reuses its connection

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                key = body["messages"][0]["content"]
                seen = fake.arrivals.setdefault(key, [])
                seen.append(time.monotonic())
                fake.ports.append(self.client_address[1])
                status = 429 if len(seen) == 1 else 200
                data = json.dumps({"ok": key} if status == 200 else {"error": {}}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in fake.headers.items() if status == 429 else ():
                    self.send_header(name, value() if callable(value) else value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "RetryAfterServer":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def waited(self, key: str) -> float:
        first, second = self.arrivals[key]
        return second - first


def _ask(key: str) -> Request:
    return Request(key, {"model": "m", "messages": [{"role": "user", "content": key}]}, 0)


def _http_date_in(seconds: float) -> str:
    return email.utils.formatdate(time.time() + seconds, usegmt=True)


# Without a usable header, the first retry waits at most 0.5 s (openai's backoff); each
# header below asks for about 1 s or more, so a wait of 0.9 s shows the header was read.
@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "1"},
        {"retry-after": lambda: _http_date_in(2)},  # whole seconds: waits between 1 and 2 s
        {"retry-after-ms": "1200"},
    ],
    ids=["seconds", "http-date", "milliseconds"],
)
def test_forwarding_waits_as_long_as_the_model_server_asks(headers: dict) -> None:
    with RetryAfterServer(headers) as upstream, ForwardResponder(upstream.url) as forward:
        [reply] = forward.answer("/v1/chat/completions", [_ask("a")])

    assert (reply.status, reply.body) == (200, {"ok": "a"})
    assert upstream.waited("a") >= 0.9


def test_forwarding_keeps_one_client_and_connection_across_chunks() -> None:
    with RetryAfterServer({"retry-after-ms": "10"}) as upstream:
        forward = ForwardResponder(upstream.url, concurrency=1)
        first = forward.answer("/v1/chat/completions", [_ask("a")])
        second = forward.answer("/v1/chat/completions", [_ask("b")])
        forward.close()
        forward.close()  # closing twice is harmless

    assert [r.status for r in first + second] == [200, 200]
    assert len(upstream.ports) == 4 and len(set(upstream.ports)) == 1
