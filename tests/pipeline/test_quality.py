"""Quality measures of generated text: what counts as a near-copy, a templated length, a
language asked for."""

import random
import statistics
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth_assets.localbatch.text import PROSE_LANGUAGES, prose
from synth_assets.pipeline import repeats
from synth_assets.pipeline.quality import (
    _STOPWORDS,
    _WORD_SETS,
    COVERAGE_COLUMNS,
    Answered,
    Column,
    _script,
    answered,
    answered_from_files,
    coverage_check,
    detect_language,
    language_check,
    length_spread_check,
    near_duplicate_check,
)
from synth_assets.pipeline.repeats import near_duplicates

TEMPLATE = (
    "Dear {name}, your invoice {number} for the office chairs is overdue by {days} days. "
    "Please pay it this week, or call our accounts team if something is wrong with it. "
    "We thank you for your business and look forward to working with you again soon."
)


def near_copies(count: int) -> list[str]:
    rng = random.Random(7)
    names = ["Anna", "Bob", "Chen", "Dana", "Eli"]
    return [
        TEMPLATE.format(name=rng.choice(names), number=rng.randint(100, 999), days=i % 30)
        for i in range(count)
    ]


def test_near_copies_fail_the_duplicate_check_and_varied_text_passes() -> None:
    copies = near_duplicate_check(near_copies(50), maximum=0.05)
    varied = near_duplicate_check([prose(random.Random(i)) for i in range(200)], maximum=0.05)

    assert not copies.passed and copies.metadata["near_duplicates"] >= 45
    assert varied.passed and varied.metadata["near_duplicates"] == 0


def test_a_changed_word_is_still_a_near_copy_but_a_different_email_is_not() -> None:
    base = prose(random.Random(1))
    edited = base.replace("Best regards", "Kind regards").replace("Hello", "Hi")

    assert list(near_duplicates([base, edited, prose(random.Random(2))])) == [(1, 0)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sets(
            st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2**31, 2**32 - 1])),
            min_size=1,
            max_size=40,
        ),
        min_size=1,
        max_size=30,
    )
)
def test_signatures_in_arrow_are_the_python_integers_signatures(sets: list[set[int]]) -> None:
    # The search signs texts in Arrow (64-bit); the definition is (a * x + b) mod p in
    # Python's integers: the same values, or the pairs found would move.
    assert repeats._signatures(sets) == [repeats._signature(s) for s in sets]


def test_arrow_hashing_reduces_modulo_p_at_the_edges() -> None:
    # (a * x + b) landing on p, just under it, just over it, and the largest x and a.
    p = repeats._PRIME
    xs = [0, 1, 5, 2**31, 2**32 - 1]
    for a, b in [(1, p - 5), (1, p - 6), (1, p - 4), (p - 1, p - 1), (2**32, 0), *repeats._HASHES]:
        hashed = repeats._hashed(pa.array(xs, pa.uint64()), a, b).to_pylist()
        assert hashed == [(a * x + b) % p for x in xs], (a, b)


def test_signing_in_slices_finds_the_pairs_of_signing_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    texts = [*near_copies(9), prose(random.Random(3)), None, *near_copies(4)]
    everything = list(near_duplicates(texts))
    monkeypatch.setattr(repeats, "SIGN_ROWS", 2)

    assert list(near_duplicates(texts)) == everything == in_memory_near_duplicates(texts)


def in_memory_near_duplicates(texts: list[str | None]) -> list[tuple[int, int]]:
    """The search as it was, every distinct text held in memory: the reference the search
    on disk must agree with, pair for pair."""
    found: list[tuple[int, int]] = []
    exact: dict[str, int] = {}
    bands: list[dict[tuple[int, ...], list[int]]] = [{} for _ in range(repeats.BANDS)]
    signatures: dict[int, tuple[int, ...]] = {}
    for index, text in enumerate(texts):
        if not text:
            continue
        normalized = repeats.normalize(text)
        if normalized in exact:
            found.append((index, exact[normalized]))
            continue
        exact[normalized] = index
        if not normalized:
            continue
        signature = signatures[index] = repeats._signature(repeats._shingles(normalized))
        match = None
        for band in range(repeats.BANDS):
            key = signature[band * repeats.ROWS : (band + 1) * repeats.ROWS]
            candidates = bands[band].setdefault(key, [])
            if match is None:
                for other in candidates:
                    similarity = repeats._similarity(signatures[other], signature)
                    if similarity >= repeats.NEAR_DUPLICATE:
                        match = other
                        break
            candidates.append(index)
        if match is not None:
            found.append((index, match))
    return found


WORDS = sorted(set(repeats.normalize(TEMPLATE).split()))  # dear, invoice, name, office…


