"""The daily schedule: each night, submit yesterday's partition."""

import dagster as dg

from synth_assets.tasks import BatchTask

from .jobs import AssetJob


def build_daily_schedule(task: BatchTask, submit_job: AssetJob) -> dg.ScheduleDefinition:
    """Runs the task's submit job at 01:00 UTC for the day that just ended; running from the
    start when the task says ``schedule: true``, else stopped until someone starts it (a
    schedule that submits paid work should not start by itself). Start a stopped one from
    the UI's toggle or with ``dagster schedule start <task>_daily_schedule``."""
    status = dg.DefaultScheduleStatus.RUNNING if task.schedule else dg.DefaultScheduleStatus.STOPPED
    return dg.build_schedule_from_partitioned_job(
        submit_job,
        name=f"{task.name}_daily_schedule",
        hour_of_day=1,
        default_status=status,
    )
