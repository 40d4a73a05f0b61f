"""``synth backfill`` (and so ``synth demo``) runs through Dagster's own machinery: a real
backfill, a real ``dagster-daemon`` whose sensor ticks are recorded and launch the collect
and resubmit runs, with the run keys the sensor chose; nothing is forged, and the daemon is
gone when the command ends."""

import re
import signal
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from .helpers import Synth
from .test_pipeline_commands import DATE, pipeline_env

SENSOR = "batch_completion_sensor"
CHAIN = "task_chain_sensor"


def instance_at(home: Path) -> dg.DagsterInstance:
    """The instance the command used (its DAGSTER_HOME)."""
    return dg.DagsterInstance.from_config(str(home))


def daemons_of(home: Path) -> list[str]:
    """Command lines of the live ``dagster-daemon`` processes of this home's workspace."""
    out = subprocess.run(["ps", "-ewwo", "args"], capture_output=True, text=True, check=True)
    return [
        line for line in out.stdout.splitlines() if "dagster-daemon" in line and str(home) in line
    ]


def code_servers_on(server_socket: str) -> list[str]:
    """Command lines of the live code servers serving on ``server_socket``."""
    out = subprocess.run(["ps", "-ewwo", "args"], capture_output=True, text=True, check=True)
    return [
        line for line in out.stdout.splitlines() if "api grpc" in line and server_socket in line
    ]


@pytest.mark.timeout(240)
def test_backfill_runs_through_a_real_daemon_its_ticks_and_its_backfill_recorded(
    synth: Synth, tmp_path: Path
) -> None:
    env = pipeline_env(tmp_path)

    result = synth("backfill", "--from", DATE, "--to", DATE, "--timeout", "120", **env)

    assert result.returncode == 0, result.stderr
    home = tmp_path / "home"
    with instance_at(home) as instance:
        # A real backfill of the submit job, as the UI's Backfills tab lists it.
        [backfill] = instance.get_backfills()
        assert list(backfill.partition_names or []) == [DATE]
        [submit] = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
        assert submit.job_name == "spam_triage_submit_job"
        assert submit.status == dg.DagsterRunStatus.SUCCESS
        assert "dagster/sensor_name" not in submit.tags and "dagster/run_key" not in submit.tags

        # The collect (and resubmit) runs were launched by the daemon's sensor ticks, under
        # the run keys the sensor took from the request record.
        launched = instance.get_runs(dg.RunsFilter(tags={"dagster/sensor_name": SENSOR}))
        assert launched, result.stdout
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in launched)
        keys = {run.tags["dagster/run_key"] for run in launched}
        assert f"spam_triage:{DATE}:g1:collect:1" in keys
        assert all(
            re.fullmatch(rf"spam_triage:{DATE}:g\d+:(collect|resubmit):\d+", k) for k in keys
        )

        # ... and those ticks are recorded, each naming the runs it launched.
        [state] = [s for s in instance.all_instigator_state() if s.instigator_name == SENSOR]
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
        assert len(ticks) >= 2  # at least: one that waited, one that requested the collect
        ticked_runs = {run_id for tick in ticks for run_id in tick.run_ids}
        assert {run.run_id for run in launched} <= ticked_runs

        # The backfill and the daemon loaded the project from one code server, the one the
        # command started (the project is loaded once, not once more for the backfill).
        origins = {
            run.remote_job_origin.repository_origin.code_location_origin
            for run in [submit, *launched]
            if run.remote_job_origin is not None
        }
        [origin] = origins
        assert origin.location_name == "synth_assets"
        server_socket = getattr(origin, "socket", None)
        assert server_socket, origin

    # The summary says who launched each run; the daemon stopped with the command.
    assert f"(run {submit.run_id[:8]}, backfill {backfill.backfill_id})" in result.stdout
    assert f"{SENSOR} tick)" in result.stdout
    assert daemons_of(home) == []
    assert code_servers_on(server_socket) == []
    assert "Daemon threads shut down." in next((home / "synth-logs").glob("*.log")).read_text()


@pytest.mark.timeout(120)
def test_no_wait_submits_through_the_daemon_and_leaves_the_collect_to_the_sensor(
    synth: Synth, tmp_path: Path
) -> None:
    env = pipeline_env(tmp_path)

    result = synth("backfill", "--from", DATE, "--to", DATE, "--no-wait", **env)

    assert result.returncode == 0, result.stderr
    assert f"submitted spam_triage {DATE}: 208 requests sent" in result.stdout
    with instance_at(tmp_path / "home") as instance:
        [backfill] = instance.get_backfills()
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
        assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS]
    assert daemons_of(tmp_path / "home") == []


def test_no_dagster_tag_is_written_by_the_product() -> None:
    """Only Dagster sets dagster/* tags (run key, sensor name, backfill): the product reads
    them (the sensor finds its runs by run key) and never writes one."""
    package = Path(__file__).resolve().parents[2] / "synth_assets"
    written = re.compile(r"[\"']dagster/(run_key|sensor_name|backfill|schedule_name)[\"']\s*:")
    forged = [
        f"{path.relative_to(package)}: {line.strip()}"
        for path in package.rglob("*.py")
        for line in path.read_text().splitlines()
        if written.search(line) and "RunsFilter(" not in line
    ]
    assert forged == []


@pytest.mark.timeout(120)
def test_ctrl_c_stops_the_daemon_with_the_command(synth: Synth, tmp_path: Path) -> None:
    env = pipeline_env(tmp_path)
    with synth.popen(
        "backfill", "--from", DATE, "--to", DATE, stdout=subprocess.PIPE, env_extra=env
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:  # the backfill was launched: the daemon is running
            if line.startswith("backfill "):
                break
        assert daemons_of(tmp_path / "home") != []

        process.send_signal(signal.SIGINT)

        assert process.wait(timeout=60) != 0
    assert daemons_of(tmp_path / "home") == []


@pytest.mark.timeout(240)
def test_the_chain_demo_flows_down_through_the_daemons_chain_sensor(
    synth: Synth, tmp_path: Path
) -> None:
    env = pipeline_env(tmp_path)

    result = synth(
        "demo", "--task", "synthetic_emails", "--days", "1", "--backend", "env", timeout=200, **env
    )

    assert result.returncode == 0, result.stderr
    assert "submitted synthetic_emails 2026-11-01: 72 requests sent" in result.stdout
    # No backfill of the downstream task: the daemon's chain sensor submitted its day.
    assert re.search(
        r"submitted synthetic_triage 2026-11-01: \d+ requests sent .*task_chain_sensor tick\)",
        result.stdout,
    ), result.stdout
    with instance_at(tmp_path / "home") as instance:
        [backfill] = instance.get_backfills()  # one: the upstream's
        assert list(backfill.partition_names or []) == ["2026-11-01"]
        [chain] = [s for s in instance.all_instigator_state() if s.instigator_name == CHAIN]
        ticks = instance.get_ticks(chain.instigator_origin_id, chain.selector_id)
        assert any(tick.run_ids for tick in ticks)
    assert daemons_of(tmp_path / "home") == []
