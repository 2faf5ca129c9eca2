"""The rewards update mirrors changed members and wallets into the database and records the run."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from sqlalchemy import func, select

from memberkit.config import load_settings
from memberkit.domain.members import MemberRecord
from memberkit.services.ledger.members import show_member
from memberkit.services.rewards.mirror import (
    RewardsMirror,
    member_record,
    recent_rewards_runs,
    run_rewards_update_with_mirror,
)
from memberkit.services.rewards.update import ChangedCustomer, run_rewards_update
from memberkit.store.database import Database, open_database
from memberkit.store.models import JobLock, Member, RewardsRun

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_update_mirrors_changed_members_and_records_the_run(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    shutil.copytree(EXAMPLES / "input", tmp_path / "input")
    config = tmp_path / "memberkit.toml"
    config.write_text(
        (EXAMPLES / "memberkit.toml").read_text(encoding="utf-8")
        + f'\n[database]\nurl = "{database_url}"\n',
        encoding="utf-8",
    )
    settings = load_settings(config, environ={})
    result, run = run_rewards_update_with_mirror(settings, today=dt.date(2026, 11, 20))
    assert run is not None
    assert run.members_changed == result.counts.changed > 0
    assert run.counts["customers_read"] == result.counts.customers_read
    assert [Path(p).name for p in run.output_files][:3] == [
        "customers_2026-11-20.xlsx",
        "max_value_2026-11-20.csv",
        "for_reviews_2026-11-20.csv",
    ]
    assert [r.id for r in recent_rewards_runs(db)] == [run.id]
    # Ann's used code moved out of her available list in the update; the database agrees.
    ann = show_member(db, member="ann.jones@example.com")
    assert ann.shopify_id == "6601000000001"
    assert sum(len(codes) for codes in ann.wallet.values()) > 0


def test_the_mirror_can_be_switched_off(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "input", tmp_path / "input")
    config = tmp_path / "memberkit.toml"
    config.write_text(
        (EXAMPLES / "memberkit.toml").read_text(encoding="utf-8")
        + "\n[database]\nmirror_rewards_update = false\n",
        encoding="utf-8",
    )
    settings = load_settings(config, environ={})
    _, run = run_rewards_update_with_mirror(settings, today=dt.date(2026, 11, 20))
    assert run is None
    # The database holds only the update's lock (released): no member, no run record.
    db = open_database(f"sqlite:///{tmp_path / 'memberkit.db'}")
    try:
        with db.read() as session:
            for model in (Member, RewardsRun, JobLock):
                assert session.scalar(select(func.count()).select_from(model)) == 0
    finally:
        db.dispose()


def test_the_rewards_update_command_mirrors_and_says_so(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    import subprocess
    import sys

    shutil.copytree(EXAMPLES / "input", tmp_path / "input")
    config = tmp_path / "memberkit.toml"
    config.write_text(
        (EXAMPLES / "memberkit.toml").read_text(encoding="utf-8")
        + f'\n[database]\nurl = "{database_url}"\n',
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "memberkit",
            "rewards",
            "update",
            "--config",
            str(config),
            "--today",
            "2026-11-20",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    runs = recent_rewards_runs(db)
    assert len(runs) == 1
    assert f"Database: {runs[0].members_changed:,} changed members mirrored" in result.stdout


def _key(record: MemberRecord) -> tuple[str | None, ...]:
    return (
        record.shopify_id,
        record.email,
        record.codes_available,
        record.codes_used,
        record.codes_expired,
    )


def test_the_mirror_keeps_both_readers_and_mirrors_every_changed_member(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    from benchmarks.rewards.generate import Params, generate

    generate(Params(2_000, 0.3, 1_000, dt.date(2026, 11, 20), 3), tmp_path)
    config = tmp_path / "memberkit.toml"
    config.write_text(
        '[input]\ncustomers_csv = "customers_export.csv"\n'
        'discounts_csv = "discounts_export.csv"\n'
        f'[database]\nurl = "{database_url}"\n',
        encoding="utf-8",
    )
    settings = load_settings(config, environ={})
    today = dt.date(2026, 11, 20)
    with RewardsMirror.open(settings) as mirror:
        two = run_rewards_update(
            settings,
            today=today,
            changed_spool=mirror.spool,
            background_writers=True,
            two_readers=True,
        )
        assert "cpu_second_reader" in two.timings  # the second reader did run
        assert mirror.spool is not None
        spooled = sorted(_key(r) for r in mirror.spool.records())
        run = mirror.record(two)
    assert run is not None and run.members_changed == two.counts.changed > 0
    assert not list(tmp_path.glob("output/.*.tmp"))  # the spool files are gone

    # Exactly what one reader with a callback in this process hands over.
    seen: list[ChangedCustomer] = []
    one = run_rewards_update(settings, today=today, on_changed=seen.append)
    assert "cpu_second_reader" not in one.timings
    assert spooled == sorted(_key(member_record(c)) for c in seen)
