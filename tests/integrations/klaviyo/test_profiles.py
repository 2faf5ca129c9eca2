"""Fetching the profile index: paging, parallel slices, incremental refresh."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.integrations.klaviyo.helpers import make_client
from tests.servers.klaviyo_server import FakeKlaviyo

from memberkit.integrations.klaviyo import KlaviyoError, ProfileFetcher, ProfileSource
from memberkit.integrations.klaviyo.profiles import plan_slices

PROPS = {
    "has_dividends": True,
    "discount_code": "DIV-1",
    "discount_value": 10.5,
    "min_spend": 50,
    "multiple_codes": False,
    "number_of_codes": 1,
    "balance": 10.5,
    "account_state": "enabled",
    "MBR_date_created": "2020-01-01",
    "first_order": "not ours",
}


def seed(fake: FakeKlaviyo, count: int, *, spacing: float = 3600.0) -> None:
    fake.add_many(count, segment_id="XVnnDX", spacing=spacing, properties=PROPS)


@pytest.mark.parametrize("workers", [1, 4])
def test_a_segment_is_fetched_whole_with_only_the_nine_properties(
    klaviyo: FakeKlaviyo, workers: int
) -> None:
    seed(klaviyo, 537)
    klaviyo.add_many(20)  # profiles outside the segment
    klaviyo.add_profile("", segments=["XVnnDX"])  # no email: skipped
    with make_client(klaviyo) as client:
        fetcher = ProfileFetcher(client, ProfileSource("segment", "XVnnDX"), workers=workers)
        index = fetcher.fetch()
    assert len(index.profiles) == 537
    assert fetcher.stats.without_email == 1
    profile = index.get("MEMBER0@example.com")
    assert profile is not None
    assert profile["properties"]["balance"] == Decimal("10.5")
    assert "first_order" not in profile["properties"]
    assert len(profile["properties"]) == 9
    assert index.mode == "segment" and index.segment_id == "XVnnDX"
    assert index.full_fetched_at == index.fetched_at


def test_pages_ask_for_100_profiles_with_email_and_properties_and_follow_absolute_next(
    klaviyo: FakeKlaviyo,
) -> None:
    seed(klaviyo, 250)
    with make_client(klaviyo) as client:
        ProfileFetcher(client, ProfileSource("segment", "XVnnDX"), workers=1).fetch()
    pages = klaviyo.requests_to("segments:profiles", 200)
    assert len(pages) == 3
    first = parse_qs(urlsplit(pages[0].path).query)
    assert first["page[size]"] == ["100"]
    assert first["fields[profile]"] == ["email,properties"]
    assert "page[cursor]" in parse_qs(urlsplit(pages[1].path).query)


def test_parallel_slices_are_disjoint_and_cover_everything(klaviyo: FakeKlaviyo) -> None:
    # Uneven spacing: many members joined in one burst.
    klaviyo.add_many(300, segment_id="XVnnDX", spacing=1.0, start=1_600_000_000.0)
    klaviyo.add_many(
        100, segment_id="XVnnDX", spacing=86400.0, start=1_700_000_000.0, domain="later.com"
    )
    with make_client(klaviyo) as client:
        fetcher = ProfileFetcher(client, ProfileSource("segment", "XVnnDX"), workers=4)
        index = fetcher.fetch()
    assert len(index.profiles) == 400
    assert fetcher.stats.profiles_seen == 400  # no profile fetched twice
    assert fetcher.stats.slices > 1


def test_slices_have_open_ends_and_half_second_boundaries() -> None:
    first = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    last = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    slices = plan_slices("joined_group_at", first, last, 4)
    assert slices[0].after is None and slices[-1].before is None
    assert [s.before for s in slices[:-1]] == [s.after for s in slices[1:]]
    assert all(s.after is None or s.after.microsecond == 500000 for s in slices)
    assert slices[1].filter() == (
        "and(greater-than(joined_group_at,2024-01-01T06:00:00.500000Z),"
        "less-than(joined_group_at,2024-01-01T12:00:00.500000Z))"
    )


def test_all_profiles_refresh_incrementally_from_the_last_fetch(klaviyo: FakeKlaviyo) -> None:
    klaviyo.add_many(120, spacing=60.0, properties=PROPS)
    source = ProfileSource("all")
    with make_client(klaviyo) as client:
        fetcher = ProfileFetcher(client, source, workers=3)
        first = fetcher.fetch()
        assert len(first.profiles) == 120
        changed = klaviyo.profile_by_email("member5@example.com")
        assert changed is not None
        changed.properties = {**changed.properties, "balance": 99}
        changed.email = "renamed@example.com"
        changed.updated = first.fetched_at.timestamp() + 1
        klaviyo.add_profile("new@example.com", {"balance": 1})
        refreshed = ProfileFetcher(client, source, workers=3).refresh(
            first, now=first.fetched_at + dt.timedelta(seconds=5)
        )
    assert len(refreshed.profiles) == 121
    assert "member5@example.com" not in refreshed.profiles
    assert refreshed.profiles["renamed@example.com"]["properties"]["balance"] == 99
    assert "new@example.com" in refreshed.profiles
    assert refreshed.full_fetched_at == first.full_fetched_at
    updated_filters = [
        parse_qs(urlsplit(r.path).query).get("filter", [""])[0]
        for r in klaviyo.requests_to("profiles:list")
    ]
    assert any(f.startswith("and(greater-than(updated,") for f in updated_filters)


def test_a_next_link_to_another_host_is_refused(klaviyo: FakeKlaviyo) -> None:
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "data": [{"type": "profile", "id": "P1", "attributes": {"email": "a@b.co"}}],
                "links": {"next": "https://evil.example/api/profiles?page[cursor]=x"},
            },
        )

    with (
        make_client(klaviyo, transport=httpx.MockTransport(handler)) as client,
        pytest.raises(KlaviyoError, match="another host"),
    ):
        ProfileFetcher(client, ProfileSource("all"), workers=1).fetch()


def test_a_server_that_cannot_sort_still_gets_a_sequential_fetch(klaviyo: FakeKlaviyo) -> None:
    seed(klaviyo, 150)
    klaviyo.add_fault("status", "segments:profiles", status=400, times=1)
    with make_client(klaviyo) as client:
        fetcher = ProfileFetcher(client, ProfileSource("segment", "XVnnDX"), workers=4)
        index = fetcher.fetch()
    assert len(index.profiles) == 150
    assert fetcher.stats.slices == 1


def test_a_slice_that_keeps_failing_stops_the_fetch_with_a_clear_error(
    klaviyo: FakeKlaviyo,
) -> None:
    from memberkit.integrations.klaviyo import KlaviyoUnavailableError

    seed(klaviyo, 2000)
    klaviyo.add_fault("status", "segments:profiles", status=500, times=1000)
    with (
        make_client(klaviyo, sleep=lambda s: None) as client,
        pytest.raises(KlaviyoUnavailableError, match="failed after 4 attempts"),
    ):
        ProfileFetcher(client, ProfileSource("segment", "XVnnDX"), workers=4).fetch()


def test_fetched_at_is_the_start_of_the_fetch_by_the_fetchers_clock(klaviyo: FakeKlaviyo) -> None:
    seed(klaviyo, 250)
    start = dt.datetime(2026, 11, 22, 6, tzinfo=dt.UTC)

    def clock() -> dt.datetime:
        # Each page answered moves the clock on an hour: the end is far from the start.
        return start + dt.timedelta(hours=len(klaviyo.requests))

    with make_client(klaviyo) as client:
        fetcher = ProfileFetcher(client, ProfileSource("segment", "XVnnDX"), workers=1, clock=clock)
        index = fetcher.fetch()
    assert len(klaviyo.requests) == 3
    assert index.fetched_at == start
    assert index.full_fetched_at == start
