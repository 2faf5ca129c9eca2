"""``memberkit rewards redeem MEMBER REWARD [--key K] [--json]`` and ``rewards redeem --resume``.

Registered in the ``rewards`` group by ``cli.rewards`` (one line).
"""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from memberkit.cli.common import ConfigOption, JsonOption, cli_actor, print_json, stdout
from memberkit.cli.db import open_store
from memberkit.errors import UsageError
from memberkit.services.redemption import resume_pending
from memberkit.services.redemption_client import (
    creator_for,
    redeem_from_catalogue,
    shopify_client,
)


def redeem(
    member: Annotated[
        str | None, typer.Argument(help="Email (any case) or Shopify customer id.")
    ] = None,
    reward: Annotated[
        str | None, typer.Argument(help="The reward's name in [[rewards.catalogue]].")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="Idempotency key: the same key never redeems twice (default: a new one, "
            "printed so a retry can reuse it).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Finish redemptions a crash left half-done, then exit."),
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Redeem points for a reward: a one-use Shopify code for the member, in their codes."""
    settings, db = open_store(config)
    zone = settings.processing.zone
    if resume:
        with shopify_client(settings) as client:
            result = resume_pending(db, create_discount=creator_for(client), zone=zone)
        if as_json:
            print_json(result.__dict__)
        else:
            stdout.print(
                f"resumed: {result.issued} issued, {result.refused} refused (points given "
                f"back), {result.still_pending} still pending (Shopify unreachable)"
            )
        return
    if member is None or reward is None:
        raise UsageError("give MEMBER and REWARD, or --resume")
    used_key = key or f"cli-{uuid.uuid4()}"
    done = redeem_from_catalogue(
        db, settings, member=member, reward=reward, key=used_key, actor=cli_actor()
    )
    if as_json:
        print_json(done.to_json())
        return
    again = " (replayed: this key was redeemed before)" if done.replayed else ""
    spend = f", min spend {done.min_spend}" if done.min_spend is not None else ""
    value = f"{done.value}%" if done.value_type == "percentage" else f"{done.value}"
    stdout.print(
        f"redeemed {done.reward!r}: code {done.code} ({value} off{spend}, expires "
        f"{done.expires_on}); {done.points_cost} points, balance {done.balance}; "
        f"key {done.key}{again}",
        markup=False,
    )
