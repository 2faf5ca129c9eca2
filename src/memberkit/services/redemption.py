"""Redeeming points for a catalogue reward: one Shopify code, one deduction, exactly once per key.

The steps, each recorded before the next (``redemptions`` is the journal):

1. **reserve**, one transaction: the balance is checked and the points deducted
   (``points/deducted``, source ``redemption``) together with a ``pending``
   redemption row holding the key, the reward and a fresh random code. A key
   seen before replays: ``issued`` returns the stored redemption (no second code),
   ``pending`` is finished, ``refused`` is tried again with the same code;
   the same key for another member or reward is an ``idempotency_conflict``.
2. **create** the code in Shopify (``discountCodeBasicCreate``: that customer only,
   one use, ``endsAt`` at the expiry), outside any transaction. A code Shopify
   says is taken on the first try gets a new code; once a code has been sent,
   "taken" means an earlier attempt of ours created it, which is success.
3. **finish**, one transaction: the row ``issued``, the code appended to the
   member's available codes (the wallet the rewards update manages), and a
   ``reward/issued`` event. Or, when Shopify refused or could not be reached,
   **give back**: the points credited back (recorded, source ``redemption``),
   the row ``refused`` with the reason, and ``RedemptionRefused`` raised.

A crash after step 1 leaves a ``pending`` row with the points deducted and no
code in the wallet; ``resume_pending`` (``rewards redeem --resume``, the daily
schedule) finishes it: it sends the same code again, so at most one code exists.
While Shopify stays unreachable a resumed redemption stays pending.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from memberkit.clock import utcnow
from memberkit.config import RewardDefinition
from memberkit.domain.events import REWARD_ISSUED
from memberkit.domain.redemption import (
    CODE_RANDOM_BYTES,
    IssuedCode,
    append_code,
    ends_at,
    expiry_date,
    make_code,
)
from memberkit.errors import MemberkitError
from memberkit.integrations.shopify import BasicDiscount, DiscountCreateResult
from memberkit.integrations.shopify.errors import ShopifyError
from memberkit.services.ledger.members import MemberRef, find_member
from memberkit.store.database import Database
from memberkit.store.ledger_book import NewEntry
from memberkit.store.models import Member, Redemption
from memberkit.store.unit_of_work import UnitOfWork

PushWallet = Callable[[str, str], None]
"""Writes a member's available codes (Shopify customer id, the list as JSON) to Shopify."""

CreateDiscount = Callable[[BasicDiscount], DiscountCreateResult]
"""Creates one code in Shopify (``integrations.shopify.discount_code_basic_create`` bound
to a client)."""

log = logging.getLogger(__name__)

NEW_CODE_TRIES = 5
RESUME_ACTOR = "system:redemption"


class RedemptionRefused(MemberkitError):
    """Shopify refused the code or could not be reached; the points were given back."""

    code = "redemption_refused"


class RedemptionConflict(MemberkitError):
    """The key was used by a redemption for another member or reward."""

    code = "idempotency_conflict"


class NoShopifyCustomer(MemberkitError):
    """The member has no Shopify customer id, so no customer-only code can be made."""

    code = "redemption_needs_customer"


@dataclass(frozen=True)
class RedemptionView:
    """A redemption as callers see it; ``balance`` is the member's balance afterwards."""

    id: int
    key: str
    member_id: int
    reward: str
    points_cost: int
    code: str
    value_type: str
    value: Decimal
    min_spend: Decimal | None
    expires_on: dt.date
    state: str
    error: str | None
    balance: int
    replayed: bool = False
    # True when the member's codes were written to the Shopify metafield at once,
    # False when that failed (the next push sends them), None when not asked.
    wallet_pushed: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (money as strings, dates ISO)."""
        data = dict(self.__dict__)
        data["value"] = str(self.value)
        data["min_spend"] = str(self.min_spend) if self.min_spend is not None else None
        data["expires_on"] = self.expires_on.isoformat()
        return data


def _view(row: Redemption, balance: int, *, replayed: bool = False) -> RedemptionView:
    return RedemptionView(
        id=row.id,
        key=row.key,
        member_id=row.member_id,
        reward=row.reward,
        points_cost=row.points_cost,
        code=row.code,
        value_type=row.value_type,
        value=row.value,
        min_spend=row.min_spend,
        expires_on=row.expires_on,
        state=row.state,
        error=row.error,
        balance=balance,
        replayed=replayed,
    )


@dataclass
class _Attempt:
    """What step 2 needs: the row's id and content, and whether its code was ever sent."""

    redemption_id: int
    key: str
    code: str
    shopify_id: str
    fresh: bool
    reward: str
    value_type: str
    value: Decimal
    min_spend: Decimal | None
    expires_on: dt.date