@st.composite
def days_of_texts(draw: st.DrawFn) -> list[str | None]:
    """New texts, exact copies (other case, punctuation), copies with a word changed, and
    texts that are empty or normalize to nothing."""
    texts: list[str | None] = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["new", "copy", "near", "empty"]))
        earlier = [t for t in texts if t and t.strip()]
        if kind == "copy" and earlier:
            texts.append(draw(st.sampled_from(earlier)).upper() + " !")
        elif kind == "near" and earlier:
            words = draw(st.sampled_from(earlier)).split()
            words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(WORDS))
            texts.append(" ".join(words))
        elif kind == "empty":
            texts.append(draw(st.sampled_from([None, "", "42 !?", " ", "7."])))
        else:
            texts.append(" ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=14))))
    return texts


@settings(max_examples=150, deadline=None)
@given(days_of_texts(), st.sampled_from([None, 1, 2, 5]))
def test_the_search_on_disk_finds_the_pairs_the_search_in_memory_found(
    texts: list[str | None], bucket_rows: int | None
) -> None:
    assert list(near_duplicates(texts, bucket_rows=bucket_rows)) == in_memory_near_duplicates(texts)


def test_a_row_near_two_earlier_rows_repeats_the_one_of_the_first_band(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Signatures made to order (a band is 4 values): "a" is one value off "c" in each of
    # bands 0, 1 and 2, "b" one value off in band 0; "d" shares only band 0 with "c", and
    # "e" is "c" with its last value changed.
    c = tuple(range(100, 100 + repeats.NUM_PERM))
    made = {
        "a": (1, *c[1:4], 2, *c[5:8], 3, *c[9:]),
        "b": (5, *c[1:]),
        "c": c,
        "d": (*c[:4], *range(900, 900 + repeats.NUM_PERM - 4)),
        "e": (*c[:-1], 7),
    }
    names = {frozenset(repeats._shingles(name)): name for name in made}
    monkeypatch.setattr(repeats, "_signature", lambda shingles: made[names[frozenset(shingles)]])
    monkeypatch.setattr(repeats, "_signatures", lambda sets: list(map(repeats._signature, sets)))
    texts: list[str | None] = ["a", "b", "d", "c", "e"]

    # "c" is near "a" (from band 3) and "b" (from band 1): it repeats "b", though "a" is
    # earlier. "e" shares band 0 with "d" and "c": "d" is earlier but not near, so "c".
    expected = [(1, 0), (3, 1), (4, 3)]
    assert in_memory_near_duplicates(texts) == expected
    for bucket_rows in (None, 1):
        assert list(near_duplicates(texts, tmp_path, bucket_rows=bucket_rows)) == expected
    assert list(tmp_path.iterdir()) == []  # scratch files removed


def test_the_check_quotes_the_first_repeats_in_row_order(tmp_path: Path) -> None:
    texts = [
        prose(random.Random(1)),
        *near_copies(6),
        None,
        "",
        "42 !?",
        "7 ...",
        prose(random.Random(2)),
        near_copies(1)[0].upper(),
    ]
    # Row 6 repeats row 3, not the earlier row 1 it is also near: the first band decides.
    pairs = [(2, 1), (3, 1), (4, 1), (5, 1), (6, 3), (10, 9), (12, 1)]

    def cut(text: str | None) -> str:
        value = (text or "").replace("\n", " ")
        return value if len(value) <= 80 else value[:79] + "…"

    for bucket_rows in (None, 1, 3):
        check = near_duplicate_check(texts, 0.3, tmp_path, bucket_rows=bucket_rows)
        assert check.summary == (
            "7 of 11 rows (63.6%) nearly repeat an earlier row, over the limit of 30.0%"
        )
        assert check.metadata == {
            "rows": 11,
            "near_duplicates": 7,
            "near_duplicate_rate": 0.6364,
            "maximum": 0.3,
            "examples": [{"row": cut(texts[i]), "repeats": cut(texts[j])} for i, j in pairs[:5]],
        }
    assert list(near_duplicates(texts)) == pairs == in_memory_near_duplicates(texts)
    assert list(tmp_path.iterdir()) == []


def test_texts_of_one_length_fail_the_spread_check() -> None:
    same = ["x" * 200] * 20
    varied = [prose(random.Random(i)) for i in range(50)]

    assert not length_spread_check(same, minimum=0.15).passed
    assert length_spread_check(varied, minimum=0.15).passed


def test_the_language_detector_reads_the_local_servers_prose() -> None:
    wrong = 0
    for language in PROSE_LANGUAGES:
        for seed in range(50):
            found = detect_language(prose(random.Random(seed), language))
            wrong += found is not None and found != language
    assert wrong == 0
    assert detect_language("お世話になっております。請求書を添付します。") == "ja"
    assert detect_language("ok") is None


def scripts_letter_by_letter(text: str) -> Counter[str]:
    """The detector's script counts as first written: every letter's script, one by one."""
    return Counter(_script(char) for char in text if char.isalpha())


def detect_letter_by_letter(text: str) -> str | None:
    """detect_language as first written (a letter at a time): the reference it must match."""
    scripts = scripts_letter_by_letter(text)
    total = sum(scripts.values())
    if not total:
        return None
    if scripts["kana"] / total > 0.1:
        return "ja"
    for script, language in (("han", "zh"), ("hangul", "ko"), ("cyrillic", "ru"), ("greek", "el")):
        if scripts[script] / total > 0.5:
            return language
    words = repeats.normalize(text).split()
    hits = {lang: sum(w in vocab for w in words) for lang, vocab in _WORD_SETS.items()}
    ranked = sorted(hits.items(), key=lambda kv: kv[1], reverse=True)
    (best, first), (_, second) = ranked[0], ranked[1]
    return None if first < 3 or first < -(-second * 3 // 2) else best


# Letters of every script the detector knows, letters it does not (Arabic, Latin with
# marks), signs inside its ranges that are not letters (・ ゛), numbers that are (², ½, ⅷ
# are not letters; ǅ and ʰ are), and words of its vocabularies.
MIXED = list("abcdéñü日本語カタカナ・ー゛русскийελληνικά한국어عربى中文²½ⅷǅʰ12_! ")
VOCABULARY = sorted({w for words in _STOPWORDS.values() for w in words.split()})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(MIXED), st.sampled_from(VOCABULARY).map(" {} ".format))))
def test_the_language_detector_decides_as_it_did_letter_by_letter(parts: list[str]) -> None:
    text = "".join(parts)
    assert detect_language(text) == detect_letter_by_letter(text)


