"""The one factory: a task's assets, checks, jobs and schedule (the same for every task)."""

import dagster as dg

from synth_assets.tasks import BatchTask

from .assets import build_task_assets
from .jobs import build_jobs
from .schedules import build_daily_schedule


def task_definitions(task: BatchTask) -> dg.Definitions:
    """Everything one task adds to the project, the project-wide sensor and resources aside."""
    submit, collect = build_jobs(task)
    return dg.Definitions(
        assets=build_task_assets(task),
        jobs=[submit, collect],
        schedules=[build_daily_schedule(task, submit)],
    )
