"""With a configured key every /v1 call needs ``Authorization: Bearer <key>``; without, none."""

from pathlib import Path

import httpx
import openai
import pytest

from synth_assets.localbatch import serve_in_background

from .helpers import submit, wait, write_requests

KEY = "sk-local-test-key-123"


@pytest.fixture(scope="module")
def keyed_url(tmp_path_factory: pytest.TempPathFactory):
    with serve_in_background(tmp_path_factory.mktemp("auth"), thread=True, api_key=KEY) as url:
        yield url


def test_the_right_key_runs_a_batch(keyed_url: str, make_client, tmp_path: Path) -> None:
    client = make_client(keyed_url, api_key=KEY)
    write_requests(tmp_path / "requests.jsonl", 3)
    assert wait(client, submit(client, tmp_path / "requests.jsonl").id).status == "completed"


def test_a_wrong_key_is_a_401_that_does_not_echo_keys(keyed_url: str, make_client) -> None:
    client = make_client(keyed_url, api_key="sk-wrong")
    with pytest.raises(openai.AuthenticationError) as raised:
        client.batches.list()
    assert raised.value.status_code == 401
    assert raised.value.body["code"] == "invalid_api_key"
    text = raised.value.response.text
    assert KEY not in text and "sk-wrong" not in text


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Basic abc"}, {"authorization": f"Bearer {KEY}x"}]
)
def test_missing_or_malformed_credentials_are_a_json_401(keyed_url: str, headers: dict) -> None:
    for method, path in (
        ("GET", "/batches"),
        ("POST", "/files"),
        ("GET", "/files/file-abcdefgh/content"),
    ):
        response = httpx.request(method, keyed_url + path, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_health_needs_no_key(keyed_url: str) -> None:
    assert httpx.get(keyed_url.removesuffix("/v1") + "/health").json() == {"status": "ok"}


def test_without_a_configured_key_any_key_is_accepted(localbatch_url: str, make_client) -> None:
    for key in ("anything", "local-no-key"):
        make_client(localbatch_url, api_key=key).batches.list()
    assert httpx.get(localbatch_url + "/batches").status_code == 200


@pytest.mark.parametrize(
    "values",
    [
        ("Bearer sk-wrong", f"Bearer {KEY}"),
        (f"Bearer {KEY}", "Bearer sk-wrong"),
        (f"Bearer {KEY}",) * 2,
    ],
    ids=["wrong-then-right", "right-then-wrong", "right-twice"],
)
def test_two_authorization_headers_are_refused(keyed_url: str, values: tuple[str, ...]) -> None:
    # Which header counts would depend on whatever sits in front of the server: none does.
    headers = httpx.Headers([("authorization", value) for value in values])
    response = httpx.get(keyed_url + "/batches", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "invalid_api_key" and "one Authorization header" in error["message"]
    single = httpx.get(keyed_url + "/batches", headers={"authorization": f"Bearer {KEY}"})
    assert single.status_code == 200
