"""Building a day's requests: which rows are sent, at any size of day."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from synth_assets.pipeline import steps
from synth_assets.pipeline.plan import BUILD_SLICE_ROWS, Policy, build_requests, iter_sends
from synth_assets.pipeline.record import RequestRecord
from synth_assets.tasks import SPAM_TRIAGE


def test_the_same_request_in_rows_far_apart_is_sent_once(tmp_path: Path) -> None:
    """Rows are built a slice at a time; a duplicate in a later slice still joins the first."""
    size = BUILD_SLICE_ROWS
    rows = 5 * size
    texts = [f"Subject: note {i}\n\nbody {i}" for i in range(rows)]
    texts[4 * size + 1] = texts[3]  # a later slice repeats an earlier one
    texts[4 * size + 2] = texts[4 * size + 3]  # and one within its slice
    texts[2 * size] = texts[2 * size - 1]  # and the next slice the one before (claimed beside it)
    snapshot = tmp_path / "snapshot.parquet"
    pq.write_table(pa.table({"id": [f"e{i}" for i in range(rows)], "text": texts}), snapshot)
    with RequestRecord(tmp_path / "record.sqlite", "backend") as record:
        build = build_requests(
            SPAM_TRIAGE,
            snapshot,
            tmp_path / "g1",
            steps.builder_for(SPAM_TRIAGE),
            record,
            Policy(),
            max_requests=50_000,
            max_bytes=200 << 20,
        )
    assert build.kinds == {"new": rows - 3, "same_request": 3}
    sent = [custom_id for custom_id, _, _, _ in iter_sends(build.folder)]
    assert len(sent) == len(set(sent)) == rows - 3
    firsts = {f"e{2 * size - 1}", "e3", f"e{4 * size + 2}"}
    assert firsts <= set(sent)  # the first row of each twin is sent
    assert sum(shard.requests for shard in build.shards) == rows - 3
    assert sorted(p.name for p in (tmp_path / "g1").iterdir() if p.name.startswith(".")) == []
