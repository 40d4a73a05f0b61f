"""Tasks: what to ask of the model. Each task is declared in a YAML file (a Dagster
component, see ``synth_assets/defs/tasks/``); this package holds what a task is
(:class:`BatchTask`), how its YAML becomes one (:mod:`.spec`), its inputs (datasets, seed
grids, upstream tasks) and prompt templates. No Dagster here.

``SPAM_TRIAGE`` (the tutorial's task) and ``TASKS`` (every declared task) are read from the
YAML files on first use.
"""

from pathlib import Path
from typing import Any

from .base import BatchTask, custom_id_for

# The folder of the project's task declarations (one sub-folder with a defs.yaml per task).
TASKS_DIR = Path(__file__).resolve().parents[1] / "defs" / "tasks"


def __getattr__(name: str) -> Any:
    if name == "SPAM_TRIAGE":
        from .spam import SPAM_TRIAGE

        return SPAM_TRIAGE
    if name == "TASKS":
        from .spec import load_task_folder

        return load_task_folder(TASKS_DIR)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SPAM_TRIAGE", "TASKS", "TASKS_DIR", "BatchTask", "custom_id_for"]
