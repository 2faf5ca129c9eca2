"""The Admin GraphQL operations memberkit uses, as typed functions over ``ShopifyClient``.

Each function sends one query or mutation and turns the answer into values:
``UserError`` for each record Shopify refused (with ``element_index`` when
Shopify names the input that failed), never an exception for a per-record
problem. Ids are Shopify global ids (``gid://shopify/Customer/123``);
``customer_gid`` converts the numeric ids memberkit stores.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from memberkit.integrations.shopify.client import ShopifyClient
from memberkit.integrations.shopify.errors import ShopifyRequestError

#: Shopify's limit of metafields in one ``metafieldsSet`` call.
METAFIELDS_PER_CALL = 25


def customer_gid(shopify_id: str) -> str:
    """``gid://shopify/Customer/N`` for a numeric id (a gid is returned unchanged)."""
    text = str(shopify_id).strip()
    return text if text.startswith("gid://") else f"gid://shopify/Customer/{text}"


@dataclass(frozen=True)
class UserError:
    """One refusal in a mutation's ``userErrors``."""

    message: str
    field: tuple[str, ...] = ()
    code: str | None = None
    element_index: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UserError:
        index = data.get("elementIndex")
        field: list[Any] = list(data.get("field") or [])
        if index is None and len(field) >= 2 and str(field[1]).isdigit():
            index = int(field[1])
        return cls(
            message=str(data.get("message") or ""),
            field=tuple(str(f) for f in field),
            code=data.get("code"),
            element_index=index,
        )

    def __str__(self) -> str:
        where = ".".join(self.field)
        code = f" [{self.code}]" if self.code else ""
        return f"{where}: {self.message}{code}" if where else f"{self.message}{code}"


def user_errors(payload: dict[str, Any] | None) -> list[UserError]:
    """The ``userErrors`` of a mutation payload as values."""
    if not payload:
        return []
    return [UserError.from_json(e) for e in payload.get("userErrors") or [] if isinstance(e, dict)]


@dataclass(frozen=True)
class MetafieldInput:
    """One metafield to write on an owner (``MetafieldsSetInput``)."""

    owner_id: str
    namespace: str
    key: str
    value: str
    type: str

    def to_json(self) -> dict[str, str]:
        return {
            "ownerId": self.owner_id,
            "namespace": self.namespace,
            "key": self.key,
            "value": self.value,
            "type": self.type,
        }


@dataclass(frozen=True)
class MetafieldsSetResult:
    """What one ``metafieldsSet`` call wrote, or why it wrote nothing (it is atomic)."""

    written: int
    errors: list[UserError]


METAFIELDS_SET = """
mutation MetafieldsSet($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { key namespace }
    userErrors { field message code elementIndex }
  }
}
"""


def metafields_set(
    client: ShopifyClient, metafields: Sequence[MetafieldInput]
) -> MetafieldsSetResult:
    """Write up to 25 metafields in one call (Shopify refuses more)."""
    if not 0 < len(metafields) <= METAFIELDS_PER_CALL:
        raise ValueError(f"metafieldsSet takes 1 to {METAFIELDS_PER_CALL} metafields")
    data = client.execute(
        METAFIELDS_SET, {"metafields": [m.to_json() for m in metafields]}, what="metafieldsSet"
    )
    payload = data.get("metafieldsSet") or {}
    return MetafieldsSetResult(len(payload.get("metafields") or []), user_errors(payload))


@dataclass(frozen=True)
class Customer:
    """A customer with the metafields asked for (``namespace.key`` -> value)."""

    id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    metafields: dict[str, str]


CUSTOMER = """
query Customer($id: ID!, $namespace: String) {
  customer(id: $id) {
    id email firstName lastName
    metafields(first: 20, namespace: $namespace) { nodes { namespace key value } }
  }
}
"""


