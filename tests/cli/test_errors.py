"""Errors a user can cause: one sentence on stderr, exit 1, never a traceback."""

import socket

import pytest

from .helpers import SPAM_MODEL, Synth


def only_line(stderr: str) -> str:
    """The one line of stderr (an error is one sentence, not a traceback)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["cancel"],
        ["download-file", "--download-file-path", "out.jsonl"],
    ],
)
def test_an_unknown_batch_id_is_named(synth: Synth, command: list[str]) -> None:
    result = synth("batch", *command, "--batch-id", "batch_doesnotexist")
    assert result.returncode == 1
    line = only_line(result.stderr)
    assert "no batch batch_doesnotexist" in line and synth.base_url in line
    assert not (synth.cwd / "out.jsonl").exists()


def test_an_unreachable_server_is_one_sentence(synth: Synth) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nowhere = Synth(f"http://127.0.0.1:{port}/v1", synth.cwd)
    result = nowhere("batch", "list")
    assert result.returncode == 1
    line = only_line(result.stderr)
    assert "cannot reach the Batch API" in line and str(port) in line


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("no_such_package.models:Label", "module 'no_such_package' cannot be found"),
        ("synth_assets.tasks.spam:NoSuchClass", "has no attribute 'NoSuchClass'"),
        ("synth_assets.tasks.spam", "is not of the form package.module:Class"),
        ("synth_assets.tasks.spam:SPAM_TRIAGE", "is not a pydantic BaseModel class"),
        ("broken_models:Label", "importing 'broken_models' raised ZeroDivisionError"),
    ],
)
def test_a_bad_response_model_path_is_named(synth: Synth, path: str, named: str) -> None:
    (synth.cwd / "broken_models.py").write_text("1 / 0\n")
    (synth.cwd / "results.jsonl").write_text("")
    result = synth(
        "batch", "parse", "--file-path", "results.jsonl", "--response-model", path,
        "--parsed-out", "p.parquet", "--unparsed-out", "u.parquet",
    )  # fmt: skip
    assert result.returncode == 1
    line = only_line(result.stderr)
    assert path in line and named in line
    assert not (synth.cwd / "p.parquet").exists()


def test_a_response_model_next_to_the_data_is_importable(synth: Synth) -> None:
    (synth.cwd / "my_models.py").write_text(
        "from pydantic import BaseModel\n\nclass Verdict(BaseModel):\n    spam: bool\n"
    )
    (synth.cwd / "messages.jsonl").write_text('[{"role": "user", "content": "hi"}]\n')
    synth.ok(
        "batch", "create", "--messages-file", "messages.jsonl", "--model", "gpt-4o-mini",
        "--response-model", "my_models:Verdict", "--output-file", "requests.jsonl",
    )  # fmt: skip
    assert '"name":"Verdict"' in (synth.cwd / "requests.jsonl").read_text()


def test_parse_refuses_mixed_or_unknown_output_formats(synth: Synth) -> None:
    (synth.cwd / "results.jsonl").write_text("")
    for parsed, unparsed in (("p.parquet", "u.jsonl"), ("p.csv", "u.csv")):
        result = synth(
            "batch", "parse", "--file-path", "results.jsonl", "--response-model", SPAM_MODEL,
            "--parsed-out", parsed, "--unparsed-out", unparsed,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert "--parsed-out" in result.stderr


def test_parsing_a_request_file_says_it_is_one(synth: Synth) -> None:
    requests = synth.request_file()
    result = synth(
        "batch",
        "parse",
        "--file-path",
        str(requests),
        "--response-model",
        SPAM_MODEL,
        "--parsed-out",
        "parsed.parquet",
        "--unparsed-out",
        "unparsed.parquet",
    )
    assert result.returncode == 1
    line = only_line(result.stderr)
    assert "looks like a request file" in line and "download-file" in line
    assert not (synth.cwd / "parsed.parquet").exists()
