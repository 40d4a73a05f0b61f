"""Plausible text for synthetic answers: words, sentences, names, emails, dates, codes.

Strings are picked, not composed word by word: a fixed pool of a few thousand sentences is
built once per process (from a fixed seed, so every process has the same pool), and a
string costs one random draw.
"""

import random
import re
import uuid
from collections.abc import Callable
from functools import cache

Maker = Callable[[random.Random], str]

_WORD_TEXT = (
    "account access action address agent alert amount answer api app approval archive audit "
    "balance batch billing board booking branch budget bug build calendar campaign card case "
    "change channel charge check claim client cloud code comment contract cost credit "
    "customer dashboard data deadline delivery demo deploy design detail device discount "
    "document domain draft email error estimate event export feature feedback fee file form "
    "invoice issue item job key label launch lead license limit list login meeting message "
    "metric migration model module network note notice offer order owner package page partner "
    "password payment plan policy portal price priority process product project proposal "
    "quarter query quote receipt record refund release renewal report request review risk "
    "role schedule security server service session setting shipment signup status storage "
    "subscription summary support survey task team ticket timeline token trial update upgrade "
    "usage user vendor version warranty workflow "
)
WORDS = tuple(_WORD_TEXT.split())
FIRST = ["Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn"]
LAST = ["Smith", "Garcia", "Chen", "Patel", "Müller", "Rossi", "Kim", "Novak", "Silva", "Dubois"]

_POOL_SIZE = 4096


@cache
def _pool() -> tuple[str, ...]:
    # Built on first use, from a fixed seed: the same pool in every process, no import cost.
    maker = random.Random(20240517)
    return tuple(sentence(maker, 3, 14) for _ in range(_POOL_SIZE))


def pooled(rng: random.Random) -> str:
    """One of a few thousand fixed sentences: one draw instead of one per word."""
    return _pool()[int(rng.random() * _POOL_SIZE)]


def sentence(rng: random.Random, low: int, high: int) -> str:
    """A sentence of ``low`` to ``high`` words from :data:`WORDS`."""
    count = low + int(rng.random() * (high - low + 1))
    words = [WORDS[int(rng.random() * len(WORDS))] for _ in range(count)]
    return " ".join(words).capitalize() + "."


def string_maker(name: str, fmt: object, pattern: object) -> Maker:
    """The maker of strings for a field ``name`` with a JSON-schema ``format`` and ``pattern``."""
    lowered = name.lower()
    make: Maker
    if isinstance(fmt, str) and fmt in _FORMATS:
        make = _FORMATS[fmt]
    elif "email" in lowered:
        make = _email
    elif lowered.endswith(("url", "uri", "link")):
        make = _url
    elif "name" in lowered:
        make = _person
    elif lowered in ("id", "code", "key", "sku") or lowered.endswith("_id"):
        make = _code
    else:
        make = pooled
    if isinstance(pattern, str):
        make = _patterned(pattern, make)
    return make


def _patterned(pattern: str, fallback: Maker) -> Maker:
    """Strings for a ``pattern``: the first candidates that match, else the fallback.

    A general regex inverter is out of scope; this covers the common simple patterns
    (codes, digits, words) and keeps answers deterministic.
    """
    try:
        regex = re.compile(pattern)
    except re.error:
        return fallback
    candidates = [
        *WORDS[:20],
        *(w.upper() for w in WORDS[:20]),
        "12345",
        "2024-05-17",
        "AB-12345",
        "A1",
        "a",
        "0",
        "user@example.com",
        "https://example.com",
    ]
    matching = tuple(c for c in candidates if regex.search(c))
    if not matching:
        return fallback
    count = len(matching)
    return lambda rng: matching[int(rng.random() * count)]


def _date(rng: random.Random) -> str:
    return _date_time(rng)[:10]


def _time(rng: random.Random) -> str:
    return _date_time(rng)[11:19]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _url(rng: random.Random) -> str:
    return f"https://example.com/{WORDS[int(rng.random() * len(WORDS))]}"


def _person(rng: random.Random) -> str:
    return f"{FIRST[int(rng.random() * 10)]} {LAST[int(rng.random() * 10)]}"


def _code(rng: random.Random) -> str:
    word = WORDS[int(rng.random() * len(WORDS))]
    return f"{word[:3].upper()}-{int(rng.random() * 90000) + 10000}"


def _date_time(rng: random.Random) -> str:
    day = int(rng.random() * 28) + 1
    month = int(rng.random() * 12) + 1
    hour, minute = int(rng.random() * 24), int(rng.random() * 60)
    return f"2024-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:00Z"


def _email(rng: random.Random) -> str:
    first = FIRST[int(rng.random() * 10)].lower()
    last = LAST[int(rng.random() * 10)].lower().replace("ü", "u")
    return f"{first}.{last}@example.com"


_FORMATS: dict[str, Maker] = {
    "date-time": _date_time,
    "date": _date,
    "time": _time,
    "uuid": _uuid,
    "email": _email,
    "uri": _url,
    "url": _url,
}
