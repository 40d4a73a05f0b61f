"""The project's ``SYNTH_*`` environment variables, read in one place.

They are the shell's way to set the resources' defaults (``synth backfill``, ``make dev``,
the UI tests); a deployment sets the resources themselves in ``definitions.py`` (secrets with
``dg.EnvVar``). Read when a resource or the definitions are made, never at import. No Dagster
here: the CLI reads them before it imports Dagster.
"""

from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from synth_assets.batch import SynthError

ENV_PREFIX = "SYNTH_"


class ProjectSettings(BaseSettings):
    """``SYNTH_<FIELD>`` for each field; other ``SYNTH_*`` variables belong to others."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, env_ignore_empty=True
    )

    project_dir: Path | None = Field(
        None,
        description="Where relative paths (data/, .dagster/) resolve; default: the project "
        "the working directory is in (see project_dir).",
    )
    storage_root: str = Field("data/out", min_length=1, description="StorageResource.root.")
    dataset_path: str | None = Field(
        None,
        description="TaskSettings.dataset_path: where every dataset-reading task reads its "
        "input (`synth backfill --dataset` sets it for its daemon); default: each task's own.",
    )
    work_dir: str = Field("data/work", min_length=1, description="StorageResource.work_dir.")
    enqueued_token_limit: int | None = Field(None, ge=1)
    max_batches_per_hour: int | None = Field(None, ge=1)
    max_cost_usd_per_partition: float | None = Field(None, ge=0)
    max_cost_usd_per_day: float | None = Field(None, ge=0)
    sensor_interval_s: int = Field(30, ge=1, description="batch_completion_sensor's interval.")
    prune_files: bool = Field(
        False,
        description="StorageResource.prune_files: delete a day's request and result files, "
        "locally and on the backend, once the record holds their answers (see "
        "pipeline/prune.py). Off: every file stays, as served, for audit and debugging.",
    )

    @field_validator(
        "enqueued_token_limit",
        "max_batches_per_hour",
        "max_cost_usd_per_partition",
        "max_cost_usd_per_day",
        "sensor_interval_s",
        mode="before",
    )
    @classmethod
    def _number(cls, value: object) -> object:
        """``2_000_000`` and ``2,000,000`` are numbers too; empty is unset."""
        if isinstance(value, str):
            value = value.strip().replace("_", "").replace(",", "")
            return value or None
        return value


def project_settings() -> ProjectSettings:
    """The settings from the environment; a bad value is one sentence naming the variable."""
    try:
        return ProjectSettings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            name = f"{ENV_PREFIX}{str(error['loc'][0]).upper()}" if error["loc"] else ENV_PREFIX
            problems.append(f"{name}={error.get('input')!r}: {error['msg']}")
        raise SynthError("; ".join(problems) + " (fix or unset the variable).") from None


def project_dir() -> Path:
    """The project's folder: ``$SYNTH_PROJECT_DIR``; else, as ``dg`` finds its project, the
    nearest folder from the working directory up that holds a ``pyproject.toml``; else the
    working directory. Never the installed package's folder (site-packages, once the
    project is installed)."""
    configured = project_settings().project_dir
    if configured is not None:
        return configured.resolve()
    here = Path.cwd().resolve()
    return next((d for d in (here, *here.parents) if (d / "pyproject.toml").is_file()), here)
