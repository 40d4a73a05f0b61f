"""Quality of generated text, measured on a day's parsed table (no Dagster).

- :func:`near_duplicate_check`: the share of rows that repeat an earlier row, exactly after
  normalizing (case, accents kept, punctuation, digits and spacing dropped) or nearly (MinHash
  over word shingles, with locality-sensitive hashing to find candidate pairs, then the
  estimated Jaccard similarity of the pair).
- :func:`length_spread_check`: the coefficient of variation of the text lengths.
- :func:`coverage_check`: every seed cell has a parsed row.
- :func:`language_check`: the text is written in the language its seed row asked for, by a
  small stop-word detector (and the script, for Japanese, Chinese, Korean, Russian, Greek).
"""

import math
import random
import re
import statistics
import unicodedata
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from synth_assets.tasks.base import custom_id_for

# MinHash: NUM_PERM hash functions in BANDS bands of ROWS; two texts whose estimated
# Jaccard similarity of word shingles is at least NEAR_DUPLICATE are near-duplicates.
NUM_PERM = 32
BANDS, ROWS = 8, 4
SHINGLE_WORDS = 3
NEAR_DUPLICATE = 0.8
_PRIME = (1 << 61) - 1
_rng = random.Random(20261101)  # fixed: the same check gives the same figures
_HASHES = tuple((_rng.randrange(1, _PRIME), _rng.randrange(0, _PRIME)) for _ in range(NUM_PERM))
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
SAMPLE = 5  # examples named in a check's metadata


@dataclass(frozen=True)
class CheckOutcome:
    """A check's verdict, one sentence, and figures for the UI."""

    passed: bool
    summary: str
    metadata: dict[str, Any] = field(default_factory=dict)


def normalize(text: str) -> str:
    """Lower case, letters only (any script), single spaces: what "the same text" means."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(folded))


def _shingles(normalized: str) -> set[int]:
    words = normalized.split()
    if len(words) >= SHINGLE_WORDS * 2:
        grams = (" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - 2))
    else:  # short texts, and scripts written without spaces: character 4-grams
        chars = normalized.replace(" ", "")
        grams = (chars[i : i + 4] for i in range(max(1, len(chars) - 3)))
    return {zlib.crc32(g.encode()) for g in grams}


def _signature(shingles: set[int]) -> tuple[int, ...]:
    """The MinHash signature: per hash function (a * x + b) mod p, its least value."""
    return tuple(min((a * x + b) % _PRIME for x in shingles) for a, b in _HASHES)


def _similarity(one: tuple[int, ...], other: tuple[int, ...]) -> float:
    """The estimated Jaccard similarity of two signatures' shingle sets."""
    return sum(x == y for x, y in zip(one, other, strict=True)) / NUM_PERM


def near_duplicates(texts: Sequence[str | None]) -> list[tuple[int, int]]:
    """Pairs ``(row, earlier_row)``: each row that repeats an earlier one, with the first
    earlier row it repeats (exactly after :func:`normalize`, or nearly by MinHash)."""
    found: list[tuple[int, int]] = []
    exact: dict[str, int] = {}
    buckets: list[dict[tuple[int, ...], list[int]]] = [{} for _ in range(BANDS)]
    signatures: dict[int, tuple[int, ...]] = {}
    for index, text in enumerate(texts):
        if not text:
            continue
        normalized = normalize(text)
        if normalized in exact:
            found.append((index, exact[normalized]))
            continue
        exact[normalized] = index
        if not normalized:
            continue
        signature = _signature(_shingles(normalized))
        signatures[index] = signature
        match = None
        for band in range(BANDS):
            key = signature[band * ROWS : (band + 1) * ROWS]
            candidates = buckets[band].setdefault(key, [])
            if match is None:
                for other in candidates:
                    if _similarity(signatures[other], signature) >= NEAR_DUPLICATE:
                        match = other
                        break
            candidates.append(index)
        if match is not None:
            found.append((index, match))
    return found


def near_duplicate_check(texts: Sequence[str | None], maximum: float) -> CheckOutcome:
    """Passes when at most ``maximum`` of the rows repeat an earlier row."""
    rows = sum(1 for t in texts if t)
    pairs = near_duplicates(texts)
    rate = len(pairs) / rows if rows else 0.0
    passed = rate <= maximum
    examples = [{"row": _cut(texts[i]), "repeats": _cut(texts[j])} for i, j in pairs[:SAMPLE]]
    return CheckOutcome(
        passed,
        f"{len(pairs)} of {rows} rows ({rate:.1%}) nearly repeat an earlier row"
        + ("" if passed else f", over the limit of {maximum:.1%}"),
        {
            "rows": rows,
            "near_duplicates": len(pairs),
            "near_duplicate_rate": round(rate, 4),
            "maximum": maximum,
            "examples": examples,
        },
    )


def length_spread_check(texts: Sequence[str | None], minimum: float) -> CheckOutcome:
    """Passes when the lengths' coefficient of variation is at least ``minimum``."""
    lengths = [len(t) for t in texts if t]
    if len(lengths) < 2:
        return CheckOutcome(
            True, f"{len(lengths)} text(s): too few to measure a spread", {"rows": len(lengths)}
        )
    mean = statistics.fmean(lengths)
    spread = statistics.pstdev(lengths) / mean if mean else 0.0
    passed = spread >= minimum
    return CheckOutcome(
        passed,
        f"lengths {min(lengths)}–{max(lengths)} characters, spread {spread:.2f}"
        + ("" if passed else f", below {minimum:.2f}: the texts look templated"),
        {
            "rows": len(lengths),
            "min_chars": min(lengths),
            "median_chars": float(statistics.median(lengths)),
            "max_chars": max(lengths),
            "mean_chars": round(mean, 1),
            "length_spread": round(spread, 4),
            "minimum": minimum,
        },
    )