def get_customer(
    client: ShopifyClient, shopify_id: str, *, namespace: str | None = None
) -> Customer | None:
    """The customer (and up to 20 of its metafields in ``namespace``); None when unknown."""
    data = client.execute(
        CUSTOMER, {"id": customer_gid(shopify_id), "namespace": namespace}, what="customer"
    )
    found = data.get("customer")
    if not found:
        return None
    nodes = (found.get("metafields") or {}).get("nodes") or []
    return Customer(
        id=found["id"],
        email=found.get("email"),
        first_name=found.get("firstName"),
        last_name=found.get("lastName"),
        metafields={f"{m['namespace']}.{m['key']}": m["value"] for m in nodes},
    )


FLOW_TRIGGER_RECEIVE = """
mutation FlowTriggerReceive($handle: String, $payload: JSON) {
  flowTriggerReceive(handle: $handle, payload: $payload) { userErrors { field message } }
}
"""


def flow_trigger_receive(
    client: ShopifyClient, handle: str, payload: dict[str, Any]
) -> list[UserError]:
    """Start the Flow trigger ``handle`` with ``payload``; its userErrors (empty: accepted)."""
    data = client.execute(
        FLOW_TRIGGER_RECEIVE, {"handle": handle, "payload": payload}, what="flowTriggerReceive"
    )
    return user_errors(data.get("flowTriggerReceive"))


@dataclass(frozen=True)
class BasicDiscount:
    """A customer-specific, single-use discount code (``discountCodeBasicCreate``)."""

    code: str
    title: str
    customer_ids: tuple[str, ...]
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    amount: Decimal | None = None  # a fixed amount off the order, in the store's currency
    percentage: Decimal | None = None  # 0..1
    usage_limit: int = 1
    minimum_subtotal: Decimal | None = None

    def to_json(self) -> dict[str, Any]:
        if (self.amount is None) == (self.percentage is None):
            raise ValueError("a discount has either an amount or a percentage")
        value: dict[str, Any] = (
            {"discountAmount": {"amount": str(self.amount), "appliesOnEachItem": False}}
            if self.amount is not None
            # GraphQL Float: the decimal text is exact for the two-digit shares we use.
            else {"percentage": float(str(self.percentage))}
        )
        body: dict[str, Any] = {
            "title": self.title,
            "code": self.code,
            "startsAt": self.starts_at.isoformat(),
            "endsAt": self.ends_at.isoformat() if self.ends_at else None,
            "usageLimit": self.usage_limit,
            "appliesOncePerCustomer": True,
            "context": {"customers": {"add": [customer_gid(c) for c in self.customer_ids]}},
            "customerGets": {"value": value, "items": {"all": True}},
        }
        if self.minimum_subtotal is not None:
            body["minimumRequirement"] = {
                "subtotal": {"greaterThanOrEqualToSubtotal": str(self.minimum_subtotal)}
            }
        return body


@dataclass(frozen=True)
class DiscountCreateResult:
    """The new discount's node id, or the reasons it was refused."""

    id: str | None
    errors: list[UserError]

    @property
    def code_taken(self) -> bool:
        """Shopify refused the code as not unique (try another code)."""
        return any(e.code == "TAKEN" and e.field[-1:] == ("code",) for e in self.errors)


DISCOUNT_CODE_BASIC_CREATE = """
mutation DiscountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field message code }
  }
}
"""


def discount_code_basic_create(
    client: ShopifyClient, discount: BasicDiscount
) -> DiscountCreateResult:
    """Create a basic code discount; a taken code is a userError (``code_taken``)."""
    data = client.execute(
        DISCOUNT_CODE_BASIC_CREATE,
        {"basicCodeDiscount": discount.to_json()},
        what="discountCodeBasicCreate",
    )
    payload = data.get("discountCodeBasicCreate") or {}
    node = payload.get("codeDiscountNode") or {}
    return DiscountCreateResult(node.get("id"), user_errors(payload))


SHOP = "query Shop { shop { name myshopifyDomain currencyCode } }"


def shop_currency(client: ShopifyClient) -> str:
    """The store's currency code (``shop.currencyCode``)."""
    data = client.execute(SHOP, what="shop")
    shop = data.get("shop")
    if not isinstance(shop, dict):
        raise ShopifyRequestError("Shopify sent no shop")
    return str(shop["currencyCode"])


def jsonl(lines: Sequence[dict[str, Any]]) -> bytes:
    """Variables for a bulk mutation, one JSON object a line."""
    return b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines)
