"""Synthetic exports for benchmarking ``memberkit rewards update``.

Writes, into ``--out DIR``:

- ``customers_export.csv``: a Matrixify customers export (UTF-8 with BOM, CRLF,
  RFC 4180 quoting) with the three reward-code metafield columns;
- ``discounts_export.csv``: a Shopify orders export (UTF-8, LF) covering the 7
  days before ``--today``, one row per line item;
- ``expected.json``: what the update should find (changed customers, codes
  moved, rejects, rows per output file), so a benchmark run can be sanity-checked.

How ``--changed F`` is hit exactly: every customer row gets one of four kinds,
drawn by sequential sampling without replacement so each kind's count is exact:
``reject`` (R = round(0.002 N)), ``changed`` (C = round(F N)), ``stable`` holder
(60% of N hold codes, minus R and C) and ``empty`` (no available codes). Each
changed customer gets at least one of: a code used in the usage export, an
expired code, or available codes stored out of best-first order. Stable and
empty customers are truly unchanged: codes stored best-first, none expired,
none in the usage export. Rejected rows are never changed either.

Run ``python benchmarks/rewards/check_generated.py DIR`` to recompute all of this
from the two CSV files alone.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import TypeVar

T = TypeVar("T")
HOLDER_SHARE = 0.6
REJECT_SHARE = 0.002
BATCH_ROWS = 20_000
NEVER = 10**9  # sort ordinal for "no expiry": later than any date
NAMESPACE = "alpkit"
AVAILABLE_COL = f"Metafield: {NAMESPACE}.discountcodes_2021 [json]"
USED_COL = f"Metafield: {NAMESPACE}.usedcodes_2021 [json]"
EXPIRED_COL = f"Metafield: {NAMESPACE}.expiredcodes_2021 [json]"

CUSTOMER_COLUMNS = [
    "ID",
    "Email",
    "Command",
    "First Name",
    "Last Name",
    "Phone",
    "State",
    "Accepts Email Marketing",
    "Accepts SMS Marketing",
    "Created At",
    "Updated At",
    "Note",
    "Verified Email",
    "Tax Exempt",
    "Tags",
    "Total Spent",
    "Total Orders",
    "Address Type",
    "Address Command",
    "Address First Name",
    "Address Last Name",
    "Address Phone",
    "Address Company",
    "Address Line 1",
    "Address Line 2",
    "Address City",
    "Address Province",
    "Address Province Code",
    "Address Country",
    "Address Country Code",
    "Address Zip",
    "Address Is Default",
    AVAILABLE_COL,
    USED_COL,
    EXPIRED_COL,
]
ADDRESS_START = CUSTOMER_COLUMNS.index("Address Type")

ORDER_COLUMNS = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem compare at price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem taxable",
    "Lineitem fulfillment status",
    "Billing Name",
    "Billing City",
    "Billing Zip",
    "Billing Country",
    "Payment Method",
    "Id",
    "Tags",
    "Source",
]


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = _words(
    "Olivia Amelia Isla Ava Mia Ivy Lily Isabella Sophia Grace Oliver George Noah Arthur "
    "Leo Harry Oscar Archie Henry Theo Zoë Chloé Renée José Søren Jürgen Åsa Łukasz "
    "Siobhán Niamh Seán Gráinne Björn Maëlle François Inès Mårten Dorota Zoltán"
)
LAST_NAMES = _words(
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Robinson Wright Thompson "
    "Evans Walker White Roberts Green Hall Wood Jackson Müller Groß Weiß Øvergaard Núñez "
    "Ó'Brien O'Connor Lefèvre Åberg Nowak Kowalczyk Dvořák Strauß Ní Bhriain"
)
CITIES = (
    ("Ilkley", "ENG", "GB", "LS29 8HF"),
    ("Kendal", "ENG", "GB", "LA9 4DL"),
    ("Edinburgh", "SCT", "GB", "EH1 1YZ"),
    ("Cardiff", "WLS", "GB", "CF10 1EP"),
    ("Dublin", "D", "IE", "D02 X285"),
    ("München", "BY", "DE", "80331"),
    ("Kraków", "MA", "PL", "31-001"),
    ("Malmö", "M", "SE", "211 20"),
    ("Zürich", "ZH", "CH", "8001"),
    ("Saint-Étienne", "ARA", "FR", "42000"),
)
STREETS = ("High Street", "Station Road", "Mill Lane", "Church Street", "Bridge Road")
DOMAINS = (
    "gmail.com",
    "hotmail.co.uk",
    "outlook.com",
    "yahoo.co.uk",
    "icloud.com",
    "btinternet.com",
)
NOTES = (
    'Prefers "express" delivery, call first',
    "Called about a return\nSent replacement",
    "VIP; tent repair 2024",
    "Wholesale enquiry, see e-mail",
)
TAGS = ("", "", "member", "member, newsletter", "vip, member", "club, member, newsletter")
STATES = (("enabled", 70), ("disabled", 22), ("invited", 5), ("declined", 3))
# value as money cents, with the spellings seen in real metafields (strings and numbers)
VALUES = (
    (500, ('"5.00"', "5", '"5"')),
    (750, ('"7.50"', "7.5")),
    (1000, ('"10.00"', "10", "10.0", '"10"')),
    (1250, ('"12.50"', "12.5")),
    (1500, ('"15.00"', "15")),
    (2000, ('"20.00"', "20")),
    (2500, ('"25.00"', "25.00")),
    (5000, ('"50.00"', "50")),
)
VALUE_WEIGHTS = (20, 8, 30, 8, 14, 10, 7, 3)
VALUE_POOL = [v for v, w in zip(VALUES, VALUE_WEIGHTS, strict=True) for _ in range(w)]
CODE_COUNT_POOL = [
    n for n, w in zip(range(1, 7), (30, 25, 18, 12, 9, 6), strict=True) for _ in range(w)
]
CLOCK = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
MIN_SPENDS = ('"0.00"', '"25.00"', '"50.00"', "50", '"75.00"', "100", '"100.00"', "0")
NON_MEMBER_CODES = ("WELCOME10", "SUMMER15", "FREESHIP", "BFCM25", "STAFF20", "NEWSLETTER5")
PRODUCTS = (
    ("Jacket Gravity", "AK-JKT-GRV", "150.00"),
    ("Fleece Aria", "AK-FLC-ARA", "55.00"),
    ("Tent Ordos 2", "AK-TNT-OR2", "199.99"),
    ("Socks Wool", "AK-SCK-WOL", "12.00"),
    ("Stove Brukit", "AK-STV-BRK", "89.50"),
    ("Hat Béret", "AK-HAT-BRT", "18.00"),
)
REJECT_KINDS = (
    "malformed_json",
    "negative_value",
    "three_decimals",
    "bad_expiry",
    "duplicate_email",
    "formula_email",
    "malformed_json",
    "bad_expiry",
    "oversize_cell",
)
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32
PAIR = [a + b for a in CODE_ALPHABET for b in CODE_ALPHABET]  # 1024 two-character chunks
MASK40 = (1 << 40) - 1
NON_MEMBER_CODE_BASE = 1 << 38  # code numbers from here on are issued to nobody


def ascii_fold(text: str) -> str:
    """The name as an e-mail local part: accents dropped, lower case, letters only."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ø", "o"))
    decomposed = decomposed.replace("Ø", "O").replace("Ł", "L").replace("ł", "l")
    return "".join(c for c in decomposed if c.isascii() and c.isalpha()).lower()


