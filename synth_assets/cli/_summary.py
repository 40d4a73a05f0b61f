"""The summary ``synth demo`` and ``synth backfill`` print: this run's, read back from the
record and the published Parquet, through the resources of the definitions the run used
(so a URL root such as ``s3://…`` is read where the run wrote it)."""

from collections import Counter
from collections.abc import Iterator, Sequence

import click
import dagster as dg
import pyarrow.compute as pc
from rich.table import Table

from synth_assets.batch import is_extra_line
from synth_assets.defs import layout
from synth_assets.defs.runs import PipelineRun
from synth_assets.pipeline import buckets, quality
from synth_assets.pipeline.steps import summarize_labels
from synth_assets.tasks import BatchTask

from . import _render as render


def sent_since(defs: dg.Definitions, task: BatchTask, since: float) -> dict[str, int]:
    """Requests put in batches created since ``since`` (epoch seconds), per partition."""
    storage = defs.resources["storage"]  # type: ignore[index]
    backend = defs.resources["batch_api"].backend()  # type: ignore[index]
    if not layout.record_exists(storage, task):
        return {}
    sent: Counter[str] = Counter()
    with layout.open_record(storage, task, backend.identity) as record:
        for batch in record.batches():
            if batch.created >= since:
                sent[batch.partition] += batch.requests
    return dict(sent)


def print_summary(
    defs: dg.Definitions,
    task: BatchTask,
    dates: Sequence[str],
    outcome: PipelineRun,
    since: float,
) -> None:
    """Per day: current rows, requests sent by this run, parsed / unparsed, agreement."""
    storage = defs.resources["storage"]  # type: ignore[index]
    sent = sent_since(defs, task, since)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("partition", "rows", "sent now", "parsed", "unparsed", "agreement"):
        table.add_column(name, justify="left" if name == "partition" else "right")
    totals = Counter[str]()
    reasons: Counter[str] = Counter()
    retried = 0
    for date in dates:
        why = outcome.problems.get(date)
        parsed_path = layout.table_location(storage, task, "parsed", date)
        unparsed_path = layout.table_location(storage, task, "unparsed", date)
        if why is not None or not storage.exists(parsed_path):
            table.add_row(date, "-", str(sent.get(date, 0)), "-", "-", f"not collected: {why}")
            continue
        # A few columns, a slice at a time: the day's rows never enter memory.
        parsed_rows = 0
        for batch in buckets.slices(parsed_path, ["attempt"]):
            parsed_rows += batch.num_rows
            retried += pc.sum(pc.greater(batch.column(0), 1)).as_py() or 0
        unparsed_rows = extra = 0
        for batch in buckets.slices(unparsed_path, ["reason", "custom_id"]):
            day_reasons = batch.column(0).to_pylist()
            reasons.update(day_reasons)
            custom_ids = batch.column(1).to_pylist()
            extra += sum(map(is_extra_line, day_reasons, custom_ids))
            unparsed_rows += batch.num_rows
        rows = parsed_rows + unparsed_rows - extra
        labels = summarize_labels(
            task,
            parsed_path,
            layout.inputs_snapshot(storage, task, date),
            scratch=storage.work_path(task.name, "scratch"),
        )
        agreement = f"{labels.agreement:.0%}" if labels.agreement is not None else "-"
        totals.update(rows=rows, sent=sent.get(date, 0), parsed=parsed_rows, unparsed=unparsed_rows)
        table.add_row(
            date, str(rows), str(sent.get(date, 0)), str(parsed_rows), str(unparsed_rows), agreement
        )
    table.add_row(
        "total",
        str(totals["rows"]),
        str(totals["sent"]),
        str(totals["parsed"]),
        str(totals["unparsed"]),
        "",
    )
    out = render.stdout()
    click.echo("")
    out.print(table)
    if reasons:
        click.echo("unparsed reasons: " + ", ".join(f"{r} {n}" for r, n in reasons.most_common()))
    if retried:
        click.echo(f"answered by a resubmission of retryable failures: {retried} rows")
    if task.quality is not None:
        click.echo(quality_line(defs, task, [d for d in dates if d not in outcome.problems]))
    root = layout.tables_root(storage, task)
    click.echo(f"\nParquet tables: {root}/{{parsed,unparsed}}/date=YYYY-MM-DD/part-0.parquet")


def quality_line(defs: dg.Definitions, task: BatchTask, dates: Sequence[str]) -> str:
    """The task's quality checks over ``dates`` together, in one line (the asset checks say
    the same per day in the UI). Each day is read a slice at a time, and joined with its
    inputs on disk."""
    quality_settings = task.quality
    assert quality_settings is not None
    storage = defs.resources["storage"]  # type: ignore[index]
    scratch = storage.work_path(task.name, "scratch")
    days = []
    for date in dates:
        parsed_path = layout.table_location(storage, task, "parsed", date)
        snapshot = layout.inputs_snapshot(storage, task, date)
        if storage.exists(parsed_path) and snapshot.exists():
            days.append((parsed_path, snapshot))
    if not days:
        return "quality: no published day to measure"
    field = quality_settings.text_field
    texts = _Texts([quality.Column(parsed, field) for parsed, _ in days])
    parts = [
        quality.near_duplicate_check(
            texts, quality_settings.max_near_duplicate_rate, scratch
        ).summary,
        quality.length_spread_check(texts, quality_settings.min_length_spread).summary,
    ]
    if task.seeds is not None:
        columns = list(quality.COVERAGE_COLUMNS)
        checks = [
            quality.coverage_check(
                quality.answered_from_files(parsed, inputs, [field], columns, scratch)
            )
            for parsed, inputs in days
        ]
        covered = sum(c.metadata["covered"] for c in checks)
        cells = sum(c.metadata["cells"] for c in checks)
        parts.append(f"seed cells covered {covered} of {cells} ({len(checks)} days)")
    language_column = quality_settings.language_column
    if language_column is not None:
        told = matched = 0
        for parsed, inputs in days:
            rows = quality.answered_from_files(parsed, inputs, [field], [language_column], scratch)
            check = quality.language_check(rows, field, language_column, 0)
            told += check.metadata.get("told", 0)
            matched += check.metadata.get("matched", 0)
        share = f"{matched / told:.0%}" if told else "-"
        parts.append(f"language as asked {share} (of {told} texts whose language is clear)")
    return "quality: " + "; ".join(parts)


class _Texts:
    """The texts of several days, one after the other, each time it is iterated."""

    def __init__(self, days: list[quality.Column]) -> None:
        self.days = days

    def __iter__(self) -> Iterator[str | None]:
        for day in self.days:
            yield from day
