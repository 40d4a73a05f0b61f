"""The request lines a build writes are pinned byte for byte.

A request's hash (everything in its line but the custom_id) is the key of the request
record: a line that changes by one byte is a new request, paid again for every user. So
the shards, the manifest, the sends and the invalid inputs of a few small, awkward days are
compared with ``data/build_golden/``, written by the code that produced today's requests.
Run this file as a script (``python tests/pipeline/test_plan_golden.py``) to write them
again, only for a deliberate change of the request format.
"""

import datetime as dt
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synth_assets.pipeline import steps
from synth_assets.pipeline.plan import Policy, build_requests, iter_invalid_inputs, iter_manifest
from synth_assets.pipeline.plan import iter_sends as plan_iter_sends
from synth_assets.pipeline.record import RequestRecord
from synth_assets.tasks import SPAM_TRIAGE, BatchTask
from synth_assets.tasks.template import PromptTemplate

GOLDEN = Path(__file__).parent / "data" / "build_golden"

# Values that JSON escaping and templating can get wrong: quotes, backslashes, every kind of
# control character, non-ASCII, emoji, line separators, a placeholder inside a value.
AWKWARD = [
    'She said "hi" \\ and left',
    "tab\there\r\nCRLF\x00nul\x01\x08\x0b\x0c\x1b\x1f\x7f del",
    "Grüße, 東京 🎉 \u2028\u2029 \ufeff zero-width\u200b",
    "[[subject]] and [[ text ]] stay as they are",
    "",
    " ",
    '</script><!-- {"json": [1, 2]} -->',
    "a\\u0041 not an escape \\n",
]


def spam_day() -> pa.Table:
    """The spam task's columns: odd texts and senders, odd ids, nulls, problems, twins."""
    ids, texts, senders, subjects, problems = [], [], [], [], []
    odd_ids = [
        "x" * 64,  # the longest id kept as it is
        "y" * 65,  # hashed
        "with\nnewline",  # not printable: hashed
        "tab\tid",
        'quote"and\\backslash',
        "grüße-東京",  # printable non-ASCII: kept
        "emoji-🎉",
        " leading space",
        "trailing space ",
        "",  # empty: hashed
    ]
    for i in range(40):
        awkward = AWKWARD[i % len(AWKWARD)]
        ids.append(odd_ids[i] if i < len(odd_ids) else f"e{i:03d}")
        texts.append(f"body {i}: {awkward}")
        senders.append(None if i % 7 == 3 else f"sender{i}@example.com {AWKWARD[(i + 3) % 8]}")
        subjects.append(None if i % 5 == 2 else f"subject {i} {AWKWARD[(i + 5) % 8]}")
        problems.append({11: "empty text", 12: "", 13: "duplicate id: already on row 2"}.get(i))
    # Twins: a row whose request repeats an earlier row's (sent once), adjacent and far apart.
    for source, target in ((20, 21), (4, 39)):
        texts[target], senders[target], subjects[target] = (
            texts[source],
            senders[source],
            subjects[source],
        )
    return pa.table(
        {
            "id": ids,
            "text": texts,
            "sender": senders,
            "subject": subjects,
            "language": ["en"] * len(ids),
            "problem": pa.array(problems, pa.string()),
        }
    )


def bare_day() -> pa.Table:
    """Only ``id`` and ``text``: the template's other columns are missing, so empty."""
    return pa.table({"id": [f"b{i}" for i in range(12)], "text": AWKWARD + AWKWARD[:4]})


TYPED = BatchTask(
    name="typed",
    description="A template over columns of every type, its system message templated too.",
    input_name="things",
    dataset=SPAM_TRIAGE.dataset,
    to_messages=PromptTemplate(
        system="You rate [[kind]] items ([[missing]] is no column).",
        user="[[ text ]]|[[n]]|[[x]]|[[flag]]|[[when]]|[[day]]|[[tags]]|[[big]]|[[raw]]",
    ),
    response_model=SPAM_TRIAGE.response_model,
    model="gpt-4.1-nano",
    mode="tools",
    params={"temperature": 0.0, "max_tokens": 17, "seed": None},
)


