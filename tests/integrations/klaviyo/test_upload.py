"""Bulk profile upload: chunks, typed properties, jobs, import errors, faults, nothing lost."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from tests.integrations.klaviyo.helpers import (
    API_KEY,
    SleepRecorder,
    Store,
    make_client,
    max_value_row,
    read_csv,
    write_max_value_csv,
    write_store,
)
from tests.servers.klaviyo_server import ALL_SCOPES, FakeKlaviyo

from memberkit.domain.max_value import PROPERTY_NAMES
from memberkit.files.profile_cache import ProfileIndex, read_profile_index, write_profile_index
from memberkit.integrations.klaviyo import KlaviyoAuthError, ProfileUpdate, RetryPolicy
from memberkit.integrations.klaviyo.upload import plan_chunks
from memberkit.services.klaviyo.sync import upload_max_value_csv

TODAY = dt.date(2026, 11, 22)


def expected_properties(n: int) -> dict[str, object]:
    """What Klaviyo holds after uploading ``max_value_row(n)``, spelled out by hand.

    JSON booleans and integers, money as the exact number sent (``10.50``, read
    back as ``Decimal("10.50")``), ``""`` for empty text.
    """
    return {
        "has_dividends": n % 2 == 0,
        "discount_code": f"DIV-{n:04d}" if n % 2 == 0 else "",
        "discount_value": Decimal("10.50"),
        "min_spend": Decimal("50.00"),
        "multiple_codes": n % 3 == 0,
        "number_of_codes": n % 5,
        "balance": Decimal("10.50"),
        "account_state": "enabled",
        "MBR_date_created": "" if n % 4 == 0 else "2021-03-04",
    }


def typed(properties: dict[str, object]) -> dict[str, tuple[str, str]]:
    """Each value with its type and spelling: ``True`` is not ``1``, ``10.5`` not ``10.50``."""
    return {k: (type(v).__name__, str(v)) for k, v in properties.items()}


def uploaded(fake: FakeKlaviyo, email: str) -> dict[str, object]:
    profile = fake.profile_by_email(email)
    assert profile is not None, email
    return {k: v for k, v in profile.properties.items() if k in PROPERTY_NAMES}


def upload(store: Store, csv_path: Path, **kwargs: object) -> object:
    return upload_max_value_csv(store.settings(), csv_path, today=TODAY, **kwargs)  # type: ignore[arg-type]


def test_uploaded_profiles_equal_the_max_value_csv(
    klaviyo: FakeKlaviyo, store: Store, tmp_path: Path
) -> None:
    rows = [max_value_row(n) for n in range(120)]
    for row in rows[:60]:
        klaviyo.add_profile(row.email, {"balance": 1, "other": "kept"})
    csv_path = write_max_value_csv(tmp_path / "output" / "max_value_2026-11-22.csv", rows)
    klaviyo.record_bodies = True
    result = upload(store, csv_path)
    assert result.failed == 0 and result.uploaded == 120  # type: ignore[attr-defined]
    # chunk_size = 50 -> 3 jobs
    assert len(klaviyo.requests_to("profile-bulk-import-jobs:create", 202)) == 3
    for n, row in enumerate(rows):
        # JSON types on the wire: booleans, integers, exact numbers, "" for empty text.
        assert typed(uploaded(klaviyo, row.email)) == typed(expected_properties(n)), row.email
    assert klaviyo.profile_by_email(rows[0].email).properties["other"] == "kept"  # type: ignore[union-attr]
    body = klaviyo.requests_to("profile-bulk-import-jobs:create")[0].body.decode()
    assert '"balance":10.50' in body and '"MBR_date_created":""' in body
    doc = json.loads(body)
    assert doc["data"]["type"] == "profile-bulk-import-job"
    assert doc["data"]["attributes"]["profiles"]["data"][0]["type"] == "profile"


def test_chunks_respect_chunk_size_and_five_megabytes() -> None:
    updates = [
        ProfileUpdate(i, f"m{i}@example.com", {"discount_code": "x" * 900}) for i in range(12_000)
    ]
    chunks, too_big = plan_chunks(updates, chunk_size=10_000)
    assert not too_big
    assert all(len(c.profiles) <= 10_000 for c in chunks)
    assert all(len(c.body) <= 5_000_000 for c in chunks)
    assert sum(len(c.profiles) for c in chunks) == 12_000
    assert len(chunks) == 3  # 5 MB binds before 10,000 profiles
    assert (
        json.loads(chunks[0].body)["data"]["attributes"]["profiles"]["data"][0]["attributes"][
            "email"
        ]
        == "m0@example.com"
    )
    small, _ = plan_chunks(updates[:120], chunk_size=50)
    assert [len(c.profiles) for c in small] == [50, 50, 20]


def test_server_refuses_over_10000_profiles_or_5_megabytes(klaviyo: FakeKlaviyo) -> None:
    from memberkit.integrations.klaviyo import Endpoint, KlaviyoRequestError

    updates = [ProfileUpdate(i, f"m{i}@example.com", {}) for i in range(10_001)]
    chunks, _ = plan_chunks(updates, chunk_size=10_000, max_bytes=50_000_000)
    body = json.loads(chunks[0].body)
    body["data"]["attributes"]["profiles"]["data"].append(
        {"type": "profile", "attributes": {"email": "one.more@example.com"}}
    )
    with make_client(klaviyo) as client:
        with pytest.raises(KlaviyoRequestError) as caught:
            client.post(Endpoint.BULK_IMPORT_CREATE, "/api/profile-bulk-import-jobs", body)
        assert caught.value.status == 413
        big = b'{"data":' + b" " * 5_300_000 + b"null}"
        with pytest.raises(KlaviyoRequestError) as caught:
            client.post(Endpoint.BULK_IMPORT_CREATE, "/api/profile-bulk-import-jobs", big)
        assert caught.value.status == 413


def test_invalid_emails_come_back_as_import_errors_in_the_failed_file(
    klaviyo: FakeKlaviyo, store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [max_value_row(n) for n in range(10)]
    rows[3] = max_value_row(3, email="not-an-email")
    rows[7] = max_value_row(7, email="bad@@example")
    csv_path = write_max_value_csv(tmp_path / "output" / "max_value_2026-11-22.csv", rows)
    with caplog.at_level(logging.WARNING, logger="memberkit"):
        result = upload(store, csv_path)
    assert result.failed == 2 and result.uploaded == 8  # type: ignore[attr-defined]
    failed = read_csv(tmp_path / "output" / "klaviyo_failed_2026-11-22.csv")
    assert [r["Email"] for r in failed] == ["not-an-email", "bad@@example"]
    assert all("Invalid email" in r["Failure Reason"] for r in failed)
    assert failed[0]["balance"] == "10.50"  # the row as it was: re-uploadable
    assert "not-an-email" in caplog.text


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 429, "retry_after": 1, "times": 2},
        {"kind": "status", "status": 500, "times": 2},
        {"kind": "status", "status": 503, "times": 1},
        {"kind": "drop", "times": 2},
        {"kind": "slow", "delay": 0.5, "times": 1},
    ],
    ids=["429-storm", "500s", "503", "dropped-connections", "slow-response"],
)
def test_transient_faults_are_retried_and_nothing_is_lost(
    klaviyo: FakeKlaviyo,
    tmp_path: Path,
    fault: dict[str, object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = write_store(tmp_path, klaviyo)
    klaviyo.add_fault(route="profile-bulk-import-jobs:create", **fault)  # type: ignore[arg-type]
    klaviyo.add_fault(route="profile-bulk-import-jobs:get", **fault)  # type: ignore[arg-type]
    rows = [max_value_row(n) for n in range(120)]
    csv_path = write_max_value_csv(tmp_path / "output" / "max_value_2026-11-22.csv", rows)
    sleep = SleepRecorder()
    # The client of the settings, with its back-off waits recorded instead of slept.
    client = make_client(
        klaviyo, sleep=sleep, retry=RetryPolicy(limit=3, delay_ms=10), timeout_seconds=0.3
    )
    with caplog.at_level(logging.INFO, logger="memberkit"), client:
        result = upload(store, csv_path, client=client)
    assert result.failed == 0 and result.uploaded == 120  # type: ignore[attr-defined]
    for n, row in enumerate(rows):
        assert typed(uploaded(klaviyo, row.email)) == typed(expected_properties(n))
    if fault.get("status") == 429:
        assert sleep.waits[:2] == [1.0, 1.0]  # Retry-After: 1, honoured, never slept for real
    assert "retry 1 of 3" in caplog.text  # each fault is logged as it is retried
    assert (
        "3 jobs submitted (3 complete, 0 unfinished, 0 refused), 120 profiles uploaded, 0 failed"
        in caplog.text
    )


def test_a_chunk_that_keeps_failing_is_listed_and_the_others_go_on(
    klaviyo: FakeKlaviyo, store: Store, tmp_path: Path
) -> None:
    # retry_limit = 3: four 500s in a row exhaust the retries of the first chunk.
    klaviyo.add_fault(
        "status",
        "profile-bulk-import-jobs:create",
        status=500,
        times=4,
        match=b'"member0@example.com"',
    )
    rows = [max_value_row(n) for n in range(120)]
    csv_path = write_max_value_csv(tmp_path / "output" / "max_value_2026-11-22.csv", rows)
    result = upload_max_value_csv(store.settings(), csv_path, today=TODAY)
    assert result.report.chunks_failed == 1
    assert result.failed == 50 and result.uploaded == 70
    failed = read_csv(result.failed_path)  # type: ignore[arg-type]
    assert len(failed) == 50
    assert all("failed after 4 attempts" in r["Failure Reason"] for r in failed)
    assert {r["Email"] for r in failed}.isdisjoint({u.email for u in result.report.uploaded})


def test_a_rejected_chunk_fails_with_klaviyos_detail(
    klaviyo: FakeKlaviyo, store: Store, tmp_path: Path
) -> None:
    klaviyo.add_fault("status", "profile-bulk-import-jobs:create", status=400, times=1)
    rows = [max_value_row(n) for n in range(60)]
    csv_path = write_max_value_csv(tmp_path / "output" / "max_value_2026-11-22.csv", rows)
    result = upload(store, csv_path)
    assert result.report.chunks_failed == 1  # type: ignore[attr-defined]
    assert result.uploaded + result.failed == 60  # type: ignore[attr-defined]
    failed = read_csv(result.failed_path)  # type: ignore[attr-defined]
    assert all("HTTP 400" in r["Failure Reason"] for r in failed)
    assert all("scripted fault" in r["Failure Reason"] for r in failed)


# Waits out a real 1 s job timeout: the settings path has no clock to inject.
@pytest.mark.slow
def test_a_job_that_never_completes_is_reported_unfinished(
    klaviyo: FakeKlaviyo, tmp_path: Path
) -> None:
    store = write_store(tmp_path, klaviyo)
    klaviyo.add_fault("never_complete", match=b'"member0@example.com"')
    rows = [max_value_row(n) for n in range(60)]
    csv_path = write_max_value_csv(tmp_path / "output" / "max_value_2026-11-22.csv", rows)
    settings = store.settings(**{"klaviyo_upload.job_timeout_seconds": 1})
    result = upload_max_value_csv(settings, csv_path, today=TODAY)
    assert result.report.jobs_unfinished == 1
    assert result.failed == 50 and result.uploaded == 10
    failed = read_csv(result.failed_path)  # type: ignore[arg-type]
    assert all("still processing after 1 s" in r["Failure Reason"] for r in failed)


def test_a_refused_key_stops_the_upload_and_lists_every_profile(
    klaviyo: FakeKlaviyo, tmp_path: Path
) -> None:
    klaviyo.api_keys["pk_read_only"] = frozenset({"profiles:read"})
    store = write_store(tmp_path, klaviyo, key="pk_read_only")
    rows = [max_value_row(n) for n in range(120)]
    csv_path = write_max_value_csv(tmp_path / "output" / "max_value_2026-11-22.csv", rows)
    with pytest.raises(KlaviyoAuthError) as caught:
        upload(store, csv_path)
    assert "profiles:write" in caught.value.message
    failed = read_csv(tmp_path / "output" / "klaviyo_failed_2026-11-22.csv")
    assert len(failed) == 120


def test_dry_run_sends_nothing(klaviyo: FakeKlaviyo, store: Store, tmp_path: Path) -> None:
    rows = [max_value_row(n) for n in range(120)]
    csv_path = write_max_value_csv(tmp_path / "output" / "max_value_2026-11-22.csv", rows)
    result = upload(store, csv_path, dry_run=True)
    assert klaviyo.requests == []
    assert result.report.jobs_planned == 3 and result.report.dry_run  # type: ignore[attr-defined]


def test_completed_uploads_write_through_to_the_cache(
    klaviyo: FakeKlaviyo, store: Store, tmp_path: Path
) -> None:
    settings = store.settings()
    cache = settings.klaviyo.cache_dir / "klaviyo_segment_XVnnDX.json"
    fetched = dt.datetime(2026, 11, 22, 6, tzinfo=dt.UTC)
    write_profile_index(
        cache,
        ProfileIndex(
            "segment",
            "XVnnDX",
            fetched,
            {"member1@example.com": {"id": "P1", "properties": {"balance": "1.00"}}},
        ),
    )
    rows = [max_value_row(n) for n in range(3)]
    csv_path = write_max_value_csv(tmp_path / "output" / "max_value_2026-11-22.csv", rows)
    result = upload(store, csv_path)
    assert result.cache_updates == 1  # type: ignore[attr-defined]
    index = read_profile_index(cache)
    assert index.fetched_at == fetched
    props = index.profiles["member1@example.com"]["properties"]
    assert props["balance"] == "10.50"
    assert props["has_dividends"] is False
    assert set(props) == set(PROPERTY_NAMES)
    assert "member0@example.com" not in index.profiles


def test_rows_that_cannot_be_read_are_listed_and_the_rest_uploaded(
    klaviyo: FakeKlaviyo, store: Store, tmp_path: Path
) -> None:
    csv_path = write_max_value_csv(tmp_path / "in.csv", [max_value_row(1), max_value_row(2)])
    text = csv_path.read_text().replace("10.50", "ten", 1)
    csv_path.write_text(text + ",true,,0.00,0.00,false,0,0.00,enabled,\n")
    result = upload(store, csv_path)
    assert result.uploaded == 1 and result.failed == 2  # type: ignore[attr-defined]
    failed = read_csv(result.failed_path)  # type: ignore[attr-defined]
    assert "discount_value" in failed[0]["Failure Reason"]
    assert "Email is empty" in failed[1]["Failure Reason"]


def test_a_hand_written_file_goes_out_in_klaviyos_types(
    klaviyo: FakeKlaviyo, store: Store, tmp_path: Path
) -> None:
    csv_path = tmp_path / "max_value_2026-11-22.csv"
    csv_path.write_text(
        "Email,has_dividends,discount_code,discount_value,min_spend,multiple_codes,"
        "number_of_codes,balance,account_state,MBR_date_created\r\n"
        "ann@example.com,TRUE,DIV-AB12-CD34,10,50.0,false,2,35.5,enabled,2021-03-04\r\n"
        "bob@example.com,false,,0,0.00,False,0,0.00,invited,\r\n",
        encoding="utf-8",
    )
    klaviyo.add_profile("bob@example.com", {"balance": "12.00", "first_order": "kept"})
    klaviyo.record_bodies = True
    result = upload(store, csv_path)
    assert result.failed == 0 and result.uploaded == 2  # type: ignore[attr-defined]
    body = klaviyo.requests_to("profile-bulk-import-jobs:create")[0].body.decode()
    assert (
        '"properties":{"has_dividends":true,"discount_code":"DIV-AB12-CD34",'
        '"discount_value":10.00,"min_spend":50.00,"multiple_codes":false,'
        '"number_of_codes":2,"balance":35.50,"account_state":"enabled",'
        '"MBR_date_created":"2021-03-04"}'
    ) in body
    assert typed(uploaded(klaviyo, "ann@example.com")) == typed(
        {
            "has_dividends": True,
            "discount_code": "DIV-AB12-CD34",
            "discount_value": Decimal("10.00"),
            "min_spend": Decimal("50.00"),
            "multiple_codes": False,
            "number_of_codes": 2,
            "balance": Decimal("35.50"),
            "account_state": "enabled",
            "MBR_date_created": "2021-03-04",
        }
    )
    bob = klaviyo.profile_by_email("bob@example.com")
    assert bob is not None
    assert typed(bob.properties) == typed(
        {
            "balance": Decimal("0.00"),
            "first_order": "kept",
            "has_dividends": False,
            "discount_code": "",
            "discount_value": Decimal("0.00"),
            "min_spend": Decimal("0.00"),
            "multiple_codes": False,
            "number_of_codes": 0,
            "account_state": "invited",
            "MBR_date_created": "",
        }
    )


class FakeTime:
    """One clock for the server, the client's limiter and back-off, and the uploader."""

    def __init__(self) -> None:
        self.now = 5000.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds
        time.sleep(0)  # let the other threads run; the waiting itself is fake


