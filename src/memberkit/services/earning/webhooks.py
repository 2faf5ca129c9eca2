"""Shopify order webhooks: verify, queue, and apply with the same rules as the export.

Receiving (``receive_webhook``, what ``POST /webhooks/shopify`` calls) does the
least it can, so Shopify gets its answer well within a second:

1. **verify**: ``X-Shopify-Hmac-Sha256`` must be the base64 HMAC-SHA256 of the raw
   body with ``SHOPIFY_WEBHOOK_SECRET``, compared in constant time; a missing or
   wrong signature, or an ``X-Shopify-Triggered-At`` older than ``max_age``
   (a replay), raises ``WebhookRejected`` (401) and nothing is written;
2. **de-duplicate** on ``X-Shopify-Webhook-Id`` (the table's unique key): a
   delivery seen before is answered 200 and not queued again;
3. **queue** the raw payload in ``shopify_webhooks`` (topics we do not use are
   answered 200 and not queued, so Shopify does not retry them).

Applying (``apply_queued``, the worker or the daily schedule) turns each queued
payload into an ``Order`` and hands it to ``services.earning.orders.apply_orders``
under the ``earning`` lock, so a webhook and an export of the same order never
award twice (the order name is the key either way):

* ``orders/paid``: the order earns (``subtotal_price`` is after discounts,
  before shipping and tax, like the export's ``Subtotal``);
* ``refunds/create``: the refund's line-item subtotals are added to what the
  order had refunded, and the points are taken back in proportion. The payload
  names the order by id only; a refund of an order not seen yet stays queued
  (``failed``, retried) until the order arrives, at most ``MAX_ATTEMPTS`` times;
* ``orders/cancelled``: everything the order earned is taken back.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Table, select, update
from sqlalchemy.exc import IntegrityError

from memberkit.clock import utcnow
from memberkit.config import EarningSettings
from memberkit.domain.dates import DateParseError, parse_moment
from memberkit.domain.earning import EarningRules, Order
from memberkit.domain.money import parse_money
from memberkit.errors import MemberkitError
from memberkit.services.earning.export import EARNING_LOCK, rules_from_settings
from memberkit.services.earning.orders import EarningSummary, apply_orders
from memberkit.store.bulk import insert_rows
from memberkit.store.database import Database
from memberkit.store.locks import job_lock
from memberkit.store.models import OrderEarning, ShopifyWebhook
from memberkit.store.unit_of_work import UnitOfWork

TOPICS = frozenset({"orders/paid", "refunds/create", "orders/cancelled"})
# The name of the secret (read with settings.secret), not its value.
WEBHOOK_SECRET_NAME = "SHOPIFY_WEBHOOK_SECRET"  # noqa: S105
WEBHOOK_ACTOR = "system:webhooks"
# Shopify retries a failed delivery for up to 48 hours, keeping its trigger time.
DEFAULT_MAX_AGE = dt.timedelta(hours=49)
MAX_ATTEMPTS = 20
UTC = dt.UTC


class WebhookRejected(MemberkitError):
    """A webhook that is not signed with our secret, or is stale; nothing was written."""

    code = "webhook_unauthorized"


@dataclass(frozen=True)
class Received:
    """What receiving a webhook did: ``queued``, ``duplicate`` or ``ignored`` (a topic we
    do not use)."""

    status: Literal["queued", "duplicate", "ignored"]
    webhook_id: str
    topic: str


def signature_of(body: bytes, secret: str) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value Shopify sends for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """True when ``header`` is the body's signature (constant-time compare)."""
    if not header or not secret:
        return False
    return hmac.compare_digest(signature_of(body, secret).encode(), header.strip().encode())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def receive_webhook(
    db: Database,
    *,
    body: bytes,
    headers: Mapping[str, str],
    secret: str | None,
    now: dt.datetime | None = None,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
) -> Received:
    """Verify, de-duplicate and queue one delivery; ``WebhookRejected`` when unsigned or stale."""
    moment = now or utcnow()
    if secret is None or not verify_signature(
        body, _header(headers, "X-Shopify-Hmac-Sha256"), secret
    ):
        raise WebhookRejected(
            "webhook refused: the X-Shopify-Hmac-Sha256 signature is missing or wrong",
            hint=f"set {WEBHOOK_SECRET_NAME} to the webhook signing secret shown in Shopify",
        )
    triggered = _header(headers, "X-Shopify-Triggered-At")
    if triggered:
        try:
            at = parse_moment(triggered, ZoneInfo("UTC"))
        except DateParseError:
            raise WebhookRejected("webhook refused: X-Shopify-Triggered-At is not a time") from None
        if moment - at > max_age:
            raise WebhookRejected(f"webhook refused: triggered at {triggered}, too long ago")
    webhook_id = (_header(headers, "X-Shopify-Webhook-Id") or "").strip()
    topic = (_header(headers, "X-Shopify-Topic") or "").strip().lower()
    if not webhook_id:
        raise WebhookRejected("webhook refused: no X-Shopify-Webhook-Id")
    if topic not in TOPICS:
        return Received("ignored", webhook_id, topic)
    table = ShopifyWebhook.__table__
    assert isinstance(table, Table)
    row = {
        "webhook_id": webhook_id[:200],
        "topic": topic,
        "payload": body.decode("utf-8", errors="replace"),
        "received_at": moment,
        "state": "queued",
        "attempts": 0,
    }
    session = db.write_session()
    try:
        with session.begin():
            seen = session.scalar(
                select(ShopifyWebhook.id).where(ShopifyWebhook.webhook_id == row["webhook_id"])
            )
            if seen is not None:
                return Received("duplicate", webhook_id, topic)
            insert_rows(session, table, [row])
    except IntegrityError:
        # The same delivery arriving twice at once: the other one queued it.
        return Received("duplicate", webhook_id, topic)
    finally:
        session.close()
    return Received("queued", webhook_id, topic)


