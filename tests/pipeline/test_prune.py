"""Pruning a batch's files as soon as it is collected (the collect step's hook), against
the real local server; the whole chain is in tests/defs/test_pruning.py."""

import time
from pathlib import Path

import openai
import pytest
from openai.types import Batch
from test_submit import DATE, build_of

from synth_assets.batch import TERMINAL, SynthError
from synth_assets.pipeline.collect import collect_batches
from synth_assets.pipeline.prune import result_files
from synth_assets.pipeline.record import RequestRecord
from synth_assets.pipeline.settings import project_settings
from synth_assets.pipeline.submit import submit_build
from synth_assets.tasks import SPAM_TRIAGE


def finished(client: openai.OpenAI, batch_id: str) -> Batch:
    deadline = time.monotonic() + 60
    while (batch := client.batches.retrieve(batch_id)).status not in TERMINAL:
        assert time.monotonic() < deadline, f"{batch_id} still {batch.status}"
        time.sleep(0.1)
    return batch


def exists(client: openai.OpenAI, file_id: str) -> bool:
    try:
        client.files.retrieve(file_id)
    except openai.NotFoundError:
        return False
    return True


def test_a_collected_batchs_files_go_at_once_and_only_its(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    with RequestRecord(tmp_path / "record.sqlite", "local") as record:
        # ids of this test only: the server is shared by the session
        build = build_of(tmp_path, record, rows=10, per_file=5, id_prefix=f"{tmp_path.name}-")
        submitted, _ = submit_build(openai_client, record, SPAM_TRIAGE, DATE, build)
        first, second = (finished(openai_client, s.batch_id) for s in submitted)

        collect_batches(
            openai_client, record, SPAM_TRIAGE.response_model, [first.id], results, prune=True
        )

        # the collected batch: its answers are recorded, its files are gone everywhere
        assert record.batch(first.id).collected is not None  # type: ignore[union-attr]
        assert not Path(build.shards[0].path).exists()
        assert not any(p.exists() for p in result_files(results, first.id))
        for file_id in (first.input_file_id, first.output_file_id):
            assert not exists(openai_client, file_id)
        # the other batch, not collected yet, keeps everything
        assert Path(build.shards[1].path).exists()
        assert exists(openai_client, second.input_file_id)
        assert exists(openai_client, second.output_file_id)  # type: ignore[arg-type]

        collect_batches(openai_client, record, SPAM_TRIAGE.response_model, [second.id], results)

        # without pruning, the collected batch keeps its files
        assert Path(build.shards[1].path).exists()
        assert result_files(results, second.id)[0].exists()
        assert exists(openai_client, second.input_file_id)


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_a_bad_prune_setting_is_one_sentence(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SYNTH_PRUNE_FILES", value)
    with pytest.raises(SynthError, match=r"^SYNTH_PRUNE_FILES="):
        project_settings()
