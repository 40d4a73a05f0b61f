"""synth-assets: bulk structured LLM outputs at Batch-API prices, as Dagster assets.

``synth_assets.BatchTaskComponent`` is the Dagster component a task's ``defs.yaml`` names
(``type: synth_assets.BatchTaskComponent``). It is imported on first use, so that
``synth_assets.batch`` (the library) never imports Dagster.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "BatchTaskComponent":
        from synth_assets.defs.components import BatchTaskComponent

        return BatchTaskComponent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # `dg list components` looks for component types with dir().
    return sorted([*globals(), "BatchTaskComponent"])
