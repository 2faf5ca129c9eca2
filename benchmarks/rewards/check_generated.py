"""Recompute, from the generated CSV files alone, what the rewards update should do.

``python benchmarks/rewards/check_generated.py DIR`` reads ``DIR/customers_export.csv``
and ``DIR/discounts_export.csv`` with nothing but ``csv``, ``json`` and ``Decimal``,
applies the rules of issue 2 (repeated-ID rows skipped; rejects for malformed JSON,
bad money or dates, formula-like or duplicate e-mails, cells over 32,767 characters;
then used, expired, sort best-first), and compares its counts with the generator's
``DIR/expected.json``. It exits 1 on any difference, so the generator's claims
(the changed share above all) are checked by a second, independent reading.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

CELL_LIMIT = 32_767
FORMULA_START = ("=", "+", "-", "@")
NEVER = dt.date.max


class Reject(Exception):
    """A customer row the update must leave unchanged and list in the rejects file."""


def money(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise Reject(f"{what} is not money")
    try:
        amount = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise Reject(f"{what} is not money") from None
    if not amount.is_finite() or amount < 0:
        raise Reject(f"{what} is negative")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise Reject(f"{what} has more than 2 decimals")
    return amount


def expiry(value: Any, zone: ZoneInfo) -> dt.date:
    if value is None:
        return NEVER
    if not isinstance(value, str):
        raise Reject("expires is not a date")
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Reject(f"expires {value!r} is not an ISO date") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.astimezone(zone).date()


def code_list(cell: str, column: str, zone: ZoneInfo) -> list[dict[str, Any]]:
    if len(cell) > CELL_LIMIT:
        raise Reject(f"{column}: over {CELL_LIMIT} characters")
    if not cell.strip():
        return []
    try:
        codes = json.loads(cell, parse_float=Decimal, parse_int=Decimal)
    except ValueError:
        raise Reject(f"{column}: malformed JSON") from None
    if not isinstance(codes, list):
        raise Reject(f"{column}: not a JSON array")
    for item in codes:
        if not isinstance(item, dict) or not isinstance(item.get("code"), str):
            raise Reject(f"{column}: a code without a code")
        if item["code"].startswith(FORMULA_START):
            raise Reject(f"{column}: formula-like code")
        item["_value"] = money(item.get("value"), "value")
        money(item.get("min_spend", "0"), "min_spend")
        item["_expires"] = expiry(item.get("expires"), zone)
    return codes


def best_first(item: dict[str, Any]) -> tuple[Decimal, int, str]:
    return (-item["_value"], -item["_expires"].toordinal(), item["code"])


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n


def read_usage(path: Path, zone: ZoneInfo, tally: Tally) -> list[tuple[str, dt.datetime]]:
    """(normalised code, order time) for every code on a readable row."""
    found: list[tuple[str, dt.datetime]] = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader)]
        code_col = header.index("discount code")
        date_col = header.index("created at")
        for row in reader:
            tally.add("usage_rows")
            try:
                when = dt.datetime.strptime(row[date_col], "%Y-%m-%d %H:%M:%S %z")
            except ValueError:
                tally.add("usage_rejected_rows")
                continue
            for part in row[code_col].split(","):
                code = part.strip().lower()
                if code:
                    found.append((code, when.astimezone(zone)))
    return found


def check(folder: Path) -> int:
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    params = expected["params"]
    zone = ZoneInfo(params["timezone"])
    today = dt.date.fromisoformat(params["today"])
    tally = Tally()
    started = time.perf_counter()

    usage = read_usage(folder / "discounts_export.csv", zone, tally)
    earliest: dict[str, dt.datetime] = {}
    for code, when in usage:
        if code not in earliest or when < earliest[code]:
            earliest[code] = when

    prefix = "Metafield: alpkit."
    seen_ids: set[str] = set()
    seen_emails: set[str] = set()
    member_codes: set[str] = set()
    used_list_codes: set[str] = set()
    changed_ids: list[str] = []
    with (folder / "customers_export.csv").open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        fieldnames = reader.fieldnames or []
        available_col = next(c for c in fieldnames if c.startswith(prefix + "discountcodes"))
        used_col = next(c for c in fieldnames if c.startswith(prefix + "usedcodes"))
        expired_col = next(c for c in fieldnames if c.startswith(prefix + "expiredcodes"))
        for row in reader:
            tally.add("customer_rows")
            cid = row["ID"].strip().lstrip("'")
            if cid in seen_ids:
                tally.add("repeated_id_rows")
                continue
            seen_ids.add(cid)
            email = row["Email"].strip().lower()
            try:
                if email.startswith(FORMULA_START):
                    raise Reject("Email: formula-like")
                if email and email in seen_emails:
                    raise Reject("Email: duplicate with a different ID")
                available = code_list(row[available_col], available_col, zone)
                used = code_list(row[used_col], used_col, zone)
                code_list(row[expired_col], expired_col, zone)
            except Reject:
                tally.add("rejected")
                continue
            if email:
                seen_emails.add(email)
            tally.add("processed")
            used_list_codes.update(item["code"].strip().lower() for item in used)
            member_codes.update(item["code"].strip().lower() for item in available)

            keep = []
            moved = False
            for item in available:
                if item["code"].strip().lower() in earliest:
                    tally.add("moved_to_used")
                    moved = True
                elif item["_expires"] < today:
                    tally.add("moved_to_expired")
                    moved = True
                else:
                    keep.append(item)
            resorted = sorted(keep, key=best_first)
            tally.add("codes_available_in", len(available))
            tally.add("codes_available_out", len(keep))
            if moved or [i["code"] for i in resorted] != [i["code"] for i in keep]:
                changed_ids.append(cid)
            if email:
                tally.add("max_value_rows")
                if keep:
                    tally.add("reviews_rows")
            else:
                tally.add("customers_without_email")

    matched = already = not_member = 0
    already_distinct: set[str] = set()
    not_member_distinct: set[str] = set()
    for code, _when in usage:
        if code in member_codes:
            matched += 1
        elif code in used_list_codes:
            already += 1
            already_distinct.add(code)
        else:
            not_member += 1
            not_member_distinct.add(code)
    n = params["customers"]
    changed = len(changed_ids)
    got = {
        "customer_rows": tally.counts.get("customer_rows", 0),
        "repeated_id_rows_skipped": tally.counts.get("repeated_id_rows", 0),
        "rejected": tally.counts.get("rejected", 0),
        "processed": tally.counts.get("processed", 0),
        "changed": changed,
        "codes.available_in": tally.counts.get("codes_available_in", 0),
        "codes.moved_to_used": tally.counts.get("moved_to_used", 0),
        "codes.moved_to_expired": tally.counts.get("moved_to_expired", 0),
        "codes.available_out": tally.counts.get("codes_available_out", 0),
        "customers_without_email": tally.counts.get("customers_without_email", 0),
        "usage.rows": tally.counts.get("usage_rows", 0),
        "usage.rejected_rows": tally.counts.get("usage_rejected_rows", 0),
        "usage.unmatched_already_used": already,
        "usage.unmatched_already_used_distinct": len(already_distinct),
        "usage.unmatched_not_member": not_member,
        "usage.unmatched_not_member_distinct": len(not_member_distinct),
        "outputs.max_value_rows": tally.counts.get("max_value_rows", 0),
        "outputs.reviews_rows": tally.counts.get("reviews_rows", 0),
    }
    # codes.available_in in expected.json counts valid customers' codes only, as here
    failures = 0
    print(f"{'check':42} {'expected':>12} {'recomputed':>12}")
    for key, value in got.items():
        want: Any = expected
        for part in key.split("."):
            want = want[part]
        mark = "" if want == value else "   <-- MISMATCH"
        failures += bool(mark)
        print(f"{key:42} {want:>12,} {value:>12,}{mark}")
    share = changed / n
    target = params["changed"]
    share_ok = abs(share - target) <= 0.5 / n + 1e-12
    failures += not share_ok
    print(
        f"changed share {share:.6f} of {n:,} customers, asked for {target}"
        f"{'' if share_ok else '   <-- MISMATCH'}"
    )
    print(f"checked in {time.perf_counter() - started:.1f} s")
    if failures:
        print(f"{failures} mismatch(es)", file=sys.stderr)
        return 1
    print("OK: the files match expected.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder written by generate.py")
    args = parser.parse_args(argv)
    return check(args.folder)


if __name__ == "__main__":
    sys.exit(main())
