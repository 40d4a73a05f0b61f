"""Pruning a batch's files as soon as it is collected (the collect step's hook), against
the real local server; the whole chain is in tests/defs/test_pruning.py."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def test_with_prune_a_shard_goes_once_its_batch_is_recorded_and_the_batch_still_answers(
    tmp_path: Path,
    start_localbatch: Callable[..., Any],
    make_client: Callable[..., openai.OpenAI],
) -> None:
    client = make_client(start_localbatch(thread=True).base_url)
    with RequestRecord(tmp_path / "record.sqlite", "local") as record:
        build = build_of(tmp_path, record, rows=30, per_file=10)
        submitted, _ = submit_build(client, record, SPAM_TRIAGE, DATE, build, prune=True)

        assert len(submitted) == 3
        assert not any(Path(s.path).exists() for s in build.shards)
        # The backend keeps its copy until the batch is collected: it still answers.
        batches = [finished(client, s.batch_id) for s in submitted]
        assert {b.status for b in batches} == {"completed"}
        done = collect_batches(
            client, record, SPAM_TRIAGE.response_model, [b.id for b in batches], tmp_path / "r"
        )
        assert done.collected == [b.id for b in batches]
        # A re-run finds every batch again in the record: nothing to upload, no error.
        again, _ = submit_build(client, record, SPAM_TRIAGE, DATE, build, prune=True)
        assert {s.how for s in again} == {"record"}


def test_a_pruned_shard_whose_batch_failed_asks_for_a_new_build_in_one_sentence(
    tmp_path: Path,
    start_localbatch: Callable[..., Any],
    make_client: Callable[..., openai.OpenAI],
) -> None:
    client = make_client(start_localbatch(thread=True, faults="batch_failed=1").base_url)
    with RequestRecord(tmp_path / "record.sqlite", "local") as record:
        build = build_of(tmp_path, record, rows=5, per_file=5)
        (first,), _ = submit_build(client, record, SPAM_TRIAGE, DATE, build, prune=True)
        assert finished(client, first.batch_id).status == "failed"

        with pytest.raises(SynthError, match=r"^requests-00000\.jsonl was deleted .* anew\.$"):
            submit_build(client, record, SPAM_TRIAGE, DATE, build, prune=True)
