"""The database tables, as typed SQLAlchemy 2 models.

Append-only tables: ``ledger_entries``, ``allocations``, ``tier_history``,
``profile_changes``, ``rewards_runs``, ``outbox``. Rows there are inserted and
never updated or deleted (an outbox row's delivery state lives in
``outbox_deliveries``).

Who and what: every ledger entry, tier change and profile change records its
``actor`` (``cli:USER``, ``web:EMAIL``, ``api:TOKEN-NAME``, ``system:expiry``...)
and, when it was part of one, its ``batch`` (an import, a rewards run, an
expiry run), so "everything batch 12 did" is one indexed query.

Running state kept in step with them in the same transaction: ``lots.remaining``,
``debts.unpaid``, ``members.points_balance``. Each can be recomputed from the
append-only tables (the tests do exactly that).

Times are stored as naive UTC on both databases (``UTCDateTime``) and come
back as aware UTC datetimes, so SQLite and PostgreSQL behave the same.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Big integers on PostgreSQL, INTEGER (rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        """Aware datetime -> naive UTC; a naive one is a programming error."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Naive UTC from the database -> aware UTC."""
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with constraint names Alembic can rely on."""

    metadata = MetaData(naming_convention=NAMING)


class Tier(Base):
    """A VIP tier: ordered by ``rank``; optional threshold and entry reward."""

    __tablename__ = "tiers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    rank: Mapped[int] = mapped_column(Integer, unique=True)
    # Points earned over the tiers.window_days window that qualify for the tier.
    threshold: Mapped[int | None] = mapped_column(Integer)
    entry_reward_points: Mapped[int | None] = mapped_column(Integer)
    entry_reward_code_template: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Member(Base):
    """A member: Shopify identity, profile, tier, points balance and reward-code wallet."""

    __tablename__ = "members"
    __table_args__ = (
        CheckConstraint("points_debt >= 0", name="debt_not_negative"),
        # Room on each page so balance updates stay on the page (HOT updates).
        {"postgresql_with": {"fillfactor": 80}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shopify_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    # email.strip().lower(): the unique, case-insensitive identity on both databases.
    email_key: Mapped[str | None] = mapped_column(String(320), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    account_state: Mapped[str | None] = mapped_column(String(40))
    member_since: Mapped[dt.date | None] = mapped_column(Date)
    birthday: Mapped[dt.date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(40))
    # Shopify's comma-separated tags, email consent and order totals, as last exported.
    tags: Mapped[str | None] = mapped_column(Text)
    accepts_email_marketing: Mapped[bool | None] = mapped_column(Boolean)
    total_spent: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    orders_count: Mapped[int | None] = mapped_column(Integer)
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"))
    # Sum of remaining lots minus debt; kept in step with the ledger.
    points_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    points_debt: Mapped[int] = mapped_column(BigInteger, default=0)
    # Bumped with every write of the balance: a bulk run that committed a chunk
    # reuses the member state it holds only while the stored version is unchanged.
    ledger_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Reward-code wallet: the code metafields' JSON lists, as the rewards update writes them.
    codes_available: Mapped[str] = mapped_column(Text, default="[]")
    codes_used: Mapped[str] = mapped_column(Text, default="[]")
    codes_expired: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    def wallet(self) -> dict[str, list[Any]]:
        """The reward-code wallet as lists (of code objects, as in the metafields)."""
        return {
            "available": list(json.loads(self.codes_available)),
            "used": list(json.loads(self.codes_used)),
            "expired": list(json.loads(self.codes_expired)),
        }

    @property
    def label(self) -> str:
        """How errors name this member: email, else Shopify id, else internal id."""
        if self.email:
            return self.email
        if self.shopify_id:
            return f"Shopify customer {self.shopify_id}"
        return f"member {self.id}"


class TierChange(Base):
    """One move between tiers: from, to, when, why and who."""

    __tablename__ = "tier_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    from_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"))
    to_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(200))
    # The actor (see the module docstring).
    changed_by: Mapped[str] = mapped_column(String(200))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)


class LedgerEntry(Base):
    """One posting. ``points`` is the signed change to the balance. Never updated."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('credit', 'debit', 'expiry', 'reversal')", name="kind_is_known"),
        Index("ix_ledger_entries_member_effective", "member_id", "effective_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(10))
    points: Mapped[int] = mapped_column(BigInteger)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(20))
    source_ref: Mapped[str | None] = mapped_column(String(200))
    public_note: Mapped[str | None] = mapped_column(Text)
    internal_note: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # The target of a "set balance" request that produced this entry.
    set_to: Mapped[int | None] = mapped_column(BigInteger)
    # The entry this one reverses; unique, so an entry is reversed at most once.
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    effective_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200), server_default="system:unknown")
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)


