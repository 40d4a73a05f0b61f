"""The README's "Your own task in five minutes": a task folder with a YAML file over a CSV,
no Python, run with `synth backfill --task`, its tables read with DuckDB."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from synth_assets.defs.components import scaffold_yaml
from synth_assets.tasks import TASKS_DIR

from .helpers import Synth
from .test_pipeline_commands import pipeline_env, summary_row

NAME = "readme_tickets_probe"


@pytest.fixture
def task_folder() -> Iterator[Path]:
    """A new task folder in the project (what `dg scaffold defs` writes), removed after."""
    folder = TASKS_DIR / NAME
    folder.mkdir()
    (folder / "defs.yaml").write_text(scaffold_yaml(NAME))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.mark.timeout(240)
def test_a_yaml_task_over_a_csv_runs_with_synth_backfill(
    synth: Synth, tmp_path: Path, task_folder: Path
) -> None:
    env = pipeline_env(tmp_path)

    result = synth("backfill", "--task", NAME, "--from", "2026-11-01", "--to", "2026-11-02", **env)

    assert result.returncode == 0, result.stderr
    assert f"submitted {NAME} 2026-11-01: 8 requests sent" in result.stdout
    assert summary_row(result.stdout, "2026-11-02")[:4] == ["2026-11-02", "8", "8", "8"]
    parsed = tmp_path / "out" / NAME / "parsed" / "*" / "*.parquet"
    rows = duckdb.sql(
        f"select date, custom_id, request_type, urgency, summary from read_parquet('{parsed}', "
        "hive_partitioning=true) order by custom_id"
    ).fetchall()
    assert [row[1] for row in rows] == [f"T-{n}" for n in range(1001, 1017)]
    assert all(
        row[2] in ("question", "bug", "billing", "other") and 1 <= row[3] <= 5 for row in rows
    )
