"""``synth batch create``: a JSONL of message lists (or rows) into request files.

Each line of the input is one request, in one of three shapes:

* a JSON array of chat messages: ``[{"role": "user", "content": "..."}]``;
* an object with a ``messages`` array (its other fields can give the custom_id);
* with ``--text-field``, any object (a row): that field becomes the user message, after
  an optional ``--system`` message.

Lines are streamed; the request lines themselves are built and sharded by the library.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic_core import from_json

from synth_assets.batch import Messages, RequestBuilder, Shard, SynthError, iter_lines, write_shards


@dataclass(frozen=True, slots=True)
class MessageSource:
    """How to read one input file into ``(custom_id, messages)`` pairs."""

    path: Path
    id_field: str | None = None
    text_field: str | None = None
    system: str | None = None

    def __iter__(self) -> Iterator[tuple[str, Messages]]:
        count = 0
        for number, raw in enumerate(iter_lines(self.path), start=1):
            if not raw.strip():
                continue  # a blank line (often the last) is not a request
            try:
                line = from_json(raw)
            except ValueError as exc:
                raise self._error(number, f"is not valid JSON ({exc})") from None
            yield self._custom_id(line, number, count), self._messages(line, number)
            count += 1
        if count == 0:
            raise SynthError(f"{self.path} holds no messages; nothing to build.")

    def _messages(self, line: Any, number: int) -> Messages:
        if self.text_field is not None:
            if not isinstance(line, dict) or self.text_field not in line:
                raise self._error(number, f"has no field {self.text_field!r} (--text-field)")
            messages: Any = [{"role": "user", "content": str(line[self.text_field])}]
            if self.system:
                messages.insert(0, {"role": "system", "content": self.system})
            return messages
        messages = line.get("messages") if isinstance(line, dict) else line
        if not isinstance(messages, list) or not messages:
            raise self._error(
                number,
                "is neither a list of messages nor an object with a 'messages' list "
                "(use --text-field to build messages from a field of a row)",
            )
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise self._error(number, "holds a message that is not an object with a 'role'")
        return messages

    def _custom_id(self, line: Any, number: int, index: int) -> str:
        if self.id_field is None:
            return f"request-{index}"  # the library's numbering: position among requests
        value = line.get(self.id_field) if isinstance(line, dict) else None
        if value is None or isinstance(value, dict | list):
            raise self._error(number, f"has no usable {self.id_field!r} field (--id-field)")
        return str(value)

    def _error(self, number: int, problem: str) -> SynthError:
        return SynthError(f"line {number} of {self.path} {problem}.")


def build_request_files(
    source: MessageSource,
    builder: RequestBuilder,
    output: Path,
    *,
    max_requests: int,
    max_bytes: int,
) -> list[Shard]:
    """Write ``output``, or ``<stem>-00000.jsonl``, ... beside it when limits split the file.

    Shards are written in a scratch folder next to ``output`` and moved into place only when
    all of them are complete, so a failure half-way leaves no misleading request files.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        shards = write_shards(
            source,
            builder,
            scratch,
            name=output.stem,
            max_requests=max_requests,
            max_bytes=max_bytes,
        )
        placed = []
        for shard in shards:
            target = output if len(shards) == 1 else output.parent / Path(shard.path).name
            os.replace(shard.path, target)
            placed.append(replace(shard, path=str(target)))
        return placed
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