@dataclass
class AppliedWebhooks:
    """What ``apply_queued`` did: webhooks applied and waiting, and the earning summary."""

    applied: int
    waiting: int
    summary: EarningSummary

    def to_json(self) -> dict[str, Any]:
        return {"applied": self.applied, "waiting": self.waiting, **self.summary.to_json()}


class _NotYet(Exception):
    """A refund of an order we have not seen yet: retried later."""


def apply_queued(
    db: Database,
    *,
    earning: EarningSettings,
    currency: str,
    zone: ZoneInfo,
    actor: str = WEBHOOK_ACTOR,
    now: dt.datetime | None = None,
    limit: int = 1000,
) -> AppliedWebhooks:
    """Apply queued (and retry failed) webhooks in the order received; one transaction each."""
    moment = now or utcnow()
    rules = rules_from_settings(earning)
    summary = EarningSummary()
    with job_lock(db, EARNING_LOCK, command="apply webhooks"):
        with db.read() as session:
            ids = list(
                session.scalars(
                    select(ShopifyWebhook.id)
                    .where(
                        ShopifyWebhook.state.in_(("queued", "failed")),
                        ShopifyWebhook.attempts < MAX_ATTEMPTS,
                    )
                    .order_by(ShopifyWebhook.id)
                    .limit(limit)
                )
            )
        # A refund may be queued before its order: what waits is tried once more at the end.
        outcomes = {
            i: _apply_one(db, i, rules, currency, zone, actor, moment, summary) for i in ids
        }
        for webhook_id in [i for i, outcome in outcomes.items() if outcome == "waiting"]:
            outcomes[webhook_id] = _apply_one(
                db, webhook_id, rules, currency, zone, actor, moment, summary
            )
        applied = sum(1 for outcome in outcomes.values() if outcome == "applied")
        waiting = sum(1 for outcome in outcomes.values() if outcome == "waiting")
    return AppliedWebhooks(applied, waiting, summary)


