"""The Bulk Generation tutorial's two code blocks run unchanged with our import.

The tutorial is kept in ``tests/data`` as the project's own test data, so these tests run
in any clone; when the team's copy is beside the repo, the two must be the same text.
"""

import json
import re
from pathlib import Path

import pytest
from helpers import chat_line, write_jsonl

from synth_assets.batch import validate_request_file

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "tests" / "data" / "bulk-generation-tutorial.md"
SEED = REPO.parent / "shared" / "seed" / "bulk-generation-tutorial.md"
ORIGINAL_IMPORT = "from instructor.batch import BatchJob"
OUR_IMPORT = "from synth_assets.batch import BatchJob"


def tutorial_blocks() -> list[str]:
    blocks = re.findall(r"^```python[^\n]*\n(.*?)^```", TUTORIAL.read_text(), re.S | re.M)
    assert len(blocks) == 2, "the tutorial should hold exactly two python blocks"
    for block in blocks:
        assert block.count(ORIGINAL_IMPORT) == 1
    return [block.replace(ORIGINAL_IMPORT, OUR_IMPORT) for block in blocks]


@pytest.fixture
def blocks() -> list[str]:
    return tutorial_blocks()


@pytest.fixture
def run_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Exec a block as a script in ``tmp_path`` (its relative paths land there)."""
    monkeypatch.chdir(tmp_path)

    def run(code: str) -> dict:
        namespace: dict = {"__name__": "__tutorial__"}
        exec(compile(code, str(TUTORIAL), "exec"), namespace)
        return namespace

    return run


def test_the_first_block_writes_a_valid_request_file(
    blocks: list[str], run_block, tmp_path: Path
) -> None:
    run_block(blocks[0])

    path = tmp_path / "test.jsonl"
    lines = [json.loads(raw) for raw in path.read_text().splitlines()]
    assert len(lines) == 3
    assert len({line["custom_id"] for line in lines}) == 3
    assert validate_request_file(path) == []
    body = lines[0]["body"]
    assert body["model"] == "gpt-3.5-turbo"
    assert body["response_format"]["json_schema"]["name"] == "SinglePrediction"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["class_label"]
    assert "Nigerian prince" in body["messages"][0]["content"]


def test_the_second_block_parses_answers_to_the_first(
    blocks: list[str], run_block, tmp_path: Path
) -> None:
    run_block(blocks[0])
    requests = [json.loads(raw) for raw in (tmp_path / "test.jsonl").read_text().splitlines()]
    labels = ["spam", "not_spam", "not_spam"]
    write_jsonl(
        tmp_path / "output.jsonl",
        [
            chat_line(request["custom_id"], json.dumps({"class_label": label}))
            for request, label in zip(requests, labels, strict=True)
        ],
    )

    namespace = run_block(blocks[1])

    parsed, unparsed = namespace["parsed"], namespace["unparsed"]
    assert isinstance(parsed, list) and isinstance(unparsed, list)
    # The tutorial's second model names its field `label`, the first asked for
    # `class_label`: every answer is a schema mismatch, and none is lost.
    assert parsed == []
    assert sorted(row["custom_id"] for row in unparsed) == sorted(r["custom_id"] for r in requests)
    assert {row["reason"] for row in unparsed} == {"schema_mismatch"}
    assert all("label" in row["message"] for row in unparsed)
    assert json.loads(unparsed[0]["raw"]) in [{"class_label": label} for label in labels]


def test_the_second_block_parses_answers_that_match_its_model(
    blocks: list[str], run_block, tmp_path: Path
) -> None:
    write_jsonl(
        tmp_path / "output.jsonl",
        [chat_line(f"request-{i}", json.dumps({"label": "spam"})) for i in range(3)],
    )

    namespace = run_block(blocks[1])

    assert [p.label.value for p in namespace["parsed"]] == ["spam"] * 3
    assert type(namespace["parsed"][0]).__name__ == "SinglePrediction"
    assert namespace["unparsed"] == []


def test_the_kept_tutorial_is_the_teams_copy() -> None:
    if not SEED.is_file():
        pytest.skip(f"the team's copy is not beside the repo ({SEED}); the kept one is used")
    assert TUTORIAL.read_text() == SEED.read_text()
