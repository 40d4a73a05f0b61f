"""Fixtures for the Dagster layer: a real local Batch server, a real instance, real files."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import openai
import pytest

from synth_assets.defs import build_definitions
from synth_assets.defs.resources import BatchApiResource, StorageResource, TaskSettings
from synth_assets.localbatch.background import serve_in_background


class Stack:
    """A local server + Definitions pointed at it + storage under a temp folder."""

    def __init__(self, url: str, root: Path) -> None:
        self.url = url
        self.root = root
        self.client = openai.OpenAI(base_url=url, api_key="test", max_retries=0)

    def defs(self, **batch_api: Any) -> dg.Definitions:
        """Definitions with every file under ``root`` and the Batch API at ``url``."""
        return build_definitions(
            resources={
                "batch_api": BatchApiResource(base_url=self.url, **batch_api),
                "storage": StorageResource(
                    root=str(self.root / "out"), work_dir=str(self.root / "work")
                ),
                "task_settings": TaskSettings(),
            }
        )

    def batch_count(self) -> int:
        """How many batches the server has (to prove nothing was submitted twice)."""
        return sum(1 for _ in self.client.batches.list(limit=100))

    def table(self, name: str, date: str) -> Path:
        """The partition file of a table."""
        return self.root / "out" / "spam_triage" / name / f"date={date}" / "part-0.parquet"


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Start a server with the given settings (thread mode: quick to start) on demand."""
    stops = []

    def start(**settings: Any) -> Stack:
        manager = serve_in_background(tmp_path / f"server{len(stops)}", thread=True, **settings)
        url = manager.__enter__()
        stops.append(manager)
        return Stack(url, tmp_path)

    yield start
    for manager in reversed(stops):
        manager.__exit__(None, None, None)


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    """A server with default settings (synthetic responder, no faults)."""
    return make_stack()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A throwaway Dagster instance."""
    with dg.instance_for_test() as fresh:
        yield fresh
