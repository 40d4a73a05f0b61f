"""Resources: thin, configurable handles on the Batch API, the storage and task settings."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import openai
import pyarrow.fs as pafs
from pydantic import Field, field_validator

from synth_assets.batch import (
    DEFAULT_RETRY_REASONS,
    MAX_BYTES_PER_FILE,
    MAX_REQUESTS_PER_FILE,
    Backend,
    Reason,
    RequestMode,
    SynthError,
    local_backend,
    make_client,
    resolve_backend,
)
from synth_assets.pipeline.plan import Policy
from synth_assets.pipeline.settings import project_dir, project_settings


class BatchApiResource(dg.ConfigurableResource):
    """The Batch API: OpenAI when a key is set, else the local server (or ``base_url``)."""

    api_key: str | None = Field(
        default=None, description="API key; set it with EnvVar('OPENAI_API_KEY'), never inline."
    )
    base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL; empty = OPENAI_BASE_URL, else OpenAI when a "
        "key is set, else the local server at http://127.0.0.1:8765/v1.",
    )
    local_server: bool = Field(
        default=False,
        description="Use the project's local Batch server whatever OPENAI_API_KEY / "
        "OPENAI_BASE_URL say (what `synth demo` does unless asked otherwise).",
    )
    max_requests_per_file: int = Field(default=MAX_REQUESTS_PER_FILE, ge=1, le=50_000)
    max_bytes_per_file: int = Field(default=MAX_BYTES_PER_FILE, ge=1, le=200 * 1024 * 1024)
    max_retries: int = Field(default=2, ge=0, description="HTTP retries of the openai client.")
    enqueued_token_limit: int | None = Field(
        default_factory=lambda: project_settings().enqueued_token_limit,
        ge=1,
        description="Your organization's batch queue limit (enqueued input tokens per model, "
        "see the README's production notes for the tiers); days wait for room under it. "
        "Default $SYNTH_ENQUEUED_TOKEN_LIMIT, else none (a refused batch is still sent again "
        "later).",
    )
    max_batches_per_hour: int | None = Field(
        default_factory=lambda: project_settings().max_batches_per_hour,
        ge=1,
        description="Batch creations per hour (OpenAI allows about 2,000); default "
        "$SYNTH_MAX_BATCHES_PER_HOUR, else none.",
    )
    limit_retry_s: float = Field(
        default=60.0,
        ge=0,
        description="After a batch was refused for the token limit, wait this long before "
        "sending its requests again.",
    )
    timeout_s: float = Field(default=60.0, gt=0, description="Per-call timeout of runs (s).")
    sensor_deadline_s: float = Field(
        default=40.0,
        gt=0,
        description="A sensor tick stops polling batches after this long (a tick has 60 s); "
        "what is left waits for the next tick.",
    )
    sensor_call_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Timeout of each Batch API call a sensor tick makes (no retries: the next "
        "tick is the retry).",
    )

    def backend(self) -> Backend:
        """Where the calls go (the key is never shown)."""
        if self.local_server:
            return local_backend()
        return resolve_backend(self.api_key or None, self.base_url or None)

    @contextmanager
    def open_client(
        self, *, timeout_s: float | None = None, max_retries: int | None = None
    ) -> Iterator[openai.OpenAI]:
        """A configured ``openai.OpenAI`` client, closed (with its connection pool) on exit.

        Runs use ``timeout_s`` / ``max_retries``; a sensor passes its short per-call timeout
        and no retries.
        """
        client = make_client(
            self.backend(),
            max_retries=self.max_retries if max_retries is None else max_retries,
            timeout=self.timeout_s if timeout_s is None else timeout_s,
        )
        try:
            yield client
        finally:
            client.close()


class StorageResource(dg.ConfigurableResource):
    """Where files go: ``work_dir`` (local disk) for request and raw result files, ``root``
    (a path or a URL pyarrow understands, e.g. ``s3://bucket/prefix``) for the tables."""

    root: str = Field(
        default_factory=lambda: project_settings().storage_root,
        description="Tables: a path or a URL (s3://); default $SYNTH_STORAGE_ROOT or data/out.",
    )
    work_dir: str = Field(
        default_factory=lambda: project_settings().work_dir,
        description="Local folder for request/result files; default $SYNTH_WORK_DIR or data/work.",
    )
    prune_files: bool = Field(
        default_factory=lambda: project_settings().prune_files,
        description="Delete a batch's request and result files (local, and on the backend) "
        "once its answers are in the request record, and what is left of a day's once its "
        "tables are published; the record, manifests, snapshot and tables stay. Default "
        "$SYNTH_PRUNE_FILES, else off (every file stays).",
    )

    def work_path(self, *parts: str) -> Path:
        """A local path under the work folder (a relative one is under the project folder:
        ``$SYNTH_PROJECT_DIR``, else the working directory)."""
        return (project_dir() / self.work_dir).joinpath(*parts)

    @property
    def is_local(self) -> bool:
        """True when the table root is a plain local folder (no URL scheme)."""
        return "://" not in self.root

    def table_location(self, *parts: str) -> str:
        """The table file's location under the root, as a path or a URL."""
        if self.is_local:
            return str((project_dir() / self.root).joinpath(*parts))
        return "/".join([self.root.rstrip("/"), *parts])

    def exists(self, location: str) -> bool:
        """Whether a file is at ``location`` (a table location: a path, or a URL)."""
        if self.is_local:
            return Path(location).exists()
        filesystem, path = pafs.FileSystem.from_uri(location)
        return filesystem.get_file_info(path).type != pafs.FileType.NotFound

    def publish(self, local_file: Path, location: str) -> None:
        """Copy a finished local file to ``location`` under a URL root (no-op for a folder).

        Object stores replace a key atomically, so readers see the old or the new file.
        """
        if self.is_local:
            return
        filesystem, path = pafs.FileSystem.from_uri(location)
        filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
        pafs.copy_files(str(local_file), path, destination_filesystem=filesystem)


class TaskSettings(dg.ConfigurableResource):
    """Per-deployment settings applied to every task (empty = the task's own value)."""

    model: str | None = Field(default=None, description="Override the task's model name.")
    # Strings in the config schema (Dagster's enum config would want JSON_SCHEMA, not the
    # json_schema every YAML and CLI uses), checked against the enums when the resource is made.
    mode: str | None = Field(
        default=None, description="Override the task's request mode: json_schema or tools."
    )
    dataset_path: str | None = Field(
        default_factory=lambda: project_settings().dataset_path,
        description="Override the input dataset path (relative: under the project); default "
        "$SYNTH_DATASET_PATH, else each task's own.",
    )
    max_tokens: int | None = Field(default=None, ge=1, description="max_tokens per request.")
    max_text_chars: int | None = Field(
        default=100_000,
        ge=1,
        description="Input texts longer than this are not sent (invalid_input): far beyond "
        "any model's context, they would fail and cost.",
    )
    min_parse_rate: float = Field(
        default=0.9, ge=0, le=1, description="The parse-rate check warns below this share."
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Submissions per request: 1 + resubmissions of retryable failures.",
    )
    max_cost_usd_per_partition: float | None = Field(
        default_factory=lambda: project_settings().max_cost_usd_per_partition,
        ge=0,
        description="Refuse to send a day whose requests are estimated above this (USD); "
        "default $SYNTH_MAX_COST_USD_PER_PARTITION, else none.",
    )
    max_cost_usd_per_day: float | None = Field(
        default_factory=lambda: project_settings().max_cost_usd_per_day,
        ge=0,
        description="Refuse to send more than this (USD, estimated) per UTC day, across days "
        "and tasks; default $SYNTH_MAX_COST_USD_PER_DAY, else none.",
    )
    retry_reasons: list[str] = Field(
        default=sorted(r.value for r in DEFAULT_RETRY_REASONS),
        description="Unparsed reasons worth a resubmission (http_error: only 429 and 5xx); "
        f"any of {', '.join(r.value for r in Reason)}.",
    )

    # A typo must not silently turn resubmission (or the mode override) off: refuse it with
    # one sentence (a SynthError is not wrapped by pydantic).
    @field_validator("mode")
    @classmethod
    def _known_mode(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if value not in RequestMode._value2member_map_:
            choices = " or ".join(m.value for m in RequestMode)
            raise SynthError(f"task_settings.mode {value!r} is not a request mode; use {choices}.")
        return value

    @field_validator("retry_reasons")
    @classmethod
    def _known_reasons(cls, value: list[str]) -> list[str]:
        unknown = [r for r in value if r not in Reason._value2member_map_]
        if unknown:
            raise SynthError(
                f"task_settings.retry_reasons: {', '.join(map(repr, unknown))} "
                f"{'is not a reason' if len(unknown) == 1 else 'are not reasons'}; "
                f"use any of {', '.join(r.value for r in Reason)}."
            )
        return value

    def request_mode(self) -> RequestMode | None:
        """The mode override, if any."""
        return RequestMode(self.mode) if self.mode else None

    def reasons(self) -> frozenset[Reason]:
        """The reasons worth a resubmission."""
        return frozenset(Reason(r) for r in self.retry_reasons)

    def policy(self) -> Policy:
        """When failed requests are sent again."""
        return Policy(self.max_attempts, frozenset(r.value for r in self.reasons()))
