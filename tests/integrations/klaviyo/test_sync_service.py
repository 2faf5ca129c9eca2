"""Getting the profile index: cache reuse, refresh, atomic writes, weekly full fetch."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
from tests.integrations.klaviyo.helpers import Store, write_store
from tests.servers.klaviyo_server import FakeKlaviyo

from memberkit.cli.errors import exit_code_for
from memberkit.errors import ConfigError
from memberkit.files import profile_cache
from memberkit.files.profile_cache import read_profile_index
from memberkit.services.klaviyo.sync import get_profile_index

PROPS = {"balance": 5, "has_dividends": True, "unrelated": "x"}


def at(hours: float) -> dt.datetime:
    return dt.datetime(2026, 11, 22, 6, tzinfo=dt.UTC) + dt.timedelta(hours=hours)


def test_a_fresh_cache_is_reused_and_a_stale_one_fetched(
    klaviyo: FakeKlaviyo, store: Store
) -> None:
    klaviyo.add_many(30, segment_id="XVnnDX", properties=PROPS)
    settings = store.settings()
    first = get_profile_index(settings, now=lambda: at(0))
    assert first.origin == "fetched" and len(first.index.profiles) == 30
    assert first.path == store.root / "cache" / "klaviyo_segment_XVnnDX.json"
    assert read_profile_index(first.path).fetched_at == at(0)
    count = len(klaviyo.requests)
    again = get_profile_index(settings, now=lambda: at(23.9))
    assert again.origin == "cache" and len(klaviyo.requests) == count
    stale = get_profile_index(settings, now=lambda: at(24))
    assert stale.origin == "fetched" and len(klaviyo.requests) > count


def test_refresh_cache_deletes_it_and_fetches_afresh(klaviyo: FakeKlaviyo, store: Store) -> None:
    klaviyo.add_many(5, segment_id="XVnnDX")
    settings = store.settings()
    get_profile_index(settings, now=lambda: at(0))
    klaviyo.add_many(5, segment_id="XVnnDX", start=1_700_000_000.0, domain="new.com")
    result = get_profile_index(settings, refresh_cache=True, now=lambda: at(1))
    assert result.origin == "fetched" and len(result.index.profiles) == 10


def test_an_unreadable_cache_is_fetched_again_with_a_warning(
    klaviyo: FakeKlaviyo, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    klaviyo.add_many(5, segment_id="XVnnDX")
    path = store.root / "cache" / "klaviyo_segment_XVnnDX.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "mode": "segm')  # truncated by some other tool
    with caplog.at_level(logging.WARNING, logger="memberkit"):
        result = get_profile_index(store.settings(), now=lambda: at(0))
    assert result.origin == "fetched" and len(result.index.profiles) == 5
    assert "unreadable" in caplog.text
    assert read_profile_index(path).fetched_at == at(0)


def test_a_crash_while_writing_leaves_the_old_cache_whole(
    klaviyo: FakeKlaviyo, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    klaviyo.add_many(5, segment_id="XVnnDX")
    settings = store.settings()
    first = get_profile_index(settings, now=lambda: at(0))
    before = first.path.read_bytes()

    def crash(obj: object, fh: object, **kwargs: object) -> None:
        fh.write('{"version": 1, "profiles": {')  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(profile_cache.json, "dump", crash)
    with pytest.raises(KeyboardInterrupt):
        get_profile_index(settings, now=lambda: at(48))
    assert first.path.read_bytes() == before
    assert sorted(p.name for p in first.path.parent.iterdir()) == [first.path.name]
    json.loads(before)


def test_all_mode_refreshes_incrementally_and_fully_once_a_week(
    klaviyo: FakeKlaviyo, tmp_path: Path
) -> None:
    store = write_store(tmp_path, klaviyo)
    klaviyo.add_many(20, properties=PROPS)
    settings = store.settings(**{"klaviyo.fetch_mode": "all"})
    day = dt.datetime.now(dt.UTC)
    first = get_profile_index(settings, now=lambda: day)
    assert first.origin == "fetched"
    assert first.path.name == "klaviyo_all.json"
    second = get_profile_index(settings, now=lambda: day + dt.timedelta(days=1, seconds=1))
    assert second.origin == "refreshed"
    assert second.index.full_fetched_at == day
    assert len(second.index.profiles) == 20
    weekly = get_profile_index(settings, now=lambda: day + dt.timedelta(days=7, seconds=2))
    assert weekly.origin == "fetched"
    assert weekly.index.full_fetched_at == day + dt.timedelta(days=7, seconds=2)


def test_suppressed_mode_uses_the_suppressed_segment(klaviyo: FakeKlaviyo, store: Store) -> None:
    klaviyo.add_many(3, segment_id="SJPRME")
    result = get_profile_index(store.settings(), mode="suppressed", now=lambda: at(0))
    assert result.path.name == "klaviyo_segment_SJPRME.json"
    assert len(result.index.profiles) == 3


def test_a_mode_without_its_segment_id_is_a_config_error(
    klaviyo: FakeKlaviyo, store: Store
) -> None:
    settings = store.settings(**{"klaviyo.suppressed_segment_id": ""})
    with pytest.raises(ConfigError, match=r"klaviyo\.suppressed_segment_id is not set"):
        get_profile_index(settings, mode="suppressed")


def test_a_missing_key_names_the_variable_and_the_file(
    klaviyo: FakeKlaviyo, tmp_path: Path
) -> None:
    store = write_store(tmp_path, klaviyo, key=None)
    with pytest.raises(ConfigError) as caught:
        get_profile_index(store.settings())
    assert exit_code_for(caught.value) == 2
    assert "KLAVIYO_PRIVATE_KEY" in caught.value.message
    assert str(tmp_path / "config" / "api.env") in (caught.value.hint or "")


def test_a_fetch_that_fails_leaves_the_cache_as_it_was(klaviyo: FakeKlaviyo, store: Store) -> None:
    from memberkit.integrations.klaviyo import KlaviyoUnavailableError

    klaviyo.add_many(5, segment_id="XVnnDX")
    settings = store.settings()
    first = get_profile_index(settings, now=lambda: at(0))
    before = first.path.read_bytes()
    klaviyo.add_fault("status", "segments:profiles", status=503, times=100)
    with pytest.raises(KlaviyoUnavailableError, match="failed after 4 attempts"):
        get_profile_index(settings, now=lambda: at(48))
    assert first.path.read_bytes() == before


def test_a_429_storm_while_fetching_is_waited_out(klaviyo: FakeKlaviyo, store: Store) -> None:
    klaviyo.add_many(300, segment_id="XVnnDX")
    # Retry-After: 0 keeps the test fast; waiting for it is proved in test_client.py.
    klaviyo.add_fault("status", "segments:profiles", status=429, retry_after=0, times=3)
    result = get_profile_index(store.settings(), now=lambda: at(0))
    assert len(result.index.profiles) == 300
    assert len(klaviyo.requests_to("segments:profiles", 429)) == 3


def test_the_cache_age_counts_from_the_start_of_its_fetch(
    klaviyo: FakeKlaviyo, store: Store
) -> None:
    klaviyo.add_many(250, segment_id="XVnnDX")
    settings = store.settings(**{"klaviyo.fetch_workers": 1})

    def now() -> dt.datetime:
        # A slow fetch: ten minutes pass with every request Klaviyo answers.
        return at(0) + dt.timedelta(minutes=10 * len(klaviyo.requests))

    first = get_profile_index(settings, now=now)
    assert len(klaviyo.requests) == 3  # three pages: the clock moved 30 minutes meanwhile
    assert first.index.fetched_at == at(0)
    assert read_profile_index(first.path).fetched_at == at(0)
    # 23.5 hours after the fetch ended, but 24 after it started: stale (cache_ttl is 24 h).
    stale = get_profile_index(settings, now=lambda: at(24))
    assert stale.origin == "fetched"
