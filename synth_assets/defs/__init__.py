"""The Dagster layer: assets, jobs, the completion sensor, schedules and resources.

Thin over ``synth_assets.pipeline`` and ``synth_assets.batch``; a factory over ``TASKS``.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from synth_assets.batch.errors import SynthError
from synth_assets.tasks import TASKS, BatchTask

from .assets import build_task_assets
from .jobs import AssetJob, build_jobs
from .resources import BatchApiResource, StorageResource, TaskSettings
from .schedules import build_daily_schedule
from .sensors import build_completion_sensor


def default_resources() -> dict[str, Any]:
    """Resources for a new user: local server (or OPENAI_* from the environment), data/."""
    return {
        "batch_api": BatchApiResource(),
        "storage": StorageResource(),
        "task_settings": TaskSettings(),
    }


def build_definitions(
    tasks: Sequence[BatchTask] = TASKS, resources: Mapping[str, Any] | None = None
) -> dg.Definitions:
    """The Definitions for ``tasks`` (adding a task adds its assets, jobs and schedule)."""
    assets: list[dg.AssetsDefinition] = []
    jobs: list[AssetJob] = []
    schedules = []
    for task in tasks:
        assets.extend(build_task_assets(task, tasks))
        submit, collect = build_jobs(task)
        jobs.extend([submit, collect])
        schedules.append(build_daily_schedule(task, submit))
    resources = {**default_resources(), **(resources or {})}
    _refuse_inline_key(resources.get("batch_api"))
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=[build_completion_sensor(tasks, jobs)],
        resources=resources,
    )


def _refuse_inline_key(batch_api: object) -> None:
    """An API key written into the code would be stored in every run's snapshot."""
    key = getattr(batch_api, "api_key", None)
    if isinstance(key, str) and key and not isinstance(key, dg.EnvVar):
        raise SynthError(
            "pass the API key as dg.EnvVar('OPENAI_API_KEY') (or leave it unset and export "
            "OPENAI_API_KEY), not as a literal: Dagster stores resource values in run records."
        )


__all__ = ["BatchApiResource", "StorageResource", "TaskSettings", "build_definitions"]
