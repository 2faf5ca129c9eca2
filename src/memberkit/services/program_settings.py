"""The earning rules and the rewards catalogue, as edited in the web admin.

Which wins: the config file gives every setting; an admin who saves
``[earning]`` or the catalogue in the web admin stores those keys in the
database (``program_settings``), and from then on the stored value wins over
the file's for that key, for the CLI, the daily schedule and the web alike,
until an admin resets it ("Use the config file again"). The settings page says
which keys come from the database, who saved them and when. Why the database
and not the file: the file may be read-only, shared by several machines, or
under version control; the database is the one place every process reads.

Values are validated exactly as the config file's (``config.with_values``) and
stored as JSON in the file's spelling, so a stored value reads back the same.
Each save and reset writes an audit-log row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select

from memberkit.clock import utcnow
from memberkit.config import RewardDefinition, Settings, with_values
from memberkit.errors import ConfigError
from memberkit.services.users import record_audit
from memberkit.store.database import Database
from memberkit.store.models import ProgramSetting

SOURCE = "web admin settings"

#: What the web admin edits: the earning rules and the catalogue (issue 13).
EARNING_KEYS = (
    "points_per_unit",
    "min_subtotal",
    "tier_multipliers",
    "first_order_bonus",
    "excluded_tags",
    "excluded_codes",
    "pending_days",
)
CATALOGUE_KEY = "rewards.catalogue"
EDITABLE = (*(f"earning.{key}" for key in EARNING_KEYS), CATALOGUE_KEY)


@dataclass(frozen=True)
class StoredSetting:
    """One key saved in the web admin: it overrides the config file."""

    key: str
    value: Any
    updated_at: dt.datetime
    updated_by: str


def stored(db: Database) -> list[StoredSetting]:
    """The keys saved in the web admin, in ``EDITABLE`` order."""
    with db.read() as session:
        rows = {row.key: row for row in session.scalars(select(ProgramSetting))}
    return [
        StoredSetting(key, json.loads(rows[key].value), rows[key].updated_at, rows[key].updated_by)
        for key in EDITABLE
        if key in rows
    ]


def effective_settings(db: Database, settings: Settings) -> Settings:
    """``settings`` with the keys saved in the web admin in place of the file's."""
    saved = stored(db)
    if not saved:
        return settings
    return with_values(settings, {s.key: s.value for s in saved}, source=SOURCE)


def save(db: Database, settings: Settings, values: Mapping[str, Any], *, actor: str) -> Settings:
    """Validate ``values`` (``EDITABLE`` keys, config-file spelling) and store them.

    Raises ``ConfigError`` naming the key when a value is invalid; nothing is
    stored then. Returns the effective settings afterwards.
    """
    unknown = sorted(set(values) - set(EDITABLE))
    if unknown:
        raise ConfigError(f"{SOURCE}: {unknown[0]} cannot be edited here", setting=unknown[0])
    current = effective_settings(db, settings)
    result = with_values(current, values, source=SOURCE)
    now = utcnow()
    with db.write() as session:
        for key in values:
            text = json.dumps(_plain(_value_of(result, key)), sort_keys=True)
            row = session.get(ProgramSetting, key)
            if row is None:
                session.add(ProgramSetting(key=key, value=text, updated_at=now, updated_by=actor))
            else:
                row.value, row.updated_at, row.updated_by = text, now, actor
        record_audit(
            session,
            actor=actor,
            action="settings.saved",
            target=", ".join(sorted(values)),
            details={key: _plain(_value_of(result, key)) for key in values},
            now=now,
        )
    return result


def reset(db: Database, *, keys: tuple[str, ...] = EDITABLE, actor: str) -> int:
    """Forget the saved ``keys`` (the config file's values apply again); how many."""
    with db.write() as session:
        result = session.execute(delete(ProgramSetting).where(ProgramSetting.key.in_(keys)))
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            record_audit(session, actor=actor, action="settings.reset", target=", ".join(keys))
    return count


def catalogue_from_form(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Catalogue rows from a form (blank rows dropped) in the config file's spelling."""
    out = []
    for row in rows:
        cleaned = {k: v.strip() for k, v in row.items() if v is not None}
        # A row without name, cost and value is blank (its type select always has a value).
        if not any(cleaned.get(k) for k in ("name", "points_cost", "value")):
            continue
        entry: dict[str, Any] = {
            "name": cleaned.get("name", ""),
            "points_cost": _whole(cleaned.get("points_cost", ""), "rewards.catalogue points_cost"),
            "value_type": cleaned.get("value_type", ""),
            "value": cleaned.get("value", ""),
            "validity_days": _whole(
                cleaned.get("validity_days", "") or "90", "rewards.catalogue validity_days"
            ),
            "code_prefix": cleaned.get("code_prefix", "") or "RWD",
        }
        if cleaned.get("min_spend"):
            entry["min_spend"] = cleaned["min_spend"]
        out.append(entry)
    return out


def earning_from_form(fields: Mapping[str, str]) -> dict[str, Any]:
    """The ``[earning]`` form's fields in the config file's spelling (``earning.KEY``).

    Lists are comma-separated (``wholesale, staff``); tier multipliers are
    ``Gold=1.5, Silver=1.2``; blank numbers keep their defaults out of the form.
    """
    out: dict[str, Any] = {}
    for key in ("points_per_unit", "min_subtotal"):
        if key in fields:
            out[f"earning.{key}"] = fields[key].strip() or "0"
    for key in ("first_order_bonus", "pending_days"):
        if key in fields:
            out[f"earning.{key}"] = _whole(fields[key].strip() or "0", f"earning.{key}")
    for key in ("excluded_tags", "excluded_codes"):
        if key in fields:
            out[f"earning.{key}"] = [p.strip() for p in fields[key].split(",") if p.strip()]
    if "tier_multipliers" in fields:
        multipliers: dict[str, str] = {}
        for pair in fields["tier_multipliers"].split(","):
            if not pair.strip():
                continue
            name, sep, factor = pair.partition("=")
            if not sep or not name.strip() or not factor.strip():
                raise ConfigError(
                    f"{SOURCE}: earning.tier_multipliers: write TIER=FACTOR pairs separated "
                    f"by commas, e.g. Gold=1.5, got {pair.strip()[:40]!r}",
                    setting="earning.tier_multipliers",
                )
            multipliers[name.strip()] = factor.strip()
        out["earning.tier_multipliers"] = multipliers
    return out


def _whole(text: str, name: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise ConfigError(
            f"{SOURCE}: {name} must be a whole number of at most 12 digits, got {text[:40]!r}",
            setting=name.split(" ")[0],
        )
    return int(text)


def _value_of(settings: Settings, dotted: str) -> Any:
    section, _, key = dotted.partition(".")
    return getattr(getattr(settings, section), key)


def _plain(value: Any) -> Any:
    """A setting as JSON in the config file's spelling: Decimals as strings, tuples as lists."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, RewardDefinition):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items() if v is not None}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
