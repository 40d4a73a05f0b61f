"""The API key never appears in anything the pipeline writes, logs or records.

A local server that requires a bearer key runs the pipeline with that key (from the
environment, as ``OPENAI_API_KEY`` and through ``dg.EnvVar``), with faults so that the error
paths write too; then wrong-key paths fail with one clear sentence. Afterwards everything is
scanned for both keys: every file under the test's folder (tables, work dir, the server's
data dir and log), Parquet contents read back with pyarrow, the Dagster instance's folder,
every event record of every run, run tags and configs, job and execution-plan snapshots,
and everything printed or logged.

The local server's refusal of ids with path tricks and of oversize uploads is already
covered in ``tests/localbatch``: ``test_http_api.py``
(``test_unknown_ids_and_paths_are_a_json_404``,
``test_file_ids_cannot_reach_files_outside_the_store``,
``test_an_upload_over_the_limit_is_a_clear_413``) and
``test_runner.py::test_ids_cannot_name_paths``; not repeated here.
"""

import json
import secrets
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from dagster._serdes import serialize_value
from inprocess_driver import SENSOR_NAME, run_pipeline, submit_partitions
from reliability_kit import TASK, assert_collected, check_partition

from synth_assets.batch.errors import SynthError

SECRET = "sk-reliability-" + secrets.token_hex(16)
WRONG = "sk-wrong-" + secrets.token_hex(16)
KEY_ENV = "SYNTH_RELIABILITY_API_KEY"


def leaks(needles: list[str], folders: list[Path], instance: dg.DagsterInstance) -> list[str]:
    """Where any of ``needles`` appears: files, Parquet values, Dagster records."""
    found = []

    def scan(where: str, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        found.extend(f"{where}: {n[:12]}…" for n in needles if n.encode() in data)

    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            scan(str(path), path.read_bytes())
            if path.suffix == ".parquet" and not path.name.startswith("."):
                table = pq.read_table(path)
                scan(f"{path} (rows)", json.dumps(table.to_pylist(), default=str))
                scan(f"{path} (schema)", str(table.schema.metadata))
    runs = instance.get_runs()
    assert runs, "no run recorded: nothing was scanned"
    for run in runs:
        scan(f"run {run.run_id} config", json.dumps(run.run_config, default=str))
        scan(f"run {run.run_id} tags", json.dumps(run.tags))
        scan(f"run {run.run_id}", serialize_value(run))
        if run.job_snapshot_id:
            snapshot = instance.get_job_snapshot(run.job_snapshot_id)
            scan(f"run {run.run_id} job snapshot", serialize_value(snapshot))
        if run.execution_plan_snapshot_id:
            plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
            scan(f"run {run.run_id} plan snapshot", serialize_value(plan))
        for entry in instance.all_logs(run.run_id):
            scan(f"run {run.run_id} event {entry.dagster_event_type}", serialize_value(entry))
    return found


def keyed_rig(make_rig, monkeypatch, **settings):
    """A ``localbatch serve`` subprocess that requires ``SECRET`` (its log is scanned too)."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", KEY_ENV):
        monkeypatch.delenv(name, raising=False)
    return make_rig(process=True, api_key=SECRET, **settings)


def test_the_api_key_is_nowhere_in_what_the_pipeline_writes(
    make_rig, instance, monkeypatch, capfd, caplog, tmp_path
) -> None:
    # faults, so that error files and resubmissions get written too
    rig = keyed_rig(make_rig, monkeypatch, faults="http_500=0.1,refusal=0.05", seed=3)
    messages: list[str] = []
    # 1. the key in OPENAI_API_KEY (what a user sets), with faults: error files get written
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    defs = rig.defs(max_attempts=2)
    outcome = run_pipeline(defs, TASK, ["2026-11-06"], instance, timeout_s=60, log=messages.append)
    assert_collected(outcome, ["2026-11-06"])
    check_partition(rig, instance, "2026-11-06", max_attempts=2)

    # 2. the key through dg.EnvVar, under another name
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv(KEY_ENV, SECRET)
    env_defs = rig.defs(api_key=dg.EnvVar(KEY_ENV))
    outcome = run_pipeline(
        env_defs, TASK, ["2026-11-02"], instance, timeout_s=60, log=messages.append
    )
    assert_collected(outcome, ["2026-11-02"])

    # 3. a wrong key: the submit run fails with one sentence naming what to fix
    monkeypatch.setenv("OPENAI_API_KEY", WRONG)
    wrong_defs = rig.defs()
    failures: list[str] = []
    wrong = submit_partitions(wrong_defs, TASK, ["2026-11-07"], instance, log=failures.append)
    assert wrong.submitted == []
    expected = f"the Batch API at {rig.url} rejected the API key; check OPENAI_API_KEY."
    assert failures == [f"FAILED to submit {TASK.name} 2026-11-07: {expected}"]

    # 4. ... a sensor holding another key says what it cannot collect, without either key
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert submit_partitions(defs, TASK, ["2026-11-05"], instance, log=messages.append).submitted
    monkeypatch.setenv("OPENAI_API_KEY", WRONG)
    tick = wrong_defs.resolve_sensor_def(SENSOR_NAME).evaluate_tick(
        dg.build_sensor_context(
            instance=instance,
            resources={n: wrong_defs.resources[n] for n in ("batch_api", "storage")},  # type: ignore[index]
            definitions=wrong_defs,
        )
    )
    assert not tick.run_requests
    assert tick.skip_message == (
        f"{TASK.name}: 1 batch(es) submitted to {rig.url} with another API key are not "
        "collected: the record keeps them until that backend is configured again"
    )
    # 5. ... and a collect run with the other key says the day belongs to another backend
    collect = wrong_defs.resolve_job_def(f"{TASK.name}_collect_job")
    result = collect.execute_in_process(
        instance=instance, partition_key="2026-11-05", raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_failure_data.user_failure_data.description == (  # type: ignore[union-attr]
        f"2026-11-05 was built for {rig.url} with another API key, not {rig.url}; "
        "materialize batch_requests again to use this backend."
    )
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv(KEY_ENV)

    rig.stop()  # flushes the server's log
    printed = capfd.readouterr()
    texts = [printed.out, printed.err, caplog.text, *messages, *failures, tick.skip_message or ""]
    found = leaks([SECRET, WRONG], [tmp_path, Path(instance.root_directory)], instance)
    found += [f"output {i}" for i, text in enumerate(texts) if SECRET in text or WRONG in text]
    assert found == []
    assert (rig.root / "server" / "server.log").exists()  # the server's log was scanned


def test_an_inline_api_key_is_refused_before_anything_is_stored(
    make_rig, instance, monkeypatch
) -> None:
    rig = keyed_rig(make_rig, monkeypatch)

    # Dagster would store a literal resource value in every run's snapshot: refused.
    with pytest.raises(SynthError, match="EnvVar") as refused:
        rig.defs(api_key=SECRET)

    assert SECRET not in str(refused.value)
    assert instance.get_runs() == []  # refused before any run could record it
