"""Member rules: the email key, how a MEMBER argument is read, and how an export merges in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from memberkit.domain.codes import code_key, dump_compact, parse_code_objects
from memberkit.errors import InvalidValueError


def email_key(email: str) -> str:
    """The unique, case-insensitive form of an email: ``email.strip().lower()``."""
    return email.strip().lower()


MemberRefKind = Literal["email", "shopify_id"]


def parse_member_ref(text: str) -> tuple[MemberRefKind, str]:
    """Read a MEMBER argument: an email (any case) or a Shopify customer id (digits)."""
    raw = text.strip()
    if "@" in raw:
        return "email", email_key(raw)
    digits = raw.removeprefix("gid://shopify/Customer/")
    if digits.isdigit():
        return "shopify_id", digits
    raise InvalidValueError(
        f"MEMBER must be an email address or a Shopify customer id, got {text!r}",
        hint="e.g. jo@example.com or 7012345678901",
    )


@dataclass(frozen=True)
class MemberRecord:
    """A member as an export describes them; ``None`` means "not in this file".

    The wallet fields are the code metafields' JSON text, a list of code objects
    exactly as the rewards update reads and writes them (``"[]"`` for none).
    """

    shopify_id: str | None
    email: str | None
    first_name: str | None = None
    last_name: str | None = None
    account_state: str | None = None
    member_since: dt.date | None = None
    birthday: dt.date | None = None
    gender: str | None = None
    # Shopify's comma-separated customer tags, as exported.
    tags: str | None = None
    accepts_email_marketing: bool | None = None
    total_spent: Decimal | None = None
    orders_count: int | None = None
    codes_available: str | None = None
    codes_used: str | None = None
    codes_expired: str | None = None
    # Where the record came from (a file's row number), for error reports.
    source_row: int | None = field(default=None, compare=False)


# --- merging an export into a stored member ----------------------------------------------


@dataclass(frozen=True)
class Wallet:
    """A member's three code lists as JSON text (the metafields' form)."""

    available: str
    used: str
    expired: str


def _codes(text: str) -> list[dict[str, Any]]:
    return parse_code_objects(text) if text and text != "[]" else []


def _key_of(item: dict[str, Any]) -> str | None:
    code = item.get("code")
    return code_key(code) if isinstance(code, str) else None


def _union(stored: list[dict[str, Any]], incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored codes in their order, then incoming codes not among them."""
    seen = {key for key in map(_key_of, stored) if key is not None}
    out = list(stored)
    for item in incoming:
        key = _key_of(item)
        if key is None or key not in seen:
            out.append(item)
            if key is not None:
                seen.add(key)
    return out


def merge_wallet(
    stored: Wallet,
    *,
    available: str | None,
    used: str | None,
    expired: str | None,
) -> Wallet:
    """The wallet after an export's code lists (``None``: not in the file) meet the stored one.

    A code the store knows was used or expired never comes back as available
    from an export that predates that move: used and expired are unions
    (stored order first, then the export's new codes), and available is the
    export's available codes minus every used or expired one. Codes match by
    ``code_key`` (case and surrounding spaces ignored).
    """
    if used is None and expired is None and available is None:
        return stored
    stored_used, stored_expired = stored.used or "[]", stored.expired or "[]"
    # Fast path: nothing stored as used or expired, so the export cannot undo a move.
    if stored_used == "[]" and stored_expired == "[]":
        new_used = used if used is not None else stored_used
        new_expired = expired if expired is not None else stored_expired
        if new_used == "[]" and new_expired == "[]":
            return Wallet(available if available is not None else stored.available, "[]", "[]")
    used_list = _codes(stored_used)
    if used is not None and used != stored_used:
        used_list = _union(used_list, _codes(used))
    expired_list = _codes(stored_expired)
    if expired is not None and expired != stored_expired:
        expired_list = _union(expired_list, _codes(expired))
    gone = {key for key in map(_key_of, [*used_list, *expired_list]) if key is not None}
    available_text = available if available is not None else stored.available
    available_list = [item for item in _codes(available_text) if _key_of(item) not in gone]
    return Wallet(
        dump_compact(available_list),
        dump_compact(used_list),
        dump_compact(expired_list),
    )
