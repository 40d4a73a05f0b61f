"""Server settings, and the per-batch settings a batch's ``metadata`` may override.

Server-wide values are one pydantic-settings class (:class:`ServerSettings`): each field is a
``localbatch serve`` flag (``chunk_size`` -> ``--chunk-size``), a ``LOCALBATCH_*`` environment
variable (``LOCALBATCH_CHUNK_SIZE``; the data dir is also ``SYNTH_LOCALBATCH_DIR``) and a
default, in that order of precedence. A batch may override the ones that shape its own run
through ``metadata`` keys prefixed ``localbatch_`` (see :data:`METADATA_KEYS`); the result is
frozen into the batch when it is created (:class:`BatchSettings`), so a restart with other
flags never changes a running batch.
"""

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import AliasChoices, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from synth_assets.batch import LOCAL_HOST, LOCAL_PORT, MAX_BYTES_PER_FILE, MAX_REQUESTS_PER_FILE

from .faults import Faults, FaultSpecError

DEFAULT_DATA_DIR = Path("data") / "localbatch"
ENV_PREFIX = "LOCALBATCH_"
DATA_DIR_ENV = "SYNTH_LOCALBATCH_DIR"
API_KEY_ENV = f"{ENV_PREFIX}API_KEY"
FORWARD_API_KEY_ENV = f"{ENV_PREFIX}FORWARD_API_KEY"
COMPLETION_WINDOW_S = 24 * 3600

_Positive = Annotated[float, Field(gt=0)]
_AtLeastOne = Annotated[int, Field(ge=1)]


class Responder(StrEnum):
    """Who answers the requests of a batch."""

    SYNTHETIC = "synthetic"  # schema-valid deterministic answers, no model needed
    FORWARD = "forward"  # a real OpenAI-compatible chat-completions server


