"""A task declared in YAML: the attributes of a ``BatchTaskComponent``, with no Dagster.

:class:`TaskSpec` holds exactly what a task's ``defs.yaml`` says under ``attributes:``;
:meth:`TaskSpec.to_task` checks it and returns the :class:`BatchTask` the pipeline runs, and
:func:`check_tasks` checks what only a set of tasks can tell (names, upstreams, the columns a
chained prompt uses). Errors a user can cause are :class:`TaskSpecError`, one sentence that
names the task and the field.

The Dagster component (``synth_assets.defs.components.BatchTaskComponent``) is this model
plus ``build_defs``; :func:`load_task_file` reads a ``defs.yaml`` without Dagster (for
scripts, tests and the library), which gives the same task as long as the YAML uses no
Dagster ``{{ … }}`` template.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from synth_assets.batch import ModelColumns, RequestMode, SynthError
from synth_assets.batch import import_model as find_model

from .base import BatchTask
from .dataset import ID_COLUMN, TEXT_COLUMN, DatasetFormat, DatasetSpec
from .jsonschema import SchemaError, model_from_schema
from .quality import QualityAttrs
from .seeds import SEED_COLUMNS, SeedGrid
from .template import PromptTemplate
from .upstream import LIBRARY_COLUMNS, UpstreamSpec

COMPONENT_TYPE = "synth_assets.BatchTaskComponent"
# Request parameters the task itself sets; ``params`` may not override them.
_RESERVED_PARAMS = frozenset(
    {"model", "messages", "response_format", "tools", "tool_choice", "input", "text"}
)


class TaskSpecError(SynthError):
    """A task's YAML cannot make a task; the message names the task and the field."""


class DatasetAttrs(BaseModel):
    """Where a task's input rows live (see ``synth_assets.tasks.dataset``)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        description="A hive folder (<path>/date=YYYY-MM-DD/*) or one file with a date column; "
        "relative to the project."
    )
    id_column: str = Field(description="The column holding each row's stable key.")
    text_column: str = Field(description="The column holding the text to send.")
    date_column: str = Field(description="The column holding each row's day (YYYY-MM-DD).")
    format: DatasetFormat = Field(default="auto", description="auto, jsonl, csv or parquet.")
    extra_columns: list[str] = Field(
        default_factory=list, description="Columns passed through (usable in the prompt)."
    )


class PromptAttrs(BaseModel):
    """The prompt: templates over the row's columns, ``[[column]]`` placeholders."""

    model_config = ConfigDict(extra="forbid")

    system: str | None = Field(default=None, description="The system message ([[column]]s).")
    user: str = Field(description="The user message ([[column]]s).")


