"""Uploaded import files: streamed to disk under a name of ours, checked by content.

The browser's file name is only ever a label: the bytes go to a random name
in the uploads folder, copied in 1 MiB chunks (never whole in memory), and
must be a CSV (text: no NUL bytes, no known binary signature) or an XLSX
workbook (a zip holding ``xl/workbook.xml``), whatever the name says. The
import service picks its reader by the name's suffix, so the label handed on
is made to agree with the content.
"""

from __future__ import annotations

import secrets
import shutil
import zipfile
from pathlib import Path
from typing import BinaryIO

from memberkit.errors import InvalidValueError

CHUNK = 1024 * 1024
SNIFF = 64 * 1024
_BINARY_SIGNATURES = (
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"\xd0\xcf\x11\xe0",  # an old .xls (OLE) workbook
    b"\x1f\x8b",  # gzip
    b"7z\xbc\xaf",
    b"Rar!",
    b"\x7fELF",
    b"MZ",
)


class UnsupportedUploadError(InvalidValueError):
    """The upload is neither a CSV nor an XLSX workbook."""

    code = "value_invalid"


def save_upload(stream: BinaryIO, folder: Path) -> Path:
    """Copy an upload to a new random name in ``folder``; return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"upload-{secrets.token_hex(12)}"
    with target.open("xb") as out:
        shutil.copyfileobj(stream, out, CHUNK)
    return target


def detect_kind(path: Path) -> str:
    """``"xlsx"`` or ``"csv"`` by content; ``UnsupportedUploadError`` for anything else."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF)
    if not head:
        raise UnsupportedUploadError("the uploaded file is empty")
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile:
            raise UnsupportedUploadError("the upload is a damaged zip, not a workbook") from None
        if "xl/workbook.xml" in names:
            return "xlsx"
        raise UnsupportedUploadError("the upload is a zip file, not a CSV or XLSX workbook")
    if head.startswith(_BINARY_SIGNATURES) or b"\x00" in head.lstrip(b"\xff\xfe\xef\xbb\xbf"):
        raise UnsupportedUploadError(
            "the upload is not a CSV or XLSX file",
            hint="export the sheet as CSV (UTF-8) or save it as .xlsx",
        )
    return "csv"


def label_for(original_name: str, kind: str) -> str:
    """The display name handed to the import service, with a suffix that matches the content."""
    name = Path(original_name.replace("\\", "/")).name.strip() or "upload"
    name = "".join(c for c in name if c.isprintable())[:200] or "upload"
    suffix = Path(name).suffix.lower()
    if kind == "xlsx":
        return name if suffix in (".xlsx", ".xlsm") else f"{name}.xlsx"
    if suffix in (".xlsx", ".xlsm"):
        raise UnsupportedUploadError(
            f"{name} is named like a workbook but is not one",
            hint="save it again as .xlsx, or as CSV",
        )
    return name
