"""End to end: ``memberkit rewards update`` with Klaviyo on, against the local Klaviyo.

The example exports (examples/input/) are run once offline to learn each member's
max-value row; then Klaviyo holds those members with stale properties, and the
update must fetch the segment, write only the changed rows, upload exactly them,
write the upload through to the cache, and on the next run find nothing changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.integrations.klaviyo.helpers import API_KEY, read_csv
from tests.servers.klaviyo_server import FakeKlaviyo

from memberkit.domain.max_value import PROPERTY_NAMES, row_from_cells
from memberkit.files.profile_cache import read_profile_index

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
DATE = "2026-11-20"


def run(store: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memberkit", "rewards", "update", "--today", DATE, *args],
        capture_output=True,
        text=True,
        cwd=store,
        env=env,
        timeout=120,
        check=False,
    )


def klaviyo_env(fake: FakeKlaviyo, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMBERKIT_", "KLAVIYO_"))}
    env.update(
        {
            "MEMBERKIT_KLAVIYO__ENABLED": "true",
            "MEMBERKIT_KLAVIYO__BASE_URL": fake.url,
            "MEMBERKIT_KLAVIYO__TIMEOUT_SECONDS": "2",
            "MEMBERKIT_KLAVIYO_UPLOAD__ENABLED": "true",
            "MEMBERKIT_KLAVIYO_UPLOAD__RETRY_DELAY_MS": "10",
            "MEMBERKIT_KLAVIYO_UPLOAD__RETRY_LIMIT": "2",
            "MEMBERKIT_KLAVIYO_UPLOAD__POLL_INTERVAL_SECONDS": "0.05",
            **extra,
        }
    )
    return env


@pytest.fixture
def store(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "input", tmp_path / "input")
    shutil.copy(EXAMPLES / "memberkit.toml", tmp_path / "memberkit.toml")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "api.env").write_text(f"KLAVIYO_PRIVATE_KEY={API_KEY}\n")
    return tmp_path


@pytest.fixture(scope="module")
def offline_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    """The max-value rows of every member with an email (Klaviyo off), computed once."""
    offline = tmp_path_factory.mktemp("offline")
    shutil.copytree(EXAMPLES / "input", offline / "input")
    shutil.copy(EXAMPLES / "memberkit.toml", offline / "memberkit.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMBERKIT_", "KLAVIYO_"))}
    result = run(offline, env)
    assert result.returncode == 0, result.stderr
    rows = read_csv(offline / "output" / f"max_value_{DATE}.csv")
    assert len(rows) >= 3
    return rows


def seed_segment(fake: FakeKlaviyo, rows: list[dict[str, str]], segment: str) -> None:
    """Every member in Klaviyo with stale properties, except the first, which is current."""
    for i, row in enumerate(rows):
        props = row_from_cells(row).properties() if i == 0 else {"balance": 0, "other": "kept"}
        fake.add_profile(row["Email"].strip().lower(), props, segments=[segment])


def test_update_fetches_uploads_the_changed_profiles_and_caches_them(
    klaviyo: FakeKlaviyo, store: Path, offline_rows: list[dict[str, str]]
) -> None:
    seed_segment(klaviyo, offline_rows, "XVnnDX")
    klaviyo.add_profile("not.a.member@example.com", {"balance": 3}, segments=["XVnnDX"])
    result = run(store, klaviyo_env(klaviyo), "--segment")
    assert result.returncode == 0, result.stderr

    written = read_csv(store / "output" / f"max_value_{DATE}.csv")
    # The current member is skipped as unchanged; everyone else is written.
    assert [r["Email"] for r in written] == [r["Email"] for r in offline_rows[1:]]
    assert len(klaviyo.requests_to("profile-bulk-import-jobs:create", 202)) == 1
    for row in offline_rows:
        profile = klaviyo.profile_by_email(row["Email"])
        assert profile is not None
        stored = {k: v for k, v in profile.properties.items() if k in PROPERTY_NAMES}
        assert stored == row_from_cells(row).properties(), row["Email"]
    assert klaviyo.profile_by_email(offline_rows[1]["Email"]).properties["other"] == "kept"  # type: ignore[union-attr]

    cache = read_profile_index(store / "cache" / "klaviyo_segment_XVnnDX.json")
    assert len(cache.profiles) == len(offline_rows) + 1
    member = cache.profiles[offline_rows[1]["Email"].strip().lower()]
    assert set(member["properties"]) == set(PROPERTY_NAMES)  # written through
    assert f"Klaviyo upload: {len(written)} profiles uploaded in 1 jobs, 0 failed." in result.stdout
    log = (store / "logs" / "process.log").read_text()
    assert "Klaviyo sync:" in log and "profiles loaded (fetched" in log

    # Tomorrow's comparison (here: a re-run) sees today's upload: nothing changed.
    fetches = len(klaviyo.requests_to("segments:profiles"))
    again = run(store, klaviyo_env(klaviyo), "--segment")
    assert again.returncode == 0, again.stderr
    assert read_csv(store / "output" / f"max_value_{DATE}.csv") == []
    assert len(klaviyo.requests_to("segments:profiles")) == fetches  # from cache
    assert len(klaviyo.requests_to("profile-bulk-import-jobs:create")) == 1
    assert "profiles from cache" in again.stdout


def test_failed_profiles_exit_3_and_are_listed(
    klaviyo: FakeKlaviyo, store: Path, offline_rows: list[dict[str, str]]
) -> None:
    seed_segment(klaviyo, offline_rows, "XVnnDX")
    klaviyo.add_fault("status", "profile-bulk-import-jobs:create", status=400)
    result = run(store, klaviyo_env(klaviyo))
    assert result.returncode == 3, result.stderr
    written = read_csv(store / "output" / f"max_value_{DATE}.csv")
    failed = read_csv(store / "output" / f"klaviyo_failed_{DATE}.csv")
    assert [r["Email"] for r in failed] == [r["Email"] for r in written]
    assert all("HTTP 400" in r["Failure Reason"] for r in failed)
    # Everything else was written: the Matrixify and reviews files are there.
    assert (store / "output" / f"customers_{DATE}.xlsx").is_file()
    assert (store / "output" / f"for_reviews_{DATE}.csv").is_file()

    # The next run uploads them and archives the earlier failed file like other outputs.
    again = run(store, klaviyo_env(klaviyo))
    assert again.returncode == 0, again.stderr
    assert not (store / "output" / f"klaviyo_failed_{DATE}.csv").exists()
    assert (store / "output" / "archive" / f"klaviyo_failed_{DATE}.csv").is_file()
    assert "0 failed" in again.stdout


def test_dry_run_fetches_but_uploads_nothing(
    klaviyo: FakeKlaviyo, store: Path, offline_rows: list[dict[str, str]]
) -> None:
    seed_segment(klaviyo, offline_rows, "SJPRME")
    result = run(store, klaviyo_env(klaviyo), "--suppressed", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert klaviyo.requests_to("profile-bulk-import-jobs:create") == []
    # A dry run's outputs go to output/dry-run/ only (issue 8.6).
    assert len(read_csv(store / "output" / "dry-run" / f"max_value_{DATE}.csv")) == (
        len(offline_rows) - 1
    )
    assert not (store / "output" / f"max_value_{DATE}.csv").exists()
    assert "nothing sent" in result.stdout
    assert (store / "cache" / "klaviyo_segment_SJPRME.json").is_file()


def test_fetch_mode_flags_are_mutually_exclusive(klaviyo: FakeKlaviyo, store: Path) -> None:
    result = run(store, klaviyo_env(klaviyo), "--all", "--segment")
    assert result.returncode == 2
    assert "mutually exclusive" in result.stderr
    assert klaviyo.requests == []
    assert not (store / "output").exists()


def test_refresh_cache_fetches_again(
    klaviyo: FakeKlaviyo, store: Path, offline_rows: list[dict[str, str]]
) -> None:
    seed_segment(klaviyo, offline_rows, "XVnnDX")
    env = klaviyo_env(klaviyo, MEMBERKIT_KLAVIYO_UPLOAD__ENABLED="false")
    assert run(store, env).returncode == 0
    fetches = len(klaviyo.requests_to("segments:profiles"))
    assert run(store, env, "--refresh-cache").returncode == 0
    assert len(klaviyo.requests_to("segments:profiles")) > fetches