def redeem(
    db: Database,
    *,
    member: MemberRef,
    reward: RewardDefinition,
    key: str,
    create_discount: CreateDiscount,
    actor: str,
    zone: ZoneInfo,
    now: dt.datetime | None = None,
    entropy: Callable[[int], bytes] = secrets.token_bytes,
    push_wallet: PushWallet | None = None,
) -> RedemptionView:
    """Redeem ``reward`` for ``member`` once per ``key``; see the module docstring.

    With ``push_wallet`` the member's available codes are written to Shopify right
    after the redemption commits; a failure there is logged, not raised (the
    redemption is done; the next ``shopify push`` sends the codes).
    """
    moment = now or utcnow()
    attempt, replay = _reserve(
        db,
        member=member,
        reward=reward,
        key=key,
        actor=actor,
        zone=zone,
        now=moment,
        entropy=entropy,
    )
    if replay is not None:
        return replay
    assert attempt is not None
    outcome, detail = _create(db, attempt, create_discount, zone=zone, now=moment, entropy=entropy)
    if outcome == "created":
        view = _finish(db, attempt.redemption_id, detail, actor=actor, zone=zone, now=moment)
        return _pushed(db, view, push_wallet) if push_wallet is not None else view
    view = _give_back(db, attempt.redemption_id, detail or "", actor=actor, zone=zone, now=moment)
    raise RedemptionRefused(
        f"reward {reward.name!r} not redeemed: {view.error}; the {view.points_cost} points "
        f"were given back (balance {view.balance})",
        hint=f"try again later with the same key {key!r} (no second code is made)",
    )


def _pushed(db: Database, view: RedemptionView, push_wallet: PushWallet) -> RedemptionView:
    with db.read() as session:
        member = session.get(Member, view.member_id)
        assert member is not None and member.shopify_id is not None
        shopify_id, codes = member.shopify_id, member.codes_available
    try:
        push_wallet(shopify_id, codes)
    except MemberkitError as exc:
        log.warning("redemption %s: codes not written to Shopify yet: %s", view.id, exc.message)
        return dataclasses.replace(view, wallet_pushed=False)
    return dataclasses.replace(view, wallet_pushed=True)


def _reserve(
    db: Database,
    *,
    member: MemberRef,
    reward: RewardDefinition,
    key: str,
    actor: str,
    zone: ZoneInfo,
    now: dt.datetime,
    entropy: Callable[[int], bytes],
) -> tuple[_Attempt | None, RedemptionView | None]:
    with UnitOfWork.begin(db, actor=actor, zone=zone, now=now) as work:
        session = work.session
        found = find_member(session, member)
        if work.db.is_postgresql:
            session.execute(select(Member.id).where(Member.id == found.id).with_for_update())
        existing = session.scalars(select(Redemption).where(Redemption.key == key)).first()
        if existing is not None:
            if existing.member_id != found.id or existing.reward != reward.name:
                raise RedemptionConflict(
                    f"key {key!r} was already used by redemption {existing.id} "
                    f"({existing.reward!r} for member {existing.member_id})",
                    hint="use a new key for a new redemption, or repeat the original one",
                )
            if existing.state == "issued":
                return None, _view(existing, found.points_balance, replayed=True)
            if existing.state == "pending":
                return _attempt_of(existing, found, fresh=False), None
        if not found.shopify_id:
            raise NoShopifyCustomer(
                f"{found.label} has no Shopify customer id; a reward code is made for one "
                "Shopify customer",
                hint="import the customers export so the member has their Shopify id",
            )
        book = work.book
        book.load([found.id])
        state = book.members[found.id]
        # A refused redemption tried again deducts again (a new entry, after the refund).
        cycle = f":after:{existing.refund_entry_id}" if existing is not None else ""
        entry = book.debit(
            state,
            reward.points_cost,
            allow_negative=False,
            meta=NewEntry(
                source="redemption",
                source_ref=reward.name,
                public_note=f"{reward.points_cost} points for {reward.name}",
                key=f"redemption:{key}:deduct{cycle}",
            ),
        )
        work.flush()
        if existing is not None:
            existing.state = "pending"
            existing.deduct_entry_id = int(entry["id"])
            existing.refund_entry_id = None
            existing.error = None
            existing.updated_at = now
            session.flush()
            return _attempt_of(existing, found, fresh=False), None
        row = Redemption(
            key=key,
            member_id=found.id,
            reward=reward.name,
            points_cost=reward.points_cost,
            value_type=reward.value_type,
            value=reward.value,
            min_spend=reward.min_spend,
            expires_on=expiry_date(now, reward.validity_days, zone),
            code=_unused_code(work, reward.code_prefix, entropy),
            state="pending",
            deduct_entry_id=int(entry["id"]),
            created_at=now,
            updated_at=now,
            actor=actor,
        )
        session.add(row)
        session.flush()
        return _attempt_of(row, found, fresh=True), None


