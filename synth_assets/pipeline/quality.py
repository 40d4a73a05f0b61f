"""Quality of generated text, measured on a day's parsed table (no Dagster).

- :func:`near_duplicate_check`: the share of rows that repeat an earlier row, exactly after
  normalizing (case, accents kept, punctuation, digits and spacing dropped) or nearly (MinHash
  over word shingles: see :mod:`.repeats`).
- :func:`length_spread_check`: the coefficient of variation of the text lengths.
- :func:`coverage_check`: every seed cell has a parsed row.
- :func:`language_check`: the text is written in the language its seed row asked for, by a
  small stop-word detector (and the script, for Japanese, Chinese, Korean, Russian, Greek).
"""

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from synth_assets.tasks.base import custom_id_for

from . import buckets
from .repeats import TEXT_SLICE_ROWS, near_duplicates, normalize

SAMPLE = 5  # examples named in a check's metadata


@dataclass(frozen=True)
class CheckOutcome:
    """A check's verdict, one sentence, and figures for the UI."""

    passed: bool
    summary: str
    metadata: dict[str, Any] = field(default_factory=dict)


class Column:
    """One column of a Parquet file (a path or a URL), read a slice at a time each time it
    is iterated: a day's texts without holding them."""

    def __init__(self, path: str | Path, name: str) -> None:
        self.path, self.name = path, name

    def __iter__(self) -> Iterator[Any]:
        for batch in buckets.slices(self.path, [self.name], TEXT_SLICE_ROWS):
            yield from batch.column(0).to_pylist()


def near_duplicate_check(
    texts: Iterable[str | None],
    maximum: float,
    scratch: Path | None = None,
    *,
    bucket_rows: int | None = None,
) -> CheckOutcome:
    """Passes when at most ``maximum`` of the rows repeat an earlier row.

    ``texts`` is read three times (a list, or a :class:`Column` that reads its file again):
    twice to find the repeats (see :func:`near_duplicates`, which works in a folder under
    ``scratch``), once to count the rows and quote the examples. Memory stays flat.
    """
    count = 0
    shown: list[tuple[int, int]] = []
    for pair in near_duplicates(texts, scratch, bucket_rows=bucket_rows):
        count += 1
        if len(shown) < SAMPLE:
            shown.append(pair)
    quoted = {index for pair in shown for index in pair}
    rows = 0
    found: dict[int, str | None] = {}
    for index, text in enumerate(texts):
        rows += bool(text)
        if index in quoted:
            found[index] = text
    rate = count / rows if rows else 0.0
    passed = rate <= maximum
    examples = [{"row": _cut(found[i]), "repeats": _cut(found[j])} for i, j in shown]
    return CheckOutcome(
        passed,
        f"{count} of {rows} rows ({rate:.1%}) nearly repeat an earlier row"
        + ("" if passed else f", over the limit of {maximum:.1%}"),
        {
            "rows": rows,
            "near_duplicates": count,
            "near_duplicate_rate": round(rate, 4),
            "maximum": maximum,
            "examples": examples,
        },
    )


def length_spread_check(texts: Iterable[str | None], minimum: float) -> CheckOutcome:
    """Passes when the lengths' coefficient of variation is at least ``minimum``.

    One pass over ``texts`` (a stream will do): only the count of each length is kept.
    """
    by_length = Counter(len(t) for t in texts if t)
    rows = by_length.total()
    if rows < 2:
        return CheckOutcome(True, f"{rows} text(s): too few to measure a spread", {"rows": rows})
    # The statistics module's exact arithmetic, fed the lengths again from their counts.
    mean = statistics.fmean(_expand(by_length))
    spread = statistics.pstdev(_expand(by_length)) / mean if mean else 0.0
    passed = spread >= minimum
    shortest, longest = min(by_length), max(by_length)
    return CheckOutcome(
        passed,
        f"lengths {shortest}–{longest} characters, spread {spread:.2f}"
        + ("" if passed else f", below {minimum:.2f}: the texts look templated"),
        {
            "rows": rows,
            "min_chars": shortest,
            "median_chars": float(_median(by_length)),
            "max_chars": longest,
            "mean_chars": round(mean, 1),
            "length_spread": round(spread, 4),
            "minimum": minimum,
        },
    )


