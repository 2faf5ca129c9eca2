"""Member identity rules: the email key, and how a MEMBER argument is read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

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
