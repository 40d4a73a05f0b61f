"""Caller mistakes in building requests get one clear sentence, before any file is written."""

from pathlib import Path

import pytest
from helpers import Triage

from synth_assets.batch import BatchJob, InvalidCustomIdError, SynthError, from_rows

MESSAGES = [[{"role": "user", "content": "hi"}], [{"role": "user", "content": "ho"}]]


def test_a_string_of_custom_ids_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="list of ids"):
        BatchJob.create_from_messages(
            MESSAGES, "gpt-4o-mini", Triage, tmp_path / "r.jsonl", custom_ids="ab"
        )
    assert not (tmp_path / "r.jsonl").exists()


def test_a_row_without_a_key_is_refused() -> None:
    rows = [{"id": "a", "text": "x"}, {"id": None, "text": "y"}]
    pairs = from_rows(rows, key=lambda r: r["id"], to_messages=lambda r: [])

    assert next(pairs)[0] == "a"
    with pytest.raises(InvalidCustomIdError, match="row 1"):
        next(pairs)
