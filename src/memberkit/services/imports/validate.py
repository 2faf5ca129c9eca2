"""Step 1 of an import: check every row, nothing applied; the error file when rows fail.

One pass over the file collects the failure reasons of each failing row (and
the members seen, for "one row per member"); only when a row failed, a second
pass writes the **error file**: the original rows, same columns and order, with
``Failure Reason`` added at the end (several reasons joined by ``; ``, blank
for rows that passed). Like every CSV we write it goes through the formula-safe
writer; the untouched original is kept beside it (see docs/imports.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from memberkit.domain.imports import (
    ColumnMap,
    FileProblem,
    ImportRow,
    duplicate_reason,
    map_columns,
    row_checker,
)
from memberkit.errors import InputFileError
from memberkit.files.csv_output import CsvOutput
from memberkit.files.rejects import REASON_COLUMN, reject_row
from memberkit.services.imports.source import open_import_file

FIRST_FAILURES = 10


@dataclass
class Validation:
    """What step 1 found: counts, the failing rows' reasons, or a whole-file problem."""

    kind: str
    columns: ColumnMap | None = None
    total_rows: int = 0
    failures: dict[int, list[str]] = field(default_factory=dict)  # row number -> reasons
    file_problem: str | None = None

    @property
    def failed_rows(self) -> int:
        return len(self.failures)

    @property
    def valid_rows(self) -> int:
        return self.total_rows - self.failed_rows

    @property
    def is_valid(self) -> bool:
        return self.file_problem is None and not self.failures and self.total_rows > 0

    def first_failures(self, limit: int = FIRST_FAILURES) -> list[str]:
        """Up to ``limit`` lines ``row N: reason; reason``, in row order."""
        if self.file_problem is not None:
            return [self.file_problem]
        rows = sorted(self.failures)[:limit]
        return [f"row {n}: {'; '.join(self.failures[n])}" for n in rows]


@dataclass(frozen=True)
class CheckSettings:
    """What the row rules need from settings and the database."""

    description_max_length: int = 255
    tiers: Sequence[str] = ()
    today: dt.date | None = None
    xlsx_reader: str = "calamine"


def read_rows(
    path: Path, *, kind: str, original_name: str, check: CheckSettings
) -> Iterator[tuple[int, ImportRow | list[str]]]:
    """Every data row checked: ``(row number, ImportRow or reasons)``; ``FileProblem`` first."""
    with open_import_file(path, original_name=original_name, xlsx_reader=check.xlsx_reader) as f:
        columns = map_columns(kind, f.header)
        checker = row_checker(
            columns,
            description_max_length=check.description_max_length,
            tiers=check.tiers,
            today=check.today,
        )
        for number, cells in f.rows:
            yield number, checker(number, cells)


def validate_file(path: Path, *, kind: str, original_name: str, check: CheckSettings) -> Validation:
    """Check every row of the file (see the module docstring)."""
    result = Validation(kind)
    try:
        with open_import_file(
            path, original_name=original_name, xlsx_reader=check.xlsx_reader
        ) as source:
            columns = map_columns(kind, source.header)
            result.columns = columns
            checker = row_checker(
                columns,
                description_max_length=check.description_max_length,
                tiers=check.tiers,
                today=check.today,
            )
            failures = result.failures
            duplicate = duplicate_reason(columns)
            by_email = columns.by_email
            seen: dict[str, int] = {}
            total = 0
            for number, cells in source.rows:
                total += 1
                outcome = checker(number, cells)
                if isinstance(outcome, list):
                    failures[number] = outcome
                    continue
                key = outcome.email.lower() if by_email and outcome.email else outcome.customer_id
                assert key is not None
                first = seen.setdefault(key, number)
                if first != number:
                    for n in (first, number):
                        reasons = failures.setdefault(n, [])
                        if duplicate not in reasons:
                            reasons.append(duplicate)
            result.total_rows = total
    except FileProblem as exc:
        result.file_problem = f"{original_name}: {exc}"
        return result
    except InputFileError as exc:
        result.file_problem = exc.message.replace(str(path), original_name)
        return result
    if result.total_rows == 0:
        result.file_problem = f"{original_name}: the file has a header row but no rows to import"
    return result


def write_error_file(
    path: Path, target: Path, *, original_name: str, validation: Validation, xlsx_reader: str
) -> Path:
    """The original's rows with ``Failure Reason`` at the end; returns the file written."""
    failures = validation.failures
    with open_import_file(path, original_name=original_name, xlsx_reader=xlsx_reader) as source:
        header = source.header
        width = len(header)
        output = CsvOutput(target, [*header, REASON_COLUMN])
        try:
            for number, cells in source.rows:
                reasons = failures.get(number)
                output.write(
                    reject_row(
                        cells, "; ".join(reasons) if reasons else "", width, source.delimiter
                    )
                )
            return output.commit()
        except BaseException:
            output.discard()
            raise
