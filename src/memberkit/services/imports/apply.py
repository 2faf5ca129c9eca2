"""Creating, applying and resuming imports: the use cases the CLI and the web share.

``create_import`` stores the file, refuses duplicates and a second import,
validates (step 1) and leaves the import ``invalid`` or ``ready``.
``apply_import`` (step 2) holds the ``imports`` job lock, marks the import
``running`` and applies its rows in chunks, each chunk one transaction with
its batch checkpoint and its failed rows (``import_failures``), so a process
killed anywhere leaves either a whole chunk or none of it; ``resume_import``
goes on after the last committed chunk, so no row applies twice (points rows
also carry the idempotency key ``import:<id>:<row>``). Then the results file
is written and the import is ``completed``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from memberkit.clock import utcnow
from memberkit.config import Settings
from memberkit.domain.imports import CUSTOMER_NOT_FOUND, POINTS_KINDS, ImportRow
from memberkit.domain.ledger import InsufficientPointsError
from memberkit.errors import LockedError, MemberkitError
from memberkit.services.imports import storage
from memberkit.services.imports.history import LOCK_NAME, running_import
from memberkit.services.imports.records import (
    ImportDuplicateError,
    ImportOptions,
    ImportRecord,
    ImportStateError,
    missing_import,
    record_of,
)
from memberkit.services.imports.results import write_results_file
from memberkit.services.imports.rows_apply import apply_profile_chunk, apply_tier_chunk
from memberkit.services.imports.templates import check_kind
from memberkit.services.imports.validate import (
    CheckSettings,
    read_rows,
    validate_file,
    write_error_file,
)
from memberkit.services.ledger.bulk import BulkPosting, PostingOutcome, post_bulk
from memberkit.store.bulk import insert_rows
from memberkit.store.database import Database
from memberkit.store.locks import job_lock
from memberkit.store.models import Batch, Import, ImportFailure, Tier
from memberkit.store.unit_of_work import UnitOfWork

Progress = Callable[[int, int], None]


def _tier_names(db: Database) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(Tier.name).order_by(Tier.rank)))


def check_settings(db: Database, settings: Settings, kind: str) -> CheckSettings:
    """What the row rules need: the description limit, the tiers, today, the XLSX reader."""
    return CheckSettings(
        description_max_length=settings.imports.description_max_length,
        tiers=_tier_names(db) if kind == "tiers" else (),
        today=utcnow().astimezone(settings.processing.zone).date(),
        xlsx_reader=settings.imports.xlsx_reader,
    )


def _storage_root(settings: Settings) -> Path:
    return Path(settings.imports.storage_directory)


def _refuse_if_running(db: Database, *, other_than: int | None = None) -> None:
    current = running_import(db)
    if current is not None and current.id != other_than:
        if current.status == "interrupted":
            raise LockedError(
                f"another import ({current.describe()}) was interrupted and is not finished",
                hint=f"finish it with `memberkit import resume {current.id}` first",
            )
        raise LockedError(f"another import ({current.describe()}) is in progress")


def _refuse_duplicate(session: Session, kind: str, digest: str) -> None:
    earlier = session.scalars(
        select(Import)
        .where(Import.content_hash == digest, Import.kind == kind, Import.status != "invalid")
        .order_by(Import.id)
        .limit(1)
    ).first()
    if earlier is not None:
        raise ImportDuplicateError(
            f"this file was imported before as #{earlier.id} ({earlier.kind}, "
            f"{earlier.original_name}, {earlier.created_at:%Y-%m-%d %H:%M}, {earlier.status})",
            hint="allow duplicates to import the same file again",
        )


def create_import(
    db: Database,
    settings: Settings,
    *,
    kind: str,
    source: Path,
    original_name: str,
    options: ImportOptions,
    actor: str,
) -> ImportRecord:
    """Store the file, refuse duplicates and a running import, then validate it.

    Returns the record with status ``invalid`` or ``ready``.
    """
    check_kind(kind)
    if not source.is_file():
        raise MemberkitError(f"import file {source}: file not found", file=source)
    _refuse_if_running(db)
    digest = storage.content_hash(source)
    now = utcnow()
    with db.write() as session:
        if not options.allow_duplicate:
            _refuse_duplicate(session, kind, digest)
        row = Import(
            kind=kind,
            original_name=original_name[:500],
            folder="",
            original_file="",
            content_hash=digest,
            options=json.dumps(options.to_json(), sort_keys=True),
            status="validating",
            total_rows=0,
            valid_rows=0,
            failed_rows=0,
            applied_rows=0,
            succeeded=0,
            failed=0,
            first_failures="[]",
            actor=actor,
            runs="[]",
            created_at=now,
        )
        session.add(row)
        session.flush()
        import_id = row.id
        folder = storage.new_folder(_storage_root(settings), import_id, now)
        stored = storage.store_original(source, folder, original_name)
        row.folder = str(folder)
        row.original_file = str(stored)
    try:
        check = check_settings(db, settings, kind)
        validation = validate_file(stored, kind=kind, original_name=original_name, check=check)
        error_file: Path | None = None
        if not validation.is_valid and validation.file_problem is None:
            error_file = write_error_file(
                stored,
                storage.free_name(folder, f"{Path(original_name).stem or 'import'}_errors.csv"),
                original_name=original_name,
                validation=validation,
                xlsx_reader=check.xlsx_reader,
            )
    except BaseException as exc:
        # Never leave an import "validating" for ever: it is invalid, with what went wrong.
        with db.write() as session:
            session.execute(
                update(Import)
                .where(Import.id == import_id)
                .values(status="invalid", error=f"validation stopped: {exc!r}"[:2000])
            )
        raise
    with db.write() as session:
        session.execute(
            update(Import)
            .where(Import.id == import_id)
            .values(
                status="ready" if validation.is_valid else "invalid",
                total_rows=validation.total_rows,
                valid_rows=validation.valid_rows if validation.file_problem is None else 0,
                failed_rows=validation.failed_rows,
                first_failures=json.dumps(validation.first_failures()),
                error_file=str(error_file) if error_file else None,
                error=validation.file_problem,
            )
        )
    return _record(db, import_id)


def _record(db: Database, import_id: int) -> ImportRecord:
    with db.read() as session:
        row = session.get(Import, import_id)
        if row is None:
            raise missing_import(import_id)
        return record_of(row)


@contextmanager
def _import_lock(db: Database, import_id: int, command: str) -> Iterator[None]:
    try:
        with job_lock(db, LOCK_NAME, command=command, what="an import"):
            yield
    except LockedError:
        current = running_import(db)
        if current is not None and current.id != import_id:
            raise LockedError(f"another import ({current.describe()}) is in progress") from None
        raise


def apply_import(
    db: Database,
    settings: Settings,
    import_id: int,
    *,
    actor: str,
    progress: Progress | None = None,
) -> ImportRecord:
    """Apply a ``ready`` import (step 2); see the module docstring."""
    return _run(db, settings, import_id, actor=actor, progress=progress, resume=False)


def resume_import(
    db: Database,
    settings: Settings,
    import_id: int,
    *,
    actor: str,
    progress: Progress | None = None,
) -> ImportRecord:
    """Finish an interrupted import after its last committed chunk (no row applies twice)."""
    return _run(db, settings, import_id, actor=actor, progress=progress, resume=True)


def run_import(
    db: Database,
    settings: Settings,
    *,
    kind: str,
    source: Path,
    original_name: str,
    options: ImportOptions,
    actor: str,
    progress: Progress | None = None,
) -> ImportRecord:
    """Create the import and, when the file is valid, apply it (``memberkit import run``)."""
    record = create_import(
        db,
        settings,
        kind=kind,
        source=source,
        original_name=original_name,
        options=options,
        actor=actor,
    )
    if record.status != "ready":
        return record
    return apply_import(db, settings, record.id, actor=actor, progress=progress)


def _run(
    db: Database,
    settings: Settings,
    import_id: int,
    *,
    actor: str,
    progress: Progress | None,
    resume: bool,
) -> ImportRecord:
    verb = "resume" if resume else "apply"
    with _import_lock(db, import_id, f"memberkit import {verb} {import_id}"):
        now = utcnow()
        with db.write() as session:
            row = session.get(Import, import_id)
            if row is None:
                raise missing_import(import_id)
            allowed = ("running", "ready") if resume else ("ready",)
            if row.status not in allowed:
                raise ImportStateError(_state_words(row, resume), hint=_state_hint(row))
            if not resume or row.status == "ready":
                _refuse_if_running(db, other_than=import_id)
            if row.batch_id is None:
                batch = Batch(
                    kind="import",
                    label=f"import #{row.id} {row.kind} {row.original_name}"[:500],
                    actor=actor,
                    state="running",
                    position=0,
                    details="{}",
                    started_at=now,
                )
                session.add(batch)
                session.flush()
                row.batch_id = batch.id
            batch_row = session.get(Batch, row.batch_id)
            assert batch_row is not None
            runs = json.loads(row.runs or "[]")
            runs.append([batch_row.position, now.isoformat()])
            row.runs = json.dumps(runs)
            row.status = "running"
            row.started_at = row.started_at or now
            record = record_of(row)
            batch_id = row.batch_id
            batch_done = batch_row.state == "done"
        if not batch_done:
            _apply_rows(db, settings, record, batch_id, actor=actor, progress=progress)
        return _finish(db, settings, import_id)


def _state_words(row: Import, resume: bool) -> str:
    if row.status == "running":
        return f"import #{row.id} is running or was interrupted"
    if resume:
        return f"import #{row.id} is {row.status}: there is nothing to resume"
    return f"import #{row.id} is {row.status} and cannot be applied"


def _state_hint(row: Import) -> str | None:
    if row.status == "running":
        return f"finish it with `memberkit import resume {row.id}`"
    if row.status == "invalid":
        return "fix the rows listed in its error file and import the corrected file"
    return None


def failure_words(outcome: PostingOutcome) -> str:
    """A refused posting's reason as the results file words it."""
    error = outcome.error
    if error is None:
        return CUSTOMER_NOT_FOUND
    if isinstance(error, InsufficientPointsError):
        return f"Insufficient points: balance {error.balance}, requested {error.requested}"
    text = error.message
    return text[:1].upper() + text[1:]


