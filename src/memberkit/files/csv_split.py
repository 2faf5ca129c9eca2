"""Splitting a CSV export in two at a record boundary, so two processes can read it.

A record boundary is a line end outside quotes. In RFC 4180 CSV a quote inside
a quoted cell is doubled, so a line end is outside quotes exactly when the
number of ``"`` bytes before it is even. Counting bytes is safe in UTF-8 and
Windows-1252: neither uses the bytes of ``"`` or ``\\n`` inside another character.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from memberkit.files.csv_input import CsvSource, csv_rows

_CHUNK = 1 << 20


def record_boundary(path: Path, near: int) -> int | None:
    """The byte offset where the first record starting at or after ``near`` begins.

    ``None`` when no record starts after ``near`` (then there is nothing to split).
    """
    quotes = 0
    with path.open("rb") as fh:
        remaining = near
        while remaining > 0:
            chunk = fh.read(min(_CHUNK, remaining))
            if not chunk:
                return None
            quotes += chunk.count(b'"')
            remaining -= len(chunk)
        position = near
        while chunk := fh.read(_CHUNK):
            start = 0
            while (line_end := chunk.find(b"\n", start)) != -1:
                quotes += chunk.count(b'"', start, line_end)
                if quotes % 2 == 0:
                    boundary = position + line_end + 1
                    return boundary if fh.read(1) or line_end + 1 < len(chunk) else None
                start = line_end + 1
            quotes += chunk.count(b'"', start)
            position += len(chunk)
    return None


def records_from(
    path: Path, start: int, encoding: str, delimiter: str
) -> Iterator[tuple[int, list[str]]]:
    """``(offset, cells)`` of each record from ``start`` (a record boundary) on, blank lines too."""
    with path.open("rb") as fh:
        fh.seek(start)
        buffer = b""
        position = start  # the file offset of buffer[0]
        at_end = False
        while True:
            quotes = 0
            scan = 0
            line_end = -1
            while True:  # the end of the record at buffer[0]: a line end outside quotes
                found = buffer.find(b"\n", scan)
                if found == -1:
                    break
                quotes += buffer.count(b'"', scan, found)
                scan = found + 1
                if quotes % 2 == 0:
                    line_end = found
                    break
            if line_end == -1:
                if at_end:
                    if buffer:
                        yield position, _cells(buffer, encoding, delimiter)
                    return
                chunk = fh.read(_CHUNK)
                at_end = not chunk
                buffer += chunk
                continue
            record = buffer[: line_end + 1]
            yield position, _cells(record, encoding, delimiter)
            position += len(record)
            buffer = buffer[line_end + 1 :]


def _cells(record: bytes, encoding: str, delimiter: str) -> list[str]:
    rows = list(
        csv.reader(
            io.StringIO(record.decode(encoding, errors="replace"), newline=""), delimiter=delimiter
        )
    )
    return rows[0] if rows else []


class _RangeReader(io.RawIOBase):
    """Bytes ``[start, end)`` of a file, as a raw stream."""

    def __init__(self, path: Path, start: int, end: int) -> None:
        self._file = path.open("rb", buffering=0)
        self._file.seek(start)
        self._position, self._end = start, end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), self._end - self._position)
        if wanted <= 0:
            return 0
        count = self._file.readinto(memoryview(buffer)[:wanted]) or 0
        self._position += count
        return count

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._file.close()
        super().close()


def open_csv_range(source: CsvSource, start: int, end: int) -> CsvSource:
    """The records of ``source``'s file in bytes ``[start, end)`` (its header skipped if there)."""
    raw = _RangeReader(source.path, start, end)
    text = io.TextIOWrapper(
        io.BufferedReader(raw, buffer_size=_CHUNK),
        encoding=source.encoding,
        newline="",
        errors="strict",
    )
    reader = csv_rows(text, source.delimiter)
    part = CsvSource(
        source.path, source.setting, source.encoding, source.delimiter, source.header,
        text, reader, end, source.encoding_setting,
    )  # fmt: skip
    if start == 0:
        for _, _cells in part.records():
            break  # the header row, already read by ``source``
    return part