def test_coverage_and_language_join_answers_to_their_seed_rows() -> None:
    inputs = pa.table(
        {
            "id": ["a", "b", "c"],
            "cell": ["t0", "t1", "t2"],
            "topic": ["x", "y", "z"],
            "persona": ["p"] * 3,
            "language": ["en", "de", "fr"],
            "intended_label": ["spam"] * 3,
        }
    )
    english = prose(random.Random(1), "en")
    parsed = pa.table({"custom_id": ["a", "b"], "body": [english, english]})

    coverage = coverage_check(answered(parsed, inputs))
    language = language_check(answered(parsed, inputs), "body", "language", 0.9)

    assert not coverage.passed and coverage.metadata["missing_cells"] == ["z / p / fr / spam"]
    assert not language.passed and language.metadata["mismatches"] == {"de -> en": 1}


def _seed_day(rows: int) -> tuple[pa.Table, pa.Table]:
    """A day of seed rows in many cells, answered in another order, some not at all, some
    in another language than asked."""
    rng = random.Random(3)
    languages = ["en", "de", "fr", "es"]
    inputs = pa.table(
        {
            "id": [f"s{n}" for n in range(rows)],
            "text": ["seed"] * rows,
            "cell": [f"c{n % 97}" for n in range(rows)],
            "topic": [f"topic {n % 97}" for n in range(rows)],
            "persona": ["p"] * rows,
            "language": [languages[n % 4] for n in range(rows)],
            "intended_label": ["spam"] * rows,
        }
    )
    # Cells c90..c96 get no answer at all (missing cells); others lose a row in five.
    kept = [n for n in range(rows) if n % 97 < 90 and rng.random() < 0.8]
    rng.shuffle(kept)
    bodies = [prose(random.Random(n), rng.choice(languages)) for n in kept]
    parsed = pa.table({"custom_id": [f"s{n}" for n in kept], "body": bodies})
    return parsed, inputs


@pytest.mark.parametrize("bucket_rows", [None, 40])
def test_coverage_and_language_read_from_files_agree_with_the_day_in_memory(
    tmp_path: Path, bucket_rows: int | None
) -> None:
    parsed, inputs = _seed_day(1500)
    pq.write_table(parsed, tmp_path / "parsed.parquet", row_group_size=111)
    pq.write_table(inputs, tmp_path / "inputs.parquet", row_group_size=77)

    def from_files(columns: list[str]) -> Answered:
        return answered_from_files(
            tmp_path / "parsed.parquet", tmp_path / "inputs.parquet", ["body"], columns,
            tmp_path / "scratch", bucket_rows=bucket_rows,
        )  # fmt: skip

    coverage = coverage_check(from_files(list(COVERAGE_COLUMNS)))
    language = language_check(from_files(["language"]), "body", "language", 0.9)

    assert coverage == coverage_check(answered(parsed, inputs))
    assert language == language_check(answered(parsed, inputs), "body", "language", 0.9)
    assert coverage.metadata["missing"] == 7 and len(language.metadata["mismatches"]) == 5
    assert list((tmp_path / "scratch").iterdir()) == []  # bucket files removed


def test_texts_read_from_a_file_give_the_same_checks_as_a_list(tmp_path: Path) -> None:
    texts = [*near_copies(40), None, "", *(prose(random.Random(i)) for i in range(60))]
    pq.write_table(pa.table({"body": texts}), tmp_path / "parsed.parquet", row_group_size=9)
    column = Column(tmp_path / "parsed.parquet", "body")

    assert near_duplicate_check(column, 0.05) == near_duplicate_check(texts, 0.05)
    assert length_spread_check(column, 0.15) == length_spread_check(texts, 0.15)
    spread = length_spread_check(texts, 0.15).metadata
    lengths = [len(t) for t in texts if t]
    assert spread["median_chars"] == float(statistics.median(lengths))
    assert spread["length_spread"] == round(
        statistics.pstdev(lengths) / statistics.fmean(lengths), 4
    )
