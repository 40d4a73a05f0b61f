"""Fixtures for the ``synth batch`` tests: the real local server and the real ``synth``.

Every command runs as a subprocess (the console script the user runs) against the real
local Batch API server on an ephemeral loopback port; nothing is monkeypatched.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from synth_assets.localbatch import serve_in_background

from .helpers import Synth


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real local Batch server per test module (a subprocess on an ephemeral port)."""
    with serve_in_background(tmp_path_factory.mktemp("localbatch")) as base_url:
        yield base_url


@pytest.fixture
def synth(server: str, tmp_path: Path) -> Synth:
    """``synth`` run from a fresh working directory against the module's server."""
    return Synth(server, tmp_path)
