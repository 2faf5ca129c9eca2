"""Where an import's files live: one folder per import, never overwritten.

``imports.storage_directory`` (default ``imports/`` beside the config file)
holds ``<id>-<YYYYmmdd-HHMMSS>/`` per import with the original file as
uploaded (``original<ext>``, byte for byte), the error file and the results
file. A folder that exists already (a database restored from a backup reusing
ids) gets a ``-2``, ``-3``... suffix rather than being written into.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
from pathlib import Path

from memberkit.errors import InputFileError

_HASH_CHUNK = 1 << 20
RESULTS_PATTERN = "Point_Import_Results_{stamp}.csv"


def content_hash(path: Path) -> str:
    """The SHA-256 of the file's bytes (what "the same file" means)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def new_folder(root: Path, import_id: int, now: dt.datetime) -> Path:
    """A new, empty folder for import ``import_id`` under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    base = f"{import_id:06d}-{now:%Y%m%d-%H%M%S}"
    for attempt in range(1, 1000):
        folder = root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise InputFileError(f"cannot make a new folder for import #{import_id} in {root}")


def original_name_suffix(name: str) -> str:
    """The extension kept on the stored original (``.csv``, ``.xlsx``, or none)."""
    suffix = Path(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ""


def store_original(source: Path, folder: Path, original_name: str) -> Path:
    """Copy the uploaded file into ``folder`` (never over an existing file)."""
    if not source.is_file():
        raise InputFileError(f"import file {source}: file not found")
    target = folder / f"original{original_name_suffix(original_name)}"
    with source.open("rb") as src, target.open("xb") as dst:
        shutil.copyfileobj(src, dst, _HASH_CHUNK)
    return target


def free_name(folder: Path, name: str) -> Path:
    """``folder / name``, or ``name`` with ``-2``, ``-3``... when it exists."""
    target = folder / name
    stem, suffix = target.stem, target.suffix
    counter = 2
    while target.exists():
        target = folder / f"{stem}-{counter}{suffix}"
        counter += 1
    return target


def results_name(now: dt.datetime) -> str:
    """``Point_Import_Results_2026-12-02_101500.csv``."""
    return RESULTS_PATTERN.format(stamp=f"{now:%Y-%m-%d_%H%M%S}")
