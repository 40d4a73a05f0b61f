"""Streaming a JSONL file line by line in large blocks (never the whole file in memory)."""

import os
import re
from collections.abc import Iterator
from pathlib import Path

from pydantic_core import from_json

BLOCK = 8 << 20
# Request lines we write put custom_id first: a regex reads it without parsing the body.
_CUSTOM_ID_PREFIX = re.compile(rb'^\s*\{\s*"custom_id"\s*:\s*"((?:[^"\\]|\\.)*)"')


def iter_blocks(path: str | os.PathLike[str], block: int = BLOCK) -> Iterator[list[bytes]]:
    """Yield lists of complete lines (without newline) read ``block`` bytes at a time.

    The last line is yielded even without a trailing newline; ``\\r\\n`` endings are accepted.
    """
    carry = b""
    with open(Path(path), "rb") as handle:
        while chunk := handle.read(block):
            chunk = carry + chunk
            cut = chunk.rfind(b"\n")
            if cut < 0:
                carry = chunk
                continue
            carry = chunk[cut + 1 :]
            lines = chunk[:cut].split(b"\n")
            yield [line[:-1] if line.endswith(b"\r") else line for line in lines]
    if carry:
        yield [carry[:-1] if carry.endswith(b"\r") else carry]


def iter_lines(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """Yield every line of ``path`` (without newline) in order."""
    for lines in iter_blocks(path):
        yield from lines


def custom_id_of(line: bytes) -> str | None:
    """The ``custom_id`` of a request or result line, or None when it has none."""
    match = _CUSTOM_ID_PREFIX.match(line)
    if match and b"\\" not in match.group(1):
        return match.group(1).decode()
    if not line.strip():
        return None
    try:
        custom_id = from_json(line).get("custom_id")
    except (ValueError, AttributeError):
        return None
    return custom_id if isinstance(custom_id, str) else None
