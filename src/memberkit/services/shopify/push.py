"""``memberkit shopify push``: members' codes, points and tier written to their Shopify customers.

Each member with a Shopify id gets up to five customer metafields in
``codes.namespace``: the three code lists (``codes.available_key``,
``used_key``, ``expired_key``, type ``codes.metafield_type`` or ``json``),
``shopify.points_key`` (``number_integer``) and ``shopify.tier_key``
(``single_line_text_field``; left alone for a member without a tier, since
Shopify refuses a blank value).

* At most ``shopify.bulk_threshold`` members: ``metafieldsSet`` calls of at most
  25 metafields (whole members per call). A call is atomic: when Shopify
  refuses some of its inputs (userErrors with their index), those members are
  reported failed with Shopify's message and the call is sent again without
  them, so one bad record never holds back the others.
* More: one bulk mutation (``integrations.shopify.bulk``): the JSONL of one
  ``metafieldsSet`` per member is staged, run, polled, and its result file read
  back line by line; lines Shopify never answered are reported failed.

``--changed-since`` pushes only members updated at or after that moment
(``members.updated_at``: the rewards update and the ledger bump it).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from memberkit.config import Settings
from memberkit.files.csv_output import CsvOutput
from memberkit.integrations.shopify import (
    METAFIELDS_PER_CALL,
    MetafieldInput,
    ShopifyClient,
    customer_gid,
    metafields_set,
    run_bulk_mutation,
)
from memberkit.integrations.shopify.operations import METAFIELDS_SET
from memberkit.store.database import Database
from memberkit.store.models import Member, Tier

log = logging.getLogger("memberkit.shopify.push")


@dataclass(frozen=True)
class MemberMetafields:
    """One member's metafields to write."""

    member_id: int
    shopify_id: str
    metafields: tuple[MetafieldInput, ...]


@dataclass(frozen=True)
class PushFailure:
    member_id: int
    shopify_id: str
    reason: str


@dataclass
class PushReport:
    """What a push did: how, how many, and every member Shopify refused."""

    mode: str = "metafieldsSet"
    members: int = 0
    pushed: int = 0
    calls: int = 0
    bulk_operations: list[str] = field(default_factory=list)
    failed: list[PushFailure] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "members": self.members,
            "pushed": self.pushed,
            "calls": self.calls,
            "bulk_operations": self.bulk_operations,
            "failed": [f.__dict__ for f in self.failed],
            "seconds": round(self.seconds, 3),
        }


def member_metafields(
    settings: Settings,
    *,
    member_id: int,
    shopify_id: str,
    available: str,
    used: str,
    expired: str,
    balance: int,
    tier: str | None,
) -> MemberMetafields:
    """The metafields of one member, from the stored wallet, balance and tier."""
    codes = settings.codes
    owner = customer_gid(shopify_id)
    codes_type = codes.metafield_type or "json"
    inputs = [
        MetafieldInput(owner, codes.namespace, codes.available_key, available, codes_type),
        MetafieldInput(owner, codes.namespace, codes.used_key, used, codes_type),
        MetafieldInput(owner, codes.namespace, codes.expired_key, expired, codes_type),
        MetafieldInput(
            owner, codes.namespace, settings.shopify.points_key, str(balance), "number_integer"
        ),
    ]
    if tier:
        inputs.append(
            MetafieldInput(
                owner, codes.namespace, settings.shopify.tier_key, tier, "single_line_text_field"
            )
        )
    return MemberMetafields(member_id, shopify_id, tuple(inputs))


def members_to_push(
    db: Database,
    settings: Settings,
    *,
    changed_since: dt.datetime | None = None,
    member_ids: Sequence[int] | None = None,
    page: int = 20_000,
) -> Iterator[MemberMetafields]:
    """Every member with a Shopify id (changed since, or among ``member_ids``), by id."""
    last = 0
    while True:
        query = (
            select(
                Member.id,
                Member.shopify_id,
                Member.codes_available,
                Member.codes_used,
                Member.codes_expired,
                Member.points_balance,
                Tier.name,
            )
            .outerjoin(Tier, Tier.id == Member.tier_id)
            .where(Member.shopify_id.is_not(None), Member.id > last)
            .order_by(Member.id)
            .limit(page)
        )
        if changed_since is not None:
            query = query.where(Member.updated_at >= changed_since)
        if member_ids is not None:
            query = query.where(Member.id.in_(list(member_ids)))
        with db.read() as session:
            rows = session.execute(query).all()
        if not rows:
            return
        for row in rows:
            yield member_metafields(
                settings,
                member_id=row[0],
                shopify_id=str(row[1]),
                available=row[2],
                used=row[3],
                expired=row[4],
                balance=int(row[5]),
                tier=row[6],
            )
        last = rows[-1][0]
        if member_ids is not None:
            return