class ServerSettings(BaseSettings):
    """Everything ``localbatch serve`` can be told; defaults suit a developer's laptop.

    The field descriptions are the flags' help.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", validate_by_name=True
    )

    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        validation_alias=AliasChoices(DATA_DIR_ENV, f"{ENV_PREFIX}DATA_DIR"),
        description="Where files and batch state live.",
    )
    host: str = Field(LOCAL_HOST, description="Address to listen on.")
    port: int = Field(LOCAL_PORT, ge=0, le=65535, description="Port (0: any free port).")
    api_key: str | None = Field(
        None,
        repr=False,
        description=f"Require 'Authorization: Bearer <key>' (better: set ${API_KEY_ENV}).",
    )
    max_upload_bytes: _AtLeastOne = Field(
        512 * 1024 * 1024,  # OpenAI's own per-file upload cap
        description="Largest upload accepted (413 beyond).",
    )
    max_requests: _AtLeastOne = Field(
        MAX_REQUESTS_PER_FILE, description="Requests allowed in one input file."
    )
    max_file_bytes: int = Field(MAX_BYTES_PER_FILE, description="Bytes allowed in one input file.")
    responder: Responder = Field(
        Responder.SYNTHETIC,
        description="synthetic: schema-valid answers, no model; forward: ask --forward-url.",
    )
    forward_url: str | None = Field(
        None, description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1."
    )
    forward_api_key: str | None = Field(
        None,
        repr=False,
        description=f"Key for the forward URL (better: set ${FORWARD_API_KEY_ENV}).",
    )
    forward_model: str | None = Field(None, description="Model name to send instead of the file's.")
    forward_concurrency: _AtLeastOne = Field(
        8, description="Requests in flight to the forward URL at once."
    )
    forward_retries: int = Field(
        4,
        ge=0,
        description="Retries of a 408/409/429/5xx/connection failure before it is recorded "
        "(waiting as the server's Retry-After asks).",
    )
    forward_timeout_s: _Positive = Field(300.0, description="Timeout of one forwarded request.")
    faults: str = Field("", description="Fault rates, e.g. 'http_429=0.02,invalid_json=0.01'.")
    seed: int = Field(0, description="Seed of answers and faults.")
    chunk_size: _AtLeastOne = Field(2000, description="Requests answered (and committed) per step.")
    delay_s: float = Field(
        0.0, ge=0, description="Pause between chunks (simulates a slow backend)."
    )
    expire_after_s: _Positive = Field(
        COMPLETION_WINDOW_S, description="Completion window; unfinished requests then expire."
    )
    poll_interval_s: float = Field(
        0.2,
        ge=0,
        description="How often an idle server looks for batches created by other processes.",
    )
    lease_s: _Positive = Field(
        15.0, description="How long a batch stays claimed by a server that stopped answering."
    )
    shuffle: bool = Field(
        True, description="Shuffle output lines (as OpenAI, output order is not input order)."
    )
    # What one client may cost the server (see the README's limits):
    max_answer_bytes: _AtLeastOne = Field(
        1024 * 1024,
        description="Largest synthetic answer; a request asking for more gets a 400 line.",
    )
    answer_timeout_s: _Positive = Field(
        2.0,
        description="Time allowed to make one synthetic answer; past it the request gets a "
        "400 line.",
    )
    max_step_s: _Positive = Field(
        1.0,
        description="How long one synthetic batch holds the runner before other batches get "
        "a turn.",
    )
    body_timeout_s: _Positive = Field(
        30.0,
        description="Silence allowed while a request body arrives; then 408 and the upload "
        "is dropped.",
    )
    # The provider's limits, emulated (None: unlimited). Enqueued tokens are counted per
    # model the way the pipeline estimates them: a request's bytes / 4.
    enqueued_token_limit: _AtLeastOne | None = Field(
        None,
        description="Enqueued input tokens allowed per model (a request's bytes / 4); a batch "
        "over it ends failed with token_limit_exceeded, as on OpenAI. Default: unlimited.",
    )
    max_batches_per_hour: _AtLeastOne | None = Field(
        None,
        description="Batch creations allowed per hour; beyond it create answers 429. "
        "Default: unlimited.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        try:
            Faults.parse(self.faults, self.seed)  # fail at start-up, not on the first batch
        except FaultSpecError as exc:
            raise ValueError(f"--faults: {exc}") from None
        if self.responder is Responder.FORWARD and not self.forward_url:
            raise ValueError("the forward responder needs --forward-url (the model server's /v1)")
        return self

    def with_overrides(self, **changes: Any) -> "ServerSettings":
        """A copy with some fields changed (validated again; the environment is not read)."""
        return type(self).model_validate({**self.model_dump(), **changes})

    def batch_defaults(self) -> "BatchSettings":
        """The per-batch settings a batch gets when its metadata overrides nothing."""
        return BatchSettings(
            responder=self.responder,
            faults=self.faults,
            seed=self.seed,
            expire_after_s=self.expire_after_s,
            delay_s=self.delay_s,
            chunk_size=self.chunk_size,
        )

    def to_env(self) -> dict[str, str]:
        """These settings as the ``LOCALBATCH_*`` variables a child ``localbatch serve``
        reads (secrets included: the environment, never a command line others can read)."""
        values = self.model_dump(mode="json", exclude_none=True)
        return {env_name(name): str(value) for name, value in values.items()}


def env_name(field: str) -> str:
    """The environment variable of a :class:`ServerSettings` field."""
    return f"{ENV_PREFIX}{field.upper()}"


def flag_name(field: str) -> str:
    """The ``localbatch serve`` flag of a :class:`ServerSettings` field."""
    return "--" + field.replace("_", "-")


def settings_error(exc: ValidationError) -> str:
    """One sentence naming what to fix: the flag (and its variable) and the problem."""
    problems = []
    for error in exc.errors(include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:
            problems.append(message)
            continue
        name = str(error["loc"][0])
        field = name if name in ServerSettings.model_fields else _field_of_env(name)
        if field is None:
            problems.append(f"{name}: {message}")
            continue
        where = f"{flag_name(field)} (or ${env_name(field)})"
        value = error.get("input")
        shown = "" if "api_key" in field or isinstance(value, dict) else f" {value!r}"
        problems.append(f"{where}{shown}: {message}")
    return "; ".join(problems) + "."


def _field_of_env(name: str) -> str | None:
    if name == DATA_DIR_ENV:
        return "data_dir"
    field = name.lower().removeprefix(ENV_PREFIX.lower())
    return field if field in ServerSettings.model_fields else None


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """How one batch runs; stored with the batch."""

    responder: Responder
    faults: str
    seed: int
    expire_after_s: float
    delay_s: float
    chunk_size: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for the store)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "BatchSettings":
        """Inverse of :meth:`to_json`."""
        return cls(**{**data, "responder": Responder(data["responder"])})

    @property
    def fault_rates(self) -> Faults:
        """The parsed fault rates."""
        return Faults.parse(self.faults, self.seed)


PREFIX = "localbatch_"
# metadata key -> BatchSettings field it overrides.
METADATA_KEYS = {
    f"{PREFIX}responder": "responder",
    f"{PREFIX}faults": "faults",
    f"{PREFIX}seed": "seed",
    f"{PREFIX}expire_after_s": "expire_after_s",
    f"{PREFIX}delay_s": "delay_s",
    f"{PREFIX}chunk_size": "chunk_size",
}


class OverrideError(ValueError):
    """A ``localbatch_*`` metadata value that cannot be used; the message names the key."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"metadata {key!r}: {message}")


def batch_settings(server: ServerSettings, metadata: dict[str, str] | None) -> BatchSettings:
    """Resolve a batch's settings: server defaults, overridden by its ``localbatch_*`` metadata."""
    settings = server.batch_defaults()
    changes: dict[str, Any] = {}
    for key, value in (metadata or {}).items():
        if not key.startswith(PREFIX):
            continue
        name = METADATA_KEYS.get(key)
        if name is None:
            raise OverrideError(key, f"unknown key; use one of {sorted(METADATA_KEYS)}")
        changes[name] = _convert(key, name, value, server)
    settings = replace(settings, **changes)
    try:
        Faults.parse(settings.faults, settings.seed)
    except FaultSpecError as exc:
        raise OverrideError(f"{PREFIX}faults", str(exc)) from None
    return settings


def _convert(key: str, name: str, value: str, server: ServerSettings) -> Any:
    try:
        if name == "responder":
            responder = Responder(value)
            if responder is Responder.FORWARD and not server.forward_url:
                raise OverrideError(key, "this server has no --forward-url to forward to")
            return responder
        if name == "faults":
            return value
        if name in ("seed", "chunk_size"):
            number = int(value)
            if name == "chunk_size" and number < 1:
                raise OverrideError(key, "must be at least 1")
            return number
        seconds = float(value)
    except OverrideError:
        raise
    except ValueError:
        raise OverrideError(key, f"{value!r} is not a valid {name}") from None
    if name == "expire_after_s" and not 0 < seconds <= COMPLETION_WINDOW_S:
        raise OverrideError(key, f"must be in (0, {COMPLETION_WINDOW_S}]")
    if name == "delay_s" and not 0 <= seconds <= 3600:
        raise OverrideError(key, "must be in [0, 3600]")
    return seconds
