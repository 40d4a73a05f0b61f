"""Clients that break the rules cost the server nothing lasting.

Uploads with out-of-range fields, clients that leave mid-body, bodies shorter than their
Content-Length: each gets a clear answer (or none, when nobody is left to read it), one log
line at most, and no file on disk that no record points to.
"""

import json
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from synth_assets.localbatch import ServerProcess
from synth_assets.localbatch.background import settings_for

from .helpers import unreferenced_files, write_requests

BOUNDARY = "hostileboundary"


@pytest.fixture
def server(start_localbatch):
    return start_localbatch(thread=True)


@pytest.fixture
def client(server, make_client) -> openai.OpenAI:
    return make_client(server.base_url)


@pytest.fixture
def requests_file(tmp_path: Path) -> Path:
    write_requests(tmp_path / "requests.jsonl", 2)
    return tmp_path / "requests.jsonl"


def _upload(client: openai.OpenAI, path: Path, **extra) -> openai.types.FileObject:
    with open(path, "rb") as handle:
        return client.files.create(file=handle, purpose="batch", **extra)


@pytest.mark.parametrize("seconds", [9223372036854775807, 2592001, 3599, 0, -5])
def test_expires_after_outside_openais_range_is_a_400_that_keeps_nothing(
    server, client: openai.OpenAI, requests_file: Path, seconds: int
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        _upload(client, requests_file, expires_after={"anchor": "created_at", "seconds": seconds})
    assert raised.value.body["type"] == "invalid_request_error"
    assert raised.value.body["param"] == "expires_after.seconds"
    assert "3600" in raised.value.body["message"] and "2592000" in raised.value.body["message"]
    assert unreferenced_files(client, server.settings.data_dir) == []
    assert client.files.list().data == []


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"expires_after[anchor]": "last_active_at", "expires_after[seconds]": "3600"}, "anchor"),
        ({"expires_after[seconds]": "3600"}, "anchor"),
        ({"expires_after[anchor]": "created_at"}, "seconds"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "1.5e4"}, "seconds"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "36_00"}, "seconds"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "9" * 5000}, "seconds"),
    ],
)
def test_malformed_expires_after_is_a_400_naming_the_part(
    server, client: openai.OpenAI, requests_file: Path, fields: dict, param: str
) -> None:
    response = httpx.post(
        server.base_url + "/files",
        data={"purpose": "batch", **fields},
        files={"file": requests_file.read_bytes()},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == f"expires_after.{param}"
    assert unreferenced_files(client, server.settings.data_dir) == []


@pytest.mark.parametrize("seconds", [3600, 2592000])
def test_expires_after_within_the_range_is_kept(
    client: openai.OpenAI, requests_file: Path, seconds: int
) -> None:
    created = _upload(
        client, requests_file, expires_after={"anchor": "created_at", "seconds": seconds}
    )
    assert created.expires_at is not None
    assert abs(created.expires_at - (created.created_at + seconds)) <= 2


def test_a_failure_after_the_file_is_written_leaves_no_file(
    server, client: openai.OpenAI, requests_file: Path
) -> None:
    # The database refuses the record once the content is already in place (as a full disk
    # or a bug would): the upload fails, and its content must not stay behind.
    database = server.settings.data_dir / "localbatch.sqlite3"
    with sqlite3.connect(database) as con:
        con.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON files BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
    with pytest.raises(openai.InternalServerError) as raised:
        _upload(client, requests_file)
    assert set(raised.value.body) == {"message", "type", "param", "code"}
    with sqlite3.connect(database) as con:
        con.execute("DROP TRIGGER refuse")
    assert unreferenced_files(client, server.settings.data_dir) == []
    assert _upload(client, requests_file).bytes == requests_file.stat().st_size


def _address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _head(path: str, length: int, content_type: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def _multipart_start() -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="r.jsonl"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()


def _eventually(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Wait for ``condition`` (a generous bound: it only proves nothing hangs)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_client_leaving_mid_upload_is_one_log_line_and_leaves_nothing(
    tmp_path: Path, make_client
) -> None:
    data_dir = tmp_path / "state"
    server = ServerProcess(settings_for(data_dir), log_level="info")
    server.start()
    try:
        assert server.base_url is not None
        with socket.create_connection(_address(server.base_url)) as sock:
            content_type = f"multipart/form-data; boundary={BOUNDARY}"
            sock.sendall(_head("/v1/files", 10_000_000, content_type) + _multipart_start())
            sock.sendall(b'{"custom_id": "a"}\n' * 10_000)
            # The upload is under way once its partial file exists; then the client leaves.
            _eventually(lambda: any((data_dir / "files").glob("*.part")), "upload started")
        _eventually(lambda: "the client left" in server.log_tail(), "the disconnect is logged")
        log = server.log_path.read_text()
        assert log.count("the client left") == 1
        assert "Traceback" not in log and "ClientDisconnect" not in log
        client = make_client(server.base_url)
        _eventually(lambda: unreferenced_files(client, data_dir) == [], "the partial is removed")
        assert httpx.get(server.base_url.removesuffix("/v1") + "/health").status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("path", "content_type", "partial"),
    [
        ("/v1/files", f"multipart/form-data; boundary={BOUNDARY}", _multipart_start() + b"{"),
        ("/v1/batches", "application/json", b'{"input_file_id": "file-'),
    ],
)
def test_a_body_shorter_than_its_content_length_gets_a_408_and_a_closed_connection(
    start_localbatch, make_client, path: str, content_type: str, partial: bytes
) -> None:
    server = start_localbatch(body_timeout_s=0.5)
    with socket.create_connection(_address(server.base_url)) as sock:
        sock.settimeout(20)  # far past the body timeout: only proves the server answers
        sock.sendall(_head(path, len(partial) + 5000, content_type) + partial)
        answer = _read_until_closed(sock)  # returns only once the server closes
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "--body-timeout-s" in error["message"]
    client = make_client(server.base_url)
    assert unreferenced_files(client, server.settings.data_dir) == []
    assert client.batches.list().data == []
