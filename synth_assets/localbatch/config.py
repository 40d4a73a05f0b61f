"""Server settings, and the per-batch settings a batch's ``metadata`` may override.

Server-wide values come from ``localbatch serve`` flags (:class:`ServerSettings`). A batch
may override the ones that shape its own run through ``metadata`` keys prefixed
``localbatch_`` (see :data:`METADATA_KEYS`); the result is frozen into the batch when it is
created (:class:`BatchSettings`), so a restart with other flags never changes a running batch.
"""

import os
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from synth_assets.batch import LOCAL_HOST, LOCAL_PORT, MAX_BYTES_PER_FILE, MAX_REQUESTS_PER_FILE

from .faults import Faults, FaultSpecError

DEFAULT_DATA_DIR = Path("data") / "localbatch"
DATA_DIR_ENV = "SYNTH_LOCALBATCH_DIR"
COMPLETION_WINDOW_S = 24 * 3600


class Responder(StrEnum):
    """Who answers the requests of a batch."""

    SYNTHETIC = "synthetic"  # schema-valid deterministic answers, no model needed
    FORWARD = "forward"  # a real OpenAI-compatible chat-completions server


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Everything ``localbatch serve`` can be told; defaults suit a developer's laptop."""

    data_dir: Path = DEFAULT_DATA_DIR
    host: str = LOCAL_HOST
    port: int = LOCAL_PORT
    # With a key, every /v1 call must carry ``Authorization: Bearer <key>``.
    api_key: str | None = field(default=None, repr=False)
    max_upload_bytes: int = 512 * 1024 * 1024  # OpenAI's own per-file upload cap
    max_requests: int = MAX_REQUESTS_PER_FILE
    max_file_bytes: int = MAX_BYTES_PER_FILE
    responder: Responder = Responder.SYNTHETIC
    forward_url: str | None = None  # base URL, e.g. http://127.0.0.1:8000/v1 (vLLM)
    forward_api_key: str | None = field(default=None, repr=False)
    forward_model: str | None = None  # replaces body.model when the server serves another name
    forward_concurrency: int = 8
    forward_retries: int = 4
    forward_timeout_s: float = 300.0
    faults: str = ""
    seed: int = 0
    chunk_size: int = 2000
    delay_s: float = 0.0  # pause between chunks of one batch (simulates a slow backend)
    expire_after_s: float = COMPLETION_WINDOW_S
    poll_interval_s: float = 0.2
    lease_s: float = 15.0
    shuffle: bool = True  # output order need not be input order: make clients join on custom_id
    # What one client may cost the server (see the README's limits):
    max_answer_bytes: int = 1024 * 1024  # one synthetic answer; past it the line is a 400
    answer_timeout_s: float = 2.0  # time to make one synthetic answer; past it a 400
    max_step_s: float = 1.0  # a synthetic batch yields the runner to others after this long
    body_timeout_s: float = 30.0  # silence allowed while a request body arrives; then 408
    # The provider's limits, emulated (None: unlimited). Enqueued tokens are counted per
    # model the way the pipeline estimates them: a request's bytes / 4.
    enqueued_token_limit: int | None = None
    max_batches_per_hour: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "responder", Responder(self.responder))
        Faults.parse(self.faults, self.seed)  # fail at start-up, not on the first batch
        if self.responder is Responder.FORWARD and not self.forward_url:
            raise ValueError("the forward responder needs --forward-url (the model server's /v1)")
        for name in (
            "chunk_size",
            "forward_concurrency",
            "max_upload_bytes",
            "max_requests",
            "max_answer_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("delay_s", "poll_interval_s", "forward_retries"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.expire_after_s <= 0 or self.lease_s <= 0 or self.forward_timeout_s <= 0:
            raise ValueError("expire_after_s, lease_s and forward_timeout_s must be positive")
        for name in ("answer_timeout_s", "max_step_s", "body_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("enqueued_token_limit", "max_batches_per_hour"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    def with_overrides(self, **changes: Any) -> "ServerSettings":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

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

    def to_args(self) -> list[str]:
        """The ``localbatch serve`` arguments that reproduce these settings.

        Secrets are left out: pass them through the environment (see ``command.py``).
        """
        args: list[str] = []
        defaults = ServerSettings()
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name in ("api_key", "forward_api_key") or value is None:
                continue
            always = ("host", "port", "data_dir")  # their defaults depend on where it runs
            if value == getattr(defaults, spec.name) and spec.name not in always:
                continue
            flag = "--" + spec.name.replace("_", "-")
            if isinstance(value, bool):
                args.append(flag if value else "--no-" + spec.name.replace("_", "-"))
            else:
                args += [flag, str(value)]
        return args


def data_dir_from_env() -> Path:
    """The default data dir: ``$SYNTH_LOCALBATCH_DIR`` or ``./data/localbatch``."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


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
