"""Fixtures of the reliability suite: restartable servers, a throwaway Dagster instance,
and the suite's figures printed at the end of the session."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from reliability_kit import TOTALS, Rig


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """``make_rig(process=False, fixed_port=False, **server_settings)`` -> a started Rig.

    ``process=True``: a ``localbatch serve`` subprocess (``rig.kill()`` is a real crash);
    ``fixed_port=True``: a restarted server answers at the same address."""
    rigs: list[Rig] = []

    def make(*, process: bool = False, fixed_port: bool = False, **settings: Any) -> Rig:
        rig = Rig(tmp_path / f"rig{len(rigs)}", process=process, fixed_port=fixed_port, **settings)
        rigs.append(rig)
        return rig

    yield make
    for rig in reversed(rigs):
        rig.stop()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A throwaway Dagster instance."""
    with dg.instance_for_test() as fresh:
        yield fresh


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures the README quotes, over every pipeline case that ran."""
    for line in TOTALS.lines:
        terminalreporter.write_line(line)
    if not TOTALS.cases:
        return
    terminalreporter.write_line(
        f"reliability: {len(TOTALS.cases)} fault cases, rows checked {TOTALS.rows}, "
        f"rows lost {TOTALS.lost}, rows doubled {TOTALS.doubled}, "
        f"duplicate submissions {TOTALS.double_submissions}, batches {TOTALS.batches}"
    )
