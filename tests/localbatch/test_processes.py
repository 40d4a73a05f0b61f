"""Several processes at once: clients polling one server, and servers sharing one data dir."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from .helpers import download, read_lines, submit, wait, write_requests

# A client process as the Dagster sensor or a run worker would be: poll, then download.
POLLER = """
import hashlib, json, sys, time
import openai
client = openai.OpenAI(base_url=sys.argv[1], api_key="test", max_retries=0)
print("ready", flush=True)
batch_id = sys.stdin.readline().strip()
seen = []
while True:
    batch = client.batches.retrieve(batch_id)
    seen.append([batch.status, batch.request_counts.completed if batch.request_counts else 0])
    if batch.status in ("completed", "failed", "expired", "cancelled"):
        break
    time.sleep(0.02)
digest = hashlib.sha256()
with client.files.with_streaming_response.content(batch.output_file_id) as response:
    for block in response.iter_bytes():
        digest.update(block)
print(json.dumps({"seen": seen, "sha256": digest.hexdigest()}))
"""


def test_two_processes_polling_see_the_same_progress_and_result(
    localbatch_url: str, openai_client, tmp_path: Path
) -> None:
    write_requests(tmp_path / "requests.jsonl", 60)
    pollers = [
        subprocess.Popen(
            [sys.executable, "-c", POLLER, localbatch_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for poller in pollers:  # warm (openai imported) before the batch starts
        assert poller.stdout.readline() == b"ready\n"

    batch = submit(
        openai_client,
        tmp_path / "requests.jsonl",
        metadata={"localbatch_chunk_size": "6", "localbatch_delay_s": "0.1"},
    )
    for poller in pollers:  # both start polling now
        poller.stdin.write(f"{batch.id}\n".encode())
        poller.stdin.close()
    reports = [json.loads(p.stdout.read()) for p in pollers]
    for poller in pollers:
        poller.wait(timeout=60)

    assert all(p.returncode == 0 for p in pollers)
    for report in reports:
        counts = [completed for _, completed in report["seen"]]
        assert counts == sorted(counts)  # progress never goes backwards
        assert report["seen"][-1] == ["completed", 60]
    assert any(0 < completed < 60 for report in reports for _, completed in report["seen"])
    assert reports[0]["sha256"] == reports[1]["sha256"]


def test_two_servers_on_one_data_dir_run_each_request_once(
    start_localbatch, make_client, tmp_path: Path
) -> None:
    data_dir = tmp_path / "shared"
    first = make_client(start_localbatch(data_dir=data_dir).base_url)
    second = make_client(start_localbatch(data_dir=data_dir).base_url)
    ids = write_requests(tmp_path / "requests.jsonl", 40)
    slow = {"localbatch_chunk_size": "4", "localbatch_delay_s": "0.02"}

    batches = [submit(first, tmp_path / "requests.jsonl", metadata=slow).id for _ in range(6)]
    finished = [wait(second, batch_id) for batch_id in batches]  # polled through the other one

    for batch in finished:
        assert batch.status == "completed"
        assert batch.request_counts.completed == 40
        lines = read_lines(download(first, batch.output_file_id, tmp_path / f"{batch.id}.jsonl"))
        answered = Counter(line["custom_id"] for line in lines)
        assert sorted(answered) == ids and max(answered.values()) == 1
