"""Quality measures of generated text: what counts as a near-copy, a templated length, a
language asked for."""

import random

import pyarrow as pa

from synth_assets.localbatch.text import PROSE_LANGUAGES, prose
from synth_assets.pipeline.quality import (
    coverage_check,
    detect_language,
    language_check,
    length_spread_check,
    near_duplicate_check,
    near_duplicates,
)

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

    assert near_duplicates([base, edited, prose(random.Random(2))]) == [(1, 0)]


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

    coverage = coverage_check(parsed, inputs)
    language = language_check(parsed, inputs, "body", "language", 0.9)

    assert not coverage.passed and coverage.metadata["missing_cells"] == ["z / p / fr / spam"]
    assert not language.passed and language.metadata["mismatches"] == {"de -> en": 1}
