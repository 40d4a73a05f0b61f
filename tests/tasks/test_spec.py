"""Tasks declared in YAML, read without Dagster: what a good file gives, and the one sentence
a bad one gets (naming the field)."""

import textwrap
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from synth_assets.tasks import SPAM_TRIAGE, TASKS, TASKS_DIR
from synth_assets.tasks.seeds import SEED_SCHEMA, SeedGrid, seed_batches
from synth_assets.tasks.spec import (
    TaskSpecError,
    check_tasks,
    downstream_of,
    load_task_file,
    spec_from_attributes,
)


def attributes(name: str = "synthetic_emails") -> dict:
    """A shipped task's attributes, to edit in a test."""
    document = yaml.safe_load((TASKS_DIR / name / "defs.yaml").read_text())
    return document["attributes"]


def task_from(attrs: dict, where: str = "tasks/x/defs.yaml"):
    return spec_from_attributes(attrs, where).to_task(where)


def test_the_spam_yaml_asks_exactly_what_the_python_task_asked() -> None:
    row = {"id": "e1", "text": "Win a prize\nnow", "sender": "A <a@b.c>", "subject": "Hi"}
    system = (
        "You triage a company inbox. Classify the email as spam (unsolicited bulk mail, scams, "
        "phishing) or not_spam (everything a person at the company would want to see)."
    )

    messages = SPAM_TRIAGE.to_messages(row)

    # The request hash covers the messages: the same bytes keep every recorded answer valid.
    assert messages == [
        {"role": "system", "content": system},
        {"role": "user", "content": "From: A <a@b.c>\nSubject: Hi\n\nWin a prize\nnow"},
    ]
    assert SPAM_TRIAGE.name == "spam_triage" and SPAM_TRIAGE.input_name == "emails"
    assert (SPAM_TRIAGE.label_field, SPAM_TRIAGE.truth_column) == ("class_label", "label")


def test_the_shipped_tasks_load_in_chain_order() -> None:
    names = [t.name for t in TASKS]

    assert set(names) == {"spam_triage", "synthetic_emails", "synthetic_triage"}
    assert names.index("synthetic_emails") < names.index("synthetic_triage")
    emails = next(t for t in TASKS if t.name == "synthetic_emails")
    assert [t.name for t in downstream_of(emails, TASKS)] == ["synthetic_triage"]
    assert set(emails.response_model.model_fields) == {
        "sender",
        "subject",
        "body",
        "language",
        "intended_label",
    }


def test_a_seed_grid_expands_to_the_same_rows_for_a_day_and_new_ones_the_next_day() -> None:
    grid = SeedGrid(
        topics=["invoice", "meeting"], personas=["boss"], languages=["en", "de"],
        labels=["spam", "not_spam"], per_cell=3,
    )  # fmt: skip

    day = pa.Table.from_batches(seed_batches(grid, "2026-11-01"), SEED_SCHEMA)
    again = pa.Table.from_batches(seed_batches(grid, "2026-11-01"), SEED_SCHEMA)
    next_day = pa.Table.from_batches(seed_batches(grid, "2026-11-02"), SEED_SCHEMA)

    assert day.num_rows == 2 * 1 * 2 * 2 * 3 == grid.rows_per_day()
    assert day.equals(again)
    ids = day.column("id").to_pylist()
    assert len(set(ids)) == len(ids) and all(len(i) <= 64 for i in ids)
    assert not set(ids) & set(next_day.column("id").to_pylist())
    assert len(set(day.column("cell").to_pylist())) == grid.cells == 8


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda a: a["prompt"].update(user="Write about [[topik]] in [[language]]."),
            "tasks/x/defs.yaml: prompt.user uses [[topik]], which is not a column of its input "
            "(id, text, date, topic, persona, language, intended_label, variant, per_cell, cell, "
            "seed).",
        ),
        (
            lambda a: a["response_schema"]["properties"].update(
                meta={"type": "object", "additionalProperties": {"type": "string"}}
            ),
            "tasks/x/defs.yaml: response_schema.properties.meta is a free-form object (no "
            "properties, or additionalProperties), which strict structured outputs cannot "
            "express; list its properties.",
        ),
        (
            lambda a: a["response_schema"]["properties"].update(anything={}),
            "tasks/x/defs.yaml: response_schema.properties.anything has no supported type "
            "(string, integer, number, boolean, array, object, enum or const), which strict "
            "structured outputs cannot express.",
        ),
        (
            lambda a: a.update(dataset={"path": "x", "id_column": "i", "text_column": "t",
                                        "date_column": "d"}),
            "tasks/x/defs.yaml: give exactly one input, dataset, seeds or upstream (given: "
            "dataset, seeds).",
        ),
        (
            lambda a: a["quality"].update(text_field="bodee"),
            "tasks/x/defs.yaml: quality.text_field 'bodee' is not a field of the answer "
            "(sender, subject, body, language, intended_label).",
        ),
        (
            lambda a: a["seeds"].update(per_cell=0),
            "tasks/x/defs.yaml: seeds.per_cell: Value error, must be between 1 and 1000.",
        ),
    ],
    ids=["missing column", "free-form object", "untyped field", "two inputs", "bad field",
         "bad count"],
)  # fmt: skip
def test_a_bad_yaml_is_one_sentence_naming_the_field(edit, message: str) -> None:
    attrs = attributes()
    edit(attrs)

    with pytest.raises(TaskSpecError) as caught:
        task_from(attrs)

    assert str(caught.value) == message


