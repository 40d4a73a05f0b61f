"""The project's SYNTH_* settings, and where relative paths land (the working directory,
never the installed package's folder)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from synth_assets.batch.errors import SynthError
from synth_assets.pipeline.settings import project_dir, project_settings

REPO = Path(__file__).resolve().parents[2]


def test_each_setting_has_a_default_and_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SYNTH_STORAGE_ROOT", "SYNTH_ENQUEUED_TOKEN_LIMIT", "SYNTH_MAX_COST_USD_PER_DAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SYNTH_WORK_DIR", "")  # empty is unset
    default = project_settings()
    assert (default.storage_root, default.work_dir, default.enqueued_token_limit) == (
        "data/out",
        "data/work",
        None,
    )
    monkeypatch.setenv("SYNTH_STORAGE_ROOT", "s3://bucket/tables")
    monkeypatch.setenv("SYNTH_ENQUEUED_TOKEN_LIMIT", "2_000_000")
    monkeypatch.setenv("SYNTH_MAX_COST_USD_PER_DAY", "1,500.5")
    settings = project_settings()
    assert settings.storage_root == "s3://bucket/tables"
    assert (settings.enqueued_token_limit, settings.max_cost_usd_per_day) == (2_000_000, 1500.5)


@pytest.mark.parametrize(
    ("name", "value"),
    [("SYNTH_ENQUEUED_TOKEN_LIMIT", "lots"), ("SYNTH_SENSOR_INTERVAL_S", "0")],
)
def test_a_bad_value_is_one_sentence_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SynthError) as raised:
        project_settings()
    message = str(raised.value)
    assert message.startswith(f"{name}={value!r}: ") and message.endswith("variable).")
    assert "\n" not in message


def test_the_project_is_the_working_directory_unless_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SYNTH_PROJECT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert project_dir() == tmp_path.resolve()
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "sub" / "folder").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "sub" / "folder")
    assert project_dir() == tmp_path.resolve()  # as dg finds its project
    monkeypatch.setenv("SYNTH_PROJECT_DIR", str(tmp_path / "elsewhere"))
    assert project_dir() == (tmp_path / "elsewhere").resolve()


_WHERE = """
import json
from synth_assets.cli.pipeline import dagster_home
from synth_assets.defs import load_tasks
from synth_assets.defs.resources import StorageResource
from synth_assets.defs.layout import table_location

storage = StorageResource()
task = {t.name: t for t in load_tasks()}["spam_triage"]
print(json.dumps({
    "package": __import__("synth_assets").__file__,
    "work": str(storage.work_path("spam_triage")),
    "table": table_location(storage, task, "parsed", "2026-01-01"),
    "home": str(dagster_home()),
}))
"""


def test_an_installed_package_writes_under_the_working_directory(tmp_path: Path) -> None:
    """As after a non-editable install: the package in a site-packages folder of its own,
    run from a project folder holding only its pyproject.toml (with a pyproject.toml of its
    own beside the package, the old rule's project)."""
    site = tmp_path / "site-packages"
    shutil.copytree(REPO / "synth_assets", site / "synth_assets")
    shutil.copy(REPO / "pyproject.toml", site)
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "pyproject.toml", project)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", _WHERE], cwd=project, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    where = json.loads(done.stdout.strip().splitlines()[-1])
    assert where["package"].startswith(str(site))
    assert where["work"] == str(project / "data" / "work" / "spam_triage")
    assert where["table"].startswith(str(project / "data" / "out" / "spam_triage" / "parsed"))
    assert where["home"] == str(project / ".dagster")
    assert not list(site.rglob("data")) and not (site / ".dagster").exists()
