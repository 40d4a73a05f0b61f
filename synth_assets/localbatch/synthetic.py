"""The synthetic responder: deterministic, schema-valid answers from each request's schema.

It needs no model and no network: for each request it reads the schema the request asks
for (``response_format`` json_schema, ``text.format``, or the forced tool's ``parameters``)
and generates a value valid against it (see :mod:`.schemagen`), seeded by the custom_id, so
the same request always gets the same answer. A schema is compiled once and cached; the
per-request cost is one seeded RNG and a walk of the compiled closures.

Each request stands alone, as on OpenAI: a body OpenAI would refuse (:mod:`.bodycheck`), a
schema no value satisfies, or an answer past the per-answer byte or time budget gets a 400
line of its own, and the rest of the batch is answered as usual.
"""

import functools
import hashlib
import logging
import random
import re
import time
from typing import Any

from pydantic_core import from_json, to_json

from synth_assets.batch import RESPONSES

from .answers import Reply, Request
from .bodycheck import check_body
from .schemagen import CompiledSchema, Draw, InvalidSchemaError, UnanswerableError, compile_schema
from .shapes import AnswerKind, ChatAnswer, Target, answer_target, response
from .text import pooled

log = logging.getLogger(__name__)


def _compile_json(key: bytes) -> "CompiledSchema | InvalidSchemaError":
    """A schema's compiled generator, or the error saying why it has none (cached too)."""
    try:
        return compile_schema(from_json(key))
    except InvalidSchemaError as exc:
        return exc


class SchemaCache:
    """Compiled generators keyed by the schema's JSON text (one compile per distinct schema).

    A schema that cannot be compiled is cached as its error, so a file of a thousand lines
    with the same bad schema compiles it once.
    """

    def __init__(self, max_entries: int = 256) -> None:
        # Bounded: a server fed endless distinct schemas keeps the most recent ones.
        self._compile = functools.lru_cache(maxsize=max_entries)(_compile_json)
        self._last: tuple[dict[str, Any], CompiledSchema | InvalidSchemaError] | None = None

    def generator(self, schema: dict[str, Any]) -> CompiledSchema:
        """The compiled generator for ``schema`` (compiled on first sight).

        Raises :class:`InvalidSchemaError` when no value can satisfy the schema.
        """
        # A request file holds one schema, so comparing with the previous request's schema
        # (a C-level deep ==) is the common case and costs a fraction of serialising it.
        last = self._last
        if last is not None and last[0] == schema:
            # Keep the newest equal schema: its strings are the ones pydantic-core's string
            # cache hands the next line too, so the next comparison is mostly identity checks.
            self._last = (schema, last[1])
            found = last[1]
        else:
            found = self._compile(to_json(schema))
            self._last = (schema, found)
        if isinstance(found, InvalidSchemaError):
            raise InvalidSchemaError(str(found))
        return found