def typed_day() -> pa.Table:
    """Integers, floats, booleans, timestamps, dates, lists, decimals, bytes, with nulls."""
    n = 9
    return pa.table(
        {
            "id": pa.array(list(range(100, 100 + n)), pa.int64()),  # ids need not be strings
            "text": pa.array([*AWKWARD[: n - 1], None], pa.large_string()),
            "kind": ["fruit", "veg", None, "é", '"q"', "k", "k", "k", "k"],
            "n": pa.array([0, -1, 2**40, None, 7, 8, 9, 10, 11], pa.int64()),
            "x": pa.array([0.1, 1e20, -0.0, float("nan"), None, 1.5, 2.0, 1e-7, 3.0]),
            "flag": pa.array([True, False, None, True, False, True, False, True, False]),
            "when": pa.array(
                [dt.datetime(2026, 11, 1, 12, 30, i) for i in range(n - 1)] + [None],
                pa.timestamp("us"),
            ),
            "day": pa.array([dt.date(2026, 11, i + 1) for i in range(n)], pa.date32()),
            "tags": pa.array([["a", "b"], [], None, ["\n"], ["x"], ["y"], [], [], ["z"]]),
            "big": pa.array([1, 2, 3, 4, 5, 6, 7, 8, None], pa.decimal128(10, 2)),
            "raw": pa.array([b"\x00\xff", b"", None, b"a", b"b", b"c", b"d", b"e", b"f"]),
        }
    )


def _python_messages(row: Any) -> list[dict[str, Any]]:
    """A task written in Python rather than as a template: three messages, one of them a
    fixed assistant turn."""
    return [
        {"role": "system", "content": f"Be brief. Row {row['id']!r}."},
        {"role": "assistant", "content": "Ready."},
        {"role": "user", "content": str(row.get("text")) + " / " + repr(row.get("n"))},
    ]


PYTHON = replace(TYPED, name="python", to_messages=_python_messages, mode="json_schema")

# name: (task, its day, max requests per shard, max bytes per shard)
CASES = {
    "spam": (SPAM_TRIAGE, spam_day, 7, 1 << 20),
    "bare": (SPAM_TRIAGE, bare_day, 50, 5_000),  # the byte limit splits
    "typed": (TYPED, typed_day, 4, 1 << 20),
    "python": (PYTHON, typed_day, 100, 1 << 20),
}


def built(case: str, tmp_path: Path) -> dict[str, bytes]:
    """The files of a build of the case's day on an empty record, as bytes."""
    task, day, max_requests, max_bytes = CASES[case]
    snapshot = tmp_path / "snapshot.parquet"
    pq.write_table(day(), snapshot)
    with RequestRecord(tmp_path / "record.sqlite", "local") as record:
        build = build_requests(
            task,
            snapshot,
            tmp_path / "g1",
            steps.builder_for(task),
            record,
            Policy(),
            max_requests=max_requests,
            max_bytes=max_bytes,
        )
    shards = [
        {k: v for k, v in asdict(shard).items() if k != "path"} | {"name": Path(shard.path).name}
        for shard in build.shards
    ]
    manifest = [
        pair
        for ids, hashes in iter_manifest(build.folder)
        for pair in zip(ids, hashes, strict=True)
    ]
    summary = {
        "rows": build.rows,
        "invalid_inputs": build.invalid_inputs,
        "kinds": dict(sorted(build.kinds.items())),
        "requests": build.requests,
        "bytes": build.bytes,
        "shards": shards,
        "manifest": manifest,
        "sends": list(plan_iter_sends(build.folder)),
        "invalid": [(u.custom_id, u.message, u.raw) for u in iter_invalid_inputs(build.folder)],
    }
    return {
        "requests.jsonl": b"".join(Path(s.path).read_bytes() for s in build.shards),
        "build.json": json.dumps(summary, indent=1, ensure_ascii=False).encode() + b"\n",
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_build_writes_the_very_requests_it_always_wrote(case: str, tmp_path: Path) -> None:
    files = built(case, tmp_path)
    for name, data in files.items():
        expected = (GOLDEN / case / name).read_bytes()
        if data != expected:
            # The first line that differs, rather than two walls of bytes.
            pairs = zip(data.splitlines(), expected.splitlines(), strict=False)
            first = next(((i, a, b) for i, (a, b) in enumerate(pairs) if a != b), None)
            pytest.fail(f"{case}/{name} differs from the golden file; first line: {first}")


if __name__ == "__main__":
    import tempfile

    for case in sys.argv[1:] or sorted(CASES):
        with tempfile.TemporaryDirectory() as scratch:
            for name, data in built(case, Path(scratch)).items():
                (GOLDEN / case).mkdir(parents=True, exist_ok=True)
                (GOLDEN / case / name).write_bytes(data)
        print(f"wrote {GOLDEN / case}")