class TaskSpec(BaseModel):
    """The attributes of one task's ``defs.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The task's name: its asset group and key prefix.")
    description: str = Field(default="", description="What the task does (shown in the UI).")
    input_name: str = Field(default="inputs", description="Name of the input snapshot asset.")
    dataset: DatasetAttrs | None = Field(default=None, description="Input read from files.")
    seeds: SeedGrid | None = Field(default=None, description="Input expanded from a seed grid.")
    upstream: UpstreamSpec | None = Field(
        default=None, description="Input: another task's parsed table for the same day."
    )
    prompt: PromptAttrs
    response_model: str | None = Field(
        default=None, description="The answer's pydantic model, as package.module:Model."
    )
    response_schema: dict[str, Any] | None = Field(
        default=None, description="The answer as an inline JSON Schema (strict-mode subset)."
    )
    model: str = Field(default="gpt-4o-mini", description="The model name sent with requests.")
    mode: Literal["json_schema", "tools"] = Field(
        default="json_schema", description="Strict structured outputs, or one forced tool."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Generation parameters (temperature, max_tokens, …)."
    )
    start_date: str = Field(default="2026-11-01", description="The first daily partition.")
    schedule: bool = Field(
        default=False, description="Run the daily submit schedule (on) or leave it stopped."
    )
    min_parse_rate: float | None = Field(
        default=None, description="The parse_rate check warns below this share (0 to 1)."
    )
    label_field: str | None = Field(
        default=None, description="The answer field the summary counts."
    )
    truth_column: str | None = Field(
        default=None, description="The input column the summary compares label_field with."
    )
    quality: QualityAttrs | None = Field(
        default=None, description="Quality checks on generated text."
    )

    @field_validator("min_parse_rate")
    @classmethod
    def _share(cls, value: float | None) -> float | None:
        if value is not None and not 0 <= value <= 1:
            raise ValueError("must be between 0 and 1")
        return value

    def to_task(self, where: str | None = None) -> BatchTask:
        """The task this YAML declares; :class:`TaskSpecError` names what is wrong."""
        at = where or self.name
        if not self.name.isidentifier():
            raise TaskSpecError(
                f"{at}: name {self.name!r} must be a Python identifier (letters, digits, _)."
            )
        sources = [s for s in ("dataset", "seeds", "upstream") if getattr(self, s) is not None]
        if len(sources) != 1:
            given = ", ".join(sources) or "none"
            raise TaskSpecError(
                f"{at}: give exactly one input, dataset, seeds or upstream (given: {given})."
            )
        _check_date(self.start_date, at)
        response_model = self._response_model(at)
        fields = answer_fields(response_model)
        bad = sorted(set(self.params) & _RESERVED_PARAMS)
        if bad:
            raise TaskSpecError(f"{at}: params.{bad[0]} is set by the task itself; remove it.")
        prompt = PromptTemplate(user=self.prompt.user, system=self.prompt.system)
        if self.label_field is not None and self.label_field not in fields:
            raise TaskSpecError(
                f"{at}: label_field {self.label_field!r} is not a field of the answer "
                f"({', '.join(fields)})."
            )
        if self.quality is not None and self.quality.text_field not in fields:
            raise TaskSpecError(
                f"{at}: quality.text_field {self.quality.text_field!r} is not a field of the "
                f"answer ({', '.join(fields)})."
            )
        dataset = None
        if self.dataset is not None:
            attrs = self.dataset
            try:
                dataset = DatasetSpec(
                    path=attrs.path,
                    format=attrs.format,
                    id_column=attrs.id_column,
                    text_column=attrs.text_column,
                    date_column=attrs.date_column,
                    extra_columns=tuple(attrs.extra_columns),
                )
            except SynthError as exc:
                raise TaskSpecError(f"{at}: dataset: {exc}") from None
        task = BatchTask(
            name=self.name,
            description=self.description or f"The {self.name} task.",
            input_name=self.input_name,
            dataset=dataset,
            to_messages=prompt,
            response_model=response_model,
            model=self.model,
            mode=RequestMode(self.mode),
            params=MappingProxyType(dict(self.params)),
            start_date=self.start_date,
            label_field=self.label_field,
            truth_column=self.truth_column,
            seeds=self.seeds,
            upstream=self.upstream,
            schedule=self.schedule,
            min_parse_rate=self.min_parse_rate,
            quality=self.quality,
            source=where,
        )
        if self.upstream is None:  # a chained task's columns are known once its upstream is
            check_columns(task, input_columns(task), at)
        return task

    def _response_model(self, at: str) -> type[BaseModel]:
        if (self.response_model is None) == (self.response_schema is None):
            raise TaskSpecError(f"{at}: give exactly one of response_model or response_schema.")
        if self.response_schema is not None:
            try:
                return model_from_schema(self.response_schema, self.name)
            except SchemaError as exc:
                raise TaskSpecError(f"{at}: {exc}") from None
        return import_model(self.response_model or "", at)


def import_model(path: str, at: str) -> type[BaseModel]:
    """Import ``package.module:Model``; :class:`TaskSpecError` names what is wrong."""
    try:
        target = find_model(path, f"{at}: response_model")
        ModelColumns(target)  # the tables must be able to hold it
    except TaskSpecError:
        raise
    except SynthError as exc:
        raise TaskSpecError(
            str(exc) if str(exc).startswith(at) else f"{at}: response_model {path!r}: {exc}"
        ) from None
    return target


def answer_fields(model: type[BaseModel]) -> list[str]:
    """The parsed table's columns that come from the answer."""
    return [f.name for f in ModelColumns(model).fields]


def input_columns(task: BatchTask, upstream: BatchTask | None = None) -> list[str]:
    """The columns of the task's input snapshot, which its prompt may use."""
    if task.seeds is not None:
        return [ID_COLUMN, TEXT_COLUMN, *SEED_COLUMNS]
    if task.upstream is not None:
        if upstream is None:
            return [ID_COLUMN, TEXT_COLUMN]
        fields = [f for f in answer_fields(upstream.response_model) if f not in LIBRARY_COLUMNS]
        extras = task.upstream.extra_columns
        return [ID_COLUMN, TEXT_COLUMN, *(fields if extras is None else extras)]
    assert task.dataset is not None
    return [ID_COLUMN, TEXT_COLUMN, *task.dataset.extra_columns]


def check_columns(task: BatchTask, columns: Sequence[str], at: str) -> None:
    """Every column the prompt, the summary and the checks use is an input column."""
    known = ", ".join(columns)
    template = task.to_messages
    if isinstance(template, PromptTemplate):
        for part, text in (("system", template.system or ""), ("user", template.user)):
            for column in PromptTemplate(text).columns():
                if column not in columns:
                    raise TaskSpecError(
                        f"{at}: prompt.{part} uses [[{column}]], which is not a column of "
                        f"its input ({known})."
                    )
    for attr, column in (
        ("truth_column", task.truth_column),
        ("quality.language_column", task.quality.language_column if task.quality else None),
    ):
        if column is not None and column not in columns:
            raise TaskSpecError(f"{at}: {attr} {column!r} is not a column of its input ({known}).")


