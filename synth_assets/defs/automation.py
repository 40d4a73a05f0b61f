"""Chained tasks: a downstream day is submitted once its upstream's parsed table is published.

A task with ``upstream:`` reads the upstream's ``parsed`` partition through an asset
dependency. Its submit assets carry :func:`chain_condition`, and ``task_chain_sensor`` (a
declarative-automation sensor, running by default) requests them for a day once that day's
upstream table was (re)published. Only a chained task's submit assets are automated; the
completion sensor does the rest, as for every task.
"""

import dagster as dg

from synth_assets.tasks import BatchTask

CHAIN_SENSOR_NAME = "task_chain_sensor"


def chain_condition() -> dg.AutomationCondition:
    """Request the asset for a day when its dependencies were updated for that day (and none
    is missing or being materialized): eager, without eager's latest-day-only window, so a
    backfill of the upstream flows down too."""
    return (
        dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("after_upstream")


def chained_submit_keys(tasks: list[BatchTask] | tuple[BatchTask, ...]) -> list[dg.AssetKey]:
    """The submit assets that carry :func:`chain_condition` (those of chained tasks)."""
    from .assets import submit_selection

    return [key for task in tasks if task.upstream is not None for key in submit_selection(task)]


def build_chain_sensor(
    tasks: list[BatchTask] | tuple[BatchTask, ...],
) -> dg.AutomationConditionSensorDefinition | None:
    """The sensor evaluating the chain conditions, or None when no task is chained."""
    from .sensors import sensor_interval_s

    keys = chained_submit_keys(tasks)
    if not keys:
        return None
    return dg.AutomationConditionSensorDefinition(
        CHAIN_SENSOR_NAME,
        target=dg.AssetSelection.assets(*keys),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=sensor_interval_s(),
        description="Submits a chained task's day once its upstream's parsed table for that "
        "day is published.",
    )
