"""The Klaviyo profile index's cache file (the index itself is ``domain.profile_index``).

The rewards update compares each member's max-value properties against this
index to write (and upload) only changed profiles. The Klaviyo sync fetches it
and writes it here; the update reads it. Format (version 1)::

    {"version": 1, "mode": "segment" | "all", "segment_id": "XVnnDX" | null,
     "fetched_at": "2026-11-20T06:00:00+00:00",      # UTC, start of the fetch
     "full_fetched_at": "2026-11-16T06:00:00+00:00", # optional: start of the last full fetch
     "profiles": {"<lower-cased email>": {"id": "01H...",
                                          "properties": {<only the nine max-value properties>}}}}

Numbers are read as ``Decimal`` (never float). Files are written atomically,
so a crash never leaves a truncated cache; a file that cannot be read is a
``ProfileCacheError`` (the caller decides: re-fetch with a warning, or fail).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from memberkit.domain.echo import echo
from memberkit.domain.profile_index import CacheMode, ProfileIndex
from memberkit.errors import MemberkitError
from memberkit.files.atomic import atomic_open

CACHE_VERSION = 1


class ProfileCacheError(MemberkitError):
    """The profile cache file is missing, unreadable, or not in the expected format."""


def cache_file_name(mode: CacheMode, segment_id: str | None) -> str:
    """``klaviyo_segment_<ID>.json`` or ``klaviyo_all.json``."""
    if mode == "all":
        return "klaviyo_all.json"
    if not segment_id:
        raise ValueError("a segment cache needs a segment id")
    return f"klaviyo_segment_{segment_id}.json"


def cache_path(cache_dir: Path, mode: CacheMode, segment_id: str | None) -> Path:
    return cache_dir / cache_file_name(mode, segment_id)


def read_profile_index(path: Path) -> ProfileIndex:
    """Load a cache file; raise ``ProfileCacheError`` naming the file and the problem."""
    try:
        with path.open("r", encoding="utf-8") as fh:
            data = json.load(fh, parse_float=Decimal)
    except FileNotFoundError:
        raise ProfileCacheError(f"Klaviyo profile cache {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileCacheError(f"Klaviyo profile cache {path} is unreadable: {exc}") from None
    return _index_from_json(data, path)


def _index_from_json(data: Any, path: Path) -> ProfileIndex:
    def bad(problem: str) -> ProfileCacheError:
        return ProfileCacheError(f"Klaviyo profile cache {path}: {problem}")

    if not isinstance(data, dict):
        raise bad("expected a JSON object")
    if data.get("version") != CACHE_VERSION:
        raise bad(f"unsupported version {echo(data.get('version'))} (expected {CACHE_VERSION})")
    mode = data.get("mode")
    if mode not in ("segment", "all"):
        raise bad(f"mode must be 'segment' or 'all', got {echo(mode)}")
    segment_id = data.get("segment_id")
    if segment_id is not None and not isinstance(segment_id, str):
        raise bad("segment_id must be a string or null")
    try:
        fetched_at = dt.datetime.fromisoformat(str(data.get("fetched_at")))
    except ValueError:
        raise bad(f"fetched_at is not an ISO timestamp: {echo(data.get('fetched_at'))}") from None
    if fetched_at.tzinfo is None:
        fetched_at = fetched_at.replace(tzinfo=dt.UTC)
    full_fetched_at: dt.datetime | None = None
    if data.get("full_fetched_at") is not None:
        try:
            full_fetched_at = dt.datetime.fromisoformat(str(data["full_fetched_at"]))
        except ValueError:
            raise bad(
                f"full_fetched_at is not an ISO timestamp: {echo(data['full_fetched_at'])}"
            ) from None
        if full_fetched_at.tzinfo is None:
            full_fetched_at = full_fetched_at.replace(tzinfo=dt.UTC)
    profiles = data.get("profiles")
    if not isinstance(profiles, dict):
        raise bad("profiles must be an object keyed by email")
    for email, profile in profiles.items():
        if (
            not isinstance(profile, dict)
            or not isinstance(profile.get("id"), str)
            or not isinstance(profile.get("properties"), dict)
        ):
            raise bad(f"profile {echo(email)} must have a string id and a properties object")
    return ProfileIndex(
        mode=mode,
        segment_id=segment_id,
        fetched_at=fetched_at,
        profiles=profiles,
        full_fetched_at=full_fetched_at,
    )


class _DecimalEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            # Written as a string: a cached "10.00" compares equal to 10 and 10.0 as
            # money (domain.max_value), and no float ever enters the round trip.
            return str(o)
        return super().default(o)


def write_profile_index(path: Path, index: ProfileIndex) -> None:
    """Write the cache atomically (temp file + fsync + rename)."""
    payload: dict[str, Any] = {
        "version": CACHE_VERSION,
        "mode": index.mode,
        "segment_id": index.segment_id,
        "fetched_at": index.fetched_at.astimezone(dt.UTC).isoformat(),
    }
    if index.full_fetched_at is not None:
        payload["full_fetched_at"] = index.full_fetched_at.astimezone(dt.UTC).isoformat()
    payload["profiles"] = index.profiles
    with atomic_open(path) as fh:
        json.dump(payload, fh, cls=_DecimalEncoder, ensure_ascii=False, separators=(",", ":"))
