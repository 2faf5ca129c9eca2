"""``memberkit klaviyo fetch|upload`` through the real command, against the local Klaviyo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integrations.klaviyo.helpers import (
    Store,
    max_value_row,
    read_csv,
    write_max_value_csv,
    write_store,
)
from tests.servers.klaviyo_server import FakeKlaviyo


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memberkit", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_fetch_writes_the_cache_and_reuses_it(klaviyo: FakeKlaviyo, store: Store) -> None:
    klaviyo.add_many(42, segment_id="XVnnDX")
    result = run_cli("klaviyo", "fetch", "--segment", cwd=store.root)
    assert result.returncode == 0, result.stderr
    assert "42 Klaviyo profiles fetched" in result.stdout
    assert (store.root / "cache" / "klaviyo_segment_XVnnDX.json").is_file()
    again = run_cli("klaviyo", "fetch", cwd=store.root)
    assert "42 Klaviyo profiles from cache" in again.stdout
    log = (store.root / "logs" / "process.log").read_text()
    assert "Klaviyo profiles: 42 fetched from segment XVnnDX" in log


def test_fetch_mode_flags_are_mutually_exclusive(store: Store) -> None:
    result = run_cli("klaviyo", "fetch", "--all", "--suppressed", cwd=store.root)
    assert result.returncode == 2
    assert "mutually exclusive" in result.stderr


def test_upload_exits_3_when_a_profile_failed_and_lists_it(
    klaviyo: FakeKlaviyo, store: Store
) -> None:
    rows = [max_value_row(n) for n in range(5)] + [max_value_row(9, email="nobody")]
    csv_path = write_max_value_csv(store.root / "output" / "max_value_2026-11-22.csv", rows)
    result = run_cli("klaviyo", "upload", str(csv_path), "--today", "2026-11-22", cwd=store.root)
    assert result.returncode == 3, result.stderr
    assert "Uploaded 5 of 6 profiles in 1 jobs; 1 failed." in result.stdout
    failed_path = store.root / "output" / "klaviyo_failed_2026-11-22.csv"
    assert [r["Email"] for r in read_csv(failed_path)] == ["nobody"]
    # The failed file is itself an upload file: fixing the email and re-uploading works.
    failed_path.write_text(failed_path.read_text().replace("nobody", "somebody@example.com"))
    again = run_cli("klaviyo", "upload", str(failed_path), cwd=store.root)
    assert again.returncode == 0, again.stderr
    assert klaviyo.profile_by_email("somebody@example.com") is not None
    log = (store.root / "logs" / "process.log").read_text()
    assert "1 profiles uploaded, 0 failed" in log


def test_upload_dry_run_sends_nothing(klaviyo: FakeKlaviyo, store: Store) -> None:
    rows = [max_value_row(n) for n in range(120)]
    csv_path = write_max_value_csv(store.root / "output" / "max_value_2026-11-22.csv", rows)
    result = run_cli("klaviyo", "upload", str(csv_path), "--dry-run", cwd=store.root)
    assert result.returncode == 0, result.stderr
    assert "120 profiles in 3 jobs would be uploaded; nothing sent" in result.stdout
    assert klaviyo.requests == []
    log = (store.root / "logs" / "process.log").read_text()
    assert "dry run, nothing sent): 120 profiles in 3 jobs" in log
    assert "member0@example.com" in log


def test_a_missing_key_is_exit_2_naming_the_variable_and_file(
    klaviyo: FakeKlaviyo, tmp_path: Path
) -> None:
    store = write_store(tmp_path, klaviyo, key=None)
    result = run_cli("klaviyo", "fetch", cwd=store.root)
    assert result.returncode == 2
    assert "KLAVIYO_PRIVATE_KEY" in result.stderr
    assert "api.env" in result.stderr


def test_a_refused_key_never_appears_in_output_or_log(klaviyo: FakeKlaviyo, tmp_path: Path) -> None:
    store = write_store(tmp_path, klaviyo, key="pk_not_a_real_key_42")
    result = run_cli("klaviyo", "fetch", cwd=store.root)
    assert result.returncode == 1
    assert "401" in result.stderr
    log = (store.root / "logs" / "process.log").read_text()
    for text in (result.stdout, result.stderr, log):
        assert "pk_not_a_real_key_42" not in text
