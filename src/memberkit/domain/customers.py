"""Who a customer row is: its Shopify customer id and its email, normalised.

Matrixify writes ids with a leading ``'`` so Excel keeps all digits; people type
emails with stray spaces and capitals. Emails compare trimmed and lower-cased.
"""

from __future__ import annotations


class CustomerIdError(ValueError):
    """An ID cell that is not a Shopify customer id."""


def customer_id(cell: str) -> str:
    """The numeric Shopify customer id in ``cell`` (a leading ``'`` and spaces removed)."""
    if cell.isdigit() and cell.isascii():
        return cell
    text = cell.strip().removeprefix("'").strip()
    if not text:
        raise CustomerIdError("is empty")
    if not (text.isascii() and text.isdigit()):
        raise CustomerIdError(f"{cell!r} is not a Shopify customer id (digits only)")
    return text
