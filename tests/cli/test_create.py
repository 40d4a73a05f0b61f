"""``synth batch create``: message lists or rows into valid request files, split by limits."""

from synth_assets.batch import validate_request_file

from .helpers import SPAM_MODEL, Synth, read_jsonl, write_jsonl

CREATE = ("batch", "create", "--model", "gpt-4o-mini", "--response-model", SPAM_MODEL)


def test_message_lists_are_numbered_like_the_library(synth: Synth) -> None:
    write_jsonl(
        synth.cwd / "messages.jsonl",
        [
            [{"role": "user", "content": "same"}],
            {"messages": [{"role": "user", "content": "same"}]},  # twins keep distinct ids
        ],
    )
    result = synth.ok(*CREATE, "--messages-file", "messages.jsonl", "--output-file", "r.jsonl")
    lines = read_jsonl(synth.cwd / "r.jsonl")
    assert [line["custom_id"] for line in lines] == ["request-0", "request-1"]
    assert lines[0]["body"]["response_format"]["json_schema"]["strict"] is True
    assert validate_request_file(synth.cwd / "r.jsonl") == []
    assert "r.jsonl" in result.stdout and "create-from-file --file-path" in result.stderr


def test_rows_become_messages_with_their_own_ids(synth: Synth) -> None:
    write_jsonl(
        synth.cwd / "emails.jsonl",
        [{"email_id": 17, "body": "win money"}, {"email_id": "e-2", "body": "lunch?"}],
    )
    synth.ok(
        *CREATE, "--messages-file", "emails.jsonl", "--output-file", "r.jsonl",
        "--text-field", "body", "--id-field", "email_id", "--system", "Classify this email.",
        "--mode", "tools", "--param", "temperature=0",
    )  # fmt: skip
    lines = read_jsonl(synth.cwd / "r.jsonl")
    assert [line["custom_id"] for line in lines] == ["17", "e-2"]
    body = lines[0]["body"]
    assert body["messages"] == [
        {"role": "system", "content": "Classify this email."},
        {"role": "user", "content": "win money"},
    ]
    assert body["tool_choice"]["function"]["name"] == "SinglePrediction"
    assert body["temperature"] == 0


def test_limits_split_the_output_into_numbered_shards(synth: Synth) -> None:
    write_jsonl(synth.cwd / "m.jsonl", ([{"role": "user", "content": f"#{i}"}] for i in range(5)))
    result = synth.ok(
        *CREATE, "--messages-file", "m.jsonl", "--output-file", "out/requests.jsonl",
        "--max-requests", "2",
    )  # fmt: skip
    shards = sorted((synth.cwd / "out").glob("*.jsonl"))
    assert [p.name for p in shards] == [f"requests-0000{i}.jsonl" for i in range(3)]
    assert [len(read_jsonl(p)) for p in shards] == [2, 2, 1]
    assert not (synth.cwd / "out" / "requests.jsonl").exists()
    assert [p.name for p in (synth.cwd / "out").iterdir() if p.name.startswith(".")] == []
    assert result.stderr.count("create-from-file --file-path") == 3


def test_a_bad_line_is_named_and_nothing_is_written(synth: Synth) -> None:
    (synth.cwd / "m.jsonl").write_text('[{"role": "user", "content": "ok"}]\n{"text": "no"}\n')
    result = synth(*CREATE, "--messages-file", "m.jsonl", "--output-file", "r.jsonl")
    assert result.returncode == 1
    assert result.stderr.startswith("error: line 2 of m.jsonl is neither a list of messages")
    assert sorted(p.name for p in synth.cwd.iterdir()) == ["m.jsonl"]


def test_a_model_strict_mode_cannot_express_is_refused(synth: Synth) -> None:
    (synth.cwd / "loose.py").write_text(
        "from pydantic import BaseModel\n\nclass Loose(BaseModel):\n    scores: dict[str, int]\n"
    )
    write_jsonl(synth.cwd / "m.jsonl", [[{"role": "user", "content": "hi"}]])
    result = synth(
        "batch", "create", "--model", "gpt-4o-mini", "--response-model", "loose:Loose",
        "--messages-file", "m.jsonl", "--output-file", "r.jsonl",
    )  # fmt: skip
    assert result.returncode == 1
    assert "scores" in result.stderr and len(result.stderr.strip().splitlines()) == 1
