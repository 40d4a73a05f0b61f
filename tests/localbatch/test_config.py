"""Server settings, per-batch metadata overrides, and the serve command's flags."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from synth_assets.batch.client import LOCAL_HOST, LOCAL_PORT
from synth_assets.localbatch import command
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


def _serve_settings(
    monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str] | None = None
) -> ServerSettings:
    """The settings ``localbatch serve`` would run with (parsed, not served)."""
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    captured: list[ServerSettings] = []
    monkeypatch.setattr(command._server, "serve", lambda settings, **_: captured.append(settings))
    result = CliRunner().invoke(localbatch, ["serve", *args])
    assert result.exit_code == 0, result.output
    return captured[0]


def test_a_setting_comes_from_its_flag_else_its_variable_else_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    default = _serve_settings(monkeypatch, [])
    assert (default.chunk_size, default.shuffle, default.data_dir) == (
        2000,
        True,
        Path("data/localbatch"),
    )
    env = {
        "LOCALBATCH_CHUNK_SIZE": "17",
        "LOCALBATCH_SHUFFLE": "false",
        "SYNTH_LOCALBATCH_DIR": str(tmp_path),
        "LOCALBATCH_FORWARD_API_KEY": "sk-env",
    }
    from_env = _serve_settings(monkeypatch, [], env)
    assert (from_env.chunk_size, from_env.shuffle, from_env.data_dir) == (17, False, tmp_path)
    assert from_env.forward_api_key == "sk-env"
    flags = ["--chunk-size", "5", "--shuffle", "--data-dir", str(tmp_path / "x")]
    from_flags = _serve_settings(monkeypatch, flags, env)
    assert (from_flags.chunk_size, from_flags.shuffle) == (5, True)
    assert from_flags.data_dir == tmp_path / "x"


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--chunk-size", "0"], {}, "--chunk-size (or $LOCALBATCH_CHUNK_SIZE) '0': "),
        (["--port", "eighty"], {}, "--port (or $LOCALBATCH_PORT) 'eighty': "),
        ([], {"LOCALBATCH_DELAY_S": "soon"}, "--delay-s (or $LOCALBATCH_DELAY_S) 'soon': "),
        (["--responder", "forward"], {}, "the forward responder needs --forward-url"),
        (["--faults", "gremlins=1"], {}, "--faults: "),
    ],
)
def test_a_bad_value_is_refused_in_one_sentence_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(localbatch, ["serve", *args])
    assert result.exit_code == 2
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("Error: ") and message.endswith(".")
    assert named in message
    assert "Traceback" not in result.output


def test_to_env_gives_a_child_server_the_same_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
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
    assert _serve_settings(monkeypatch, [], settings.to_env()) == settings


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
