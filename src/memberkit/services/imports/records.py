"""What an import is, as the shells see it: its options and its record (history row)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from memberkit.errors import MemberkitError, NotFoundError
from memberkit.store.models import Import

#: Every status an import is shown with (``interrupted`` is derived, never stored).
STATUSES = ("validating", "invalid", "ready", "running", "interrupted", "completed", "reverted")


class ImportRefusedError(MemberkitError):
    """An import that may not start: a duplicate file, another import in progress."""

    code = "import_refused"


class ImportDuplicateError(ImportRefusedError):
    """The same file (content and kind) was imported before; the CLI hints --allow-duplicate."""

    code = "import_duplicate"


class ImportStateError(MemberkitError):
    """An action that does not fit the import's status (applying an invalid file...)."""

    code = "import_state"


@dataclass(frozen=True)
class ImportOptions:
    """Options for a whole file (the CLI's flags, the web form's checkboxes)."""

    note: str | None = None
    internal_note: str | None = None
    emit_events: bool = True
    issue_tier_rewards: bool = False
    allow_duplicate: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportOptions:
        """Options as stored (unknown keys ignored)."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ImportRecord:
    """One import as its history shows it."""

    id: int
    kind: str
    original_name: str
    status: str
    actor: str
    options: ImportOptions
    total_rows: int
    valid_rows: int
    failed_rows: int
    applied_rows: int
    succeeded: int
    failed: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    error_file: Path | None
    results_file: Path | None
    original_file: Path
    first_failures: list[str] = field(default_factory=list)
    created_at: dt.datetime | None = None
    folder: Path | None = None
    batch_id: int | None = None
    content_hash: str = ""
    undone_at: dt.datetime | None = None
    undo_summary: dict[str, Any] | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601, paths as strings)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, ImportOptions):
                value = value.to_json()
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, dt.datetime):
                value = value.isoformat()
            out[name] = value
        return out

    def describe(self) -> str:
        """``#12, points-add, started 10:02`` (how refusals name it)."""
        moment = self.started_at or self.created_at
        when = f", started {moment:%H:%M}" if moment else ""
        return f"#{self.id}, {self.kind}{when}"


def record_of(row: Import, *, interrupted: bool = False) -> ImportRecord:
    """The record of a stored import (``interrupted``: its running process is gone)."""
    status = "interrupted" if interrupted and row.status == "running" else row.status
    return ImportRecord(
        id=row.id,
        kind=row.kind,
        original_name=row.original_name,
        status=status,
        actor=row.actor,
        options=ImportOptions.from_json(json.loads(row.options or "{}")),
        total_rows=row.total_rows,
        valid_rows=row.valid_rows,
        failed_rows=row.failed_rows,
        applied_rows=row.applied_rows,
        succeeded=row.succeeded,
        failed=row.failed,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error_file=Path(row.error_file) if row.error_file else None,
        results_file=Path(row.results_file) if row.results_file else None,
        original_file=Path(row.original_file),
        first_failures=list(json.loads(row.first_failures or "[]")),
        created_at=row.created_at,
        folder=Path(row.folder),
        batch_id=row.batch_id,
        content_hash=row.content_hash,
        undone_at=row.undone_at,
        undo_summary=json.loads(row.undo_summary) if row.undo_summary else None,
        error=row.error,
    )


def missing_import(import_id: int) -> NotFoundError:
    """The error for an id no import has."""
    return NotFoundError(
        f"no import #{import_id}", hint="the imports are listed by `memberkit import list`"
    )
