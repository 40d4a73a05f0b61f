"""The local Batch server: OpenAI's Files + Batches API on loopback, state on disk.

Start it with ``synth localbatch serve`` (or ``python -m synth_assets.localbatch serve``);
the project's client uses it whenever neither ``OPENAI_API_KEY`` nor ``OPENAI_BASE_URL``
is set. Tests and scripts start one with :func:`serve_in_background`.

Responders (``--responder``, or per batch through metadata):

* ``synthetic`` (default): deterministic answers valid against each request's own JSON
  schema, seeded by custom_id; ``system_fingerprint`` is ``fp_synth_assets_synthetic``.
* ``forward``: each request goes to ``--forward-url`` (vLLM, llama.cpp server, Ollama,
  OpenAI: any OpenAI-compatible ``/v1``) with bounded concurrency and retries.

Per-batch overrides through batch ``metadata`` (values are strings, as metadata requires):

=============================  =========================================================
``localbatch_responder``       ``synthetic`` or ``forward``
``localbatch_faults``          fault rates, e.g. ``"http_429=0.02,invalid_json=0.01"``;
                               kinds: http_429, http_500, request_error, invalid_json,
                               schema_mismatch, refusal, truncated, content_filter,
                               missing, duplicate, batch_failed
``localbatch_seed``            integer seed of answers and fault draws
``localbatch_expire_after_s``  completion window in seconds (then ``expired``)
``localbatch_delay_s``         pause between chunks (slow progress)
``localbatch_chunk_size``      requests answered per chunk
=============================  =========================================================

An unknown ``localbatch_*`` key or a bad value is a 400 naming the key; other metadata is
stored and returned untouched.
"""

from .app import create_app
from .background import ServerProcess, serve_in_background
from .config import METADATA_KEYS, BatchSettings, Responder, ServerSettings
from .faults import FaultKind, Faults
from .server import ThreadServer
from .store import Store

__all__ = [
    "METADATA_KEYS",
    "BatchSettings",
    "FaultKind",
    "Faults",
    "Responder",
    "ServerProcess",
    "ServerSettings",
    "Store",
    "ThreadServer",
    "create_app",
    "serve_in_background",
]
