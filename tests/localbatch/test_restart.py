"""State survives restarts: a batch interrupted mid-way continues and no request runs twice."""

from collections import Counter
from pathlib import Path

import pytest

from .helpers import download, read_lines, submit, upload, wait, write_requests

SLOW = {"localbatch_chunk_size": "10", "localbatch_delay_s": "0.05"}


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_a_restart_mid_batch_resumes_and_answers_each_request_once(
    start_localbatch, make_client, tmp_path: Path, how: str
) -> None:
    data_dir = tmp_path / "state"
    first = start_localbatch(data_dir=data_dir)
    client = make_client(first.base_url)
    ids = write_requests(tmp_path / "requests.jsonl", 100)
    batch = submit(client, tmp_path / "requests.jsonl", metadata=SLOW)
    wait(client, batch.id, until=lambda b: b.request_counts.completed >= 30)

    first.kill() if how == "kill" else first.stop()  # SIGKILL: a crash; SIGTERM: a clean stop
    second = start_localbatch(data_dir=data_dir)
    client = make_client(second.base_url)
    done = wait(client, batch.id)

    assert done.status == "completed"
    assert (done.request_counts.total, done.request_counts.completed) == (100, 100)
    lines = read_lines(download(client, done.output_file_id, tmp_path / "out.jsonl"))
    answered = Counter(line["custom_id"] for line in lines)
    assert sorted(answered) == ids
    assert max(answered.values()) == 1  # never answered twice
    assert len({line["id"] for line in lines}) == 100


def test_files_and_batches_are_still_there_after_a_restart(
    start_localbatch, make_client, tmp_path: Path
) -> None:
    data_dir = tmp_path / "state"
    client = make_client(start_localbatch(data_dir=data_dir, thread=True).base_url)
    write_requests(tmp_path / "requests.jsonl", 5)
    file_id = upload(client, tmp_path / "requests.jsonl")
    finished = wait(client, submit(client, tmp_path / "requests.jsonl", metadata={"n": "1"}).id)

    client = make_client(
        start_localbatch(data_dir=data_dir, thread=True).base_url
    )  # a second server, same state

    assert client.files.retrieve(file_id).bytes == (tmp_path / "requests.jsonl").stat().st_size
    again = client.batches.retrieve(finished.id)
    assert again.model_dump() == finished.model_dump()
    content = download(client, again.output_file_id, tmp_path / "out.jsonl")
    assert len(read_lines(content)) == 5
