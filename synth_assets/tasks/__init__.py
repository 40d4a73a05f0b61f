"""Tasks: what to ask of the model. Adding a task here adds its assets to the graph."""

from .base import BatchTask, custom_id_for
from .spam import SPAM_TRIAGE

TASKS: tuple[BatchTask, ...] = (SPAM_TRIAGE,)

__all__ = ["SPAM_TRIAGE", "TASKS", "BatchTask", "custom_id_for"]
