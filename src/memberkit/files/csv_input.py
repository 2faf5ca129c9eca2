"""Opening a real-world CSV export for one streaming pass.

Exports reach us saved by Shopify, Matrixify or Excel, so a reader must cope
with: UTF-8 with or without a BOM, or Windows-1252 (``input.encoding = auto``
decides by checking the whole file is valid UTF-8); ``,`` ``;`` or tab
delimiters (taken from the header line); CRLF or LF; quoted cells spanning
lines; blank lines (skipped). Problems that make a file unusable are
``InputFileError``s naming the setting, the path and what to do.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from memberkit.errors import InputFileError

EncodingSetting = Literal["auto", "utf-8", "cp1252"]
DELIMITERS = (",", ";", "\t")
_CHUNK = 1 << 20

# A cell longer than Excel's limit must still be read, so it can be rejected by name.
csv.field_size_limit(min(sys.maxsize, 1 << 30))


def sniff_encoding(path: Path, setting: EncodingSetting) -> str:
    """The Python codec to read ``path`` with: ``utf-8-sig`` or ``cp1252``.

    ``auto`` picks UTF-8 when the file starts with a BOM or is valid UTF-8 all
    through, else Windows-1252. ``utf-8-sig`` reads files with and without a BOM.
    A UTF-16 byte-order mark (Excel's "Unicode Text" save) is honoured in every
    setting: such a file cannot be meant as anything else.
    """
    with path.open("rb") as fh:
        if fh.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return "utf-16"
    if setting == "cp1252":
        return "cp1252"
    if setting == "utf-8":
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as fh:
        first = True
        while chunk := fh.read(_CHUNK):
            if first and chunk.startswith(codecs.BOM_UTF8):
                return "utf-8-sig"
            first = False
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return "cp1252"
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


def sniff_delimiter(header_line: str) -> str:
    """The delimiter a header line uses: the most frequent of ``,`` ``;`` tab outside quotes."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def normalise_header(text: str) -> str:
    """A header as compared: case, surrounding and repeated spaces ignored."""
    return " ".join(text.replace("\ufeff", "").split()).lower()


@dataclass
class CsvSource:
    """An open CSV export: its header, and its data records as one stream.

    ``records()`` yields ``(row_number, cells)`` where the header is row 1 and
    blank lines are skipped (not counted as rows).
    """

    path: Path
    setting: str
    encoding: str
    delimiter: str
    header: list[str]
    _text: io.TextIOWrapper
    _reader: Iterator[list[str]]
    size: int

    def records(self) -> Iterator[tuple[int, list[str]]]:
        number = 1
        try:
            for cells in self._reader:
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue
                number += 1
                yield number, cells
        except UnicodeDecodeError as exc:
            raise InputFileError(
                f"{self.setting} {self.path}: cannot be read as {_encoding_name(self.encoding)} "
                f"after row {number}: {exc.reason}",
                hint="set input.encoding to 'cp1252' for files saved from Excel, or 'auto'",
            ) from None
        except csv.Error as exc:
            raise InputFileError(
                f"{self.setting} {self.path}: not a readable CSV after row {number}: {exc}",
                hint="check the file is a CSV export (not XLSX) and not truncated",
            ) from None

    def bytes_read(self) -> int:
        """How far into the file reading has got (for progress bars)."""
        try:
            return int(self._text.buffer.raw.tell())  # type: ignore[attr-defined]
        except (OSError, ValueError):
            return self.size

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> CsvSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_csv(path: Path, *, setting: str, encoding: EncodingSetting) -> CsvSource:
    """Open ``path`` (the file of ``setting``) and read its header; raise ``InputFileError``."""
    if not path.exists():
        raise InputFileError(
            f"{setting} {path}: file not found",
            hint="export the file to that path"
            + (f", or set {setting} in the config" if _is_setting(setting) else ""),
        )
    if not path.is_file():
        raise InputFileError(f"{setting} {path}: is not a file")
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            signature = fh.read(4)
        if signature.startswith(_SPREADSHEET_SIGNATURES):
            raise InputFileError(
                f"{setting} {path}: is a spreadsheet (XLSX or XLS), not a CSV file",
                hint="export or save it as CSV (comma-separated) and point to that file",
            )
        codec = sniff_encoding(path, encoding)
        raw = path.open("rb", buffering=0)
    except OSError as exc:
        raise InputFileError(f"{setting} {path}: cannot read: {exc.strerror}") from None
    text = io.TextIOWrapper(
        io.BufferedReader(raw, buffer_size=_CHUNK), encoding=codec, newline="", errors="strict"
    )
    try:
        first_line = _first_non_blank_line(text)
    except UnicodeDecodeError as exc:
        text.close()
        raise InputFileError(
            f"{setting} {path}: cannot be read as {_encoding_name(codec)}: {exc.reason}",
            hint="set input.encoding to 'cp1252' for files saved from Excel, or 'auto'",
        ) from None
    if first_line is None:
        text.close()
        raise InputFileError(
            f"{setting} {path}: the file is empty (no header row)",
            hint="export the file again; it should start with a header row",
        )
    delimiter = sniff_delimiter(first_line)
    text.seek(0)  # read again from the start, straight from the file (no Python in between)
    reader = csv.reader(text, delimiter=delimiter)
    try:
        header = next(reader)
        while not header or (len(header) == 1 and not header[0].strip()):
            header = next(reader)
    except (csv.Error, StopIteration) as exc:
        text.close()
        raise InputFileError(f"{setting} {path}: cannot read the header row: {exc}") from None
    return CsvSource(path, setting, codec, delimiter, header, text, reader, size)


# XLSX is a ZIP archive; legacy XLS is an OLE2 compound file.
_SPREADSHEET_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")


def _is_setting(name: str) -> bool:
    """Whether ``name`` is a config key (``input.customers_csv``), not an argument's name."""
    return "." in name and " " not in name


def _first_non_blank_line(text: io.TextIOWrapper) -> str | None:
    for line in text:
        if line.strip():
            return line
    return None


def _encoding_name(codec: str) -> str:
    return {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252", "utf-16": "UTF-16"}.get(codec, codec)
