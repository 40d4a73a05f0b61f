"""Quality measures of generated text: what counts as a near-copy, a templated length, a
language asked for."""

import random
import statistics
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synth_assets.localbatch.text import PROSE_LANGUAGES, prose
from synth_assets.pipeline.quality import (
    COVERAGE_COLUMNS,
    Answered,
    Column,
    answered,
    answered_from_files,
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
