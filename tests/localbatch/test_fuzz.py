"""A bounded, seeded fuzz of the HTTP API and of request lines.

A few hundred malformed requests (odd multipart bodies, junk JSON, junk ids and queries),
plus batches whose lines carry junk bodies and junk response schemas. Whatever arrives, the
server must answer in OpenAI's error shape without a 5xx, finish every batch without a
batch-level server error, stay healthy, and keep no file that no record points to.

Deterministic (one seed), bounded (fixed rounds, small values), loopback only.
"""

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import openai

from .helpers import (
    MODEL,
    TERMINAL,
    download,
    read_lines,
    unreferenced_files,
    upload,
    wait,
    write_requests,
)

SEED = 20240517
ROUNDS = 400
JUNK_LINES = 100
ERROR_KEYS = {"message", "type", "param", "code"}

_STRINGS = [
    "",
    "x",
    "batch",
    "created_at",
    "24h",
    "ünïcödé ✓",
    "\x00",
    "a" * 300,
    "../../localbatch.sqlite3",
    "/v1/chat/completions",
    "/v1/responses",
    "file-" + "A" * 22,
    "batch_" + "0" * 32,
    "9" * 40,
    "-1",
    "%2e%2e",
]
_NUMBERS = [0, -1, 1, 2, 3600, 2**31, 2**63, 10**30, -(10**30), 1.5, -0.0, 1e308]
_SCHEMA_KEYS = [
    "type",
    "properties",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "$defs",
    "pattern",
    "format",
    "uniqueItems",
]
_TYPES = ["object", "array", "string", "integer", "number", "boolean", "null"]


