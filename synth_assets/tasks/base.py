"""What to ask: one ``BatchTask`` is a dataset, a prompt, a response model and a model."""

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from synth_assets.batch import MAX_CUSTOM_ID_LENGTH, Messages, RequestMode

from .dataset import DatasetSpec
from .quality import QualityAttrs
from .seeds import SeedGrid
from .upstream import UpstreamSpec


@dataclass(frozen=True)
class BatchTask:
    """Everything that makes one labelling/extraction/generation job.

    The input is exactly one of ``dataset`` (files), ``seeds`` (a grid expanded per day) or
    ``upstream`` (another task's parsed table for the same day). ``to_messages`` turns an
    input row (a dict with ``id``, ``text`` and the input's other columns) into chat
    messages. ``label_field`` / ``truth_column`` name the answer field and the input column
    the summary asset compares, when the input has ground truth. ``schedule`` says whether
    the daily submit schedule starts running; ``min_parse_rate`` overrides the deployment's
    threshold; ``quality`` adds checks on generated text. ``source`` is where the task was
    declared (its YAML file), for messages.
    """

    name: str
    description: str
    input_name: str
    dataset: DatasetSpec | None
    to_messages: Callable[[Mapping[str, Any]], Messages]
    response_model: type[BaseModel]
    model: str = "gpt-4o-mini"
    mode: RequestMode = RequestMode.JSON_SCHEMA
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    start_date: str = "2026-11-01"
    label_field: str | None = None
    truth_column: str | None = None
    seeds: SeedGrid | None = None
    upstream: UpstreamSpec | None = None
    schedule: bool = True
    min_parse_rate: float | None = None
    quality: QualityAttrs | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"task name {self.name!r} must be a Python identifier")
        inputs = [self.dataset, self.seeds, self.upstream]
        if sum(i is not None for i in inputs) != 1:
            raise ValueError(f"task {self.name!r} needs exactly one of dataset, seeds, upstream")


def custom_id_for(key: str) -> str:
    """The custom_id of an input row: its key when it fits the Batch API, else a stable hash.

    Keys of at most 64 printable characters are used as they are, so results join back to
    inputs with no lookup; longer keys become ``k-`` + 40 hex characters of their SHA-1.
    """
    if 0 < len(key) <= MAX_CUSTOM_ID_LENGTH and key.isprintable():
        return key
    return "k-" + hashlib.sha1(key.encode("utf-8")).hexdigest()