class Lot(Base):
    """The points of one credit entry and how many remain unspent and unexpired."""

    __tablename__ = "lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_in_range"),
        # member_id only: updating "remaining" then touches no index, and with room
        # on each page (fillfactor) PostgreSQL can update in place (HOT updates).
        Index("ix_lots_member_id", "member_id"),
        Index("ix_lots_expires_at", "expires_at"),
        {"postgresql_with": {"fillfactor": 80}},
    )

    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    # expiry_instant(expires_on) in UTC: what `points expire` compares with.
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Debt(Base):
    """The shortfall of a debit posted with ``allow_negative``, and how much is unpaid."""

    __tablename__ = "debts"
    __table_args__ = (
        CheckConstraint("unpaid >= 0 AND unpaid <= points", name="unpaid_in_range"),
        Index("ix_debts_member_unpaid", "member_id", "unpaid"),
    )

    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    unpaid: Mapped[int] = mapped_column(BigInteger)


class AllocationRow(Base):
    """``points`` of lot ``lot_id`` used by entry ``entry_id`` (negative: given back)."""

    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.entry_id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    points: Mapped[int] = mapped_column(BigInteger)


class RewardsRun(Base):
    """One daily rewards update: its date, counts and output files (JSON)."""

    __tablename__ = "rewards_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_date: Mapped[dt.date] = mapped_column(Date, index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    counts: Mapped[str] = mapped_column(Text, default="{}")
    output_files: Mapped[str] = mapped_column(Text, default="[]")
    members_changed: Mapped[int] = mapped_column(Integer, default=0)


class Batch(Base):
    """A unit of work done as one: an import, a rewards run, an expiry run.

    ``position`` is how far it got, committed with each chunk of its work, so a
    crashed run resumes after the last committed chunk. ``state`` is ``running``,
    ``done``, ``failed`` or ``undone``.
    """

    __tablename__ = "batches"
    __table_args__ = (Index("ix_batches_kind_state", "kind", "state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    label: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default="running")
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    details: Mapped[str] = mapped_column(Text, default="{}")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ProfileChange(Base):
    """One change to a member's profile: the fields' values before and after (JSON objects)."""

    __tablename__ = "profile_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    before: Mapped[str] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)


class OutboxEvent(Base):
    """An event, written in the same transaction as the change it reports. Never updated.

    ``id`` orders events; a consumer de-duplicates on it. ``member_id`` keeps
    per-member order for the deliverers.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_member_id_id", "member_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_type: Mapped[str] = mapped_column(String(40), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)


class OutboxDelivery(Base):
    """One event's delivery state at one sink (``klaviyo``, ``shopify_flow``, ``webhook``...)."""

    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'delivered', 'dead')", name="state_is_known"),
        Index("ix_outbox_deliveries_sink_state_next", "sink", "state", "next_attempt_at"),
        Index("ix_outbox_deliveries_sink_member_event", "sink", "member_id", "event_id"),
    )

    event_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), primary_key=True)
    sink: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The event's member (copied when queued): per-member order is kept by index (0005).
    member_id: Mapped[int | None] = mapped_column(BigId)


class JobLock(Base):
    """ "One at a time" for a named job, across processes and hosts.

    A holder refreshes ``heartbeat_at``; a lock whose heartbeat is older than
    ``stale_after_seconds`` belongs to a holder that died and may be taken over.
    """

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(300))  # for people: "pid 12 on web-1 (...)"
    # Where the holder runs: on the same host a dead pid frees the lock at once.
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    token: Mapped[str] = mapped_column(String(64))
    acquired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    stale_after_seconds: Mapped[int] = mapped_column(Integer)


class User(Base):
    """A person who signs in to the web admin: email, role, Argon2 password hash."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('viewer', 'operator', 'admin')", name="role_is_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    # email.strip().lower(): the unique sign-in name.
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(300))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A personal API token: only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """One change made through the admin or the users CLI: who, what, to what. Never updated."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(500))
    details: Mapped[str] = mapped_column(Text, default="{}")