FIRST_ASCII = [ascii_fold(n) for n in FIRST_NAMES]
LAST_ASCII = [ascii_fold(n) for n in LAST_NAMES]


def code_for(number: int) -> str:
    """A unique code per number: an odd multiplier mod 2**40 is a bijection."""
    x = (number * 0x9E3779B1 + 0x5DEECE66D) & MASK40
    return f"DIV-{PAIR[x >> 30]}{PAIR[(x >> 20) & 1023]}-{PAIR[(x >> 10) & 1023]}{PAIR[x & 1023]}"


class FastRandom(Random):
    """Cheap draws: ``int(random() * n)`` is plenty for synthetic data, and 10x faster."""

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def between(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def pick(self, items: Sequence[T]) -> T:
        return items[int(self.random() * len(items))]


@dataclass(frozen=True)
class Params:
    customers: int
    changed: float
    usage_rows: int
    today: dt.date
    seed: int
    timezone: str = "Europe/London"

    def as_json(self) -> dict[str, object]:
        return {
            "customers": self.customers,
            "changed": self.changed,
            "usage_rows": self.usage_rows,
            "today": self.today.isoformat(),
            "seed": self.seed,
            "timezone": self.timezone,
        }


@dataclass
class Code:
    """One generated code: its sort key and its JSON text."""

    cents: int
    expiry: int  # date ordinal, NEVER when it does not expire
    code: str
    text: str


@dataclass
class OrderPlan:
    """The usage export's shape, fixed before customers so it can budget used codes."""

    sizes: list[int] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)  # codes in the order's first row
    bad_date: set[int] = field(default_factory=set)

    @property
    def code_slots(self) -> int:
        return sum(n for i, n in enumerate(self.slots) if i not in self.bad_date)


