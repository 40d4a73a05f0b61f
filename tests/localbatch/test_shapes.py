"""Answer bodies: a synthetic chat answer written from its parts is the body, byte for byte."""

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import from_json, to_json

from synth_assets.localbatch.answers import Reply, output_line
from synth_assets.localbatch.shapes import AnswerKind, ChatAnswer, Target, Usage

targets = st.builds(
    Target,
    st.sampled_from(list(AnswerKind)),
    name=st.one_of(st.none(), st.text(max_size=10)),
    forced=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    target=targets,
    model=st.text(max_size=20),
    text=st.text(max_size=60),
    tokens=st.tuples(st.integers(0, 2**40), st.integers(0, 2**40)),
    created=st.integers(0, 2**40),
    custom_id=st.text(min_size=1, max_size=20),
)
def test_a_chat_answer_writes_the_same_bytes_as_its_dict(
    target: Target,
    model: str,
    text: str,
    tokens: tuple[int, int],
    created: int,
    custom_id: str,
) -> None:
    answer = ChatAnswer.new(
        model=model,
        target=target,
        text=text,
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        created=created,
    )
    body = answer.to_dict()
    assert answer.to_json() == to_json(body)
    assert answer.to_dict() == body  # the same ids every time

    line = output_line(custom_id, Reply(200, answer))
    written = from_json(line)
    expected = {
        "id": written["id"],
        "custom_id": custom_id,
        "response": {
            "status_code": 200,
            "request_id": written["response"]["request_id"],
            "body": body,
        },
        "error": None,
    }
    assert line == to_json(expected) + b"\n"

    from_parts, from_dict = Usage(), Usage()
    from_parts.add_body(answer)
    from_dict.add_body(body)
    assert from_parts == from_dict