def _failure_rows(import_id: int, failed: Sequence[tuple[int, str]]) -> list[dict[str, Any]]:
    return [{"import_id": import_id, "row_number": n, "reason": r} for n, r in failed]


def _insert_failures(work: UnitOfWork, import_id: int, failed: Sequence[tuple[int, str]]) -> None:
    if failed:
        table = ImportFailure.__table__
        assert isinstance(table, Table)
        insert_rows(work.session, table, _failure_rows(import_id, failed))


def _valid_rows(
    path: Path, record: ImportRecord, check: CheckSettings
) -> Iterator[tuple[int, ImportRow | str]]:
    """The rows as applied: an ``ImportRow``, or (a row no longer valid) its reason."""
    for number, outcome in read_rows(
        path, kind=record.kind, original_name=record.original_name, check=check
    ):
        if isinstance(outcome, list):
            yield number, "; ".join(outcome)
        else:
            yield number, outcome


def _apply_rows(
    db: Database,
    settings: Settings,
    record: ImportRecord,
    batch_id: int,
    *,
    actor: str,
    progress: Progress | None,
) -> None:
    check = check_settings(db, settings, record.kind)
    rows = _valid_rows(record.original_file, record, check)
    total = record.valid_rows
    if record.kind in POINTS_KINDS:
        _apply_points(db, settings, record, batch_id, rows, actor=actor, progress=progress)
    else:
        _apply_other(db, settings, record, batch_id, rows, actor=actor, progress=progress)
    if progress is not None:
        progress(total, total)