def _expand(counts: Counter[int]) -> Iterator[int]:
    """Each value as many times as it was counted."""
    return chain.from_iterable(repeat(value, n) for value, n in counts.items())


def _median(counts: Counter[int]) -> float:
    """``statistics.median`` of the counted values, from their counts."""
    rows = counts.total()
    wanted = [(rows - 1) // 2, rows // 2]  # the middle value(s), 0-based in sorted order
    found: list[int] = []
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        while wanted and wanted[0] < seen:
            wanted.pop(0)
            found.append(value)
    return found[0] if rows % 2 else (found[0] + found[1]) / 2


# Each input row of a day: its position in the snapshot, its row (the columns asked for) and
# its parsed row (or None when it has none).
Answered = Iterable[tuple[int, dict[str, Any], dict[str, Any] | None]]


def answered(parsed: pa.Table, inputs: pa.Table) -> Answered:
    """Each input row with its parsed row, joined on the custom_id in memory (a small day;
    :func:`answered_from_files` joins a day of any size on disk)."""
    by_id = {row["custom_id"]: row for row in parsed.to_pylist()}
    for position, row in enumerate(inputs.to_pylist()):
        yield position, row, by_id.get(custom_id_for(str(row["id"])))


def answered_from_files(
    parsed_path: str | Path,
    inputs_path: str | Path,
    parsed_columns: Sequence[str],
    input_columns: Sequence[str],
    scratch: Path,
    *,
    bucket_rows: int | None = None,
) -> Answered:
    """Each input row (``input_columns`` of it) with its parsed row (``parsed_columns``),
    read from the files a slice at a time and joined on the custom_id in hash buckets on
    disk under ``scratch``: exact, and flat in the day's rows. Rows come bucket by bucket,
    not in the snapshot's order (their positions say it)."""
    rows = buckets.parquet_rows(parsed_path) + buckets.parquet_rows(inputs_path)
    count = buckets.bucket_count(rows, bucket_rows)
    wanted = ["custom_id", *(c for c in parsed_columns if c != "custom_id")]
    with pq.ParquetFile(parsed_path) as parquet:
        answers_schema = pa.schema([parquet.schema_arrow.field(c) for c in wanted])
    with pq.ParquetFile(inputs_path) as parquet:
        fields = [parquet.schema_arrow.field(c) for c in input_columns]
    inputs_schema = pa.schema([("custom_id", pa.string()), ("position", pa.int64()), *fields])
    with buckets.scratch_folder(scratch) as folder:
        answers = buckets.Buckets(folder, "parsed", answers_schema, "custom_id", count)
        for batch in buckets.slices(parsed_path, wanted):
            answers.write(pa.record_batch(batch.columns, schema=answers_schema))
        answers.close()
        inputs = buckets.Buckets(folder, "inputs", inputs_schema, "custom_id", count)
        position = 0
        for batch in buckets.slices(inputs_path, ["id", *input_columns]):
            keys = [custom_id_for(str(k)) for k in batch.column(0).to_pylist()]
            positions = pa.array(range(position, position + batch.num_rows), pa.int64())
            position += batch.num_rows
            columns = [pa.array(keys, pa.string()), positions, *batch.columns[1:]]
            inputs.write(pa.record_batch(columns, schema=inputs_schema))
        inputs.close()
        for index in range(count):
            by_id = {row["custom_id"]: row for row in answers.bucket(index).to_pylist()}
            for row in inputs.bucket(index).to_pylist():
                custom_id, at = row.pop("custom_id"), row.pop("position")
                yield at, row, by_id.get(custom_id)


# The input columns the coverage check reads.
COVERAGE_COLUMNS = ("cell", "topic", "persona", "language", "intended_label")


def coverage_check(rows: Answered) -> CheckOutcome:
    """Passes when every seed cell (the inputs' ``cell`` column) has a parsed row."""
    first: dict[Any, int] = {}  # each cell's first row: cells are named in the snapshot's order
    last: dict[Any, tuple[int, dict[str, Any]]] = {}  # and described by their last row
    covered: set[Any] = set()
    for position, row, answer in rows:
        cell = row["cell"]
        if position < first.get(cell, position + 1):
            first[cell] = position
        if position >= last.get(cell, (-1, row))[0]:
            last[cell] = (position, row)
        if answer:
            covered.add(cell)
    cells = sorted(first, key=first.__getitem__)
    missing = [cell for cell in cells if cell not in covered]
    described = []
    for cell in missing[:SAMPLE]:
        row = last[cell][1]
        described.append(
            f"{row['topic']} / {row['persona']} / {row['language']} / {row['intended_label']}"
        )
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
    rows: Answered, text_field: str, language_column: str, minimum: float
) -> CheckOutcome:
    """Passes when at least ``minimum`` of the rows whose language can be told are written
    in the language asked for (rows too short or mixed to tell are counted apart)."""
    matched = told = answered_rows = 0
    confusions: Counter[str] = Counter()
    first: dict[str, int] = {}  # where each confusion first appears in the snapshot
    for position, row, answer in rows:
        if not answer:
            continue
        answered_rows += 1
        if not answer.get(text_field):
            continue
        found = detect_language(str(answer[text_field]))
        if found is None:
            continue
        told += 1
        asked = str(row[language_column]).lower()
        if found == asked.split("-")[0]:
            matched += 1
        else:
            confusion = f"{asked} -> {found}"
            confusions[confusion] += 1
            first[confusion] = min(first.get(confusion, position), position)
    if not told:
        return CheckOutcome(
            answered_rows == 0,
            f"the language of none of the {answered_rows} texts could be told",
            {"rows": answered_rows, "told": 0},
        )
    share = matched / told
    passed = share >= minimum
    # The most frequent first; ties in the snapshot's order (as Counter.most_common would).
    ranked = sorted(confusions, key=lambda c: (-confusions[c], first[c]))
    return CheckOutcome(
        passed,
        f"{matched} of {told} texts ({share:.0%}) are in the language asked for"
        + ("" if passed else f", below {minimum:.0%}"),
        {
            "rows": answered_rows,
            "told": told,
            "matched": matched,
            "match_rate": round(share, 4),
            "minimum": minimum,
            "mismatches": {c: confusions[c] for c in ranked[:SAMPLE]},
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
    total = sum(map(str.isalpha, text))
    if not total:
        return None
    # Letters of the other scripts are few in a Latin text: find them with one scan, and
    # the rest of the letters are Latin.
    scripts: Counter[str] = Counter(
        _script(char) for char in _NOT_LATIN.findall(text) if char.isalpha()
    )
    scripts["latin"] = total - scripts.total()
    if scripts["kana"] / total > 0.1:
        return "ja"
    for script, language in (("han", "zh"), ("hangul", "ko"), ("cyrillic", "ru"), ("greek", "el")):
        if scripts[script] / total > 0.5:
            return language
    counts = Counter(normalize(text).split())
    hits = {lang: sum(counts[w] for w in vocab) for lang, vocab in _WORD_SETS.items()}
    ranked = sorted(hits.items(), key=lambda kv: kv[1], reverse=True)
    (best, first), (_, second) = ranked[0], ranked[1]
    if first < _MIN_HITS or first < math.ceil(second * 1.5):
        return None
    return best


# The scripts told apart from Latin, by code point range (inclusive).
_SCRIPT_RANGES = (
    ("kana", 0x3040, 0x30FF),
    ("han", 0x4E00, 0x9FFF),
    ("han", 0x3400, 0x4DBF),
    ("hangul", 0xAC00, 0xD7AF),
    ("cyrillic", 0x0400, 0x04FF),
    ("greek", 0x0370, 0x03FF),
)
# Any character of those ranges: one scan finds the few a Latin text has.
_NOT_LATIN = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for _, a, b in _SCRIPT_RANGES) + "]")


def _script(char: str) -> str:
    point = ord(char)
    for script, first, last in _SCRIPT_RANGES:
        if first <= point <= last:
            return script
    return "latin"


def _cut(text: str | None, width: int = 80) -> str:
    value = (text or "").replace("\n", " ")
    return value if len(value) <= width else value[: width - 1] + "…"
