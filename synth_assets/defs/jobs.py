"""Per task: a submit job (inputs -> submitted_batch) and a collect job (results -> tables)."""

from typing import Any

import dagster as dg

from synth_assets.tasks import BatchTask

from .assets import collect_selection, submit_selection

# What define_asset_job returns: dagster's public API does not name its type.
AssetJob = Any


def submit_job_name(task: BatchTask) -> str:
    """Name of the task's submit job."""
    return f"{task.name}_submit_job"


def collect_job_name(task: BatchTask) -> str:
    """Name of the task's collect job (the sensor requests it)."""
    return f"{task.name}_collect_job"


def build_jobs(
    task: BatchTask,
) -> tuple[AssetJob, AssetJob]:
    """The submit and collect jobs of a task."""
    submit = dg.define_asset_job(
        submit_job_name(task),
        selection=dg.AssetSelection.assets(*submit_selection(task)),
        description="Read a day of inputs, build its request files and submit its batches.",
    )
    collect = dg.define_asset_job(
        collect_job_name(task),
        selection=dg.AssetSelection.assets(*collect_selection(task)),
        description="Download a day's finished batches and write its parsed/unparsed tables.",
    )
    return submit, collect
