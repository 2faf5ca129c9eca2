"""``memberkit members ...``: add a member by hand, show one, move one between tiers."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from memberkit.cli.common import ConfigOption, JsonOption, cli_actor, print_json, stdout
from memberkit.cli.db import open_store
from memberkit.domain.emails import email_problem
from memberkit.errors import InvalidValueError
from memberkit.services.ledger import members as member_service
from memberkit.services.ledger import tiers as tier_service

app = typer.Typer(help="Members.", no_args_is_help=True)

MemberArg = Annotated[str, typer.Argument(help="Email (any case) or Shopify customer id.")]


@app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The member's email address.")],
    shopify_id: Annotated[
        str | None,
        typer.Option("--shopify-id", metavar="N", help="Shopify customer id, if known."),
    ] = None,
    first_name: Annotated[str | None, typer.Option("--first-name", help="First name.")] = None,
    last_name: Annotated[str | None, typer.Option("--last-name", help="Last name.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a member who is not in a customers export yet (a later import updates them)."""
    address = email.strip()
    # The same email rule as the readers' (domain.emails), so a hand-added member
    # would also pass a customers import.
    problem = email_problem(address)
    if problem is not None:
        raise InvalidValueError(f"EMAIL must be an email address ({problem}), got {email!r}")
    shopify = shopify_id.strip() if shopify_id is not None else None
    if shopify is not None and not (shopify.isascii() and shopify.isdigit()):
        raise InvalidValueError(f"--shopify-id must be digits, got {shopify_id!r}")
    _, db = open_store(config)
    member_id = member_service.create_member(
        db,
        email=address,
        shopify_id=shopify,
        first_name=(first_name or "").strip() or None,
        last_name=(last_name or "").strip() or None,
        actor=cli_actor(),
    )
    view = member_service.show_member(db, member=member_id)
    if as_json:
        print_json(view.to_json())
        return
    name = " ".join(p for p in (view.first_name, view.last_name) if p) or "(no name)"
    stdout.print(f"added member {view.id}: {name} <{view.email}>")


@app.command("show")
def show(member: MemberArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """A member's profile, tier, points and reward-code wallet."""
    settings, db = open_store(config)
    view = member_service.show_member(db, member=member)
    if as_json:
        print_json(view.to_json())
        return
    name = " ".join(p for p in (view.first_name, view.last_name) if p) or "(no name)"
    stdout.print(f"{name} <{view.email or 'no email'}>  member {view.id}", markup=False)
    stdout.print(f"Shopify id:   {view.shopify_id or '-'}", markup=False)
    stdout.print(f"state:        {view.account_state or '-'}", markup=False)
    stdout.print(f"member since: {view.member_since or '-'}", markup=False)
    stdout.print(f"tier:         {view.tier or '-'}", markup=False)
    stdout.print(f"birthday:     {view.birthday or '-'}", markup=False)
    stdout.print(f"gender:       {view.gender or '-'}", markup=False)
    debt = f" (owes {view.points_debt})" if view.points_debt else ""
    stdout.print(f"points:       {view.points_balance}{debt}", markup=False)
    for label, codes in view.wallet.items():
        shown = ", ".join(_code_text(code) for code in codes) or "-"
        stdout.print(f"codes {label + ':':<10} {shown}", markup=False)
    zone = settings.processing.zone
    for change in view.tier_history:
        stdout.print(
            f"  {change.changed_at.astimezone(zone):%Y-%m-%d %H:%M} "
            f"{change.from_tier or '-'} -> {change.to_tier or '-'} "
            f"({change.reason}, by {change.changed_by})",
            markup=False,
        )


def _code_text(code: Any) -> str:
    """A wallet entry as text: a code object's ``code``, or the entry itself."""
    if isinstance(code, dict):
        return str(code.get("code", code))
    return str(code)


@app.command("set-tier")
def set_tier(
    member: MemberArg,
    tier: Annotated[str, typer.Argument(help="Tier name (any case).")],
    reason: Annotated[str, typer.Option(help="Why, for the tier history.")] = "set by hand",
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move a member to a tier, recorded in their tier history (with any entry reward)."""
    settings, db = open_store(config)
    move = tier_service.set_member_tier(
        db,
        member=member,
        tier=tier,
        zone=settings.processing.zone,
        reason=reason,
        actor=cli_actor(),
    )
    if as_json:
        print_json(move.to_json())
        return
    if not move.changed:
        stdout.print(f"already in tier {move.to_tier}; nothing changed")
        return
    reward = (
        f"; entry reward posted as entry {move.reward_entry_id}" if move.reward_entry_id else ""
    )
    stdout.print(f"moved from {move.from_tier or '-'} to {move.to_tier}{reward}")
