"""The Klaviyo profile cache file: format, freshness, atomic writes, clear errors."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from memberkit.files.profile_cache import (
    ProfileCacheError,
    ProfileIndex,
    cache_path,
    read_profile_index,
    write_profile_index,
)

FETCHED = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)


def test_round_trip_keeps_money_as_decimal(tmp_path: Path) -> None:
    path = cache_path(tmp_path, "segment", "XVnnDX")
    assert path.name == "klaviyo_segment_XVnnDX.json"
    index = ProfileIndex(
        mode="segment",
        segment_id="XVnnDX",
        fetched_at=FETCHED,
        profiles={"ann@example.com": {"id": "P1", "properties": {"balance": Decimal("10.00")}}},
    )
    write_profile_index(path, index)
    again = read_profile_index(path)
    assert again.fetched_at == FETCHED
    assert again.get(" Ann@Example.com ") == {"id": "P1", "properties": {"balance": "10.00"}}
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_numbers_in_a_cache_are_read_as_decimal(tmp_path: Path) -> None:
    path = tmp_path / "klaviyo_all.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "mode": "all",
                "segment_id": None,
                "fetched_at": "2026-11-20T06:00:00Z",
                "profiles": {"a@b.c": {"id": "P", "properties": {"balance": 10.1}}},
            }
        ),
        encoding="utf-8",
    )
    profile = read_profile_index(path).get("a@b.c")
    assert profile is not None
    assert profile["properties"]["balance"] == Decimal("10.1")


def test_freshness_counts_from_the_start_of_the_fetch() -> None:
    index = ProfileIndex(mode="all", segment_id=None, fetched_at=FETCHED)
    assert index.is_fresh(86400, FETCHED + dt.timedelta(hours=23))
    assert not index.is_fresh(86400, FETCHED + dt.timedelta(hours=24))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"version": 1, "mode": "all"', "unreadable"),
        ('{"version": 2}', "unsupported version 2"),
        ("[]", "expected a JSON object"),
    ],
)
def test_unreadable_cache_names_the_file(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "klaviyo_all.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ProfileCacheError, match=problem) as err:
        read_profile_index(path)
    assert str(path) in str(err.value)


def test_failed_write_keeps_the_previous_cache(tmp_path: Path) -> None:
    path = tmp_path / "klaviyo_all.json"
    good = ProfileIndex(mode="all", segment_id=None, fetched_at=FETCHED)
    write_profile_index(path, good)
    bad = ProfileIndex(
        mode="all",
        segment_id=None,
        fetched_at=FETCHED,
        profiles={"x": {"id": "P", "properties": {"v": object()}}},
    )
    with pytest.raises(TypeError):
        write_profile_index(path, bad)
    assert read_profile_index(path).profiles == {}
    assert list(tmp_path.iterdir()) == [path]


def test_cache_file_gets_the_usual_permissions_not_mkstemps_private_ones(tmp_path: Path) -> None:
    import os

    path = tmp_path / "klaviyo_all.json"
    write_profile_index(path, ProfileIndex(mode="all", segment_id=None, fetched_at=FETCHED))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
