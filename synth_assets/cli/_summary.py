"""The summary ``synth demo`` and ``synth backfill`` print: this run's, read back from the
record and the published Parquet, through the configured resources."""

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click
import dagster as dg
import pyarrow.parquet as pq
from rich.table import Table

from synth_assets.batch.records import is_extra_line
from synth_assets.defs import layout
from synth_assets.defs.runs import PipelineRun
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
        if why is not None or not Path(parsed_path).exists():
            table.add_row(date, "-", str(sent.get(date, 0)), "-", "-", f"not collected: {why}")
            continue
        parsed = pq.read_table(parsed_path, columns=["attempt"])
        retried += sum(a > 1 for a in parsed["attempt"].to_pylist() if a)
        unparsed = pq.read_table(unparsed_path, columns=["reason", "custom_id"]).to_pylist()
        reasons.update(row["reason"] for row in unparsed)
        extra = sum(is_extra_line(row["reason"], row["custom_id"]) for row in unparsed)
        rows = parsed.num_rows + len(unparsed) - extra
        labels = summarize_labels(task, parsed_path, layout.inputs_snapshot(storage, task, date))
        agreement = f"{labels.agreement:.0%}" if labels.agreement is not None else "-"
        totals.update(
            rows=rows, sent=sent.get(date, 0), parsed=parsed.num_rows, unparsed=len(unparsed)
        )
        table.add_row(
            date,
            str(rows),
            str(sent.get(date, 0)),
            str(parsed.num_rows),
            str(len(unparsed)),
            agreement,
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
    # A day's extra rows (a second answer for an email) are unparsed rows beyond its inputs.
    root = Path(layout.table_location(storage, task, "parsed", dates[0])).parents[2]
    click.echo(f"\nParquet tables: {root}/{{parsed,unparsed}}/date=YYYY-MM-DD/part-0.parquet")
