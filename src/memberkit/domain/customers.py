"""Who a customer row is: its Shopify customer id and its email, normalised.

Matrixify writes ids with a leading ``'`` so Excel keeps all digits; people type
emails with stray spaces and capitals. Emails compare trimmed and lower-cased.
A Shopify id is a positive 64-bit integer (at most 19 digits), which is also
what the database stores: a longer one is refused here, before anyone converts it.
"""

from __future__ import annotations

from memberkit.domain.echo import echo

MAX_ID_DIGITS = 19
MAX_ID = 2**63 - 1


class CustomerIdError(ValueError):
    """An ID cell that is not a Shopify customer id."""


def customer_id(cell: str) -> str:
    """The numeric Shopify customer id in ``cell`` (a leading ``'`` and spaces removed)."""
    if cell.isdigit() and cell.isascii() and len(cell) < MAX_ID_DIGITS:
        return cell
    text = cell.strip().removeprefix("'").strip()
    if not text:
        raise CustomerIdError("is empty")
    if not (text.isascii() and text.isdigit()):
        raise CustomerIdError(f"{echo(cell)} is not a Shopify customer id (digits only)")
    if len(text) > MAX_ID_DIGITS or int(text) > MAX_ID:
        raise CustomerIdError(
            f"{echo(cell)} is too large for a Shopify customer id (at most {MAX_ID_DIGITS} digits)"
        )
    return text
