"""The Shopify side of a redemption, built from the settings: the client, the code, the wallet.

Shared by ``rewards redeem``, the daily schedule and the web API, so each
creates codes and writes wallets the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from memberkit.config import RewardDefinition, Settings
from memberkit.errors import ConfigError, NotFoundError
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
from memberkit.services.ledger.members import MemberRef
from memberkit.services.program_settings import effective_settings
from memberkit.services.redemption import CreateDiscount, PushWallet, RedemptionView, redeem
from memberkit.store.database import Database


def catalogue_reward(settings: Settings, name: str) -> RewardDefinition:
    """The catalogue's reward called ``name`` (any case); ``NotFoundError`` listing the rewards."""
    definition = settings.rewards.find(name)
    if definition is None:
        names = ", ".join(repr(r.name) for r in settings.rewards.catalogue) or "none defined"
        raise NotFoundError(
            f"no reward {name!r} in the catalogue (rewards: {names})",
            hint="rewards are [[rewards.catalogue]] tables in the config file",
        )
    return definition


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


def redeem_from_catalogue(
    db: Database, settings: Settings, *, member: MemberRef, reward: str, key: str, actor: str
) -> RedemptionView:
    """Redeem the catalogue's ``reward`` for ``member`` against the configured store.

    What ``rewards redeem``, the member page and ``POST /api/v1/members/{id}/redemptions``
    do: the code is created in Shopify, the points deducted, the code added to the
    member's wallet and written to the metafield, once per ``key``.
    """
    # The catalogue saved in the web admin wins over the config file's.
    definition = catalogue_reward(effective_settings(db, settings), reward)
    with shopify_client(settings) as client:
        return redeem(
            db,
            member=member,
            reward=definition,
            key=key,
            create_discount=creator_for(client),
            actor=actor,
            zone=settings.processing.zone,
            push_wallet=wallet_pusher(client, settings),
        )
