"""Opening a real-world CSV export for one streaming pass.

Exports reach us saved by Shopify, Matrixify or Excel, so a reader must cope
with: UTF-8 with or without a BOM, or Windows-1252 (``input.encoding = auto``
decides by checking the whole file is valid UTF-8); ``,`` ``;`` or tab
delimiters (taken from the header line); CRLF or LF; quoted cells spanning
lines; blank lines (skipped). Problems that make a file unusable are
``InputFileError``s naming the setting, the path and what to do:

- a quoted cell still open at the end of the file (an unterminated ``"``
  swallows every later row into one cell): the error names the row where it
  opened. The reader is fed one sentinel record after the file's last line,
  which comes back as a record of its own only when every quote was closed;
- a file that is not text (a NUL byte, or bytes that are neither UTF-8 nor
  Windows-1252): the error says so and gives the byte offset. NUL bytes are
  looked for in the first MiB only (binary files show one at once; a stray NUL
  later in a text file reaches the row rules, which reject it in an email and
  in code JSON);
- a spreadsheet (XLSX/XLS) given as a CSV.

Values from the file that an error echoes are cut to about 80 characters.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from memberkit.errors import InputFileError

EncodingSetting = Literal["auto", "utf-8", "cp1252"]
DELIMITERS = (",", ";", "\t")
_CHUNK = 1 << 20

# A cell longer than Excel's limit must still be read, so it can be rejected by name.
csv.field_size_limit(min(sys.maxsize, 1 << 30))

# After the file's last line: a blank line (ends a last record without a line end), then
# one quoted cell. With every quote closed it reads as a record of its own, _EOF_CELL;
# inside a cell left open, its quote closes that cell and the text joins it instead.
_EOF_CELL = "\uffffmemberkit end of file\uffff"
_EOF_LINES = ("\n", f'"{_EOF_CELL}"\n')
# How much of a first line the delimiter is guessed from (a 50 MB line is not a header).
_SNIFF_LIMIT = 1 << 16


def csv_rows(text: Iterable[str], delimiter: str) -> Iterator[list[str]]:
    """``csv.reader`` over ``text`` followed by the end-of-file sentinel (``CsvSource``)."""
    return csv.reader(itertools.chain(text, _EOF_LINES), delimiter=delimiter)


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
    for char in header_line[:_SNIFF_LIMIT]:
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
    blank lines are skipped (not counted as rows). ``_reader`` must come from
    ``csv_rows`` (it ends with the end-of-file sentinel).
    """

    path: Path
    setting: str
    encoding: str
    delimiter: str
    header: list[str]
    _text: io.TextIOWrapper
    _reader: Iterator[list[str]]
    size: int
    encoding_setting: str = "auto"

    def records(self) -> Iterator[tuple[int, list[str]]]:
        number = 1
        try:
            for cells in self._reader:
                if len(cells) < 2:
                    if not cells or not cells[0].strip():
                        continue
                    if cells[0] == _EOF_CELL:
                        return
                number += 1
                yield number, cells
        except UnicodeDecodeError:
            raise _not_text(self.path, self.setting, self.encoding, self.encoding_setting) from None
        except csv.Error as exc:
            raise InputFileError(
                f"{self.setting} {self.path}: not a readable CSV after row {number}: {exc}",
                hint="check the file is a CSV export (not XLSX) and not truncated",
            ) from None
        raise _unclosed_quote(self.path, self.setting, number)

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
        if codec != "utf-16":
            nul = _first_nul(path, whole=False)  # binary files show one early
            if nul is not None:
                raise InputFileError(
                    f"{setting} {path}: is not a text CSV file (a NUL byte at byte offset {nul:,})",
                    hint="check it is the CSV export itself, not a spreadsheet, archive or "
                    "other binary file",
                )
        raw = path.open("rb", buffering=0)
    except OSError as exc:
        raise InputFileError(f"{setting} {path}: cannot read: {exc.strerror}") from None
    text = io.TextIOWrapper(
        io.BufferedReader(raw, buffer_size=_CHUNK), encoding=codec, newline="", errors="strict"
    )
    try:
        first_line = _first_non_blank_line(text)
    except UnicodeDecodeError:
        text.close()
        raise _not_text(path, setting, codec, encoding) from None
    if first_line is None:
        text.close()
        raise InputFileError(
            f"{setting} {path}: the file is empty (no header row)",
            hint="export the file again; it should start with a header row",
        )
    delimiter = sniff_delimiter(first_line)
    text.seek(0)  # read again from the start, straight from the file (no Python in between)
    reader = csv_rows(text, delimiter)
    try:
        header = next(reader)
        while not header or (len(header) == 1 and not header[0].strip()):
            header = next(reader)
    except (csv.Error, StopIteration) as exc:
        text.close()
        raise InputFileError(f"{setting} {path}: cannot read the header row: {exc}") from None
    except UnicodeDecodeError:
        text.close()
        raise _not_text(path, setting, codec, encoding) from None
    if header[-1].endswith(_EOF_CELL + '"'):
        text.close()
        raise _unclosed_quote(path, setting, 1)
    return CsvSource(path, setting, codec, delimiter, header, text, reader, size, encoding)


# XLSX is a ZIP archive; legacy XLS is an OLE2 compound file.
_SPREADSHEET_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")


def _is_setting(name: str) -> bool:
    """Whether ``name`` is a config key (``input.customers_csv``), not an argument's name."""
    return "." in name and " " not in name


def _unclosed_quote(path: Path, setting: str, row: int) -> InputFileError:
    return InputFileError(
        f'{setting} {path}: row {row} opens a quoted cell (") that is never closed, '
        "so every line after it would be read into that one cell",
        hint=f"check the export is complete, and fix the stray quote in row {row}",
    )


def _first_nul(path: Path, *, whole: bool) -> int | None:
    """The offset of the first NUL byte (in the first chunk only unless ``whole``)."""
    offset = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            found = chunk.find(b"\0")
            if found != -1:
                return offset + found
            if not whole:
                return None
            offset += len(chunk)
    return None


def _first_undecodable(path: Path, codec: str) -> tuple[int, int] | None:
    """``(offset, byte)`` of the first byte that ``codec`` cannot decode, or None."""
    decoder = codecs.getincrementaldecoder(codec)()
    offset = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # exc.start counts from the bytes the decoder held back plus this chunk.
                held = len(exc.object) - len(chunk)
                position = offset - held + exc.start
                return position, exc.object[exc.start]
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return offset - len(exc.object) + exc.start, exc.object[exc.start]
    return None


def _not_text(path: Path, setting: str, codec: str, encoding_setting: str) -> InputFileError:
    """The error for a file that ``codec`` cannot decode, with the byte offset."""
    name = _encoding_name(codec)
    found = _first_undecodable(path, codec)
    where = f" at byte offset {found[0]:,} (0x{found[1]:02X})" if found else ""
    if codec == "utf-8-sig" and encoding_setting != "auto":
        return InputFileError(
            f"{setting} {path}: cannot be read as {name}{where}",
            hint="set input.encoding to 'cp1252' for files saved from Excel, or 'auto'",
        )
    return InputFileError(
        f"{setting} {path}: is not a text CSV file: cannot be read as {name}{where}",
        hint="check it is the CSV export itself, not a spreadsheet, archive or other binary "
        "file" + ("" if encoding_setting == "auto" else ", or set input.encoding to 'auto'"),
    )


def _first_non_blank_line(text: io.TextIOWrapper) -> str | None:
    for line in text:
        if line.strip():
            return line
    return None


def _encoding_name(codec: str) -> str:
    return {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252", "utf-16": "UTF-16"}.get(codec, codec)