class LoginAttempt(Base):
    """One failed sign-in, by account and by address: what the rate limit counts."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_key_at", "email_key", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    email_key: Mapped[str] = mapped_column(String(320))
    address: Mapped[str] = mapped_column(String(100))


class WebJob(Base):
    """Long work asked for in the web (apply or undo an import, a rewards run).

    The serve process's worker takes ``queued`` rows, marks them ``running``
    with a heartbeat, and ends them ``done`` or ``failed``. A ``running`` row
    whose heartbeat stopped belongs to a worker that died: the next worker
    takes it over and resumes the work.
    """

    __tablename__ = "web_jobs"
    __table_args__ = (Index("ix_web_jobs_state_id", "state", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), default="queued")
    params: Mapped[str] = mapped_column(Text, default="{}")
    import_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    worker: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    result: Mapped[str] = mapped_column(Text, default="{}")
    error: Mapped[str | None] = mapped_column(Text)


# Member search in the web admin (issue 11): case-insensitive name prefixes.
Index("ix_members_last_name_lower", func.lower(Member.last_name))
Index("ix_members_first_name_lower", func.lower(Member.first_name))


# --- earning and redemption (issue 13) ----------------------------------------------------


class OrderEarning(Base):
    """What one order earned, once per order name whatever the source (export or webhook).

    Running state like ``lots``: points stay here, pending, until ``available_from``;
    the release posts them as one ledger credit (``credit_entry_id``). Take-backs
    before the release lower what will be credited (``points_taken``); after it they
    are ledger debits (source ``order``). ``points_taken`` only grows.
    """

    __tablename__ = "order_earnings"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'released')", name="state_is_known"),
        CheckConstraint(
            "points_taken >= 0 AND points_taken <= base_points + bonus_points",
            name="taken_in_range",
        ),
        Index("ix_order_earnings_state_available_from", "state", "available_from"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_name: Mapped[str] = mapped_column(String(200), unique=True)
    # Shopify's order id, when known (webhooks; the export's "Id" column): refunds name it.
    shopify_order_id: Mapped[str | None] = mapped_column(String(32), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    ordered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    subtotal: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    refunded: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    base_points: Mapped[int] = mapped_column(BigInteger)
    bonus_points: Mapped[int] = mapped_column(BigInteger)
    points_taken: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(10))
    available_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    credit_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # "export" or "webhook": where the order was first seen.
    origin: Mapped[str] = mapped_column(String(10))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)


class Redemption(Base):
    """One redemption of a catalogue reward, exactly once per idempotency ``key``.

    ``state``: ``pending`` (points deducted, code not yet confirmed by Shopify),
    ``issued`` (code created and in the wallet), ``refused`` (Shopify refused; the
    points were given back by ``refund_entry_id``).
    """

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'issued', 'refused')", name="state_is_known"),
        Index("ix_redemptions_state", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    reward: Mapped[str] = mapped_column(String(200))
    points_cost: Mapped[int] = mapped_column(BigInteger)
    value_type: Mapped[str] = mapped_column(String(20))
    value: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    min_spend: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    expires_on: Mapped[dt.date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    state: Mapped[str] = mapped_column(String(10))
    deduct_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    refund_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    shopify_discount_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))


class ShopifyWebhook(Base):
    """A verified Shopify webhook, queued for the earning rules; one row per webhook id.

    ``state``: ``queued``, ``applied`` (``result`` says what it did) or ``failed``
    (``result`` says why; a failed one is retried by the next apply).
    """

    __tablename__ = "shopify_webhooks"
    __table_args__ = (
        CheckConstraint("state IN ('queued', 'applied', 'failed')", name="state_is_known"),
        Index("ix_shopify_webhooks_state_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(200), unique=True)
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(Text)


class Import(Base):
    """One bulk import file (issue 10): its kind, stored files, options, status and counts.

    ``status`` is ``validating``, ``invalid``, ``ready``, ``running``, ``completed``
    or ``reverted`` (``interrupted`` is shown for a ``running`` import whose process
    is gone; it is never stored). ``batch_id`` is the batch its entries, tier
    changes, profile changes and events carry. ``runs`` is a JSON list of
    ``[position, started_at]``: where each apply (the first, then each resume)
    began, which dates the rows of the results file.
    """

    __tablename__ = "imports"
    __table_args__ = (Index("ix_imports_content_hash_kind", "content_hash", "kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    original_name: Mapped[str] = mapped_column(String(500))
    folder: Mapped[str] = mapped_column(Text)
    original_file: Mapped[str] = mapped_column(Text)
    error_file: Mapped[str | None] = mapped_column(Text)
    results_file: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    options: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(20))
    total_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    valid_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    failed_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    applied_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    succeeded: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
    first_failures: Mapped[str] = mapped_column(Text, default="[]")
    actor: Mapped[str] = mapped_column(String(200))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    runs: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    undone_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    undo_summary: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class ImportFailure(Base):
    """A row of an import that failed when applied (unknown member, insufficient points...).

    Written in the same transaction as the chunk it belongs to, so a resumed
    import knows every failure before its checkpoint.
    """

    __tablename__ = "import_failures"

    import_id: Mapped[int] = mapped_column(BigId, ForeignKey("imports.id"), primary_key=True)
    row_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)


class OutboxSink(Base):
    """How far each sink's deliveries have been queued: every event with an id up to
    ``enqueued_through`` has its ``outbox_deliveries`` row (or was not for this sink)."""

    __tablename__ = "outbox_sinks"

    sink: Mapped[str] = mapped_column(String(40), primary_key=True)
    enqueued_through: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ProgramSetting(Base):
    """A setting edited in the web admin (earning rules, the rewards catalogue).

    Once a key is here it wins over the config file's value for that key, until
    it is reset (``services.program_settings``). ``value`` is the setting as JSON,
    in the config file's spelling (numbers as strings).
    """

    __tablename__ = "program_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))


class ExpiryNotice(Base):
    """A ``points/expiring`` reminder written for one lot ``days`` before it expires (once)."""

    __tablename__ = "expiry_notices"

    lot_entry_id: Mapped[int] = mapped_column(ForeignKey("lots.entry_id"), primary_key=True)
    days: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    notified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class BirthdayAward(Base):
    """The birthday points a member got in one year (at most one row a member a year)."""

    __tablename__ = "birthday_awards"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    awarded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# The dashboard's points-per-day chart reads the last 90 days of entries.
Index("ix_ledger_entries_effective_at", LedgerEntry.effective_at)
