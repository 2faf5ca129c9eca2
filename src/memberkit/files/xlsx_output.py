"""A small streaming XLSX writer for one sheet of text cells.

The Matrixify import can hold hundreds of thousands of rows; xlsxwriter spends
several microseconds per cell, so this writer streams the sheet XML straight
into a deflated zip member instead, row by row, in constant memory.

Every cell is an inline string (``t="inlineStr"``) with the Text number format,
so no value can ever become a formula, a number, a date or a link. Characters
XML cannot carry are written in Excel's ``_xHHHH_`` escape, as Excel does.
The caller stages the file (``files.staging``) and publishes it when complete.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape as xml_escape_attr

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_CONTENT_TYPES = (
    _HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_CT}.worksheet+xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/></Types>'
)
_ROOT_RELS = (
    _HEAD + f'<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
    f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK_RELS = (
    _HEAD + f'<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/></Relationships>'
)
# Style 1 is the Text number format ("@"): a person editing a cell keeps text.
_STYLES = (
    _HEAD + f'<styleSheet xmlns="{_MAIN}">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EXCEL_ESCAPE_LOOKALIKE = re.compile("_(x[0-9A-Fa-f]{4}_)")
_FLUSH_ROWS = 2000


def column_letter(index: int) -> str:
    """``0 -> A``, ``25 -> Z``, ``26 -> AA``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def escape_cell_text(text: str) -> str:
    """Cell text as XML character data, with Excel's escapes for characters XML forbids."""
    if "_x" in text:
        # A literal "_x0041_" would be read back as "A": escape its underscore first.
        text = _EXCEL_ESCAPE_LOOKALIKE.sub(r"_x005F_\1", text)
    # Printable ASCII (most cells) cannot hold a character XML forbids: skip the search.
    if not (text.isascii() and text.isprintable()) and _ILLEGAL_XML.search(text):
        text = _ILLEGAL_XML.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


#: Stands for the row number in a row template (escaped cell text never holds a NUL).
ROW_NUMBER = "\x00"


def column_letters(count: int) -> list[str]:
    """The letters of the first ``count`` columns."""
    return [column_letter(i) for i in range(count)]


def row_template(cells: Sequence[str], letters: Sequence[str]) -> str:
    """A row's XML with ``ROW_NUMBER`` where its number goes; empty strings leave cells empty.

    Rendering is most of a row's cost, so it can be done by another process (or
    before the row number is known); ``XlsxSheetWriter.write_template`` adds the number.
    """
    parts = [f'<row r="{ROW_NUMBER}">']
    for letter, text in zip(letters, cells, strict=False):
        if not text:
            continue
        space = ' xml:space="preserve"' if text[0].isspace() or text[-1].isspace() else ""
        parts.append(
            f'<c r="{letter}{ROW_NUMBER}" s="1" t="inlineStr"><is><t{space}>'
            f"{escape_cell_text(text)}</t></is></c>"
        )
    parts.append("</row>")
    return "".join(parts)


class XlsxSheetWriter:
    """One worksheet of text cells, written row by row into the ``.xlsx`` at ``path``."""

    def __init__(
        self, path: Path, sheet_name: str, header: Sequence[str], *, compresslevel: int = 1
    ) -> None:
        self.rows_written = 0
        self.closed = False
        self._letters = column_letters(len(header))
        self._row_number = 0
        self._pending: list[str] = []
        self._zip = zipfile.ZipFile(
            path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        )
        self._zip.writestr("[Content_Types].xml", _CONTENT_TYPES)
        self._zip.writestr("_rels/.rels", _ROOT_RELS)
        self._zip.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        self._zip.writestr("xl/styles.xml", _STYLES)
        self._zip.writestr(
            "xl/workbook.xml",
            _HEAD + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
            f'<sheet name="{xml_escape_attr(sheet_name, {chr(34): "&quot;"})}" sheetId="1" '
            'r:id="rId1"/></sheets></workbook>',
        )
        self._sheet: IO[bytes] = self._zip.open("xl/worksheets/sheet1.xml", "w", force_zip64=True)
        self._sheet.write((_HEAD + f'<worksheet xmlns="{_MAIN}"><sheetData>').encode("utf-8"))
        self._write_row(header)

    def write(self, cells: Sequence[str]) -> None:
        """Append one row; empty strings leave the cell empty."""
        self._write_row(cells)
        self.rows_written += 1

    def write_template(self, template: str) -> None:
        """Append one row given as ``row_template(cells, ...)`` (rendered elsewhere)."""
        self._row_number += 1
        self._pending.append(template.replace(ROW_NUMBER, str(self._row_number)))
        self.rows_written += 1
        if len(self._pending) >= _FLUSH_ROWS:
            self._flush()

    def _write_row(self, cells: Sequence[str]) -> None:
        self._row_number += 1
        template = row_template(cells, self._letters)
        self._pending.append(template.replace(ROW_NUMBER, str(self._row_number)))
        if len(self._pending) >= _FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._sheet.write("".join(self._pending).encode("utf-8"))
            self._pending.clear()

    def close(self) -> None:
        """Finish the workbook."""
        if self.closed:
            return
        self.closed = True
        try:
            self._flush()
            self._sheet.write(b"</sheetData></worksheet>")
        finally:
            self._sheet.close()
            self._zip.close()
