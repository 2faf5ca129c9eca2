"""The daily rewards rules for one customer's wallet, applied in this order.

1. **Used**: an available code found in the usage export moves to the used list
   with ``used_at`` (the order's date in the store's time zone) and ``order``.
   Codes match ignoring case and surrounding spaces; the earliest order wins.
2. **Expired**: an available code whose ``expires`` is before today moves to the
   expired list with ``expired_at`` = today. A code expiring today stays.
3. **Sort** the remaining codes: value descending, then expiry descending (no
   expiry counts as latest), then code alphabetically.
4. The customer has **changed** when a code moved or the available order changed.

Everything here is pure: plain data in, plain data out.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from memberkit.domain.codes import RewardCode
from memberkit.domain.max_value import CENT, ZERO, MaxValueRow


@dataclass(frozen=True, slots=True)
class CodeUse:
    """A code used in an order: the order's name, its local date, and its exact moment."""

    order: str
    used_on: dt.date
    moment: dt.datetime


def earliest_uses(uses: Iterable[tuple[str, CodeUse]]) -> dict[str, CodeUse]:
    """Code key -> its earliest use, from ``(code_key, use)`` pairs in any order."""
    earliest: dict[str, CodeUse] = {}
    for key, use in uses:
        known = earliest.get(key)
        if known is None or use.moment < known.moment:
            earliest[key] = use
    return earliest


def repeated_uses(uses: Iterable[tuple[str, CodeUse]]) -> dict[str, list[CodeUse]]:
    """Code key -> its uses, earliest first, for codes used in two or more distinct orders."""
    by_code: dict[str, dict[str, CodeUse]] = {}
    for key, use in uses:
        orders = by_code.setdefault(key, {})
        known = orders.get(use.order)
        if known is None or use.moment < known.moment:
            orders[use.order] = use
    return {
        key: sorted(orders.values(), key=lambda u: u.moment)
        for key, orders in by_code.items()
        if len(orders) > 1
    }


@dataclass(frozen=True, slots=True)
class CodeOwner:
    """The member whose wallet holds a code of the usage export (for the code reuse file).

    ``already_used``: the code was in the member's used list before this run,
    with the order and date recorded there (``None`` when not recorded).
    """

    shopify_id: str
    email: str
    code: str
    already_used: bool
    used_order: str | None = None
    used_on: str | None = None


@dataclass(frozen=True, slots=True)
class CodeReuse:
    """A member code used in two orders, or used again after it was used."""

    code: str
    shopify_id: str
    email: str
    orders: list[CodeUse]  # the usage export's orders for the code, earliest first
    reason: str

    def cells(self) -> list[str]:
        """The row of ``code_reuse_YYYY-MM-DD.csv`` (``CODE_REUSE_COLUMNS``)."""
        return [
            self.code,
            self.email,
            self.shopify_id,
            "; ".join(u.order for u in self.orders),
            "; ".join(u.used_on.isoformat() for u in self.orders),
            self.reason,
        ]


CODE_REUSE_COLUMNS = ["Code", "Email", "Shopify ID", "Orders", "Order Dates", "Reason"]


def find_code_reuse(
    owners: Mapping[str, CodeOwner],
    uses: Mapping[str, CodeUse],
    repeated: Mapping[str, list[CodeUse]],
) -> list[CodeReuse]:
    """Member codes the usage export shows used twice, in the order of their first use.

    - a code used in two or more orders of the export;
    - a code already in the member's used list and in an order of the export,
      unless the used list records that very order (the same use, seen again
      because the export covers several days).
    """
    found: list[CodeReuse] = []
    for key, owner in owners.items():
        orders = repeated.get(key) or ([uses[key]] if key in uses else [])
        if not orders:
            continue
        if owner.already_used:
            again = [u for u in orders if u.order != owner.used_order]
            if not again:
                continue
            earlier = " ".join(
                part
                for part in (
                    f"in {owner.used_order}" if owner.used_order else "",
                    f"on {owner.used_on}" if owner.used_on else "",
                )
                if part
            )
            reason = (
                f"already used{' ' + earlier if earlier else ''}, "
                f"used again in {len(again)} order{'s' if len(again) > 1 else ''}"
            )
        elif len(orders) > 1:
            reason = f"used in {len(orders)} orders"
        else:
            continue
        found.append(CodeReuse(owner.code, owner.shopify_id, owner.email, orders, reason))
    found.sort(key=lambda r: (r.orders[0].moment, r.code))
    return found