class SyntheticResponder:
    """Answers each request from its own schema: no model, no network, same answer every time.

    ``max_answer_bytes`` and ``answer_timeout_s`` bound each answer (None: unbounded).
    """

    def __init__(
        self,
        seed: int = 0,
        cache: SchemaCache | None = None,
        *,
        max_answer_bytes: int | None = None,
        answer_timeout_s: float | None = None,
    ) -> None:
        self.seed = seed
        self.cache = cache or SchemaCache()
        self.max_answer_bytes = max_answer_bytes
        self.answer_timeout_s = answer_timeout_s
        # One generator re-seeded per answer: the same draws as a fresh rng_for(), without
        # allocating its 2.5 KB state each time.
        self._rng = random.Random()
        self._last_target: tuple[tuple[Any, ...], Target] | None = None

    def answer(self, endpoint: str, requests: list[Request]) -> list[Reply]:
        """One reply per request, in the endpoint's real body shape (400s for what OpenAI
        would refuse)."""
        created = int(time.time())
        return [self._answer_one(endpoint, request, created) for request in requests]

    def _target(self, body: dict[str, Any], endpoint: str) -> Target:
        """``answer_target(body, endpoint)``, reused while the parts it reads are the very
        objects of the previous request (a file's shared schema, see ``batch/linejson``).
        The cache holds those objects, so none of them can be freed and its id reused."""
        parts = (
            endpoint,
            body.get("tools"),
            body.get("tool_choice"),
            body.get("response_format"),
            body.get("text"),
        )
        last = self._last_target
        if last is not None and all(a is b for a, b in zip(last[0], parts, strict=True)):
            return last[1]
        target = answer_target(body, endpoint)
        self._last_target = (parts, target)
        return target

    def _answer_one(self, endpoint: str, request: Request, created: int) -> Reply:
        problem = check_body(request.body, endpoint)
        if problem is not None:
            return Reply(400, problem.error_body())
        target = self._target(request.body, endpoint)
        rng = self._rng
        rng.seed(_seed_for(request.custom_id, _request_seed(request.body, self.seed)))
        draw = Draw(
            rng,
            max_bytes=self.max_answer_bytes,
            timeout_s=self.answer_timeout_s,
        )
        try:
            text = synthetic_text(target, draw, self.cache, request.body)
        except UnanswerableError as exc:
            return Reply(400, _unanswerable_body(exc, target.param))
        except Exception:  # a generator bug costs this one line, never the batch
            log.exception("localbatch could not answer request %r", request.custom_id)
            return Reply(500, _SERVER_ERROR)
        model = request.body.get("model")
        # A chat answer stays in parts until the runner writes it (see ChatAnswer).
        build = response if endpoint == RESPONSES else ChatAnswer.new
        return Reply(
            200,
            build(
                model=model if isinstance(model, str) else "unknown",
                target=target,
                text=text,
                # Rough token counts (about 4 bytes a token), so usage and cost are exercised.
                prompt_tokens=max(1, request.size // 4),
                completion_tokens=max(1, len(text) // 4),
                created=created,
            ),
        )


_SERVER_ERROR = {
    "error": {
        "message": "The local Batch server failed to answer this request; see its log.",
        "type": "server_error",
        "param": None,
        "code": None,
    }
}


def _unanswerable_body(exc: UnanswerableError, param: str | None) -> dict[str, Any]:
    return {
        "error": {
            "message": f"Cannot answer this request: {exc}.",
            "type": "invalid_request_error",
            "param": param,
            "code": exc.code,
        }
    }


def rng_for(custom_id: str, seed: int = 0) -> random.Random:
    """The RNG that makes the answer for ``custom_id`` (same id and seed, same answer)."""
    return random.Random(_seed_for(custom_id, seed))


def _seed_for(custom_id: str, seed: int) -> int:
    digest = hashlib.blake2b(f"{seed}\x00{custom_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _request_seed(body: dict[str, Any], seed: int) -> int:
    """The server's seed, mixed with the request's own ``seed`` parameter when it has one, so
    that asking again with another seed gets another answer (as from a model)."""
    asked = body.get("seed")
    if isinstance(asked, int) and not isinstance(asked, bool):
        return hash((seed, asked)) & 0xFFFFFFFF if seed else asked
    return seed


_HINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(\S.*?)\s*$", re.MULTILINE)


def prompt_hints(body: dict[str, Any] | None, keys: frozenset[str]) -> dict[str, str]:
    """``field: value`` lines of the request's user messages, for ``keys`` (first wins).

    This is how the synthetic responder "follows instructions": a prompt line
    ``language: de`` makes an enum field ``language`` answer ``de`` (when ``de`` is one of
    its values), so a generation prompt's requested language and label come back as asked.
    Nothing else of the prompt is read.
    """
    if not keys or not body:
        return {}
    found: dict[str, str] = {}
    for text in _user_texts(body):
        if not any(key in text for key in keys):
            continue  # no line can name a key the text does not even hold: skip the regex
        for key, value in _HINT.findall(text):
            if key in keys and key not in found:
                found[key] = value
    return found


def _user_texts(body: dict[str, Any]) -> list[str]:
    messages = body.get("messages")
    if messages is None:  # /v1/responses: input is a string or a list of messages
        messages = body.get("input")
        if isinstance(messages, str):
            return [messages]
    texts: list[str] = []
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                part["text"]
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
    return texts


def synthetic_text(
    target: Target,
    rng: random.Random | Draw,
    cache: SchemaCache,
    body: dict[str, Any] | None = None,
) -> str:
    """The answer text for ``target``: JSON for schemas, tools and json_object; prose else.

    With a :class:`Draw`, the answer keeps to its budget or raises
    :class:`~.schemagen.BudgetExceededError`; a schema no value satisfies raises
    :class:`~.schemagen.InvalidSchemaError`. With the request ``body``, ``field: value``
    lines of its prompt set top-level enum fields (see :func:`prompt_hints`).
    """
    draw = rng if isinstance(rng, Draw) else Draw(rng)
    if target.kind in (AnswerKind.JSON_SCHEMA, AnswerKind.TOOL) and target.schema is not None:
        generator = cache.generator(target.schema)
        draw.hints = prompt_hints(body, generator.hint_keys)
        text = to_json(generator(draw)).decode()
        draw.check_size(len(text))  # the exact size: charges along the way are estimates
        draw.check_time()
        return text
    if target.kind is AnswerKind.JSON_OBJECT:
        return to_json({"answer": pooled(draw.rng)}).decode()
    return f"{pooled(draw.rng)} {pooled(draw.rng)} (synthetic answer from synth-assets localbatch)"
