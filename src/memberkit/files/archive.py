"""Archiving earlier outputs and copying new ones to where other systems pick them up.

Once a run's new files are complete, the earlier files of our own name patterns
in the output folder move to the archive folder. Nothing is ever overwritten
or deleted: a name already taken in the archive gets a ``-HHMMSS`` suffix (and
``-2``, ``-3``... if that is taken too). A run that fails before publishing
leaves the earlier outputs where they were.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from memberkit.files.staging import StagedFile

DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A regex for the file names a ``name_%s.ext`` pattern produces (any run date)."""
    before, _, after = pattern.partition("%s")
    return re.compile(re.escape(before) + DATE_PATTERN + re.escape(after))


def earlier_outputs(directory: Path, patterns: Iterable[str]) -> list[Path]:
    """Files in ``directory`` whose names one of ``patterns`` could have produced."""
    regexes = [pattern_regex(p) for p in patterns]
    if not directory.is_dir():
        return []
    return sorted(
        entry
        for entry in directory.iterdir()
        if entry.is_file() and any(r.fullmatch(entry.name) for r in regexes)
    )


def free_name(directory: Path, name: str, now: dt.datetime) -> Path:
    """``directory/name``, or if taken with ``-HHMMSS`` (then ``-HHMMSS-N``) before the suffix."""
    candidate = directory / name
    if not candidate.exists():
        return candidate
    path = Path(name)
    stem, suffix = path.stem, path.suffix
    base = f"{stem}-{now:%H%M%S}"
    candidate = directory / f"{base}{suffix}"
    number = 2
    while candidate.exists():
        candidate = directory / f"{base}-{number}{suffix}"
        number += 1
    return candidate


def move_without_overwrite(source: Path, directory: Path, now: dt.datetime) -> Path:
    """Move ``source`` into ``directory`` under a free name; return where it went."""
    directory.mkdir(parents=True, exist_ok=True)
    while True:
        destination = free_name(directory, source.name, now)
        try:
            # link() fails if the name was taken meanwhile, so nothing is overwritten.
            os.link(source, destination)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP):
                raise
            shutil.copy2(source, destination)  # another file system: copy, then remove
        source.unlink()
        return destination


def archive_earlier_outputs(
    output_dir: Path, archive_dir: Path, patterns: Iterable[str], now: dt.datetime
) -> list[Path]:
    """Move every earlier output in ``output_dir`` to ``archive_dir``; return the new paths."""
    return [
        move_without_overwrite(path, archive_dir, now)
        for path in earlier_outputs(output_dir, patterns)
    ]


def copy_output(source: Path, destination: Path) -> Path:
    """Copy ``source`` to ``destination``: a directory receives the same (dated) name,
    anything else is a file path replaced atomically. Return the file written."""
    target = destination / source.name if destination.is_dir() else destination
    staged = StagedFile(target)
    try:
        shutil.copyfile(source, staged.temp)
        return staged.commit()
    finally:
        staged.discard()


def leftover_temporaries(directory: Path, patterns: Iterable[str]) -> list[Path]:
    """Temporary files a killed run left in ``directory``.

    ``StagedFile`` temporaries of our outputs (``.<output name>.*.tmp``) and the
    update's part and spool files (``.rewards-*.tmp``). A pattern without ``%s``
    is one fixed file name (a ``*_copy_to`` file). Only to be removed by a run
    holding the update's lock: another run's would be in use.
    """
    if not directory.is_dir():
        return []
    names = [pattern_regex(p).pattern if "%s" in p else re.escape(p) for p in patterns]
    regexes = [re.compile(r"\." + name + r"\..+\.tmp") for name in names]
    regexes.append(re.compile(r"\.rewards-.+\.tmp"))
    return sorted(
        entry
        for entry in directory.iterdir()
        if any(r.fullmatch(entry.name) for r in regexes) and entry.is_file()
    )


def remove_leftover_temporaries(
    directory: Path, patterns: Iterable[str], *, keep: Iterable[Path] = ()
) -> list[Path]:
    """Remove what ``leftover_temporaries`` finds but ``keep``; return the paths removed."""
    removed = []
    kept = {path.resolve() for path in keep}
    for path in leftover_temporaries(directory, patterns):
        if path.resolve() in kept:
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed
