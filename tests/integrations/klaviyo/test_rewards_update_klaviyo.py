"""End to end: ``memberkit rewards update`` with Klaviyo on, against the local Klaviyo.

The example exports (examples/input/) are run once offline to learn the members'
order; then Klaviyo holds those members with stale properties (one of them
current, in Klaviyo's own spellings), and the update must fetch the segment,
write only the changed rows, upload exactly them, write the upload through to
the cache, and on the next run find nothing changed. Expected properties are
written out by hand (``EXPECTED``), never computed by the code under test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.integrations.klaviyo.helpers import API_KEY, read_csv
from tests.servers.klaviyo_server import FakeKlaviyo

from memberkit.domain.max_value import PROPERTY_NAMES
from memberkit.files.profile_cache import read_profile_index

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
DATE = "2026-11-20"


def props(
    has: bool, code: str, value: str, spend: str, multiple: bool, count: int, balance: str,
    state: str, created: str,
) -> dict[str, Any]:  # fmt: skip
    """Properties as Klaviyo holds them after our upload: JSON true/false, ints, exact numbers."""
    return {
        "has_dividends": has,
        "discount_code": code,
        "discount_value": Decimal(value),
        "min_spend": Decimal(spend),
        "multiple_codes": multiple,
        "number_of_codes": count,
        "balance": Decimal(balance),
        "account_state": state,
        "MBR_date_created": created,
    }


#: Each example member's properties on 2026-11-20, by hand from the example exports.
EXPECTED: dict[str, dict[str, Any]] = {
    "ann.jones@example.com": props(
        True, "DIV-AB12-CD34", "25.00", "100.00", True, 2, "35.00", "enabled", "2021-03-04"
    ),
    "bob.smith@example.com": props(
        True, "DIV-BOB1-0002", "5.00", "25.00", False, 1, "5.00", "enabled", "2022-07-19"
    ),
    "chloé.dubois@example.fr": props(
        True, "DIV-CHL0-0001", "20.00", "80.00", False, 1, "20.00", "enabled", "2023-01-15"
    ),
    "dan.o'brien@example.ie": props(
        False, "", "0.00", "0.00", False, 0, "0.00", "invited", "2024-02-29"
    ),
    "jack@example.com": props(
        True, "DIV-JCK0-0002", "15.00", "60.00", True, 3, "37.50", "enabled", "2019-11-11"
    ),
    "kim@example.com": props(
        True, "DIV-KIM0-0002", "12.50", "50.00", False, 1, "12.50", "enabled", "2022-02-22"
    ),
    "lee@example.com": props(
        True, "DIV-LEE0-0002", "8.00", "20.00", False, 1, "8.00", "enabled", "2023-08-08"
    ),
}

#: Ann as Klaviyo may hold her when she is current: the same values in other
#: spellings (strings for booleans and money, a whole number and a float for money).
ANN_CURRENT_IN_KLAVIYO_SPELLINGS: dict[str, Any] = {
    "has_dividends": "true",
    "discount_code": "DIV-AB12-CD34",
    "discount_value": 25,
    "min_spend": 100.0,
    "multiple_codes": "True",
    "number_of_codes": 2.0,
    "balance": "35.00",
    "account_state": "enabled",
    "MBR_date_created": "2021-03-04",
}


def typed(properties: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Each value with its type and spelling: ``True`` is not ``1``, ``10.5`` not ``10.50``."""
    return {k: (type(v).__name__, str(v)) for k, v in properties.items()}


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
    assert [r["Email"].strip().lower() for r in rows] == list(EXPECTED)
    return rows


def seed_segment(fake: FakeKlaviyo, rows: list[dict[str, str]], segment: str) -> None:
    """Every member in Klaviyo with stale properties, except Ann, who is current."""
    for row in rows:
        email = row["Email"].strip().lower()
        current = email == "ann.jones@example.com"
        stale = {"balance": 0, "other": "kept"}
        fake.add_profile(
            email, ANN_CURRENT_IN_KLAVIYO_SPELLINGS if current else stale, segments=[segment]
        )


def test_update_fetches_uploads_the_changed_profiles_and_caches_them(
    klaviyo: FakeKlaviyo, store: Path, offline_rows: list[dict[str, str]]
) -> None:
    seed_segment(klaviyo, offline_rows, "XVnnDX")
    klaviyo.add_profile("not.a.member@example.com", {"balance": 3}, segments=["XVnnDX"])
    result = run(store, klaviyo_env(klaviyo), "--segment")
    assert result.returncode == 0, result.stderr

    written = read_csv(store / "output" / f"max_value_{DATE}.csv")
    # Ann is current (in other spellings) and skipped as unchanged; everyone else is written.
    assert [r["Email"].lower() for r in written] == list(EXPECTED)[1:]
    assert len(klaviyo.requests_to("profile-bulk-import-jobs:create", 202)) == 1
    ann = klaviyo.profile_by_email("ann.jones@example.com")
    assert ann is not None and ann.properties == ANN_CURRENT_IN_KLAVIYO_SPELLINGS  # not sent
    for email, expected in list(EXPECTED.items())[1:]:
        profile = klaviyo.profile_by_email(email)
        assert profile is not None
        stored = {k: v for k, v in profile.properties.items() if k in PROPERTY_NAMES}
        assert typed(stored) == typed(expected), email
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