class Generator:
    """Builds the rows; keeps the counts that go to ``expected.json``."""

    def __init__(self, params: Params) -> None:
        self.p = params
        self.rng = FastRandom(params.seed)
        self.today_ord = params.today.toordinal()
        self.iso = {o: dt.date.fromordinal(o).isoformat() for o in self._ordinals()}
        self.next_code = 0
        self.counts: dict[str, int] = {
            "customer_rows": 0,
            "address_rows": 0,
            "holders": 0,
            "empty": 0,
            "stable_holders": 0,
            "changed_by_used": 0,
            "changed_by_expired": 0,
            "changed_by_order": 0,
            "codes_available_in": 0,
            "codes_moved_to_used": 0,
            "codes_moved_to_expired": 0,
            "codes_available_out": 0,
            "codes_expiring_today": 0,
            "customers_without_email": 0,
            "max_value_rows": 0,
            "reviews_rows": 0,
        }
        self.reject_counts: dict[str, int] = {}
        self.used_codes: list[tuple[str, str]] = []  # (code, owner's email) to put in usage
        self.history_used: list[str] = []  # sample of codes already in a used list
        self.last_email = ""

    def _ordinals(self) -> range:
        return range(self.today_ord - 3000, self.today_ord + 1200)

    # ----- codes -------------------------------------------------------------

    def _new_code(self) -> str:
        self.next_code += 1
        return code_for(self.next_code)

    def _code(self, expiry: int | None, spaced: bool, cents: int | None = None) -> Code:
        rng = self.rng
        if cents is None:
            cents, spellings = rng.pick(VALUE_POOL)
        else:
            spellings = next(s for c, s in VALUES if c == cents)
        value = rng.pick(spellings)
        min_spend = rng.pick(MIN_SPENDS)
        code = self._new_code()
        sep, colon = (", ", ": ") if spaced else (",", ":")
        if expiry is None:
            form = rng.random()
            exp_part = "" if form < 0.5 else f'{sep}"expires"{colon}null'
            key = NEVER
        else:
            iso = self.iso[expiry]
            form = rng.random()
            if expiry == self.today_ord or form < 0.85:
                stamp = iso
            elif form < 0.93:
                stamp = iso + "T12:00:00Z"
            elif form < 0.97:
                stamp = iso + "T10:30:00+01:00"
            else:
                stamp = iso + "T00:00:00"
            exp_part = f'{sep}"expires"{colon}"{stamp}"'
            key = expiry
        if rng.random() < 0.9:
            text = (
                f'{{"code"{colon}"{code}"{sep}"value"{colon}{value}'
                f'{sep}"min_spend"{colon}{min_spend}{exp_part}}}'
            )
        else:  # another tool's key order; it must be written back unchanged
            text = (
                f'{{"value"{colon}{value}{sep}"code"{colon}"{code}"{exp_part}'
                f'{sep}"min_spend"{colon}{min_spend}}}'
            )
        return Code(cents, key, code, text)

    def _future_expiry(self) -> int | None:
        r = self.rng.random()
        if r < 0.15:
            return None
        if r < 0.18:
            self.counts["codes_expiring_today"] += 1
            return self.today_ord
        return self.today_ord + self.rng.between(1, 540)

    def _history(self, kind: str, spaced: bool) -> str:
        """A used or expired list, as earlier runs of the update would have left it."""
        rng = self.rng
        sep, colon = (", ", ": ") if spaced else (",", ":")
        items = []
        for _ in range(rng.pick((1, 1, 1, 2, 2, 3))):
            c = self._code(self.today_ord - rng.between(30, 400), spaced)
            stamp = self.iso[self.today_ord - rng.between(1, 700)]
            if kind == "used":
                order = f"#{rng.between(1000, 99999)}"
                extra = f'{sep}"used_at"{colon}"{stamp}"{sep}"order"{colon}"{order}"'
            else:
                extra = f'{sep}"expired_at"{colon}"{stamp}"'
            items.append(c.text[:-1] + extra + "}")
            if kind == "used" and len(self.history_used) < 5000 and rng.random() < 0.3:
                self.history_used.append(c.code)
        return "[" + sep.join(items) + "]"

    @staticmethod
    def _best_first(codes: list[Code]) -> list[Code]:
        return sorted(codes, key=lambda c: (-c.cents, -c.expiry, c.code))

    # ----- customers ---------------------------------------------------------

    def customer_rows(
        self, kinds: Iterator[str], used_target: int, member_budget: int
    ) -> Iterator[list[list[str]]]:
        """Batches of customer rows; kinds says what each customer must be."""
        p = self.p
        rng = self.rng
        counts = self.counts
        batch: list[list[str]] = []
        changed_total = round(p.changed * p.customers)
        changed_seen = 0
        used_left = used_target
        reject_no = 0
        base_id = 6_400_000_000_000
        for i, kind in enumerate(kinds):
            cid = str(base_id + i * 64 + rng.below(64))
            if rng.random() < 0.05:
                cid = "'" + cid
            fi = rng.below(len(FIRST_NAMES))
            li = rng.below(len(LAST_NAMES))
            email = f"{FIRST_ASCII[fi]}.{LAST_ASCII[li]}{i}@{DOMAINS[i % len(DOMAINS)]}"
            r = rng.random()
            if r < 0.03:
                email = email.capitalize()
            elif r < 0.035:
                email = " " + email
            elif r < 0.038 and kind != "reject":
                email = ""
            spaced = rng.random() < 0.2
            available = ""
            used_cell = ""
            expired_cell = ""
            codes_out = 0
            if kind == "reject":
                reject_kind = REJECT_KINDS[reject_no % len(REJECT_KINDS)]
                reject_no += 1
                if reject_kind == "duplicate_email" and not self.last_email:
                    reject_kind = "malformed_json"
                self.reject_counts[reject_kind] = self.reject_counts.get(reject_kind, 0) + 1
                codes = self._best_first(
                    [self._code(self._future_expiry(), spaced) for _ in range(rng.between(1, 4))]
                )
                texts = [c.text for c in codes]
                if reject_kind == "malformed_json":
                    available = "[" + ",".join(texts)  # no closing bracket
                    if reject_no % 2:
                        available = available.replace('"', "'") + "]"
                else:
                    if reject_kind == "negative_value":
                        texts[0] = _set_value(texts[0], '"-5.00"')
                    elif reject_kind == "three_decimals":
                        texts[0] = _set_value(texts[0], "12.345")
                    elif reject_kind == "bad_expiry":
                        bad = rng.pick(('"2027-02-30"', '"31/03/2027"', '"next spring"'))
                        texts[0] = _set_expiry(texts[0], bad)
                    elif reject_kind == "duplicate_email":
                        email = self.last_email.upper() if reject_no % 2 else self.last_email
                    elif reject_kind == "formula_email":
                        email = f'=HYPERLINK("http://x.test","{i}")@example.com'
                    elif reject_kind == "oversize_cell":
                        used_cell = self._oversize_used_list()
                    available = "[" + ",".join(texts) + "]"
            elif kind == "empty":
                counts["empty"] += 1
                if rng.random() < 0.2:
                    available = "[]"
                if rng.random() < 0.15:
                    used_cell = self._history("used", spaced)
                if rng.random() < 0.08:
                    expired_cell = self._history("expired", spaced)
            else:
                counts["holders"] += 1
                n = rng.pick(CODE_COUNT_POOL)
                codes = [self._code(self._future_expiry(), spaced) for _ in range(n)]
                counts["codes_available_in"] += n
                if kind == "stable":
                    counts["stable_holders"] += 1
                    stored = self._best_first(codes)
                    codes_out = n
                else:
                    changed_seen += 1
                    by_used = (
                        used_left > 0
                        and rng.random() * (changed_total - changed_seen + 1) < used_left
                    )
                    by_expired = False
                    by_order = False
                    if by_used:
                        used_left -= 1
                        counts["changed_by_used"] += 1
                        # a few used two codes; never beyond what the usage export can hold
                        room = len(self.used_codes) + used_left + 2 <= member_budget
                        two = room and n >= 2 and rng.random() < 0.1
                        picks = rng.sample(codes, 2 if two else 1)
                        for c in picks:
                            self.used_codes.append((c.code, email.strip()))
                        counts["codes_moved_to_used"] += len(picks)
                        codes_out = n - len(picks)
                        if rng.random() < 0.2:
                            by_expired = True
                    else:
                        codes_out = n
                        r = rng.random()
                        by_expired = r < 0.55 or n == 1
                        by_order = not by_expired or r < 0.15
                    if by_expired:
                        counts["changed_by_expired"] += 1
                        k = 1 if rng.random() < 0.8 else 2
                        for _ in range(k):
                            c = self._code(self.today_ord - rng.between(1, 300), spaced)
                            codes.append(c)
                        counts["codes_moved_to_expired"] += k
                        counts["codes_available_in"] += k
                    stored = self._best_first(codes)
                    if by_order and len(stored) >= 2:
                        counts["changed_by_order"] += 1
                        a, b = rng.sample(range(len(stored)), 2)
                        stored[a], stored[b] = stored[b], stored[a]
                sep = ", " if spaced else ","
                available = "[" + sep.join(c.text for c in stored) + "]"
                if rng.random() < 0.3:
                    used_cell = self._history("used", spaced)
                if rng.random() < 0.15:
                    expired_cell = self._history("expired", spaced)
            if kind != "reject":
                counts["codes_available_out"] += codes_out
                if email.strip():
                    self.last_email = email.strip()
                    counts["max_value_rows"] += 1
                    if codes_out:
                        counts["reviews_rows"] += 1
                else:
                    counts["customers_without_email"] += 1
            batch.append(self._customer_row(cid, email, fi, li, available, used_cell, expired_cell))
            if kind != "reject" and rng.random() < 0.06:
                for _ in range(rng.pick((1, 1, 2))):
                    batch.append(self._address_row(cid, fi, li))
            if len(batch) >= BATCH_ROWS:
                counts["customer_rows"] += len(batch)
                yield batch
                batch = []
        counts["customer_rows"] += len(batch)
        yield batch

    def _oversize_used_list(self) -> str:
        rng = self.rng
        items = []
        for _ in range(330):
            c = self._code(self.today_ord - rng.between(30, 400), False)
            items.append(
                c.text[:-1] + f',"used_at":"2025-01-02","order":"#{rng.between(1000, 9999)}"}}'
            )
        return "[" + ",".join(items) + "]"

    def _customer_row(
        self, cid: str, email: str, fi: int, li: int, available: str, used: str, expired: str
    ) -> list[str]:
        rng = self.rng
        first, last = FIRST_NAMES[fi], LAST_NAMES[li]
        created = self.today_ord - rng.between(30, 2900)
        created_at = f"{self.iso[created]} {self._clock()} +0000"
        updated = rng.between(created, self.today_ord - 1)
        updated_at = f"{self.iso[updated]} {self._clock()} +0000"
        state = rng.pick(STATE_POOL)
        orders = rng.below(40)
        has_address = rng.random() < 0.3
        row = [
            cid,
            email,
            "MERGE",
            first,
            last,
            f"+44 7700 {rng.between(900000, 999998)}" if rng.random() < 0.25 else "",
            state,
            "TRUE" if rng.random() < 0.55 else "FALSE",
            "FALSE",
            created_at,
            updated_at,
            rng.pick(NOTES) if rng.random() < 0.01 else "",
            "TRUE" if state == "enabled" else "FALSE",
            "FALSE",
            rng.pick(TAGS),
            f"{orders * rng.between(10, 90)}.{rng.below(100):02d}",
            str(orders),
        ]
        if has_address:
            row.extend(self._address(fi, li, "Default"))
        else:
            row.extend(EMPTY_ADDRESS)
        row.append(available)
        row.append(used)
        row.append(expired)
        return row

    def _clock(self) -> str:
        rng = self.rng
        return CLOCK[rng.below(86400)]

    def _address(self, fi: int, li: int, kind: str) -> list[str]:
        rng = self.rng
        city, province, country, zip_code = rng.pick(CITIES)
        return [
            kind,
            "MERGE",
            FIRST_NAMES[fi],
            LAST_NAMES[li],
            "",
            "" if rng.random() < 0.9 else "Alpine Club Ltd",
            f"{rng.between(1, 200)} {rng.pick(STREETS)}",
            "" if rng.random() < 0.8 else f"Flat {rng.between(1, 30)}",
            city,
            "",
            province,
            "",
            country,
            zip_code,
            "TRUE" if kind == "Default" else "FALSE",
        ]

    def _address_row(self, cid: str, fi: int, li: int) -> list[str]:
        self.counts["address_rows"] += 1
        return [cid, *BLANK_HEAD, *self._address(fi, li, "Address"), "", "", ""]

    # ----- usage -------------------------------------------------------------

    def plan_orders(self) -> OrderPlan:
        """Order sizes and code slots, from their own random stream."""
        rng = Random(f"{self.p.seed}:orders")
        plan = OrderPlan()
        rows = 0
        while rows < self.p.usage_rows:
            size = min(rng.choices((1, 2, 3, 4), (45, 30, 15, 10))[0], self.p.usage_rows - rows)
            plan.sizes.append(size)
            r = rng.random()
            plan.slots.append(0 if r < 0.35 else (1 if r < 0.93 else 2))
            rows += size
        candidates = [
            i
            for i, (s, n) in enumerate(zip(plan.sizes, plan.slots, strict=True))
            if s == 1 and n == 1
        ]
        plan.bad_date = set(candidates[7 :: max(1, len(candidates) // 5)][:5])
        return plan

    def usage_rows(self, plan: OrderPlan) -> Iterator[list[list[str]]]:
        """Batches of order rows, the member codes collected from the customers included."""
        rng = Random(f"{self.p.seed}:usage")
        member = list(self.used_codes)
        slots_total = plan.code_slots
        duplicates = min(len(member) // 50, slots_total - len(member))
        dup_codes = rng.sample(member, duplicates) if duplicates > 0 else []
        free = slots_total - len(member) - len(dup_codes)
        already = min(round(free * 0.25), len(self.history_used))
        already_codes = rng.sample(self.history_used, already)
        not_member = free - already
        fill: list[tuple[str, str, str]] = [(c, e, "member") for c, e in member]
        fill += [(c, e, "member_repeat") for c, e in dup_codes]
        fill += [(c, "", "already_used") for c in already_codes]
        for k in range(not_member):
            if rng.random() < 0.5:
                code = rng.choice(NON_MEMBER_CODES)
            else:
                code = code_for(NON_MEMBER_CODE_BASE + k)
            fill.append((code, "", "not_member"))
        rng.shuffle(fill)
        c = self.counts
        c["usage_rows"] = self.p.usage_rows
        c["usage_orders"] = len(plan.sizes)
        c["usage_code_occurrences"] = len(fill)
        c["usage_member_repeats"] = len(dup_codes)
        c["unmatched_already_used"] = already
        c["unmatched_already_used_distinct"] = len(set(already_codes))
        c["unmatched_not_member"] = not_member
        c["unmatched_not_member_distinct"] = len(
            {f[0].upper() for f in fill if f[2] == "not_member"}
        )
        c["usage_rejects"] = len(plan.bad_date)

        offsets = ("-0500", "+0000", "+0000", "+0100", "-0800")
        start = dt.datetime.combine(self.p.today, dt.time()) - dt.timedelta(days=7)
        batch: list[list[str]] = []
        pos = 0
        for n, (size, slots) in enumerate(zip(plan.sizes, plan.slots, strict=True)):
            name = f"#{1001 + n}"
            cells: list[str] = []
            email = ""
            if n in plan.bad_date:
                code = code_for(NON_MEMBER_CODE_BASE + 10_000_000 + n)
                cells.append(code)
                created = rng.choice(("18/11/2026 09:14", "2026-11-31 25:61:00 +0000", "yesterday"))
            else:
                for _ in range(slots):
                    code, email, _kind = fill[pos]
                    pos += 1
                    cells.append(_spell(code, rng))
                offset = rng.choice(offsets)
                # local wall-clock time inside the 7 days before today
                local = start + dt.timedelta(seconds=rng.randrange(7 * 86400))
                created = local.strftime("%Y-%m-%d %H:%M:%S ") + offset
            if not email:
                email = f"shopper{rng.randrange(10**7)}@{rng.choice(DOMAINS)}"
            status = rng.choices(
                ("paid", "partially_refunded", "refunded", "pending"), (90, 4, 3, 3)
            )[0]
            subtotal = 0
            items = []
            for _ in range(size):
                prod = rng.choice(PRODUCTS)
                qty = rng.choice((1, 1, 1, 2, 3))
                subtotal += int(prod[2].replace(".", "")) * qty
                items.append((prod, qty))
            discount = f"{rng.choice((5, 10, 15, 20))}.00" if cells else "0.00"
            for line, (prod, qty) in enumerate(items):
                row = [name, email, *[""] * (len(ORDER_COLUMNS) - 2)]
                row[15] = created
                row[16] = str(qty)
                row[17] = prod[0]
                row[18] = prod[2]
                row[20] = prod[1]
                row[21] = "true"
                row[22] = "true"
                row[23] = "pending"
                if line == 0:
                    row[2] = status
                    row[3] = "" if status == "pending" else created
                    row[4] = "unfulfilled"
                    row[6] = "yes" if rng.random() < 0.5 else "no"
                    row[7] = "GBP"
                    row[8] = f"{subtotal // 100}.{subtotal % 100:02d}"
                    row[9] = "4.95"
                    row[10] = "0.00"
                    row[11] = row[8]
                    row[12] = ", ".join(cells)
                    row[13] = discount
                    row[14] = "Standard"
                    row[24] = "A Shopper"
                    row[25], _, row[27], row[26] = rng.choice(CITIES)
                    row[28] = "Shopify Payments"
                    row[29] = str(5_900_000_000_000 + n)
                    row[31] = "web"
                batch.append(row)
            if len(batch) >= BATCH_ROWS:
                yield batch
                batch = []
        yield batch


STATE_POOL = [s for s, w in STATES for _ in range(w)]
EMPTY_ADDRESS = [""] * (CUSTOMER_COLUMNS.index(AVAILABLE_COL) - ADDRESS_START)
BLANK_HEAD = [""] * (ADDRESS_START - 1)


def _set_value(text: str, value: str) -> str:
    obj = json.loads(text)
    obj["value"] = "VALUE_MARKER"
    return json.dumps(obj, separators=(",", ":")).replace('"VALUE_MARKER"', value)


def _set_expiry(text: str, value: str) -> str:
    obj = json.loads(text)
    obj["expires"] = "EXPIRY_MARKER"
    return json.dumps(obj, separators=(",", ":")).replace('"EXPIRY_MARKER"', value)


def _spell(code: str, rng: Random) -> str:
    """A code as shoppers and staff type it: sometimes lower case or padded."""
    r = rng.random()
    if r < 0.1:
        return code.lower()
    if r < 0.15:
        return f" {code} "
    if r < 0.18:
        return code.title()
    return code


def kinds_for(params: Params, rng: Random) -> tuple[Iterator[str], dict[str, int]]:
    """Exact counts of each customer kind, in a random order (sequential sampling)."""
    n = params.customers
    rejects = round(n * REJECT_SHARE)
    changed = round(n * params.changed)
    if changed + rejects > n:
        raise SystemExit(f"--changed {params.changed} leaves no room for {rejects} rejects")
    holders = max(round(n * HOLDER_SHARE), changed + rejects)
    totals = {
        "reject": rejects,
        "changed": changed,
        "stable": holders - rejects - changed,
        "empty": n - holders,
    }

    def draw() -> Iterator[str]:
        left = dict(totals)
        for remaining in range(n, 0, -1):
            pick = rng.random() * remaining
            for kind, count in left.items():
                if pick < count:
                    left[kind] = count - 1
                    yield kind
                    break
                pick -= count

    return draw(), totals


def generate(params: Params, out: Path) -> dict[str, object]:
    """Write both exports and expected.json into ``out``; return the expected summary."""
    out.mkdir(parents=True, exist_ok=True)
    gen = Generator(params)
    plan = gen.plan_orders()
    kinds, totals = kinds_for(params, gen.rng)
    # The usage export can carry only so many member codes; the rest of the
    # changed customers change by expiry or order. Leave room for repeats and
    # for the few customers who used two codes.
    member_budget = int(plan.code_slots * 0.8)
    used_target = min(round(totals["changed"] * 0.35), int(member_budget / 1.15))

    started = time.perf_counter()
    customers_path = out / "customers_export.csv"
    tmp = customers_path.with_suffix(".csv.tmp")
    with tmp.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(CUSTOMER_COLUMNS)
        for batch in gen.customer_rows(kinds, used_target, member_budget):
            writer.writerows(batch)
    tmp.replace(customers_path)
    customers_seconds = time.perf_counter() - started

    started = time.perf_counter()
    usage_path = out / "discounts_export.csv"
    tmp = usage_path.with_suffix(".csv.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(ORDER_COLUMNS)
        for batch in gen.usage_rows(plan):
            writer.writerows(batch)
    tmp.replace(usage_path)
    usage_seconds = time.perf_counter() - started

    c = gen.counts
    rejects = sum(gen.reject_counts.values())
    expected: dict[str, object] = {
        "params": params.as_json(),
        "customers": params.customers,
        "customer_rows": c["customer_rows"],
        "repeated_id_rows_skipped": c["address_rows"],
        "rejected": rejects,
        "rejects_by_kind": dict(sorted(gen.reject_counts.items())),
        "processed": params.customers - rejects,
        "changed": totals["changed"],
        "unchanged": params.customers - rejects - totals["changed"],
        "changed_share": totals["changed"] / params.customers,
        "holders_valid": c["holders"],
        "changed_by": {
            "used": c["changed_by_used"],
            "expired": c["changed_by_expired"],
            "order": c["changed_by_order"],
        },
        "codes": {
            "available_in": c["codes_available_in"],
            "moved_to_used": c["codes_moved_to_used"],
            "moved_to_expired": c["codes_moved_to_expired"],
            "available_out": c["codes_available_out"],
            "expiring_today_kept": c["codes_expiring_today"],
        },
        "customers_without_email": c["customers_without_email"],
        "usage": {
            "rows": c["usage_rows"],
            "orders": c["usage_orders"],
            "code_occurrences": c["usage_code_occurrences"],
            "member_code_repeats": c["usage_member_repeats"],
            "rejected_rows": c["usage_rejects"],
            "unmatched_already_used": c["unmatched_already_used"],
            "unmatched_already_used_distinct": c["unmatched_already_used_distinct"],
            "unmatched_not_member": c["unmatched_not_member"],
            "unmatched_not_member_distinct": c["unmatched_not_member_distinct"],
        },
        "outputs": {
            "customers_xlsx_rows": totals["changed"],
            "max_value_rows": c["max_value_rows"],
            "reviews_rows": c["reviews_rows"],
            "rejects_rows": rejects,
            "rejects_usage_rows": c["usage_rejects"],
        },
        "files": {
            "customers_export.csv": customers_path.stat().st_size,
            "discounts_export.csv": usage_path.stat().st_size,
        },
        "seconds": {
            "customers": round(customers_seconds, 2),
            "usage": round(usage_seconds, 2),
        },
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
    return expected


def parse_args(argv: list[str] | None = None) -> tuple[Params, Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True, help="customers (distinct IDs)")
    parser.add_argument(
        "--changed", type=float, required=True, help="share of customers the update changes"
    )
    parser.add_argument("--usage-rows", type=int, default=50_000, help="rows of the orders export")
    parser.add_argument("--today", type=dt.date.fromisoformat, default=dt.date(2026, 11, 20))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.customers < 1:
        parser.error("--customers must be at least 1")
    if not 0 <= args.changed <= 1:
        parser.error("--changed is a fraction between 0 and 1")
    if args.usage_rows < 0:
        parser.error("--usage-rows must be 0 or more")
    params = Params(args.customers, args.changed, args.usage_rows, args.today, args.seed)
    return params, args.out


def main(argv: list[str] | None = None) -> int:
    params, out = parse_args(argv)
    started = time.perf_counter()
    expected = generate(params, out)
    elapsed = time.perf_counter() - started
    usage = expected["usage"]
    outputs = expected["outputs"]
    files = expected["files"]
    assert isinstance(usage, dict) and isinstance(outputs, dict) and isinstance(files, dict)
    print(
        f"customers {params.customers:,} ({expected['customer_rows']:,} rows, "
        f"{expected['repeated_id_rows_skipped']:,} repeated-ID address rows), "
        f"rejects {expected['rejected']:,} {expected['rejects_by_kind']}\n"
        f"expected changed {expected['changed']:,} "
        f"({expected['changed_share']:.3f}), by {expected['changed_by']}\n"
        f"codes {expected['codes']}\n"
        f"usage rows {usage['rows']:,} ({usage['orders']:,} orders, "
        f"{usage['code_occurrences']:,} codes, {usage['rejected_rows']} unreadable dates)\n"
        f"expected outputs {outputs}\n"
        f"files {', '.join(f'{k} {v / 1e6:.1f} MB' for k, v in files.items())}\n"
        f"generated in {elapsed:.1f} s into {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