def _unused_code(work: UnitOfWork, prefix: str, entropy: Callable[[int], bytes]) -> str:
    """A new code no redemption of ours has used (Shopify checks its own codes later)."""
    for _ in range(NEW_CODE_TRIES):
        code = make_code(prefix, entropy(CODE_RANDOM_BYTES))
        if work.session.scalar(select(Redemption.id).where(Redemption.code == code)) is None:
            return code
    raise MemberkitError(f"could not draw an unused {prefix} code in {NEW_CODE_TRIES} tries")


def _attempt_of(row: Redemption, member: Member, *, fresh: bool) -> _Attempt:
    assert member.shopify_id is not None
    return _Attempt(
        row.id,
        row.key,
        row.code,
        member.shopify_id,
        fresh,
        row.reward,
        row.value_type,
        row.value,
        row.min_spend,
        row.expires_on,
    )


def _discount(attempt: _Attempt, *, zone: ZoneInfo, now: dt.datetime) -> BasicDiscount:
    percentage = attempt.value_type == "percentage"
    return BasicDiscount(
        code=attempt.code,
        title=f"{attempt.reward} (points redemption {attempt.key})"[:255],
        customer_ids=(attempt.shopify_id,),
        starts_at=now,
        ends_at=ends_at(attempt.expires_on, zone),
        amount=None if percentage else attempt.value,
        percentage=(attempt.value / 100) if percentage else None,
        usage_limit=1,
        minimum_subtotal=attempt.min_spend,
    )


def _create(
    db: Database,
    attempt: _Attempt,
    create_discount: CreateDiscount,
    *,
    zone: ZoneInfo,
    now: dt.datetime,
    entropy: Callable[[int], bytes],
) -> tuple[Literal["created", "refused", "unreachable"], str | None]:
    """Send the code: ("created", discount id), ("refused", why) or ("unreachable", why)."""
    for _ in range(NEW_CODE_TRIES):
        try:
            result = create_discount(_discount(attempt, zone=zone, now=now))
        except ShopifyError as exc:
            return "unreachable", f"Shopify could not be reached or refused the request: {exc}"
        if result.id is not None:
            return "created", result.id
        if result.code_taken and not attempt.fresh:
            # This code was sent before (a crash, a timeout): that attempt created it.
            return "created", None
        if result.code_taken:
            attempt.code = make_code(attempt.code.split("-")[0], entropy(CODE_RANDOM_BYTES))
            with db.write_session() as session, session.begin():
                session.execute(
                    update(Redemption)
                    .where(Redemption.id == attempt.redemption_id)
                    .values(code=attempt.code, updated_at=now)
                )
            continue
        reasons = "; ".join(str(e) for e in result.errors) or "no reason given"
        return "refused", f"Shopify refused the code: {reasons}"
    return "refused", f"Shopify refused {NEW_CODE_TRIES} new codes as taken"


