"""The failed-profiles file: ``klaviyo_failed_YYYY-MM-DD.csv``.

The max-value columns plus ``Failure Reason``, one row per profile that did not
reach Klaviyo (a refused chunk, an unfinished job, an import error, an unreadable
row). The cells are the profile's values in the max-value format (an unreadable
row exactly as read, formula-like cells neutralised as in every CSV we write),
so after fixing what failed the file can be uploaded again with
``memberkit klaviyo upload FILE``. The daily update archives earlier failed
files like its other outputs. Every cell is redacted
(``memberkit.secrets``): a reason can quote a server's error body.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from memberkit.domain.max_value import CSV_COLUMNS
from memberkit.files.atomic import atomic_open
from memberkit.files.csv_output import SafeCsvWriter
from memberkit.secrets import redact

FAILED_FILE_PATTERN = "klaviyo_failed_%s.csv"
FAILURE_COLUMN = "Failure Reason"


def failed_file_path(directory: Path, today: dt.date) -> Path:
    """``klaviyo_failed_YYYY-MM-DD.csv``; never an existing file (a ``-HHMMSS`` suffix then)."""
    path = directory / (FAILED_FILE_PATTERN % today.isoformat())
    if path.exists():
        stamp = dt.datetime.now().strftime("%H%M%S")
        path = path.with_name(f"{path.stem}-{stamp}{path.suffix}")
    return path


def write_failed_profiles(
    path: Path,
    rows: Sequence[tuple[dict[str, str], str]],
    columns: Sequence[str] = CSV_COLUMNS,
) -> None:
    """Write (cells, reason) rows atomically, in the max-value columns plus the reason."""
    with atomic_open(path, newline="") as fh:
        writer = SafeCsvWriter(fh)
        writer.writerow([*columns, FAILURE_COLUMN])
        for cells, reason in rows:
            # A reason may quote a server's error body: never let a secret into the file.
            writer.writerow([*(redact(cells.get(c, "")) for c in columns), redact(reason)])