def test_a_key_echoed_by_klaviyo_is_redacted_in_stderr_log_and_failed_file(
    klaviyo: FakeKlaviyo, store: Path, offline_rows: list[dict[str, str]]
) -> None:
    key = "pk_live_9d1e6b2a4c7f40e8b3a5c0d2e4f6a8b1"
    klaviyo.api_keys[key] = klaviyo.api_keys[API_KEY]
    (store / "config" / "api.env").write_text(f"KLAVIYO_PRIVATE_KEY={key}\n")
    seed_segment(klaviyo, offline_rows, "XVnnDX")
    klaviyo.add_fault("status", "profile-bulk-import-jobs:create", status=400, echo_key=True)
    result = run(store, klaviyo_env(klaviyo))
    assert result.returncode == 3, result.stderr
    failed_path = store / "output" / f"klaviyo_failed_{DATE}.csv"
    failed = read_csv(failed_path)
    assert len(failed) == len(offline_rows) - 1
    assert all("key=Klaviyo-API-Key ****" in r["Failure Reason"] for r in failed)
    log = (store / "logs" / "process.log").read_text()
    assert "key=Klaviyo-API-Key ****" in result.stderr and "key=Klaviyo-API-Key ****" in log
    for text in (result.stdout, result.stderr, log, failed_path.read_text()):
        assert key not in text


def test_renamed_properties_are_compared_uploaded_and_cached_under_the_stores_names(
    klaviyo: FakeKlaviyo, store: Path, offline_rows: list[dict[str, str]]
) -> None:
    """Issue 8.11: Klaviyo holds this store's names; a field left out is never sent."""
    renames = {
        "MEMBERKIT_KLAVIYO_PROPERTIES__HAS_DIVIDENDS": "has_rewards",
        "MEMBERKIT_KLAVIYO_PROPERTIES__MEMBER_SINCE": "member_since",
        "MEMBERKIT_KLAVIYO_PROPERTIES__ACCOUNT_STATE": "",
    }
    ann = dict(ANN_CURRENT_IN_KLAVIYO_SPELLINGS)
    ann["has_rewards"] = ann.pop("has_dividends")
    ann["member_since"] = ann.pop("MBR_date_created")
    ann["account_state"] = "disabled"  # not sent: never compared
    for row in offline_rows:
        email = row["Email"].strip().lower()
        current = email == "ann.jones@example.com"
        # Bob holds today's values under the seed's names only: stale under this store's.
        stale = dict(EXPECTED["bob.smith@example.com"])
        klaviyo.add_profile(email, ann if current else stale, segments=["XVnnDX"])
    result = run(store, klaviyo_env(klaviyo, **renames), "--segment")
    assert result.returncode == 0, result.stderr

    written = read_csv(store / "output" / f"max_value_{DATE}.csv")
    assert [r["Email"].lower() for r in written] == list(EXPECTED)[1:]
    assert list(written[0]) == [
        "Email", "has_rewards", "discount_code", "discount_value", "min_spend",
        "multiple_codes", "number_of_codes", "balance", "member_since",
    ]  # fmt: skip
    names = {"has_rewards", "member_since", *PROPERTY_NAMES} - {"has_dividends"}
    names -= {"MBR_date_created", "account_state"}
    for email, expected in list(EXPECTED.items())[1:]:
        profile = klaviyo.profile_by_email(email)
        assert profile is not None
        sent = {k: v for k, v in profile.properties.items() if k in names}
        want = {k: v for k, v in expected.items() if k in names}
        want["has_rewards"] = expected["has_dividends"]
        want["member_since"] = expected["MBR_date_created"]
        assert typed(sent) == typed(want), email
        # What was there under other names stays as it was (Bob's values, untouched).
        assert profile.properties["account_state"] == "enabled"
        assert profile.properties["has_dividends"] is True
    cache = read_profile_index(store / "cache" / "klaviyo_segment_XVnnDX.json")
    member = cache.profiles[offline_rows[1]["Email"].strip().lower()]
    assert set(member["properties"]) == names

    again = run(store, klaviyo_env(klaviyo, **renames), "--segment")
    assert again.returncode == 0, again.stderr
    assert read_csv(store / "output" / f"max_value_{DATE}.csv") == []