def _finish(
    db: Database,
    redemption_id: int,
    discount_id: str | None,
    *,
    actor: str,
    zone: ZoneInfo,
    now: dt.datetime,
) -> RedemptionView:
    with UnitOfWork.begin(db, actor=actor, zone=zone, now=now) as work:
        session = work.session
        row = session.get(Redemption, redemption_id)
        assert row is not None
        member = session.get(Member, row.member_id)
        assert member is not None
        if work.db.is_postgresql:
            session.execute(select(Member.id).where(Member.id == member.id).with_for_update())
            session.refresh(member)
            session.refresh(row)
        if row.state == "issued":  # finished meanwhile by a concurrent retry or resume
            return _view(row, member.points_balance, replayed=True)
        issued = IssuedCode(row.code, row.value_type, row.value, row.min_spend, row.expires_on)
        available = json.loads(member.codes_available or "[]")
        member.codes_available = json.dumps(append_code(available, issued), ensure_ascii=False)
        member.updated_at = now
        row.state = "issued"
        row.shopify_discount_id = discount_id
        row.updated_at = now
        work.emit(
            REWARD_ISSUED,
            member.id,
            {
                "member": {"id": member.id, "email": member.email, "shopify_id": member.shopify_id},
                "redemption_id": row.id,
                "reward": row.reward,
                "points_cost": row.points_cost,
                "code": issued.wallet_entry(),
                "balance_after": member.points_balance,
            },
        )
        session.flush()
        return _view(row, member.points_balance)


def _give_back(
    db: Database, redemption_id: int, why: str, *, actor: str, zone: ZoneInfo, now: dt.datetime
) -> RedemptionView:
    with UnitOfWork.begin(db, actor=actor, zone=zone, now=now) as work:
        session = work.session
        row = session.get(Redemption, redemption_id)
        assert row is not None
        if row.state != "pending":  # finished meanwhile by a concurrent retry or resume
            owner = session.get(Member, row.member_id)
            return _view(row, owner.points_balance if owner else 0, replayed=True)
        book = work.book
        book.load([row.member_id], all_lots=False)
        state = book.members[row.member_id]
        entry = book.credit(
            state,
            row.points_cost,
            expires_on=None,
            meta=NewEntry(
                source="redemption",
                source_ref=row.reward,
                public_note=f"{row.points_cost} points given back: {row.reward} not issued",
                internal_note=why[:2000],
                key=f"redemption:{row.key}:refund:{row.deduct_entry_id}",
            ),
        )
        work.flush()
        row.state = "refused"
        row.refund_entry_id = int(entry["id"])
        row.error = why[:2000]
        row.updated_at = now
        session.flush()
        return _view(row, state.balance)


@dataclass(frozen=True)
class ResumeResult:
    """What ``resume_pending`` did."""

    issued: int
    refused: int
    still_pending: int


def resume_pending(
    db: Database,
    *,
    create_discount: CreateDiscount,
    zone: ZoneInfo,
    actor: str = RESUME_ACTOR,
    now: dt.datetime | None = None,
    older_than: dt.timedelta = dt.timedelta(0),
) -> ResumeResult:
    """Finish every pending redemption (older than ``older_than``): issue, give back, or wait."""
    moment = now or utcnow()
    with db.read() as session:
        rows = [
            (row, session.get(Member, row.member_id))
            for row in session.scalars(
                select(Redemption)
                .where(Redemption.state == "pending", Redemption.updated_at <= moment - older_than)
                .order_by(Redemption.id)
            )
        ]
        attempts = [_attempt_of(row, member, fresh=False) for row, member in rows if member]
    issued = refused = waiting = 0
    for attempt in attempts:
        outcome, detail = _create(
            db, attempt, create_discount, zone=zone, now=moment, entropy=secrets.token_bytes
        )
        if outcome == "created":
            _finish(db, attempt.redemption_id, detail, actor=actor, zone=zone, now=moment)
            issued += 1
        elif outcome == "refused":
            _give_back(db, attempt.redemption_id, detail or "", actor=actor, zone=zone, now=moment)
            refused += 1
        else:
            waiting += 1
    return ResumeResult(issued, refused, waiting)