def push_members(
    client: ShopifyClient,
    members: Sequence[MemberMetafields],
    *,
    bulk_threshold: int,
    clock: Callable[[], float] | None = None,
    poll_seconds: float = 1.0,
) -> PushReport:
    """Write ``members``' metafields: calls for a few, a bulk mutation for many."""
    now = clock or time.monotonic
    started = now()
    report = PushReport(members=len(members))
    if len(members) > bulk_threshold:
        report.mode = "bulk"
        _push_bulk(client, members, report, poll_seconds=poll_seconds)
    else:
        _push_calls(client, members, report)
    report.seconds = now() - started
    return report


def _calls(members: Sequence[MemberMetafields]) -> Iterator[list[MemberMetafields]]:
    batch: list[MemberMetafields] = []
    size = 0
    for member in members:
        if batch and size + len(member.metafields) > METAFIELDS_PER_CALL:
            yield batch
            batch, size = [], 0
        batch.append(member)
        size += len(member.metafields)
    if batch:
        yield batch


def _push_calls(
    client: ShopifyClient, members: Sequence[MemberMetafields], report: PushReport
) -> None:
    for batch in _calls(members):
        remaining = list(batch)
        while remaining:
            inputs = [m for member in remaining for m in member.metafields]
            owners = [member for member in remaining for _ in member.metafields]
            result = metafields_set(client, inputs)
            report.calls += 1
            if not result.errors:
                report.pushed += len(remaining)
                break
            refused: dict[int, list[str]] = {}
            for error in result.errors:
                if error.element_index is None or not 0 <= error.element_index < len(owners):
                    # Shopify named no input: the whole call failed.
                    for member in remaining:
                        refused.setdefault(member.member_id, []).append(str(error))
                    continue
                refused.setdefault(owners[error.element_index].member_id, []).append(str(error))
            for member in remaining:
                if member.member_id in refused:
                    report.failed.append(
                        PushFailure(
                            member.member_id,
                            member.shopify_id,
                            "; ".join(refused[member.member_id]),
                        )
                    )
            # metafieldsSet is atomic: the members Shopify did not refuse go again.
            remaining = [m for m in remaining if m.member_id not in refused]


def _push_bulk(
    client: ShopifyClient,
    members: Sequence[MemberMetafields],
    report: PushReport,
    *,
    poll_seconds: float,
) -> None:
    lines = ({"metafields": [m.to_json() for m in member.metafields]} for member in members)
    bulk = run_bulk_mutation(client, METAFIELDS_SET, lines, poll_seconds=poll_seconds)
    report.bulk_operations = bulk.operations
    report.calls = len(bulk.operations)
    for member, result in zip(members, bulk.results, strict=True):
        if not result.answered:
            reason = "Shopify did not process this line (the bulk operation stopped early)"
        elif result.errors:
            reason = "; ".join(result.errors)
        else:
            problems = result.user_errors("metafieldsSet")
            if not problems:
                report.pushed += 1
                continue
            reason = "; ".join(str(p) for p in problems)
        report.failed.append(PushFailure(member.member_id, member.shopify_id, reason))


def write_failures(report: PushReport, directory: Path, today: dt.date) -> Path:
    """``shopify_push_failed_YYYY-MM-DD.csv`` (formula-safe): member, Shopify id, reason."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"shopify_push_failed_{today.isoformat()}.csv"
    output = CsvOutput(target, ["member_id", "shopify_id", "reason"])
    try:
        for failure in report.failed:
            output.write([str(failure.member_id), failure.shopify_id, failure.reason])
    except BaseException:
        output.discard()
        raise
    return output.commit()


def push(
    db: Database,
    settings: Settings,
    client: ShopifyClient,
    *,
    changed_since: dt.datetime | None = None,
    member_ids: Sequence[int] | None = None,
    poll_seconds: float = 1.0,
) -> PushReport:
    """Push the members ``shopify push`` selects (all, changed since, or these ids)."""
    members = list(
        members_to_push(db, settings, changed_since=changed_since, member_ids=member_ids)
    )
    report = push_members(
        client, members, bulk_threshold=settings.shopify.bulk_threshold, poll_seconds=poll_seconds
    )
    log.info(
        "shopify push: %d members, %d pushed, %d failed (%s, %.1f s)",
        report.members,
        report.pushed,
        len(report.failed),
        report.mode,
        report.seconds,
    )
    return report


def push_after_rewards_update(
    settings: Settings, *, run_started_at: dt.datetime
) -> PushReport | None:
    """``shopify.push_mode`` "api" or "both": push the members the rewards run changed."""
    if settings.shopify.push_mode == "file":
        return None
    from memberkit.integrations.shopify.client import client_from_settings
    from memberkit.store.database import open_database

    db = open_database(settings.database.url)
    try:
        with client_from_settings(settings) as client:
            return push(db, settings, client, changed_since=run_started_at)
    finally:
        db.dispose()
