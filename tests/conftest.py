"""Shared fixtures for the whole suite.

Local Batch server (``synth_assets.localbatch``), always the real server over real HTTP on
an ephemeral loopback port:

- ``localbatch_url`` (session): the base URL (``http://127.0.0.1:<port>/v1``) of one
  ``localbatch serve`` subprocess shared by the run: synthetic responder, small chunks.
  Tests that need other behaviour per batch use ``localbatch_*`` metadata keys instead of
  a new server (e.g. ``{"localbatch_faults": "http_500=1"}``).
- ``openai_client``: an ``openai.OpenAI`` for that server, ``max_retries=0`` so that client
  retries never hide a server bug.
- ``start_localbatch``: a factory for extra servers with other settings
  (``start_localbatch(api_key=..., forward_url=..., data_dir=...)``); it returns the
  started :class:`~synth_assets.localbatch.ServerProcess` (``.base_url``, ``.kill()``,
  ``.stop()``), or with ``thread=True`` a quicker-starting in-process
  :class:`~synth_assets.localbatch.ThreadServer` (``.base_url``, ``.stop()``); every server
  it started is stopped when the test ends.
- ``make_client``: ``make_client(base_url, api_key="test")`` -> ``openai.OpenAI``.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from synth_assets.localbatch import ServerProcess, ThreadServer
from synth_assets.localbatch.background import settings_for

# Small chunks make every batch take several chunks (the interesting path) and stay fast.
_SHARED_SERVER = {"chunk_size": 100}


@pytest.fixture(scope="session")
def localbatch_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the session's shared local Batch server."""
    server = ServerProcess(settings_for(tmp_path_factory.mktemp("localbatch"), **_SHARED_SERVER))
    try:
        yield server.start()
    finally:
        server.stop()


def _client(base_url: str, api_key: str = "test") -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=30.0)


@pytest.fixture
def make_client() -> Callable[..., openai.OpenAI]:
    """``make_client(base_url, api_key="test")``: a retry-free openai client."""
    return _client


@pytest.fixture
def openai_client(localbatch_url: str) -> openai.OpenAI:
    """An ``openai.OpenAI`` client for the shared local Batch server (no retries)."""
    return _client(localbatch_url)


@pytest.fixture
def start_localbatch(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Factory: start a local Batch server (a subprocess; ``thread=True``: in this process)."""
    started: list[ServerProcess | ThreadServer] = []

    def start(
        *, data_dir: Path | None = None, thread: bool = False, **settings: Any
    ) -> ServerProcess | ThreadServer:
        folder = data_dir or tmp_path / f"localbatch-{len(started)}"
        resolved = settings_for(folder, **settings)
        server = ThreadServer(resolved) if thread else ServerProcess(resolved)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