def _apply_points(
    db: Database,
    settings: Settings,
    record: ImportRecord,
    batch_id: int,
    rows: Iterator[tuple[int, ImportRow | str]],
    *,
    actor: str,
    progress: Progress | None,
) -> None:
    numbers: list[int] = []
    invalid: dict[int, str] = {}
    options = record.options
    import_id = record.id
    sign = -1 if record.kind == "points-deduct" else 1
    is_set = record.kind == "points-set"
    file_note = options.note
    file_internal = options.internal_note

    def postings() -> Iterator[BulkPosting]:
        for number, row in rows:
            numbers.append(number)
            if isinstance(row, str):
                # No longer valid (cannot happen for a stored, validated points file,
                # but a posting per row keeps positions aligned): refused as unknown.
                invalid[number] = row
                yield BulkPosting(points=0, source="point_import", email="")
                continue
            points = row.points
            assert points is not None
            yield BulkPosting(
                points=0 if is_set else sign * points,
                set_to=points if is_set else None,
                source="point_import",
                source_ref=f"import {import_id} row {number}",
                expires_on=row.expires_on,
                key=f"import:{import_id}:{number}",
                public_note=row.public_note or row.description or file_note,
                internal_note=row.internal_note or file_internal,
                email=row.email,
                shopify_id=row.customer_id,
            )

    def record_failures(work: UnitOfWork, outcomes: Sequence[PostingOutcome]) -> None:
        failed = []
        for outcome in outcomes:
            if outcome.status == "refused":
                number = numbers[outcome.position]
                failed.append((number, invalid.pop(number, "") or failure_words(outcome)))
        _insert_failures(work, import_id, failed)

    total = record.valid_rows
    post_bulk(
        db,
        actor=actor,
        postings=postings(),
        zone=settings.processing.zone,
        chunk_size=settings.imports.chunk_size,
        batch=batch_id,
        before_commit=record_failures,
        emit_events=options.emit_events,
        on_chunk=(lambda position: progress(position, total)) if progress else None,
    )