def test_a_job_that_never_completes_is_unfinished_after_its_15_minute_timeout_in_fake_time() -> (
    None
):
    from memberkit.integrations.klaviyo import BulkProfileUploader, RateLimiter

    clock = FakeTime()
    with FakeKlaviyo(api_keys={API_KEY: ALL_SCOPES}, clock=clock) as fake:
        fake.add_fault("never_complete", match=b'"member0@example.com"')
        updates = [
            ProfileUpdate(n, f"member{n}@example.com", {"balance": Decimal("1.00")})
            for n in range(60)
        ]
        limiter = RateLimiter(clock=clock, sleep=clock.sleep)
        with make_client(fake, sleep=clock.sleep, limiter=limiter) as client:
            uploader = BulkProfileUploader(
                client, chunk_size=50, job_timeout_seconds=900, clock=clock, sleep=clock.sleep
            )
            report = uploader.upload(updates)
        assert fake.internal_errors == []
    assert report.jobs_completed == 1 and report.jobs_unfinished == 1
    assert len(report.uploaded) == 10 and len(report.failed) == 50
    assert all("still processing after 900 s" in f.reason for f in report.failed)
    polls = [r.at for r in fake.requests_to("profile-bulk-import-jobs:get")]
    # Polled with a growing interval (2 s, then x1.5, at most 15 s) up to the deadline.
    assert polls[-1] - polls[0] >= 890
    assert len(polls) < 900 / 2
