"""Tasks as Dagster components: a task folder with a defs.yaml becomes the task's assets,
checks, jobs and schedule; what `dg` lists and checks; a bad project is one sentence."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from synth_assets.defs import build_definitions, default_resources, tasks_of
from synth_assets.defs.components import BatchTaskComponent, scaffold_yaml
from synth_assets.tasks import TASKS_DIR
from synth_assets.tasks.spec import TaskSpecError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).with_name("dg")


def make_project(root: Path, package: str, tasks: dict[str, str]) -> dg.ComponentTree:
    """A dg project under ``root`` whose defs folder holds one folder per task."""
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [tool.dg]
            directory_type = "project"

            [tool.dg.project]
            root_module = "{package}"
            defs_module = "{package}.defs"
            """
        )
    )
    defs = root / package / "defs"
    defs.mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    (defs / "__init__.py").write_text("")
    for name, text in tasks.items():
        (defs / name).mkdir()
        (defs / name / "defs.yaml").write_text(text)
    sys.path.insert(0, str(root))
    try:
        return dg.ComponentTree.for_project(root)
    finally:
        sys.path.remove(str(root))


def test_a_task_folder_becomes_the_tasks_assets_checks_jobs_and_schedule(tmp_path: Path) -> None:
    tree = make_project(tmp_path, "myproject", {"tickets": scaffold_yaml("tickets")})

    [component] = tree.get_all_components(BatchTaskComponent)
    # The project adds the resources (and the sensors) once, for every task.
    defs = dg.Definitions.merge(tree.build_defs(), dg.Definitions(resources=default_resources()))

    assert isinstance(component, BatchTaskComponent) and component.name == "tickets"
    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assert keys == {
        f"tickets/{name}"
        for name in (
            "inputs",
            "batch_requests",
            "submitted_batch",
            "batch_output",
            "parsed",
            "unparsed",
            "label_summary",
        )
    }
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {"conservation", "parse_rate"}
    assert {job.name for job in defs.jobs or []} == {"tickets_submit_job", "tickets_collect_job"}
    [schedule] = list(defs.schedules or [])
    assert schedule.name == "tickets_daily_schedule"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # paid work: opt in


def test_an_unknown_upstream_in_a_project_is_one_sentence(tmp_path: Path) -> None:
    triage = (TASKS_DIR / "synthetic_triage" / "defs.yaml").read_text()
    tree = make_project(
        tmp_path,
        "chained",
        {"synthetic_triage": triage.replace("task: synthetic_emails", "task: generated_mail")},
    )

    with pytest.raises(TaskSpecError) as caught:
        tasks_of(tree)

    assert str(caught.value) == (
        "synthetic_triage: upstream.task 'generated_mail' is not a task of this project "
        "(tasks: none)."
    )


def test_the_project_definitions_hold_every_declared_task_and_one_sensor_each_kind() -> None:
    defs = build_definitions()

    groups = {key.path[0] for key in defs.resolve_all_asset_keys()}
    assert groups == {"spam_triage", "synthetic_emails", "synthetic_triage"}
    assert {s.name for s in defs.sensors or []} == {"batch_completion_sensor", "task_chain_sensor"}
    statuses = {s.name: s.default_status for s in defs.schedules or []}
    assert statuses["spam_triage_daily_schedule"] == dg.DefaultScheduleStatus.STOPPED
    assert statuses["synthetic_emails_daily_schedule"] == dg.DefaultScheduleStatus.STOPPED


def dg_command(*args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
    # This checkout first, whatever is installed; then the project dg runs in.
    path = os.pathsep.join([str(PROJECT_ROOT), str(cwd)])
    return subprocess.run(
        [str(DG), *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.skipif(not DG.exists(), reason="dagster-dg-cli is not installed")
def test_dg_lists_and_checks_the_tasks() -> None:
    checked = dg_command("check", "yaml")
    listed = dg_command("list", "defs", "--json")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assets = {a["asset_key"] for a in found["assets"]}
    checks = {c["key"] for c in found["asset_checks"]}
    schedules = {s["name"] for s in found["schedules"]}
    assert {
        "synthetic_emails/seeds",
        "synthetic_emails/parsed",
        "synthetic_triage/emails",
    } <= assets
    assert {
        "synthetic_emails/parsed:near_duplicates",
        "synthetic_emails/parsed:length_spread",
        "synthetic_emails/parsed:seed_coverage",
        "synthetic_emails/parsed:language_as_asked",
        "synthetic_triage/parsed:conservation",
    } <= checks
    assert {"synthetic_emails_daily_schedule", "synthetic_triage_daily_schedule"} <= schedules


@pytest.mark.skipif(not DG.exists(), reason="dagster-dg-cli is not installed")
def test_dg_scaffolds_a_task_folder_that_checks_and_loads(tmp_path: Path) -> None:
    make_project(tmp_path, "newproject", {})
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'registry_modules = ["synth_assets"]\n')

    scaffolded = dg_command(
        "scaffold", "defs", "synth_assets.BatchTaskComponent", "tickets", cwd=tmp_path
    )
    checked = dg_command("check", "yaml", cwd=tmp_path)

    assert scaffolded.returncode == 0, scaffolded.stdout + scaffolded.stderr
    written = tmp_path / "newproject" / "defs" / "tickets" / "defs.yaml"
    assert written.read_text() == scaffold_yaml("tickets")
    assert checked.returncode == 0, checked.stdout + checked.stderr