def _apply_one(
    db: Database,
    webhook_id: int,
    rules: EarningRules,
    currency: str,
    zone: ZoneInfo,
    actor: str,
    moment: dt.datetime,
    summary: EarningSummary,
) -> Literal["applied", "waiting", "failed", "gone"]:
    """Apply one queued webhook in its own transaction."""
    with UnitOfWork.begin(db, actor=actor, zone=zone, now=moment) as work:
        hook = work.session.get(ShopifyWebhook, webhook_id)
        if hook is None or hook.state == "applied":
            return "gone"
        try:
            order = _order_of(work, hook.topic, json.loads(hook.payload), zone)
        except _NotYet as exc:
            _mark(work, webhook_id, "failed", str(exc), hook.attempts + 1)
            return "waiting"
        except (ValueError, KeyError, TypeError, DateParseError) as exc:
            _mark(work, webhook_id, "failed", f"unreadable payload: {exc}", MAX_ATTEMPTS)
            return "failed"
        one = EarningSummary()
        rejected = apply_orders(
            work, [order], rules=rules, currency=currency, origin="webhook", summary=one
        )
        _merge(summary, one)
        result = rejected[0].reason if rejected else json.dumps(one.to_json())
        _mark(work, webhook_id, "applied", result, hook.attempts + 1)
        return "applied"


def _mark(work: UnitOfWork, webhook_id: int, state: str, result: str, attempts: int) -> None:
    work.session.execute(
        update(ShopifyWebhook)
        .where(ShopifyWebhook.id == webhook_id)
        .values(state=state, result=result, attempts=attempts, applied_at=work.now)
    )


def _merge(total: EarningSummary, one: EarningSummary) -> None:
    for name in (
        "orders",
        "earned",
        "points_earned",
        "released",
        "points_released",
        "reversed",
        "points_taken",
        "already_earned",
        "rejected",
    ):
        setattr(total, name, getattr(total, name) + getattr(one, name))
    total.skipped.update(one.skipped)


def _money(value: Any) -> Decimal:
    return parse_money(value if value not in (None, "") else "0")


def _order_of(work: UnitOfWork, topic: str, payload: dict[str, Any], zone: ZoneInfo) -> Order:
    """The ``Order`` a webhook payload describes (for a refund: the order it refunds)."""
    if topic == "refunds/create":
        order_id = str(payload["order_id"])
        row = work.session.scalars(
            select(OrderEarning).where(OrderEarning.shopify_order_id == order_id)
        ).first()
        if row is None:
            raise _NotYet(f"refund of Shopify order {order_id}, which has not earned (yet)")
        amount = sum(
            (_money(item.get("subtotal")) for item in payload.get("refund_line_items") or []),
            Decimal(0),
        )
        return Order(
            name=row.order_name,
            email="",
            financial_status="partially_refunded",
            subtotal=row.subtotal,
            currency=row.currency,
            created_at=row.ordered_at,
            refunded=row.refunded + amount,
            cancelled_at=None,
            shopify_id=order_id,
        )
    customer = payload.get("customer") or {}
    email = payload.get("email") or payload.get("contact_email") or customer.get("email") or ""
    cancelled = payload.get("cancelled_at")
    if topic == "orders/cancelled" and not cancelled:
        cancelled = payload.get("updated_at") or payload["created_at"]
    tags = payload.get("tags") or ""
    return Order(
        name=str(payload["name"]),
        email=str(email),
        financial_status=str(payload.get("financial_status") or "").lower(),
        subtotal=_money(payload.get("subtotal_price")),
        currency=str(payload.get("currency") or "").upper(),
        created_at=parse_moment(str(payload["created_at"]), zone),
        refunded=Decimal(0),
        cancelled_at=parse_moment(str(cancelled), zone) if cancelled else None,
        tags=tuple(t.strip() for t in str(tags).split(",") if t.strip()),
        discount_codes=tuple(
            str(d.get("code", "")) for d in payload.get("discount_codes") or [] if d.get("code")
        ),
        shopify_id=str(payload["id"]) if payload.get("id") is not None else None,
    )