@dataclass(slots=True)
class WalletUpdate:
    """The outcome of the rules for one customer."""

    available: list[RewardCode]  # remaining codes, sorted best first
    newly_used: list[dict[str, Any]] = field(default_factory=list)
    newly_expired: list[dict[str, Any]] = field(default_factory=list)
    used_keys: list[str] = field(default_factory=list)  # usage codes this wallet consumed
    changed: bool = False


def sort_key(code: RewardCode) -> tuple[Decimal, int, str]:
    """Best first: highest value, latest expiry (none = latest), then code A-Z."""
    return code.rank


_RANK = operator.attrgetter("rank")


def update_wallet(
    available: Sequence[RewardCode], usage: Mapping[str, CodeUse], today: dt.date
) -> WalletUpdate:
    """Apply the used, expired and sort rules to one customer's available codes."""
    update = WalletUpdate(available=[])
    remaining: list[RewardCode] = []
    for code in available:
        use = usage.get(code.key)
        if use is not None:
            moved = dict(code.raw)
            moved["used_at"] = use.used_on.isoformat()
            moved["order"] = use.order
            update.newly_used.append(moved)
            update.used_keys.append(code.key)
        elif code.expires is not None and code.expires < today:
            moved = dict(code.raw)
            moved["expired_at"] = today.isoformat()
            update.newly_expired.append(moved)
        else:
            remaining.append(code)
    if len(remaining) > 1:
        ordered = sorted(remaining, key=_RANK)
        update.changed = not all(map(operator.is_, ordered, remaining))
        update.available = ordered
    else:
        update.available = remaining
    if update.newly_used or update.newly_expired:
        update.changed = True
    return update


def max_value_row(
    email: str, available: Sequence[RewardCode], *, account_state: str, member_since: str
) -> MaxValueRow:
    """The Klaviyo max-value properties of a customer whose codes are ``available`` (sorted)."""
    if available:
        best = available[0]
        code, value, min_spend = best.code, best.value, best.min_spend
    else:
        code, value, min_spend = "", ZERO, ZERO
    return MaxValueRow(
        email=email,
        has_dividends=bool(available),
        discount_code=code,
        discount_value=value,
        min_spend=min_spend,
        multiple_codes=len(available) >= 2,
        number_of_codes=len(available),
        balance=sum((c.value for c in available), ZERO),
        account_state=account_state,
        member_since=member_since,
    )


_NO_CODES_TAIL = ("false", "", "0.00", "0.00", "false", "0", "0.00")
_money_texts: dict[Decimal, str] = {}


def money_text(amount: Decimal) -> str:
    """An amount with 2 decimals, as ``MaxValueRow.csv_cells`` writes it (cached)."""
    text = _money_texts.get(amount)
    if text is None:
        text = f"{amount.quantize(CENT):f}"
        if len(_money_texts) < 10_000:
            _money_texts[amount] = text
    return text


def max_value_cells(
    email: str, available: Sequence[RewardCode], *, account_state: str, member_since: str
) -> list[str]:
    """Exactly ``max_value_row(...).csv_cells()``, without building the row.

    The max-value file has a line per member (a million of them), so this is
    the hot path; a property test keeps it equal to ``MaxValueRow.csv_cells``.
    """
    if not available:
        return [email, *_NO_CODES_TAIL, account_state, member_since]
    best = available[0]
    count = len(available)
    return [
        email,
        "true",
        best.code,
        money_text(best.value),
        money_text(best.min_spend),
        "true" if count >= 2 else "false",
        str(count),
        money_text(sum([c.value for c in available], ZERO)),
        account_state,
        member_since,
    ]
