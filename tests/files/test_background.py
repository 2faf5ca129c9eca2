"""The background writer process: calls applied in order, failures reported, abort."""

from __future__ import annotations

from pathlib import Path

import pytest

from memberkit.files.background import BackgroundWriter, BackgroundWriterError


class LinesWriter:
    """A tiny writer for the tests: one line per call, or a failure on demand."""

    def __init__(self, path: Path) -> None:
        self.fh = path.open("w", encoding="utf-8")

    def line(self, text: str) -> None:
        if text == "boom":
            raise ValueError("cannot write boom")
        self.fh.write(text + "\n")

    def close(self) -> None:
        self.fh.close()


def test_calls_are_applied_in_order_and_the_file_completed_on_close(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    writer = BackgroundWriter(LinesWriter, path)
    for number in range(2500):  # more than one batch
        writer.call("line", str(number))
    writer.close()
    assert path.read_text().splitlines() == [str(n) for n in range(2500)]


def test_a_failure_in_the_writer_is_reported_with_its_reason(tmp_path: Path) -> None:
    writer = BackgroundWriter(LinesWriter, tmp_path / "out.txt")
    writer.call("line", "boom")
    with pytest.raises(BackgroundWriterError, match="ValueError: cannot write boom"):
        for _ in range(10_000):
            writer.call("line", "more")
        writer.close()
    writer.abort()


def test_abort_stops_the_child(tmp_path: Path) -> None:
    writer = BackgroundWriter(LinesWriter, tmp_path / "out.txt")
    writer.call("line", "x")
    writer.abort()
    writer.abort()  # twice is harmless