def _junk(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value, small and odd."""
    roll = rng.random()
    if depth < 3 and roll < 0.15:
        return [_junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    if depth < 3 and roll < 0.3:
        return {rng.choice(_STRINGS): _junk(rng, depth + 1) for _ in range(rng.randrange(4))}
    if roll < 0.45:
        return rng.choice([None, True, False])
    if roll < 0.7:
        return rng.choice(_NUMBERS)
    return rng.choice(_STRINGS)


def _junk_schema(rng: random.Random, depth: int = 0) -> Any:
    """A JSON schema made of real keywords with values that are often nonsense."""
    if depth > 3 or rng.random() < 0.1:
        return _junk(rng, 2)
    schema: dict[str, Any] = {}
    keys = rng.sample(_SCHEMA_KEYS, rng.randrange(1, 6))
    if rng.random() < 0.7:
        keys.insert(0, "type")  # a typed node, so its bounds are in play
    for key in dict.fromkeys(keys):
        if key == "type":
            value: Any = rng.choice([*_TYPES, _TYPES[:3], "zzz", 5])
        elif key in ("properties", "$defs"):
            names = ["A", "v", "name", "child"]
            value = {rng.choice(names): _junk_schema(rng, depth + 1) for _ in range(2)}
        elif key == "items":
            value = _junk_schema(rng, depth + 1)
        elif key in ("anyOf", "oneOf", "allOf"):
            value = [_junk_schema(rng, depth + 1) for _ in range(rng.randrange(3))]
        elif key == "$ref":
            value = rng.choice(["#", "#/$defs/A", "#/properties/v", "#/nowhere", "http://x", 3])
        elif key == "pattern":
            value = rng.choice([r"^[A-Z]{2}-\d{5}$", "(", "(a+)+$", "", 7])
        elif key in ("enum", "const"):
            value = (
                [_junk(rng, 2) for _ in range(rng.randrange(3))] if key == "enum" else _junk(rng)
            )
        else:
            value = rng.choice([*_NUMBERS, float("inf"), float("nan"), 10**400, "5", None, True])
        schema[key] = value
    return schema


def _junk_body(rng: random.Random, endpoint: str) -> dict[str, Any]:
    """A request body with the right model, mostly sane, with junk parameters now and then."""

    def sometimes_junk(sane: Any, share: float = 0.15) -> Any:
        return _junk(rng) if rng.random() < share else sane

    if endpoint == "/v1/responses":
        body: dict[str, Any] = {"model": MODEL, "input": sometimes_junk("Hi.")}
        fmt = {"type": "json_schema", "name": "A", "schema": _junk_schema(rng)}
        body["text"] = {"format": sometimes_junk(fmt)}
    else:
        body = {"model": MODEL, "messages": sometimes_junk([{"role": "user", "content": "Hi."}])}
        spec = {"name": "A", "strict": True, "schema": _junk_schema(rng)}
        body["response_format"] = sometimes_junk({"type": "json_schema", "json_schema": spec})
    for key in ("tools", "tool_choice", "temperature", "max_tokens", "top_p", "n"):
        if rng.random() < 0.05:
            body[key] = _junk(rng)
    return body


def _write_junk_lines(path: Path, rng: random.Random, endpoint: str) -> Path:
    with open(path, "w") as handle:
        for index in range(JUNK_LINES):
            line = {
                "custom_id": f"junk-{index}",
                "method": "POST",
                "url": endpoint,
                "body": _junk_body(rng, endpoint),
            }
            handle.write(json.dumps(line) + "\n")
    return path


# -- malformed HTTP requests -----------------------------------------------------------------

Maker = Callable[[random.Random, list[str]], httpx.Request]
BASE = "http://fuzz"  # replaced by the server's address when sent


def _upload_fields(rng: random.Random, ids: list[str]) -> httpx.Request:
    data: dict[str, str] = {}
    if rng.random() < 0.8:
        data["purpose"] = rng.choice(["batch", "batch", "fine-tune", *_STRINGS[:8]])
    if rng.random() < 0.5:
        data["expires_after[anchor]"] = rng.choice(["created_at", *_STRINGS[:6]])
    if rng.random() < 0.5:
        data["expires_after[seconds]"] = rng.choice([str(n) for n in _NUMBERS] + _STRINGS[:6])
    content = rng.choice(
        [b'{"custom_id": "a"}\n', b"", bytes(rng.randrange(256) for _ in range(64))]
    )
    files = [("file", ("r.jsonl", content))] * rng.choice([0, 1, 1, 1, 2])
    files += [("other", ("o.bin", b"x"))] * rng.choice([0, 0, 1])
    return httpx.Request("POST", f"{BASE}/v1/files", data=data, files=files or None)


def _upload_raw(rng: random.Random, ids: list[str]) -> httpx.Request:
    boundary = "fuzzb"
    whole = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="r.jsonl"\r\n\r\n'
        f'{{"custom_id": "a"}}\n\r\n--{boundary}--\r\n'
    ).encode()
    body = rng.choice(
        [
            whole[: rng.randrange(len(whole))],  # cut anywhere
            whole.replace(b"form-data", b"junk"),
            bytes(rng.randrange(256) for _ in range(rng.randrange(200))),
            whole.replace(f"--{boundary}--".encode(), b""),
        ]
    )
    content_type = rng.choice(
        [
            f"multipart/form-data; boundary={boundary}",
            "multipart/form-data",
            "application/json",
            "text/plain; charset=bogus",
            f"multipart/form-data; boundary={'b' * 300}",
        ]
    )
    return httpx.Request(
        "POST", f"{BASE}/v1/files", content=body, headers={"content-type": content_type}
    )


def _create_batch(rng: random.Random, ids: list[str]) -> httpx.Request:
    roll = rng.random()
    if roll < 0.15:
        content = rng.choice([b"{not json", b"", b"[]", b"null", b"\xff\xfe", b'{"a": NaN}'])
        return httpx.Request("POST", f"{BASE}/v1/batches", content=content)
    fields = {
        "input_file_id": rng.choice([*ids, *ids, _junk(rng)]),
        "endpoint": rng.choice(
            ["/v1/chat/completions", "/v1/responses", "/v1/embeddings", _junk(rng)]
        ),
        "completion_window": rng.choice(["24h", "24h", _junk(rng)]),
        "metadata": rng.choice([None, {"k": "v"}, {"localbatch_seed": "x"}, _junk(rng)]),
    }
    body = {k: v for k, v in fields.items() if rng.random() < 0.85}
    if roll > 0.9:
        body = _junk(rng)
    return httpx.Request("POST", f"{BASE}/v1/batches", json=body)


def _odd_path(rng: random.Random, ids: list[str]) -> httpx.Request:
    some_id = quote(str(rng.choice([*ids, *_STRINGS, _junk(rng)])), safe="")
    path = rng.choice(
        [
            f"/v1/files/{some_id}",
            f"/v1/files/{some_id}/content",
            f"/v1/batches/{some_id}",
            f"/v1/batches/{some_id}/cancel",
            f"/v1/{some_id}",
            "/v1/files/",
            "/v1/batches/",
        ]
    )
    method = rng.choice(["GET", "GET", "POST", "DELETE", "PUT", "PATCH"])
    return httpx.Request(method, f"{BASE}{path}")


def _odd_list(rng: random.Random, ids: list[str]) -> httpx.Request:
    params = {}
    for key in ("limit", "after", "order", "purpose"):
        if rng.random() < 0.6:
            params[key] = str(rng.choice([*_NUMBERS, *_STRINGS, *ids, "asc", "9" * 5000]))
    path = rng.choice(["/v1/files", "/v1/batches"])
    return httpx.Request("GET", f"{BASE}{path}", params=params)


MAKERS: list[Maker] = [_upload_fields, _upload_raw, _create_batch, _odd_path, _odd_list]


def _check_error_shape(response: httpx.Response) -> None:
    assert response.status_code < 500, (
        response.request.method,
        response.request.url,
        response.text,
    )
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json"), response.text
        error = response.json()["error"]
        assert set(error) == ERROR_KEYS, error
        assert isinstance(error["message"], str) and error["message"]


def _check_line(line: dict[str, Any]) -> None:
    if line.get("response") is None:
        assert set(line["error"]) >= {"code", "message"}, line
        return
    status = line["response"]["status_code"]
    assert status == 200 or status == 400, line
    if status == 400:
        assert set(line["response"]["body"]["error"]) == ERROR_KEYS, line


def test_seeded_malformed_requests_get_no_5xx_and_leave_nothing_behind(
    start_localbatch, make_client, tmp_path: Path
) -> None:
    server = start_localbatch(chunk_size=25)
    client: openai.OpenAI = make_client(server.base_url)
    rng = random.Random(SEED)
    write_requests(tmp_path / "good.jsonl", 3)
    ids = [upload(client, tmp_path / "good.jsonl")]
    for endpoint in ("/v1/chat/completions", "/v1/responses"):
        junk_path = _write_junk_lines(tmp_path / f"junk{len(ids)}.jsonl", rng, endpoint)
        ids.append(upload(client, junk_path))
    batches = [
        client.batches.create(input_file_id=ids[i], endpoint=endpoint, completion_window="24h").id
        for i, endpoint in ((1, "/v1/chat/completions"), (2, "/v1/responses"))
    ]

    statuses: Counter[int] = Counter()
    base = server.base_url.removesuffix("/v1")
    with httpx.Client(timeout=30) as http:
        for _ in range(ROUNDS):
            request = rng.choice(MAKERS)(rng, ids)
            request.url = httpx.URL(base + request.url.raw_path.decode("ascii"))
            response = http.send(request)
            _check_error_shape(response)
            statuses[response.status_code] += 1
            created = request.method == "POST" and request.url.path == "/v1/batches"
            if created and response.status_code == 200:
                batches.append(response.json()["id"])
        assert http.get(base + "/health").json() == {"status": "ok"}

    # The fuzz reached both sides of the API: refusals, and things that worked.
    assert statuses[400] > 50 and statuses[404] > 10 and statuses[200] > 10, statuses
    for batch_id in batches:
        batch = wait(client, batch_id, timeout=60)
        assert batch.status in TERMINAL
        codes = [e.code for e in (batch.errors.data if batch.errors else [])]
        assert "server_error" not in codes, batch.errors
    for batch_id in batches[:2]:  # the junk-line batches: every line answered, each alone
        batch = client.batches.retrieve(batch_id)
        assert batch.status == "completed", batch.errors
        lines = read_lines(download(client, batch.output_file_id, tmp_path / "out.jsonl"))
        lines += read_lines(download(client, batch.error_file_id, tmp_path / "err.jsonl"))
        assert len(lines) == JUNK_LINES
        for line in lines:
            _check_line(line)
    assert unreferenced_files(client, server.settings.data_dir) == []
    assert not list(server.settings.data_dir.rglob("*.part"))
