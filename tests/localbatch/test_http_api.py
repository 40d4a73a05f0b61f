"""The HTTP surface: OpenAI-shaped errors with the right statuses, JSON everywhere, no 500s."""

import json
import string
import time
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import upload, write_requests


def _is_openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    return error


@pytest.fixture
def http(localbatch_url: str):
    with httpx.Client(base_url=localbatch_url.removesuffix("/v1"), timeout=10) as client:
        yield client


@pytest.mark.parametrize(
    "path",
    [
        "/v1/files/file-doesnotexist0000000000",
        "/v1/files/file-doesnotexist0000000000/content",
        "/v1/batches/batch_0123456789abcdef0123456789abcdef",
        "/v1/files/..%2F..%2Flocalbatch.sqlite3/content",
        "/v1/files/%2E%2E/content",
        "/v1/files/file-..%2F..%2Fetc%2Fpasswd/content",
        "/v1/files/localbatch.sqlite3/content",
        "/v1/nowhere",
    ],
)
def test_unknown_ids_and_paths_are_a_json_404(http: httpx.Client, path: str) -> None:
    _is_openai_error(http.get(path), 404)


def test_file_ids_cannot_reach_files_outside_the_store(http: httpx.Client, tmp_path: Path) -> None:
    for path in ("/v1/files/../../../etc/passwd/content", "/v1/files/%2Fetc%2Fpasswd/content"):
        response = http.get(path)
        assert response.status_code == 404
        assert b"root:" not in response.content


def test_a_wrong_method_is_a_json_405(http: httpx.Client) -> None:
    _is_openai_error(http.put("/v1/batches"), 405)


def _create(**fields: str) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b"", None),
        (_create(endpoint="/v1/chat/completions", completion_window="24h"), "input_file_id"),
        (_create(input_file_id="file-x", completion_window="24h"), "endpoint"),
        (_create(input_file_id="file-x", endpoint="/v1/nope", completion_window="24h"), "endpoint"),
        (
            _create(input_file_id="file-x", endpoint="/v1/embeddings", completion_window="24h"),
            "endpoint",
        ),
        (
            _create(input_file_id="f", endpoint="/v1/chat/completions", completion_window="1h"),
            "completion_window",
        ),
    ],
)
def test_malformed_batch_creation_is_a_400(
    http: httpx.Client, body: bytes, param: str | None
) -> None:
    error = _is_openai_error(http.post("/v1/batches", content=body), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(17)},
        {"k" * 65: "v"},
        {"k": "v" * 513},
        {"k": 1},
        {"localbatch_faults": "http_429=2"},
        {"localbatch_faults": "gremlins=0.1"},
        {"localbatch_responder": "forward"},  # this server has no --forward-url
        {"localbatch_delay_s": "soon"},
        {"localbatch_colour": "blue"},
    ],
)
def test_bad_metadata_is_a_400_naming_metadata(
    openai_client: openai.OpenAI, tmp_path: Path, metadata: dict
) -> None:
    write_requests(tmp_path / "requests.jsonl", 1)
    file_id = upload(openai_client, tmp_path / "requests.jsonl")
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client.batches.create(
            input_file_id=file_id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata=metadata,
        )
    assert raised.value.body["param"] == "metadata"


def test_creating_a_batch_for_an_unknown_file_is_a_404(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        openai_client.batches.create(
            input_file_id="file-doesnotexist0000000000",
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )


def test_a_batch_needs_a_batch_purpose_file(openai_client: openai.OpenAI, tmp_path: Path) -> None:
    write_requests(tmp_path / "requests.jsonl", 1)
    with open(tmp_path / "requests.jsonl", "rb") as handle:
        file_id = openai_client.files.create(file=handle, purpose="user_data").id
    with pytest.raises(openai.BadRequestError):
        openai_client.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        )


def test_uploads_need_a_file_part_and_a_known_purpose(http: httpx.Client) -> None:
    _is_openai_error(http.post("/v1/files", data={"purpose": "batch"}, files={"other": b"x"}), 400)
    _is_openai_error(
        http.post("/v1/files", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "nope"}), 400
    )
    _is_openai_error(http.post("/v1/files", content=b"plain body"), 400)
    broken = b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc'  # never terminated
    response = http.post(
        "/v1/files", content=broken, headers={"content-type": "multipart/form-data; boundary=b"}
    )
    _is_openai_error(response, 400)  # a truncated body is refused, not half-stored


def test_an_upload_over_the_limit_is_a_clear_413(
    start_localbatch, make_client, tmp_path: Path
) -> None:
    client = make_client(start_localbatch(thread=True, max_upload_bytes=4096).base_url)
    write_requests(tmp_path / "requests.jsonl", 200)  # about 100 KB
    with (
        pytest.raises(openai.APIStatusError) as raised,
        open(tmp_path / "requests.jsonl", "rb") as handle,
    ):
        client.files.create(file=handle, purpose="batch")
    assert raised.value.status_code == 413
    assert raised.value.body["code"] == "file_too_large"
    assert "4096" in raised.value.message
    assert client.files.list().data == []  # nothing half-written is left behind


def test_every_json_response_says_application_json(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    write_requests(tmp_path / "requests.jsonl", 2)
    file_id = upload(openai_client, tmp_path / "requests.jsonl")
    calls = [
        openai_client.files.with_raw_response.retrieve(file_id),
        openai_client.files.with_raw_response.list(),
        openai_client.batches.with_raw_response.list(),
        openai_client.batches.with_raw_response.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        ),
    ]
    for raw in calls:
        assert raw.headers["content-type"] == "application/json"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.dictionaries(
        st.sampled_from(["input_file_id", "endpoint", "completion_window", "metadata", "x"]),
        json_values,
    ).map(lambda body: json.dumps(body).encode()),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, object_id=st.text(alphabet=string.printable, max_size=60))
def test_no_malformed_input_is_a_500(http: httpx.Client, body: bytes, object_id: str) -> None:
    segment = quote(object_id, safe="") or "x"
    responses = [
        http.post("/v1/batches", content=body),
        http.post(
            "/v1/files", content=body, headers={"content-type": "multipart/form-data; boundary=zz"}
        ),
        http.get(f"/v1/batches/{segment}"),
        http.get(f"/v1/files/{segment}/content"),
        http.post(f"/v1/batches/{segment}/cancel"),
        http.get("/v1/batches", params={"after": object_id, "limit": object_id}),
    ]
    for response in responses:
        assert response.status_code < 500, (response.request.url, response.text)
        assert response.headers["content-type"].startswith("application/json")


def test_an_idle_connection_outlives_the_clients_keep_alive(localbatch_url: str) -> None:
    # openai's HTTP client reuses a connection idle for up to 5 s. Were the server to close
    # idle connections as soon (uvicorn's default), a request sent as it closes one would
    # get a reset: the connection must still answer after 6 s.
    url = urlsplit(localbatch_url)
    connection = HTTPConnection(url.hostname, url.port, timeout=10)
    headers = {"Authorization": "Bearer test"}
    try:
        for wait_s in (0, 6):
            time.sleep(wait_s)
            connection.request("GET", f"{url.path}/batches?limit=1", headers=headers)
            response = connection.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["object"] == "list"
            assert response.getheader("connection", "").lower() != "close"
    finally:
        connection.close()
