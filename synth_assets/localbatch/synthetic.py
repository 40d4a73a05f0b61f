"""The synthetic responder: deterministic, schema-valid answers from each request's schema.

It needs no model and no network: for each request it reads the schema the request asks
for (``response_format`` json_schema, ``text.format``, or the forced tool's ``parameters``)
and generates a value valid against it (see :mod:`.schemagen`), seeded by the custom_id, so
the same request always gets the same answer. A schema is compiled once and cached; the
per-request cost is one seeded RNG and a walk of the compiled closures.
"""

import hashlib
import random
import time
from typing import Any

from pydantic_core import to_json

from synth_assets.batch.requests import RESPONSES

from .answers import Reply, Request
from .schemagen import Generator, compile_schema
from .shapes import AnswerKind, Target, answer_target, chat_completion, response
from .text import pooled


class SchemaCache:
    """Compiled generators keyed by the schema's JSON text (one compile per distinct schema)."""

    def __init__(self, max_entries: int = 256) -> None:
        self._compiled: dict[bytes, Generator] = {}
        self._max = max_entries
        self._last: tuple[dict[str, Any], Generator] | None = None

    def generator(self, schema: dict[str, Any]) -> Generator:
        """Return the compiled generator for ``schema``, compiling it on first sight."""
        # A request file holds one schema, so comparing with the previous request's schema
        # (a C-level deep ==) is the common case and costs a fraction of serialising it.
        last = self._last
        if last is not None and last[0] == schema:
            # Keep the newest equal schema: its strings are the ones pydantic-core's string
            # cache hands the next line too, so the next comparison is mostly identity checks.
            self._last = (schema, last[1])
            return last[1]
        key = to_json(schema)
        found = self._compiled.get(key)
        if found is None:
            if len(self._compiled) >= self._max:
                self._compiled.clear()  # a server fed endless distinct schemas stays bounded
            found = self._compiled[key] = compile_schema(schema)
        self._last = (schema, found)
        return found


class SyntheticResponder:
    """Answers each request from its own schema: no model, no network, same answer every time."""

    def __init__(self, seed: int = 0, cache: SchemaCache | None = None) -> None:
        self.seed = seed
        self.cache = cache or SchemaCache()

    def answer(self, endpoint: str, requests: list[Request]) -> list[Reply]:
        """One 200 reply per request, in the endpoint's real body shape."""
        created = int(time.time())
        build = response if endpoint == RESPONSES else chat_completion
        replies = []
        for request in requests:
            target = answer_target(request.body, endpoint)
            text = synthetic_text(target, rng_for(request.custom_id, self.seed), self.cache)
            model = request.body.get("model")
            body = build(
                model=model if isinstance(model, str) else "unknown",
                target=target,
                text=text,
                # Rough token counts (about 4 bytes a token), so usage and cost are exercised.
                prompt_tokens=max(1, request.size // 4),
                completion_tokens=max(1, len(text) // 4),
                created=created,
            )
            replies.append(Reply(200, body))
        return replies


def rng_for(custom_id: str, seed: int = 0) -> random.Random:
    """The RNG that makes the answer for ``custom_id`` (same id and seed, same answer)."""
    digest = hashlib.blake2b(f"{seed}\x00{custom_id}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def synthetic_text(target: Target, rng: random.Random, cache: SchemaCache) -> str:
    """The answer text for ``target``: JSON for schemas, tools and json_object; prose else."""
    if target.kind in (AnswerKind.JSON_SCHEMA, AnswerKind.TOOL) and target.schema is not None:
        return to_json(cache.generator(target.schema)(rng, 0)).decode()
    if target.kind is AnswerKind.JSON_OBJECT:
        return to_json({"answer": pooled(rng)}).decode()
    return f"{pooled(rng)} {pooled(rng)} (synthetic answer from synth-assets localbatch)"
