"""Server settings, per-batch metadata overrides, and the serve command's flags."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from synth_assets.batch.client import LOCAL_HOST, LOCAL_PORT
from synth_assets.localbatch.command import localbatch
from synth_assets.localbatch.config import (
    OverrideError,
    Responder,
    ServerSettings,
    batch_settings,
)


def test_the_defaults_are_the_clients_local_backend() -> None:
    settings = ServerSettings()
    assert (settings.host, settings.port) == (LOCAL_HOST, LOCAL_PORT)
    assert settings.responder is Responder.SYNTHETIC


def test_metadata_overrides_only_this_batch() -> None:
    server = ServerSettings(faults="http_429=0.1", forward_url="http://127.0.0.1:9/v1")
    resolved = batch_settings(
        server,
        {
            "task": "triage",  # ordinary metadata is left alone
            "localbatch_responder": "forward",
            "localbatch_faults": "refusal=0.5",
            "localbatch_seed": "9",
            "localbatch_expire_after_s": "2.5",
            "localbatch_delay_s": "0.25",
            "localbatch_chunk_size": "3",
        },
    )
    assert resolved.responder is Responder.FORWARD
    assert (resolved.faults, resolved.seed, resolved.chunk_size) == ("refusal=0.5", 9, 3)
    assert (resolved.expire_after_s, resolved.delay_s) == (2.5, 0.25)
    assert batch_settings(server, None) == server.batch_defaults()


@pytest.mark.parametrize(
    "metadata",
    [
        {"localbatch_unknown": "1"},
        {"localbatch_seed": "x"},
        {"localbatch_chunk_size": "0"},
        {"localbatch_expire_after_s": "-1"},
        {"localbatch_expire_after_s": "90000"},
        {"localbatch_delay_s": "nan-ish"},
        {"localbatch_responder": "oracle"},
        {"localbatch_responder": "forward"},  # no forward URL configured
        {"localbatch_faults": "refusal=2"},
    ],
)
def test_a_bad_override_names_its_key(metadata: dict[str, str]) -> None:
    with pytest.raises(OverrideError) as raised:
        batch_settings(ServerSettings(), metadata)
    assert next(iter(metadata)) in str(raised.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"responder": "forward"},  # without a forward URL
        {"chunk_size": 0},
        {"faults": "bogus=1"},
        {"expire_after_s": 0},
    ],
)
def test_invalid_server_settings_are_refused(changes: dict) -> None:
    with pytest.raises(ValueError):
        ServerSettings(**changes)


def test_to_args_reproduces_the_settings_through_the_serve_command(tmp_path: Path) -> None:
    settings = ServerSettings(
        data_dir=tmp_path,
        port=0,
        responder="forward",
        forward_url="http://127.0.0.1:8000/v1",
        forward_model="qwen",
        faults="http_429=0.1",
        seed=4,
        chunk_size=17,
        delay_s=0.5,
        shuffle=False,
        api_key="secret",
    )
    args = settings.to_args()
    assert "secret" not in args  # keys travel through the environment only
    serve = localbatch.commands["serve"]
    context = serve.make_context("serve", ["--data-dir", str(tmp_path), *args])
    params = {k: v for k, v in context.params.items() if k != "log_level"}
    assert ServerSettings(**{**params, "api_key": "secret"}) == settings


def test_serve_refuses_bad_flags_with_one_line() -> None:
    result = CliRunner().invoke(localbatch, ["serve", "--faults", "gremlins=1"])
    assert result.exit_code == 2
    assert "gremlins" in result.output


def test_serve_says_so_when_the_port_is_taken(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            localbatch, ["serve", "--port", str(port), "--data-dir", str(tmp_path)]
        )
    assert result.exit_code == 1
    assert "another localbatch server" in result.output
