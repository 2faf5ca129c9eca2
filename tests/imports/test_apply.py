"""Step 2: rows applied through the bulk posting path; results file, events, history, refusals."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.imports.conftest import ACTOR, write_csv

from memberkit.config import Settings
from memberkit.errors import LockedError
from memberkit.services.imports import (
    ImportOptions,
    ImportRecord,
    ImportRefusedError,
    create_import,
    get_import,
    list_imports,
    run_import,
    running_import,
)
from memberkit.services.ledger.points import get_balance
from memberkit.services.ledger.tiers import add_tier
from memberkit.store.database import Database
from memberkit.store.locks import LockHolder, acquire_lock
from memberkit.store.models import Import, LedgerEntry, Member, OutboxEvent, TierChange


def run(settings: Settings, db: Database, kind: str, path: Path, **options: object) -> ImportRecord:
    return run_import(
        db,
        settings,
        kind=kind,
        source=path,
        original_name=path.name,
        options=ImportOptions(**options),  # type: ignore[arg-type]
        actor=ACTOR,
    )


def results(record: ImportRecord) -> list[list[str]]:
    assert record.results_file is not None
    return list(csv.reader(io.StringIO(record.results_file.read_text(encoding="utf-8"))))


def balance(db: Database, member: str) -> int:
    return get_balance(db, member=member)[1]


def events(db: Database) -> list[tuple[str, dict[str, object]]]:
    with db.read() as session:
        return [
            (e.event_type, json.loads(e.payload))
            for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        ]


def test_points_add_applies_each_row_and_an_unknown_member_fails_alone(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    source = write_csv(
        tmp_path / "vip.csv",
        "Email,Points,Transaction Description\n"
        "m1@example.com,100,Thanks\nM2@Example.com,50,\nnobody@example.com,5,x\n",
    )
    before = len(events(members))
    record = run(settings, members, "points-add", source, note="VIP bonus")
    assert record.status == "completed"
    assert (record.applied_rows, record.succeeded, record.failed) == (3, 2, 1)
    assert balance(members, "m1@example.com") == 100
    assert balance(members, "m2@example.com") == 50
    rows = results(record)
    assert rows[0] == [
        "Customer Email",
        "Points Added",
        "Transaction Description",
        "Results",
        "Timestamp",
    ]
    assert rows[1][:4] == ["m1@example.com", "100", "Thanks", "Success"]
    assert rows[2][:4] == ["M2@Example.com", "50", "VIP bonus", "Success"]
    assert rows[3][:4] == ["nobody@example.com", "5", "x", "Failed - Customer not found"]
    assert record.results_file is not None
    assert record.results_file.name.startswith("Point_Import_Results_")
    with members.read() as session:
        entries = list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)))
    assert {e.source for e in entries} == {"point_import"}
    assert {e.batch_id for e in entries} == {record.batch_id}
    assert entries[0].idempotency_key == f"import:{record.id}:2"
    assert entries[1].public_note == "VIP bonus"
    new = events(members)[before:]
    assert [t for t, _ in new] == ["points/added", "points/added"]
    assert all(p["source"] == "point_import" for _, p in new)


def test_deduct_refuses_more_than_the_balance_in_the_users_words(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    run(
        settings,
        members,
        "points-add",
        write_csv(tmp_path / "a.csv", "Email,Points\nm1@example.com,40\n"),
    )
    record = run(
        settings,
        members,
        "points-deduct",
        write_csv(tmp_path / "d.csv", "Email,Points\nm1@example.com,100\nm1x@example.com,1\n"),
    )
    rows = results(record)
    assert rows[0][1] == "Points Deducted"
    assert rows[1][3] == "Failed - Insufficient points: balance 40, requested 100"
    assert balance(members, "m1@example.com") == 40


def test_adjust_and_set_by_customer_id(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    adjust = write_csv(
        tmp_path / "adj.csv",
        "Customer ID,Points,Points Expiry Date\n'6600000001,30,2030-01-31\n6600000002,25,\n",
    )
    record = run(settings, members, "points-adjust", adjust)
    assert record.failed == 0
    assert results(record)[1][0] == "m1@example.com"  # the email comes from the database
    record = run(
        settings,
        members,
        "points-adjust",
        write_csv(tmp_path / "adj2.csv", "Customer ID,Points\n6600000001,-10\n"),
    )
    assert balance(members, "m1@example.com") == 20
    record = run(
        settings,
        members,
        "points-set",
        write_csv(tmp_path / "set.csv", "Customer ID,Points\n6600000001,500\n6600000002,0\n"),
    )
    assert record.failed == 0
    assert balance(members, "m1@example.com") == 500
    assert balance(members, "m2@example.com") == 0
    with members.read() as session:
        sets = list(session.scalars(select(LedgerEntry).where(LedgerEntry.set_to.is_not(None))))
    assert sorted(e.points for e in sets) == [-25, 480]


def test_no_events_writes_no_outbox_rows(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    before = len(events(members))
    run(
        settings,
        members,
        "points-add",
        write_csv(tmp_path / "a.csv", "Email,Points\nm1@example.com,40\n"),
        emit_events=False,
    )
    assert balance(members, "m1@example.com") == 40
    assert len(events(members)) == before


def test_the_same_file_twice_is_refused_naming_the_earlier_import(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    source = write_csv(tmp_path / "a.csv", "Email,Points\nm1@example.com,40\n")
    first = run(settings, members, "points-add", source)
    with pytest.raises(ImportRefusedError, match=f"imported before as #{first.id}"):
        run(settings, members, "points-add", source)
    # allow_duplicate (--allow-duplicate) applies it again, in a folder of its own.
    again = run(settings, members, "points-add", source, allow_duplicate=True)
    assert again.status == "completed"
    assert balance(members, "m1@example.com") == 80
    assert again.folder != first.folder


def test_a_second_import_is_refused_while_one_runs(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    ready = run_import(
        members,
        settings,
        kind="points-add",
        source=write_csv(tmp_path / "a.csv", "Email,Points\nm1@example.com,40\n"),
        original_name="a.csv",
        options=ImportOptions(),
        actor=ACTOR,
    )
    assert ready.status == "completed"
    # Another process (alive: this one) holds the lock and has an import running.
    pending = create_import(
        members,
        settings,
        kind="points-add",
        source=write_csv(tmp_path / "b.csv", "Email,Points\nm2@example.com,1\n"),
        original_name="b.csv",
        options=ImportOptions(),
        actor=ACTOR,
    )
    with members.write() as session:
        row = session.get(Import, pending.id)
        assert row is not None
        row.status = "running"
    held = acquire_lock(members, "imports", holder=LockHolder.this_process("test"))
    try:
        assert running_import(members) is not None
        with pytest.raises(LockedError, match=rf"another import \(#{pending.id}, points-add"):
            run(
                settings,
                members,
                "points-add",
                write_csv(tmp_path / "c.csv", "Email,Points\nm3@example.com,1\n"),
            )
        assert get_import(members, pending.id).status == "running"
    finally:
        held.release()
    # The holder gone, the running import shows as interrupted.
    assert get_import(members, pending.id).status == "interrupted"


def test_history_lists_imports_newest_first_with_files(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    a = run(
        settings,
        members,
        "points-add",
        write_csv(tmp_path / "a.csv", "Email,Points\nm1@example.com,1\n"),
    )
    b = run(settings, members, "points-add", write_csv(tmp_path / "b.csv", "Email,Points\nx,1\n"))
    listed = list_imports(members)
    assert [r.id for r in listed[:2]] == [b.id, a.id]
    assert listed[0].status == "invalid" and listed[1].status == "completed"
    shown = get_import(members, a.id).to_json()
    assert shown["actor"] == ACTOR and shown["kind"] == "points-add"
    assert Path(shown["original_file"]).is_file() and Path(shown["results_file"]).is_file()
    assert Path(shown["folder"]).parent == settings.imports.storage_directory


def test_tiers_move_members_write_history_and_issue_rewards_when_asked(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    add_tier(members, name="Silver")
    add_tier(members, name="Gold", entry_reward_points=200)
    source = write_csv(
        tmp_path / "t.csv", "Customer ID,Tier Name\n6600000001,gold\n6600000002,Silver\n99,Gold\n"
    )
    record = run(settings, members, "tiers", source, issue_tier_rewards=True)
    assert (record.succeeded, record.failed) == (2, 1)
    assert results(record)[3][3] == "Failed - Customer not found"
    assert balance(members, "m1@example.com") == 200
    with members.read() as session:
        changes = list(
            session.scalars(select(TierChange).where(TierChange.batch_id == record.batch_id))
        )
        m1 = session.scalars(select(Member).where(Member.shopify_id == "6600000001")).one()
        assert m1.tier_id is not None
    assert len(changes) == 2
    assert [t for t, _ in events(members)][-3:] == ["points/added", "tier/changed", "tier/changed"]
    # Without the option: no reward.
    record = run(
        settings,
        members,
        "tiers",
        write_csv(tmp_path / "t2.csv", "Email,Tier Name\nm3@example.com,Gold\n"),
    )
    assert record.failed == 0 and balance(members, "m3@example.com") == 0


def test_profiles_set_birthday_and_gender_and_blank_leaves_as_is(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    run(
        settings,
        members,
        "profiles",
        write_csv(tmp_path / "p.csv", "Customer ID,Birthday,Gender\n6600000001,1990-05-17,woman\n"),
    )
    record = run(
        settings,
        members,
        "profiles",
        write_csv(tmp_path / "p2.csv", "Customer ID,Birthday,Gender\n6600000001,,man\n"),
    )
    assert record.failed == 0
    with members.read() as session:
        m1 = session.scalars(select(Member).where(Member.shopify_id == "6600000001")).one()
        assert (str(m1.birthday), m1.gender) == ("1990-05-17", "man")
    assert events(members)[-1][0] == "profile/updated"


def test_xlsx_first_sheet_is_read_with_both_readers(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    import xlsxwriter

    path = tmp_path / "vip.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("first")
    sheet.write_row(0, 0, ["Customer ID", "Points", "Points Expiry Date"])
    sheet.write_row(1, 0, [6600000001, 30, ""])
    sheet.write_row(2, 0, ["6600000002", 5.0, "2030-01-01"])
    workbook.add_worksheet("second").write_row(0, 0, ["ignored"])
    workbook.close()
    record = run(settings, members, "points-adjust", path)
    assert (record.status, record.failed) == ("completed", 0), record
    assert balance(members, "m1@example.com") == 30
    from memberkit.services.imports.source import open_import_file

    for reader in ("calamine", "openpyxl"):
        with open_import_file(path, original_name="vip.xlsx", xlsx_reader=reader) as f:
            assert f.header == ["Customer ID", "Points", "Points Expiry Date"]
            assert list(f.rows) == [
                (2, ["6600000001", "30", ""]),
                (3, ["6600000002", "5", "2030-01-01"]),
            ]
