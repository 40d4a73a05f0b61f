"""The generation chain through the real instance and the real local server: generate emails
from the seed grid, label them, compare each label with the intended one; the quality checks
on the generated table; the automation that submits a chained day."""

from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import yaml
from inprocess_driver import PipelineRun, run_pipeline

from synth_assets.cli._summary import quality_line
from synth_assets.defs import build_definitions, load_tasks
from synth_assets.defs.resources import BatchApiResource, StorageResource, TaskSettings
from synth_assets.pipeline import quality
from synth_assets.tasks import TASKS_DIR
from synth_assets.tasks.spec import spec_from_attributes

DATE = "2026-11-02"


def check_results(instance: dg.DagsterInstance, outcome: PipelineRun) -> dict[str, bool]:
    """Check name -> passed, over the runs of a pipeline run (the last evaluation wins)."""
    results: dict[str, bool] = {}
    for run in outcome.runs:
        for entry in instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ):
            evaluation: Any = entry.dagster_event.event_specific_data  # type: ignore[union-attr]
            results[evaluation.check_name] = evaluation.passed
    return results


def summary_metadata(instance: dg.DagsterInstance, task: str) -> dict[str, Any]:
    event = instance.get_latest_materialization_event(dg.AssetKey([task, "label_summary"]))
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_generated_emails_are_labelled_and_compared_with_the_intended_label(
    stack, instance: dg.DagsterInstance
) -> None:
    tasks = {t.name: t for t in load_tasks()}
    defs = stack.defs()

    generated = run_pipeline(defs, tasks["synthetic_emails"], [DATE], instance, timeout_s=60)
    labelled = run_pipeline(defs, tasks["synthetic_triage"], [DATE], instance, timeout_s=60)

    assert generated.problems == {} and labelled.problems == {}
    out = stack.root / "out"
    emails = pq.read_table(out / "synthetic_emails" / "parsed" / f"date={DATE}" / "part-0.parquet")
    labels = pq.read_table(out / "synthetic_triage" / "parsed" / f"date={DATE}" / "part-0.parquet")
    rows = tasks["synthetic_emails"].seeds.rows_per_day()  # type: ignore[union-attr]
    assert emails.num_rows == rows == 72
    # every generated email is labelled once, under its own key
    assert sorted(labels["custom_id"].to_pylist()) == sorted(emails["custom_id"].to_pylist())
    # the emails are written as asked (the local server follows `field: value` prompt lines)
    assert summary_metadata(instance, "synthetic_emails")["agreement"] == 1.0
    triage = summary_metadata(instance, "synthetic_triage")
    assert triage["compared_with_truth"] == rows and 0 <= triage["agreement"] <= 1
    assert check_results(instance, generated) == {
        "conservation": True,
        "parse_rate": True,
        "near_duplicates": True,
        "length_spread": True,
        "seed_coverage": True,
        "language_as_asked": True,
    }
    # The CLI's quality line reads the day from its files (joined with its inputs on disk)
    # and says what the checks say of the whole day in memory.
    task = tasks["synthetic_emails"]
    assert task.quality is not None
    snapshot = stack.root / "work" / "synthetic_emails" / "inputs" / f"date={DATE}"
    inputs = pq.read_table(snapshot / "part-0.parquet")
    field, language_column = task.quality.text_field, task.quality.language_column
    assert language_column is not None
    texts = emails[field].to_pylist()
    language = quality.language_check(
        quality.answered(emails, inputs), field, language_column, 0
    ).metadata
    share = f"{language['matched'] / language['told']:.0%}"
    assert quality_line(defs, task, [DATE]) == (
        "quality: "
        + quality.near_duplicate_check(texts, task.quality.max_near_duplicate_rate).summary
        + "; "
        + quality.length_spread_check(texts, task.quality.min_length_spread).summary
        + "; seed cells covered 72 of 72 (1 days)"
        + f"; language as asked {share} (of {language['told']} texts whose language is clear)"
    )


def test_the_chain_sensor_submits_a_day_once_its_upstream_table_is_published(
    stack, instance: dg.DagsterInstance
) -> None:
    tasks = {t.name: t for t in load_tasks()}
    defs = stack.defs()
    downstream = [
        dg.AssetKey(["synthetic_triage", n])
        for n in ("emails", "batch_requests", "submitted_batch")
    ]

    before = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    run_pipeline(defs, tasks["synthetic_emails"], [DATE], instance, timeout_s=60)
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)

    assert all(before.get_num_requested(key) == 0 for key in downstream)
    for key in downstream:
        assert after.get_requested_partitions(key) == {DATE}


def test_a_generated_table_of_near_copies_fails_the_duplicate_check(
    stack, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    # A generation task whose body can only be one of two near-identical sentences.
    document = yaml.safe_load((TASKS_DIR / "synthetic_emails" / "defs.yaml").read_text())
    attrs = document["attributes"]
    attrs["name"] = "copied_emails"
    attrs["response_schema"]["properties"]["body"] = {
        "enum": [
            "Dear customer, your invoice is overdue; please pay it this week. Regards, Accounts",
            "Dear customer, your invoice is overdue; please pay it this week! Regards, Accounts.",
        ]
    }
    task = spec_from_attributes(attrs, "copied_emails").to_task()
    defs = build_definitions(
        [task],
        resources={
            "batch_api": BatchApiResource(base_url=stack.url),
            "storage": StorageResource(root=str(tmp_path / "out"), work_dir=str(tmp_path / "w")),
            "task_settings": TaskSettings(),
        },
    )

    outcome = run_pipeline(defs, task, [DATE], instance, timeout_s=60)

    results = check_results(instance, outcome)
    assert outcome.problems == {}
    assert results["near_duplicates"] is False
    assert results["length_spread"] is False  # two lengths only: a template, not writing
    assert results["conservation"] is True
