"""Choosing the Batch API backend and making the ``openai`` client for it.

The standard ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` decide: a base URL wins; a key alone
means OpenAI; neither means the project's local Batch server on loopback. Nothing is read
at import time.
"""

import hashlib
import os
from dataclasses import dataclass

import openai

from .errors import BackendError

LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 8765
LOCAL_BASE_URL = f"http://{LOCAL_HOST}:{LOCAL_PORT}/v1"
# The local server needs no key; the openai client insists on one, so it gets a placeholder.
LOCAL_PLACEHOLDER_KEY = "local-no-key"
OPENAI_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True, slots=True)
class Backend:
    """Where the Batch API lives and how to authenticate (the key is never printed)."""

    base_url: str | None
    api_key: str
    is_local: bool

    def __repr__(self) -> str:
        return f"Backend(base_url={self.base_url!r}, is_local={self.is_local})"

    @property
    def identity(self) -> str:
        """Who answers: the URL, plus a short digest of the key when there is one (two
        accounts on one URL see different batches). Never the key itself."""
        url = self.base_url or OPENAI_BASE_URL
        if self.api_key == LOCAL_PLACEHOLDER_KEY:
            return url
        return f"{url}#key-{hashlib.sha256(self.api_key.encode()).hexdigest()[:12]}"

    def other_than(self, identity: str) -> str:
        """A sentence fragment naming another backend's identity (never a key)."""
        url = identity.split("#", 1)[0]
        if url == (self.base_url or OPENAI_BASE_URL):
            return f"{url} with another API key"
        return "OpenAI (api.openai.com)" if url == OPENAI_BASE_URL else url

    @property
    def label(self) -> str:
        """A human-readable name for messages: the URL, or 'OpenAI'."""
        return self.base_url or "OpenAI (api.openai.com)"


def local_backend() -> Backend:
    """The project's local Batch server on its default port, whatever the environment says."""
    return Backend(base_url=LOCAL_BASE_URL, api_key=LOCAL_PLACEHOLDER_KEY, is_local=True)


def resolve_backend(api_key: str | None = None, base_url: str | None = None) -> Backend:
    """Return the backend from explicit values, else ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``."""
    key = api_key or os.environ.get("OPENAI_API_KEY") or None
    url = (base_url or os.environ.get("OPENAI_BASE_URL") or "").rstrip("/") or None
    if url is None and key is None:
        return local_backend()
    is_local = url is not None and url.split("//", 1)[-1].startswith(
        ("127.0.0.1", "localhost", "[::1]")
    )
    return Backend(base_url=url, api_key=key or LOCAL_PLACEHOLDER_KEY, is_local=is_local)


def make_client(
    backend: Backend | None = None, *, max_retries: int = 2, timeout: float = 60.0
) -> openai.OpenAI:
    """Return an ``openai.OpenAI`` client for ``backend`` (default: :func:`resolve_backend`)."""
    backend = backend or resolve_backend()
    return openai.OpenAI(
        api_key=backend.api_key,
        base_url=backend.base_url,
        max_retries=max_retries,
        timeout=timeout,
    )


def unreachable_message(backend: Backend) -> str:
    """One sentence telling the user how to reach ``backend``."""
    if backend.is_local:
        return (
            f"cannot reach the Batch API at {backend.label}; start the local server with "
            "`synth localbatch serve` (or set OPENAI_API_KEY / OPENAI_BASE_URL to use another one)."
        )
    return f"cannot reach the Batch API at {backend.label}; check the network and OPENAI_BASE_URL."


def translate_api_error(exc: Exception, backend: Backend) -> BackendError:
    """Turn an ``openai`` exception into one clear sentence (the key never appears in it)."""
    if isinstance(exc, openai.APIConnectionError):
        return BackendError(unreachable_message(backend))
    if isinstance(exc, openai.AuthenticationError):
        return BackendError(
            f"the Batch API at {backend.label} rejected the API key; check OPENAI_API_KEY."
        )
    if isinstance(exc, openai.APIStatusError):
        message = exc.message
        if isinstance(exc.body, dict):
            message = exc.body.get("message", message)
        return BackendError(
            f"the Batch API at {backend.label} answered {exc.status_code}: {message}"
        )
    return BackendError(f"the Batch API call failed: {exc}")
