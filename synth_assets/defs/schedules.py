"""The daily schedule: each night, submit yesterday's partition."""

import dagster as dg

from synth_assets.tasks import BatchTask

from .jobs import AssetJob


def build_daily_schedule(task: BatchTask, submit_job: AssetJob) -> dg.ScheduleDefinition:
    """Runs the task's submit job at 01:00 UTC for the day that just ended."""
    return dg.build_schedule_from_partitioned_job(
        submit_job,
        name=f"{task.name}_daily_schedule",
        hour_of_day=1,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