def check_tasks(tasks: Iterable[BatchTask]) -> tuple[BatchTask, ...]:
    """Check a project's tasks together: unique names, known upstreams (no cycles), and the
    columns chained tasks use. Returns them with each upstream before its downstreams."""
    tasks = tuple(tasks)
    by_name: dict[str, BatchTask] = {}
    for task in tasks:
        if task.name in by_name:
            raise TaskSpecError(
                f"{task.source or task.name}: the task name {task.name!r} is already used "
                f"by {by_name[task.name].source or 'another task'}; names must be unique."
            )
        by_name[task.name] = task
    for task in tasks:
        if task.upstream is None:
            continue
        at = task.source or task.name
        upstream = by_name.get(task.upstream.task)
        if upstream is None:
            others = ", ".join(sorted(n for n in by_name if n != task.name)) or "none"
            raise TaskSpecError(
                f"{at}: upstream.task {task.upstream.task!r} is not a task of this project "
                f"(tasks: {others})."
            )
        fields = answer_fields(upstream.response_model)
        if task.upstream.text_column not in fields:
            raise TaskSpecError(
                f"{at}: upstream.text_column {task.upstream.text_column!r} is not a field of "
                f"{upstream.name}'s answer ({', '.join(fields)})."
            )
        for column in task.upstream.extra_columns or ():
            if column not in fields:
                raise TaskSpecError(
                    f"{at}: upstream.extra_columns names {column!r}, which is not a field of "
                    f"{upstream.name}'s answer ({', '.join(fields)})."
                )
        check_columns(task, input_columns(task, upstream), at)
    return _in_chain_order(tasks, by_name)


def _in_chain_order(
    tasks: tuple[BatchTask, ...], by_name: dict[str, BatchTask]
) -> tuple[BatchTask, ...]:
    ordered: list[BatchTask] = []
    state: dict[str, str] = {}

    def visit(task: BatchTask, path: list[str]) -> None:
        if state.get(task.name) == "done":
            return
        if state.get(task.name) == "visiting":
            cycle = " -> ".join([*path, task.name])
            raise TaskSpecError(f"{task.source or task.name}: upstream forms a cycle ({cycle}).")
        state[task.name] = "visiting"
        if task.upstream is not None:
            visit(by_name[task.upstream.task], [*path, task.name])
        state[task.name] = "done"
        ordered.append(task)

    for task in tasks:
        visit(task, [])
    return tuple(ordered)


def downstream_of(task: BatchTask, tasks: Iterable[BatchTask]) -> list[BatchTask]:
    """The tasks fed, directly or not, by ``task``'s parsed table, in chain order."""
    found: list[BatchTask] = []
    names = {task.name}
    for other in tasks:  # tasks in chain order: an upstream comes before its downstreams
        if other.upstream is not None and other.upstream.task in names:
            found.append(other)
            names.add(other.name)
    return found


def _check_date(value: str, at: str) -> None:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise TaskSpecError(f"{at}: start_date {value!r} is not a YYYY-MM-DD date.") from None


def spec_from_attributes(attributes: Any, where: str) -> TaskSpec:
    """Validate a ``defs.yaml``'s attributes; a bad one is one sentence naming the field."""
    try:
        return TaskSpec.model_validate(attributes)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "attributes"
        raise TaskSpecError(f"{where}: {field}: {error['msg']}.") from None


def load_task_file(path: Path) -> BatchTask:
    """The task of one ``defs.yaml`` read without Dagster (no ``{{ … }}`` templates)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TaskSpecError(f"{path}: cannot be read as YAML ({exc}).") from None
    if not isinstance(document, dict) or document.get("type") != COMPONENT_TYPE:
        raise TaskSpecError(f"{path}: is not a {COMPONENT_TYPE} (its type: line).")
    if any("{{" in text for text in _strings(document)):
        raise TaskSpecError(
            f"{path}: uses a Dagster {{{{ … }}}} template; load it through Dagster "
            "(synth_assets.defs.load_tasks)."
        )
    return spec_from_attributes(document.get("attributes"), str(path)).to_task(str(path))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def load_task_folder(folder: Path) -> tuple[BatchTask, ...]:
    """Every task under ``folder`` (each ``*/defs.yaml``), checked together, read without
    Dagster."""
    files = sorted(folder.glob("**/defs.yaml"))
    return check_tasks(load_task_file(path) for path in files)
