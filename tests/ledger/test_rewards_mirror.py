"""The rewards update mirrors changed members and wallets into the database and records the run."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from sqlalchemy import func, select

from memberkit.config import load_settings
from memberkit.services.ledger.members import show_member
from memberkit.services.rewards.mirror import recent_rewards_runs, run_rewards_update_with_mirror
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
