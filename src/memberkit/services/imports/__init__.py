"""Bulk imports (issue 10): points (add, deduct, adjust, set), VIP tiers, customer profiles.

The service the CLI (``memberkit import ...``) and the web admin share. Step 1
validates a stored copy of the file (nothing applied; an error file when rows
fail); step 2 applies it in chunks through the bulk posting path, one import at
a time (the ``imports`` job lock), crash-safe and resumable; undo reverses it.
See docs/imports.md.
"""

from memberkit.domain.imports import IMPORT_KINDS
from memberkit.services.imports.apply import (
    apply_import,
    create_import,
    resume_import,
    run_import,
)
from memberkit.services.imports.history import get_import, list_imports, running_import
from memberkit.services.imports.records import (
    STATUSES,
    ImportOptions,
    ImportRecord,
    ImportRefusedError,
    ImportStateError,
)
from memberkit.services.imports.templates import write_template
from memberkit.services.imports.undo import UndoOutcome, undo_import

__all__ = [
    "IMPORT_KINDS",
    "STATUSES",
    "ImportOptions",
    "ImportRecord",
    "ImportRefusedError",
    "ImportStateError",
    "UndoOutcome",
    "apply_import",
    "create_import",
    "get_import",
    "list_imports",
    "resume_import",
    "run_import",
    "running_import",
    "undo_import",
    "write_template",
]