def _answered(
    parsed: pa.Table, inputs: pa.Table
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(input rows, the parsed row of each or None), joined on the custom_id."""
    rows = inputs.to_pylist()
    by_id = {row["custom_id"]: row for row in parsed.to_pylist()}
    return rows, [by_id.get(custom_id_for(str(row["id"]))) for row in rows]


def coverage_check(parsed: pa.Table, inputs: pa.Table) -> CheckOutcome:
    """Passes when every seed cell (the inputs' ``cell`` column) has a parsed row."""
    rows, answers = _answered(parsed, inputs)
    cells = {row["cell"]: row for row in rows}
    covered = {row["cell"] for row, answer in zip(rows, answers, strict=True) if answer}
    missing = [cell for cell in cells if cell not in covered]
    described = [
        f"{cells[c]['topic']} / {cells[c]['persona']} / {cells[c]['language']} / "
        f"{cells[c]['intended_label']}"
        for c in missing[:SAMPLE]
    ]
    passed = not missing
    return CheckOutcome(
        passed,
        f"{len(covered)} of {len(cells)} seed cells have a parsed row"
        + ("" if passed else f"; missing: {'; '.join(described)}"),
        {
            "cells": len(cells),
            "covered": len(covered),
            "missing": len(missing),
            "missing_cells": described,
        },
    )


def language_check(
    parsed: pa.Table, inputs: pa.Table, text_field: str, language_column: str, minimum: float
) -> CheckOutcome:
    """Passes when at least ``minimum`` of the rows whose language can be told are written
    in the language asked for (rows too short or mixed to tell are counted apart)."""
    rows, answers = _answered(parsed, inputs)
    matched = told = 0
    confusions: Counter[str] = Counter()
    for row, answer in zip(rows, answers, strict=True):
        if not answer or not answer.get(text_field):
            continue
        found = detect_language(str(answer[text_field]))
        if found is None:
            continue
        told += 1
        asked = str(row[language_column]).lower()
        if found == asked.split("-")[0]:
            matched += 1
        else:
            confusions[f"{asked} -> {found}"] += 1
    answered = sum(1 for a in answers if a)
    if not told:
        return CheckOutcome(
            answered == 0,
            f"the language of none of the {answered} texts could be told",
            {"rows": answered, "told": 0},
        )
    share = matched / told
    passed = share >= minimum
    return CheckOutcome(
        passed,
        f"{matched} of {told} texts ({share:.0%}) are in the language asked for"
        + ("" if passed else f", below {minimum:.0%}"),
        {
            "rows": answered,
            "told": told,
            "matched": matched,
            "match_rate": round(share, 4),
            "minimum": minimum,
            "mismatches": dict(confusions.most_common(SAMPLE)),
        },
    )


# Frequent words that tell these languages apart (articles, pronouns, prepositions).
_STOPWORDS = {
    # Words frequent in one of these languages and absent (or rare) in the others: shared
    # ones (la, de, en, un, con, que…) would only blur the vote.
    "en": "the and to of you your is for we this with that are have please our will it",
    "de": "der die das und ist nicht sie wir ihr ihre mit für den dem bitte eine zu auf ich",
    "fr": "le les et est vous nous pour des dans votre avec pas sur merci ce qui je au du",
    "es": "el los las y es para usted por gracias este hemos nos sus lo muy pero",
    "it": "il lo gli è per noi di che non sono della grazie vostro alla questo ci vi",
    "pt": "o os você nós não do da obrigado seu sua em ao está na no isso",
    "nl": "het een en van voor niet met wij uw dat zijn op te dank",
}
_WORD_SETS = {lang: frozenset(words.split()) for lang, words in _STOPWORDS.items()}
_MIN_HITS = 3


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of the language ``text`` is written in, or None when it cannot be
    told (too short, or two languages equally likely)."""
    scripts: Counter[str] = Counter()
    for char in text:
        if char.isalpha():
            scripts[_script(char)] += 1
    total = sum(scripts.values())
    if not total:
        return None
    if scripts["kana"] / total > 0.1:
        return "ja"
    for script, language in (("han", "zh"), ("hangul", "ko"), ("cyrillic", "ru"), ("greek", "el")):
        if scripts[script] / total > 0.5:
            return language
    words = normalize(text).split()
    hits = {lang: sum(w in vocab for w in words) for lang, vocab in _WORD_SETS.items()}
    ranked = sorted(hits.items(), key=lambda kv: kv[1], reverse=True)
    (best, first), (_, second) = ranked[0], ranked[1]
    if first < _MIN_HITS or first < math.ceil(second * 1.5):
        return None
    return best


def _script(char: str) -> str:
    point = ord(char)
    if 0x3040 <= point <= 0x30FF:
        return "kana"
    if 0x4E00 <= point <= 0x9FFF or 0x3400 <= point <= 0x4DBF:
        return "han"
    if 0xAC00 <= point <= 0xD7AF:
        return "hangul"
    if 0x0400 <= point <= 0x04FF:
        return "cyrillic"
    if 0x0370 <= point <= 0x03FF:
        return "greek"
    return "latin"


def _cut(text: str | None, width: int = 80) -> str:
    value = (text or "").replace("\n", " ")
    return value if len(value) <= width else value[: width - 1] + "…"
