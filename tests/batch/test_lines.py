"""Streaming lines in blocks: lines cut by block boundaries come out whole."""

from pathlib import Path

import pytest

from synth_assets.batch.lines import iter_blocks, iter_lines

LINES = [b'{"custom_id": "a"}', b"", b"x" * 50, "é🎉".encode(), b"  ", b"last"]


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("final_newline", [True, False], ids=["final", "no-final"])
def test_every_line_comes_out_whole_whatever_the_block_size(
    tmp_path: Path, block: int, newline: bytes, final_newline: bool
) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_bytes(newline.join(LINES) + (newline if final_newline else b""))

    blocks = list(iter_blocks(path, block=block))

    assert [line for lines in blocks for line in lines] == LINES
    assert all(lines for lines in blocks)


def test_an_empty_file_yields_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")

    assert list(iter_lines(path)) == []


def test_a_single_newline_is_one_empty_line(tmp_path: Path) -> None:
    path = tmp_path / "newline.jsonl"
    path.write_bytes(b"\n")

    assert list(iter_lines(path)) == [b""]
