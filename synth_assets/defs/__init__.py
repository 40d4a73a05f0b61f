"""The Dagster layer: assets, jobs, the completion sensor, schedules and resources.

Thin over ``synth_assets.pipeline`` and ``synth_assets.batch``. Tasks are declared as
components (``BatchTaskComponent``, one ``defs.yaml`` per task under ``defs/tasks/``); one
factory (:func:`~synth_assets.defs.factory.task_definitions`) gives every task the same
assets, checks, jobs and schedule, and :func:`build_definitions` adds what the project has
once: the completion sensor, the chain sensor and the resources.
"""

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from synth_assets.batch import SynthError
from synth_assets.pipeline.settings import project_dir
from synth_assets.tasks import BatchTask
from synth_assets.tasks.spec import check_tasks

from .automation import build_chain_sensor
from .factory import task_definitions
from .resources import BatchApiResource, StorageResource, TaskSettings
from .sensors import build_completion_sensor


def default_resources() -> dict[str, Any]:
    """Resources for a new user: local server (or OPENAI_* from the environment), data/."""
    return {
        "batch_api": BatchApiResource(),
        "storage": StorageResource(),
        "task_settings": TaskSettings(),
    }


@contextmanager
def _quiet_components() -> Iterator[None]:
    """Dagster's component loader warns about its own beta/preview internals (code
    references, module loading) on every load; they are not the user's to act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        yield


def component_tree(project_root: Path | None = None) -> dg.ComponentTree:
    """The project's component tree (its ``[tool.dg.project]`` defs folder); the project is
    found from the working directory (or ``$SYNTH_PROJECT_DIR``) by its ``pyproject.toml``."""
    root = project_root or project_dir()
    if not (root / "pyproject.toml").is_file():
        raise SynthError(
            f"no pyproject.toml in {root} or above: run this from the project's folder, or "
            "set SYNTH_PROJECT_DIR to it."
        )
    return dg.ComponentTree.for_project(root)


def tasks_of(tree: dg.ComponentTree) -> tuple[BatchTask, ...]:
    """The tasks the tree's ``BatchTaskComponent``s declare, checked together (chain order)."""
    from .components import BatchTaskComponent

    with _quiet_components():
        components = tree.get_all_components(BatchTaskComponent)
    return check_tasks(c.task() for c in components)


def load_tasks(project_root: Path | None = None) -> tuple[BatchTask, ...]:
    """Every task declared in the project's defs folder, as Dagster loads them."""
    return tasks_of(component_tree(project_root))


def build_definitions(
    tasks: Sequence[BatchTask] | None = None, resources: Mapping[str, Any] | None = None
) -> dg.Definitions:
    """The project's Definitions: the declared tasks (or ``tasks``), each through the one
    factory, plus the completion sensor, the chain sensor and the resources."""
    if tasks is None:
        tree = component_tree()
        tasks = tasks_of(tree)
        with _quiet_components():
            per_task = tree.build_defs()
    else:
        tasks = check_tasks(tasks)
        per_task = dg.Definitions.merge(*(task_definitions(task) for task in tasks))
    jobs = list(per_task.jobs or [])
    resources = {**default_resources(), **(resources or {})}
    _refuse_inline_key(resources.get("batch_api"))
    sensors = [build_completion_sensor(tasks, jobs)]
    chain = build_chain_sensor(tasks)
    if chain is not None:
        sensors.append(chain)
    # A run is one day of one task, and its steps follow one another (snapshot, build,
    # submit; download, tables, checks): they run in the run's process. Days run in
    # parallel as separate runs, and a step subprocess per step would only add start-up time.
    project = dg.Definitions(sensors=sensors, resources=resources, executor=dg.in_process_executor)
    defs = dg.Definitions.merge(per_task, project)
    with _quiet_components():
        defs.resolve_asset_graph()  # resolved (and cached) here, where its warnings are muted
    return defs


def _refuse_inline_key(batch_api: object) -> None:
    """An API key written into the code would be stored in every run's snapshot."""
    key = getattr(batch_api, "api_key", None)
    if isinstance(key, str) and key and not isinstance(key, dg.EnvVar):
        raise SynthError(
            "pass the API key as dg.EnvVar('OPENAI_API_KEY') (or leave it unset and export "
            "OPENAI_API_KEY), not as a literal: Dagster stores resource values in run records."
        )


__all__ = [
    "BatchApiResource",
    "StorageResource",
    "TaskSettings",
    "build_definitions",
    "load_tasks",
    "task_definitions",
]
