"""What can go wrong talking to Shopify's Admin GraphQL API, as errors a person can act on.

The hierarchy::

    MemberkitError (memberkit.errors)
    └── ShopifyError                 exit 1: anything from the Shopify Admin API
        ├── ShopifyAuthError         401/403: the access token is wrong or lacks a scope
        ├── ShopifyRequestError      Shopify refused the query (GraphQL errors, other 4xx)
        ├── ShopifyUnavailableError  throttled, 5xx, timeouts, dropped connections after every retry
        └── ShopifyBulkError         a bulk operation failed, or its upload did

Per-record problems are not exceptions: mutations return their ``userErrors``
as ``UserError`` values (``operations.py``) so a batch reports each record.
The access token never appears in any message: every text is redacted.
"""

from __future__ import annotations

from typing import Any

from memberkit.errors import MemberkitError
from memberkit.secrets import redact, redact_data


class ShopifyError(MemberkitError):
    """A Shopify Admin API call failed."""

    code = "shopify_failed"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(redact(message), hint=None if hint is None else redact(hint))


class ShopifyAuthError(ShopifyError):
    """The access token was refused (401) or lacks the scope the call needs (403)."""

    code = "shopify_auth"


class ShopifyRequestError(ShopifyError):
    """Shopify answered with top-level GraphQL ``errors`` or a 4xx; ``errors`` keeps them."""

    code = "shopify_refused"

    def __init__(
        self,
        message: str,
        *,
        status: int = 200,
        errors: list[dict[str, Any]] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.errors: list[dict[str, Any]] = redact_data(errors or [])


class ShopifyUnavailableError(ShopifyError):
    """Shopify kept throttling or failing (5xx, timeouts, dropped connections) after every retry."""

    code = "shopify_unavailable"


class ShopifyBulkError(ShopifyError):
    """A bulk operation ended FAILED/CANCELED/EXPIRED, timed out, or its upload failed."""

    code = "shopify_bulk_failed"


def describe_errors(errors: Any) -> str:
    """One line from a GraphQL ``errors`` value (a list of objects, or Shopify's plain string)."""
    if isinstance(errors, str):
        return redact(errors)
    if isinstance(errors, dict):
        return redact("; ".join(f"{k}: {v}" for k, v in errors.items()))
    parts = []
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        text = str(error.get("message") or "")
        code = (error.get("extensions") or {}).get("code")
        if code and code not in text:
            text = f"{code}: {text}"
        parts.append(text)
    return redact("; ".join(p for p in parts if p))