def _apply_other(
    db: Database,
    settings: Settings,
    record: ImportRecord,
    batch_id: int,
    rows: Iterator[tuple[int, ImportRow | str]],
    *,
    actor: str,
    progress: Progress | None,
) -> None:
    """Tiers and profiles: the same chunk / checkpoint / commit loop as ``post_bulk``."""
    size = settings.imports.chunk_size
    with UnitOfWork.begin(db, actor=actor, batch=batch_id, zone=settings.processing.zone) as work:
        batch_row = work.session.get(Batch, batch_id)
        assert batch_row is not None
        position = batch_row.position
        if position:
            for _ in islice(rows, position):
                pass
        while True:
            chunk = list(islice(rows, size))
            if not chunk:
                break
            good = [row for _, row in chunk if not isinstance(row, str)]
            failed = [(n, row) for n, row in chunk if isinstance(row, str)]
            if record.kind == "tiers":
                failed += apply_tier_chunk(work, good, record.id, record.options)
            else:
                failed += apply_profile_chunk(work, good, record.options)
            _insert_failures(work, record.id, failed)
            position += len(chunk)
            work.checkpoint(position)
            work.commit()
            if progress is not None:
                progress(position, record.valid_rows)
        work.session.execute(
            update(Batch).where(Batch.id == batch_id).values(state="done", finished_at=work.now)
        )


def _finish(db: Database, settings: Settings, import_id: int) -> ImportRecord:
    """Write the results file and mark the import completed with its counts."""
    record = _record(db, import_id)
    with db.read() as session:
        failures = {
            int(number): str(reason)
            for number, reason in session.execute(
                select(ImportFailure.row_number, ImportFailure.reason).where(
                    ImportFailure.import_id == import_id
                )
            )
        }
    now = utcnow()
    zone = settings.processing.zone
    assert record.folder is not None
    target = storage.free_name(record.folder, storage.results_name(now.astimezone(zone)))
    runs = _runs(db, import_id)
    applied = write_results_file(
        db,
        record,
        target,
        failures=failures,
        runs=runs,
        zone=zone,
        check=check_settings(db, settings, record.kind),
    )
    with db.write() as session:
        session.execute(
            update(Import)
            .where(Import.id == import_id)
            .values(
                status="completed",
                finished_at=now,
                results_file=str(target),
                applied_rows=applied,
                failed=len(failures),
                succeeded=applied - len(failures),
            )
        )
    return _record(db, import_id)


def _runs(db: Database, import_id: int) -> list[tuple[int, dt.datetime]]:
    with db.read() as session:
        row = session.get(Import, import_id)
        assert row is not None
        return [(int(p), dt.datetime.fromisoformat(t)) for p, t in json.loads(row.runs or "[]")]