def test_an_unknown_upstream_is_one_sentence_naming_it() -> None:
    triage = attributes("synthetic_triage")
    triage["upstream"]["task"] = "synthetic_mails"
    tasks = [task_from(attributes()), task_from(triage, "tasks/synthetic_triage/defs.yaml")]

    with pytest.raises(TaskSpecError) as caught:
        check_tasks(tasks)

    assert str(caught.value) == (
        "tasks/synthetic_triage/defs.yaml: upstream.task 'synthetic_mails' is not a task of "
        "this project (tasks: synthetic_emails)."
    )


def test_a_chained_prompt_may_use_only_the_upstreams_answer_fields() -> None:
    triage = attributes("synthetic_triage")
    triage["prompt"]["user"] = "[[sender]] [[reply_to]]\n\n[[text]]"
    tasks = [task_from(attributes()), task_from(triage, "t.yaml")]

    with pytest.raises(TaskSpecError, match=r"t.yaml: prompt.user uses \[\[reply_to\]\], which"):
        check_tasks(tasks)


def test_an_inline_schema_becomes_a_strict_model() -> None:
    attrs = attributes()
    attrs["response_schema"] = {
        "type": "object",
        "properties": {
            "kind": {"enum": ["a", "b"]},
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "note": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "who": {"type": "object", "properties": {"name": {"type": "string"}}},
        },
        "required": ["kind", "score", "tags", "who"],
    }
    del attrs["quality"], attrs["label_field"], attrs["truth_column"]
    model = task_from(attrs).response_model

    value = model.model_validate(
        {"kind": "a", "score": 2, "note": None, "tags": ["x"], "who": {"name": "n"}}
    )
    assert value.score == 2  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        model.model_validate({"kind": "c", "score": 9, "note": 1, "tags": [], "who": {}})


def test_the_scaffolded_yaml_is_a_working_task(tmp_path: Path) -> None:
    from synth_assets.defs.components import scaffold_yaml

    path = tmp_path / "tickets" / "defs.yaml"
    path.parent.mkdir()
    path.write_text(scaffold_yaml("tickets"))

    task = load_task_file(path)

    assert task.name == "tickets" and task.dataset is not None
    assert task.to_messages({"id": "1", "text": "It broke", "customer": "ACME"})[1] == {
        "role": "user",
        "content": "Customer: ACME\n\nIt broke",
    }


def test_a_dagster_template_is_refused_by_the_plain_loader(tmp_path: Path) -> None:
    path = tmp_path / "defs.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            type: synth_assets.BatchTaskComponent
            attributes:
              name: x
              model: "{{ env.MODEL }}"
            """
        )
    )

    with pytest.raises(TaskSpecError, match="uses a Dagster"):
        load_task_file(path)
