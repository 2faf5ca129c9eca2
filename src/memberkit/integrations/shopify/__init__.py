"""The Shopify Admin GraphQL client: throttled calls, typed operations, bulk mutations.

Public surface::

    ShopifyClient, RetryPolicy, GraphQLResponse  client.py      token, version, retries
    CostThrottle, ThrottleStatus                 throttle.py    the cost bucket Shopify reports
    metafields_set, MetafieldInput, get_customer,
    flow_trigger_receive, discount_code_basic_create,
    BasicDiscount, UserError, customer_gid       operations.py  typed queries and mutations
    run_bulk_mutation, BulkReport, BulkLineResult bulk.py       staged upload, polling, results
    ShopifyError and subclasses                  errors.py
"""

from memberkit.integrations.shopify.bulk import BulkLineResult, BulkReport, run_bulk_mutation
from memberkit.integrations.shopify.client import (
    DEFAULT_API_VERSION,
    TOKEN_VARIABLE,
    GraphQLResponse,
    RetryPolicy,
    ShopifyClient,
)
from memberkit.integrations.shopify.errors import (
    ShopifyAuthError,
    ShopifyBulkError,
    ShopifyError,
    ShopifyRequestError,
    ShopifyUnavailableError,
)
from memberkit.integrations.shopify.operations import (
    METAFIELDS_PER_CALL,
    BasicDiscount,
    Customer,
    DiscountCreateResult,
    MetafieldInput,
    MetafieldsSetResult,
    UserError,
    customer_gid,
    discount_code_basic_create,
    flow_trigger_receive,
    get_customer,
    metafields_set,
    shop_currency,
)
from memberkit.integrations.shopify.throttle import CostThrottle, ThrottleStatus

__all__ = [
    "DEFAULT_API_VERSION",
    "METAFIELDS_PER_CALL",
    "TOKEN_VARIABLE",
    "BasicDiscount",
    "BulkLineResult",
    "BulkReport",
    "CostThrottle",
    "Customer",
    "DiscountCreateResult",
    "GraphQLResponse",
    "MetafieldInput",
    "MetafieldsSetResult",
    "RetryPolicy",
    "ShopifyAuthError",
    "ShopifyBulkError",
    "ShopifyClient",
    "ShopifyError",
    "ShopifyRequestError",
    "ShopifyUnavailableError",
    "ThrottleStatus",
    "UserError",
    "customer_gid",
    "discount_code_basic_create",
    "flow_trigger_receive",
    "get_customer",
    "metafields_set",
    "run_bulk_mutation",
    "shop_currency",
]
