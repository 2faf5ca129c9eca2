"""``memberkit rewards redeem MEMBER REWARD [--key K] [--json]`` and ``rewards redeem --resume``.

Registered in the ``rewards`` group by ``cli.rewards`` (one line).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from memberkit.cli.common import ConfigOption, JsonOption, cli_actor, print_json, stdout
from memberkit.cli.db import open_store
from memberkit.config import Settings
from memberkit.errors import ConfigError, NotFoundError, UsageError
from memberkit.integrations.shopify import (
    TOKEN_VARIABLE,
    BasicDiscount,
    DiscountCreateResult,
    MetafieldInput,
    ShopifyClient,
    customer_gid,
    discount_code_basic_create,
    metafields_set,
)
from memberkit.integrations.shopify.errors import ShopifyRequestError
from memberkit.services.redemption import CreateDiscount, PushWallet, resume_pending
from memberkit.services.redemption import redeem as redeem_reward


@contextmanager
def shopify_client(settings: Settings) -> Iterator[ShopifyClient]:
    """A client for the store in ``[shopify]`` with ``SHOPIFY_ACCESS_TOKEN``."""
    shop = settings.shopify.shop
    if not shop:
        raise ConfigError(
            "shopify.shop is not set: redeeming creates the code in Shopify",
            hint="set shop = 'NAME.myshopify.com' in [shopify]",
            setting="shopify.shop",
        )
    token = settings.secret(TOKEN_VARIABLE)
    if token is None:
        raise ConfigError(
            f"{TOKEN_VARIABLE} is not set: redeeming creates the code in Shopify",
            hint=f"set {TOKEN_VARIABLE} in the environment or in {settings.secrets_file}",
        )
    with ShopifyClient(
        shop=shop,
        access_token=token,
        api_version=settings.shopify.api_version,
        base_url=settings.shopify.base_url,
        timeout_seconds=settings.shopify.timeout_seconds,
    ) as client:
        yield client


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
    definition = settings.rewards.find(reward)
    if definition is None:
        names = ", ".join(repr(r.name) for r in settings.rewards.catalogue) or "none defined"
        raise NotFoundError(
            f"no reward {reward!r} in the catalogue (rewards: {names})",
            hint="rewards are [[rewards.catalogue]] tables in the config file",
        )
    used_key = key or f"cli-{uuid.uuid4()}"
    with shopify_client(settings) as client:
        done = redeem_reward(
            db,
            member=member,
            reward=definition,
            key=used_key,
            create_discount=creator_for(client),
            actor=cli_actor(),
            zone=zone,
            push_wallet=wallet_pusher(client, settings),
        )
    if as_json:
        print_json(done.to_json())
        return
    again = " (replayed: this key was redeemed before)" if done.replayed else ""
    spend = f", min spend {done.min_spend}" if done.min_spend is not None else ""
    value = f"{done.value}%" if done.value_type == "percentage" else f"{done.value}"
    stdout.print(
        f"redeemed {definition.name!r}: code {done.code} ({value} off{spend}, expires "
        f"{done.expires_on}); {done.points_cost} points, balance {done.balance}; "
        f"key {done.key}{again}",
        markup=False,
    )


def wallet_pusher(client: ShopifyClient, settings: Settings) -> PushWallet:
    """Writes a member's available codes to the ``codes`` metafield with ``metafieldsSet``."""
    codes = settings.codes

    def push(shopify_id: str, available: str) -> None:
        result = metafields_set(
            client,
            [
                MetafieldInput(
                    customer_gid(shopify_id),
                    codes.namespace,
                    codes.available_key,
                    available,
                    codes.metafield_type or "json",
                )
            ],
        )
        if result.errors:
            raise ShopifyRequestError("; ".join(str(e) for e in result.errors))

    return push


def creator_for(client: ShopifyClient) -> CreateDiscount:
    """``discountCodeBasicCreate`` on ``client``, as the redemption service takes it."""

    def create(discount: BasicDiscount) -> DiscountCreateResult:
        return discount_code_basic_create(client, discount)

    return create
