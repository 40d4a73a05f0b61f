"""Finding a response model by its import path (``package.module:Model``)."""

import importlib
from typing import Any

from pydantic import BaseModel

from .errors import SynthError


def import_model(path: str, label: str) -> type[BaseModel]:
    """Import ``package.module:Model`` (the class may be nested: ``mod:Outer.Inner``).

    Raises :class:`SynthError` in one sentence starting with ``label`` (where the path came
    from, e.g. ``--response-model``) naming what is wrong.
    """
    module_name, sep, qualname = path.partition(":")
    if not sep or not module_name or not qualname:
        raise SynthError(
            f"{label} {path!r} is not of the form package.module:Class "
            "(e.g. synth_assets.tasks.spam:SinglePrediction)."
        )
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise SynthError(
            f"{label} {path!r}: module {exc.name!r} cannot be found; check the spelling and "
            "that it is installed or in the current directory."
        ) from None
    except Exception as exc:  # the user's module failed while importing: their bug, not ours
        raise SynthError(
            f"{label} {path!r}: importing {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from None
    for part in qualname.split("."):
        if not hasattr(target, part):
            raise SynthError(f"{label} {path!r}: {module_name!r} has no attribute {qualname!r}.")
        target = getattr(target, part)
    if not (isinstance(target, type) and issubclass(target, BaseModel)):
        raise SynthError(f"{label} {path!r} is not a pydantic BaseModel class.")
    return target
