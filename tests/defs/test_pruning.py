"""Pruning a day's files (pipeline/prune.py), through the real chain: submit -> real
sensor -> collect, against the real local server, with a real Dagster instance."""

import json
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from inprocess_driver import run_pipeline

from synth_assets.defs import build_definitions
from synth_assets.defs.resources import BatchApiResource, StorageResource, TaskSettings
from synth_assets.pipeline.plan import MANIFEST_FILE
from synth_assets.pipeline.publish import assemble_tables
from synth_assets.pipeline.record import RECORD_FILE, RequestRecord
from synth_assets.tasks import SPAM_TRIAGE

DATE = "2026-11-01"
ROWS = 30  # two request files of at most 20 requests: two batches


def write_day(inbox: Path, edited: int | None = None) -> None:
    """A day of ``ROWS`` e-mails; ``edited``: that row's body is changed."""
    folder = inbox / f"date={DATE}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "email_id": f"e{i}",
            "date": DATE,
            "subject": "hello",
            "body": f"Lunch at {i} pm?" + (" Edited: make it 2 pm." if i == edited else ""),
        }
        for i in range(ROWS)
    ]
    (folder / "emails.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def definitions(stack, tmp_path: Path, *, prune: bool) -> dg.Definitions:
    return build_definitions(
        resources={
            "batch_api": BatchApiResource(base_url=stack.url, max_requests_per_file=20),
            "storage": StorageResource(
                root=str(tmp_path / "out"), work_dir=str(tmp_path / "work"), prune_files=prune
            ),
            "task_settings": TaskSettings(dataset_path=str(tmp_path / "inbox")),
        }
    )


def run_day(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    outcome = run_pipeline(defs, SPAM_TRIAGE, [DATE], instance, timeout_s=90)
    assert outcome.problems == {} and outcome.states == {DATE: "settled"}, outcome


def work_files(tmp_path: Path) -> dict[str, list[Path]]:
    """The day's request shards and the downloaded result files, on local disk."""
    task = tmp_path / "work" / "spam_triage"
    return {
        "shards": sorted((task / "requests" / f"date={DATE}").glob("g*/requests-*.jsonl")),
        "results": sorted((task / "results").glob("*.jsonl")),
    }


def server_contents(tmp_path: Path) -> list[Path]:
    """The file contents the local server keeps on disk (uploads, outputs, errors)."""
    return sorted((tmp_path / "server0" / "files").iterdir())


def tables(stack) -> tuple[pa.Table, pa.Table]:
    return pq.read_table(stack.table("parsed", DATE)), pq.read_table(stack.table("unparsed", DATE))


def test_pruning_deletes_the_files_locally_and_on_the_server_and_a_rerun_sends_nothing(
    make_stack, instance, tmp_path
):
    stack = make_stack()
    write_day(tmp_path / "inbox")
    defs = definitions(stack, tmp_path, prune=True)

    run_day(defs, instance)

    parsed, unparsed = tables(stack)
    assert parsed.num_rows + unparsed.num_rows == ROWS
    assert stack.batch_count() == 2
    assert work_files(tmp_path) == {"shards": [], "results": []}
    assert list(stack.client.files.list()) == []
    assert server_contents(tmp_path) == []  # the disk is really freed
    # kept: the record and the build's manifest, from which the tables are rebuilt exactly
    work = tmp_path / "work" / "spam_triage"
    [manifest] = (work / "requests" / f"date={DATE}").glob(f"g*/{MANIFEST_FILE}")
    again = tmp_path / "again"
    backend = BatchApiResource(base_url=stack.url).backend().identity
    with RequestRecord(work / RECORD_FILE, backend) as record:
        assemble_tables(
            SPAM_TRIAGE,
            record,
            manifest.parent,
            again / "parsed.parquet",
            again / "unparsed.parquet",
            again / "scratch",
        )
    assert pq.read_table(again / "parsed.parquet").equals(parsed)
    assert pq.read_table(again / "unparsed.parquet").equals(unparsed)

    published = stack.table("parsed", DATE).stat().st_mtime_ns
    run_day(defs, instance)

    assert stack.batch_count() == 2  # nothing sent
    assert stack.table("parsed", DATE).stat().st_mtime_ns == published  # nor re-published
    assert tables(stack)[0].equals(parsed)


def test_an_edited_row_of_a_pruned_day_is_sent_and_answered(make_stack, instance, tmp_path):
    stack = make_stack()
    write_day(tmp_path / "inbox")
    defs = definitions(stack, tmp_path, prune=True)
    run_day(defs, instance)
    before, _ = tables(stack)

    write_day(tmp_path / "inbox", edited=7)
    run_day(defs, instance)

    batches = list(stack.client.batches.list())
    assert len(batches) == 3 and batches[0].request_counts.total == 1  # newest first
    after, unparsed = tables(stack)
    assert after.num_rows == ROWS and unparsed.num_rows == 0
    edited = pc.equal(after["custom_id"], "e7")
    assert after.filter(edited)["batch_id"].to_pylist() == [batches[0].id]
    assert after.filter(pc.invert(edited)).equals(
        before.filter(pc.invert(pc.equal(before["custom_id"], "e7")))
    )
    # the new batch's files went too
    assert work_files(tmp_path) == {"shards": [], "results": []}
    assert server_contents(tmp_path) == []


def test_pruning_is_off_unless_asked_and_once_on_the_next_publish_sweeps_the_day(
    make_stack, instance, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("SYNTH_PRUNE_FILES", raising=False)
    assert StorageResource().prune_files is False
    monkeypatch.setenv("SYNTH_PRUNE_FILES", "true")
    assert StorageResource().prune_files is True
    monkeypatch.delenv("SYNTH_PRUNE_FILES")
    stack = make_stack()
    write_day(tmp_path / "inbox")

    run_day(definitions(stack, tmp_path, prune=False), instance)

    files = work_files(tmp_path)
    assert len(files["shards"]) == 2 and len(files["results"]) == 2  # two output files
    batches = list(stack.client.batches.list())
    kept = {f.id for f in stack.client.files.list()}
    assert kept == {b.input_file_id for b in batches} | {b.output_file_id for b in batches}
    assert len(server_contents(tmp_path)) == 4

    # turned on later: the day's next publish deletes the files of its earlier batches too
    write_day(tmp_path / "inbox", edited=3)
    run_day(definitions(stack, tmp_path, prune=True), instance)

    assert stack.batch_count() == 3
    assert work_files(tmp_path) == {"shards": [], "results": []}
    assert list(stack.client.files.list()) == []
    assert server_contents(tmp_path) == []


def test_pruning_turned_on_for_a_settled_day_sweeps_it_on_a_rerun_that_sends_nothing(
    make_stack, instance, tmp_path
):
    stack = make_stack()
    write_day(tmp_path / "inbox")
    run_day(definitions(stack, tmp_path, prune=False), instance)
    parsed, unparsed = tables(stack)
    assert len(work_files(tmp_path)["results"]) == 2 and len(server_contents(tmp_path)) == 4

    run_day(definitions(stack, tmp_path, prune=True), instance)  # nothing new to send

    assert stack.batch_count() == 2
    assert work_files(tmp_path) == {"shards": [], "results": []}
    assert list(stack.client.files.list()) == []
    assert server_contents(tmp_path) == []
    assert tables(stack) == (parsed, unparsed)  # published before, untouched
