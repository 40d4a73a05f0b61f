"""What every ``synth batch`` command shares: the backend, API errors, user-given values.

Nothing here talks to the network at import time, and nothing reads a key before a command
actually runs, so ``--help`` works anywhere.
"""

import hashlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import openai
from openai.types import Batch
from pydantic import BaseModel
from pydantic_core import from_json

from synth_assets.batch import (
    MAX_METADATA_KEY,
    MAX_METADATA_PAIRS,
    MAX_METADATA_VALUE,
    Backend,
    SynthError,
    import_model,
    make_client,
    resolve_backend,
    translate_api_error,
)


@dataclass(frozen=True, slots=True)
class Api:
    """A client and the backend it talks to (needed to word errors)."""

    backend: Backend
    client: openai.OpenAI

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn any ``openai`` error inside the block into one clear sentence."""
        try:
            yield
        except openai.OpenAIError as exc:
            raise translate_api_error(exc, self.backend) from None

    def translate(self, exc: Exception) -> SynthError:
        """One sentence for an ``openai`` error (the key never appears in it)."""
        return translate_api_error(exc, self.backend)

    def batch(self, batch_id: str) -> Batch:
        """Retrieve a batch; an unknown id is a sentence naming it and the backend."""
        try:
            return self.client.batches.retrieve(batch_id)
        except openai.NotFoundError:
            raise SynthError(
                f"there is no batch {batch_id} on {self.backend.label}; "
                "`synth batch list` shows the batches there."
            ) from None
        except openai.OpenAIError as exc:
            raise translate_api_error(exc, self.backend) from None


def connect() -> Api:
    """The API client for the configured backend (OPENAI_API_KEY / OPENAI_BASE_URL, else local).

    Two retries cover a blip; a user waiting at a prompt should not wait minutes for a
    server that is simply not running.
    """
    backend = resolve_backend()
    return Api(backend, make_client(backend, max_retries=2, timeout=60.0))


def import_response_model(path: str) -> type[BaseModel]:
    """Import ``package.module:Class`` (the class may be nested: ``mod:Outer.Inner``).

    The current directory is importable, as with ``python -m`` and uvicorn, so a
    ``models.py`` next to the data works without installing anything.
    """
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    return import_model(path, "--response-model")


def batch_id_option(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Click callback: a batch id is a non-empty word (the SDK would raise on '')."""
    value = value.strip()
    if not value or "/" in value:
        raise click.BadParameter(f"{value!r} is not a batch id such as batch_abc123.", ctx, param)
    return value


def parse_pairs(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    """Click callback: ``key=value`` options into a dict (a bad pair is a usage error)."""
    pairs: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not of the form key=value.", ctx, param)
        pairs[key] = value
    return pairs


def check_metadata(metadata: dict[str, str]) -> None:
    """Refuse metadata the Batch API would refuse, before anything is uploaded."""
    if len(metadata) > MAX_METADATA_PAIRS:
        raise click.BadParameter(
            f"{len(metadata)} metadata pairs (ours included) exceed the Batch API's limit of "
            f"{MAX_METADATA_PAIRS}.",
            param_hint="--metadata",
        )
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY or len(value) > MAX_METADATA_VALUE:
            raise click.BadParameter(
                f"metadata {key[:20]!r}: keys may have {MAX_METADATA_KEY} characters and values "
                f"{MAX_METADATA_VALUE}.",
                param_hint="--metadata",
            )


def parse_params(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, Any]:
    """Click callback: ``--param key=value`` with JSON values (``temperature=0`` is a number)."""
    params: dict[str, Any] = {}
    for key, raw in parse_pairs(ctx, param, values).items():
        try:
            params[key] = from_json(raw)
        except ValueError:
            params[key] = raw  # a bare word such as ``reasoning_effort=low`` stays a string
    return params


def sha256_file(path: Path) -> str:
    """The file's sha256, streamed: the identity that keeps a file from being paid twice."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def first_request(path: Path) -> dict[str, Any]:
    """The first request line of a (validated) file: its endpoint and model hold for all."""
    with open(path, "rb") as handle:
        for raw in handle:
            if raw.strip():
                line = from_json(raw)
                if isinstance(line, dict):
                    return line
    raise SynthError(f"{path} holds no requests.")
