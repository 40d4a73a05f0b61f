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
    Blocks are read into one reused buffer: fresh memory for every block would be paged in
    anew each time, which costs more than splitting the lines.
    """
    buffer = bytearray(block)
    view = memoryview(buffer)
    carry = b""  # the start of a line that continues in the next block
    with open(Path(path), "rb", buffering=0) as handle:
        while size := handle.readinto(view):
            cut = buffer.rfind(b"\n", 0, size)
            if cut < 0:
                carry += view[:size]
                continue
            data = bytes(view[:cut])
            lines = data.split(b"\n")
            if carry:
                lines[0] = carry + lines[0]
            # A block with no \r anywhere (the usual case) has no \r\n ending to strip.
            if b"\r" in data or b"\r" in carry:
                lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
            carry = bytes(view[cut + 1 : size])
            yield lines
    view.release()
    if carry:
        yield [carry[:-1] if carry.endswith(b"\r") else carry]


def read_span(path: str | os.PathLike[str], start: int, end: int, buffer: bytearray) -> bytes:
    """Bytes ``start:end`` of ``path``, read through ``buffer`` (grown as needed, reused by
    the caller from block to block, for the reason given in :func:`iter_blocks`)."""
    size = end - start
    if len(buffer) < size:
        buffer.extend(bytes(size - len(buffer)))
    with open(Path(path), "rb", buffering=0) as handle, memoryview(buffer) as view:
        handle.seek(start)
        filled = 0
        while filled < size and (got := handle.readinto(view[filled:size])):
            filled += got
        return bytes(view[:filled])


def is_line(raw: bytes) -> bool:
    """False for a blank line, which is no line at all (not a row of any table)."""
    return bool(raw) and not raw.isspace()


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
