"""The customers export (Matrixify or Shopify): which column holds what.

Required: the customer id (``ID``, or Shopify's ``Customer ID``), ``Email`` and
the available-codes metafield. Optional: the used and expired metafields (a
missing one reads as empty lists), the account state and member-since columns
(names from ``fields.*``). Every other column is ignored, but kept in rejects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memberkit.config import CodesSettings, FieldsSettings
from memberkit.errors import InputFileError
from memberkit.files.headers import describe_columns, find_column, find_metafield

SETTING = "input.customers_csv"


@dataclass(frozen=True, slots=True)
class CustomersLayout:
    """Column indexes in a customers export header (``None`` = column absent)."""

    id: int
    email: int
    available: int
    used: int | None
    expired: int | None
    account_state: int | None
    member_since: int | None
    header: tuple[str, ...]

    def name(self, index: int) -> str:
        """A column's header as written (trimmed), for messages."""
        return self.header[index].strip()


def customers_layout(
    header: Sequence[str], codes: CodesSettings, fields: FieldsSettings, *, path: str
) -> CustomersLayout:
    """Locate the columns; raise ``InputFileError`` naming the missing ones and those found."""
    id_col = find_column(header, "ID", "Customer ID")
    email_col = find_column(header, "Email", "Customer Email")
    available = find_metafield(header, codes.namespace, codes.available_key)
    missing = []
    if id_col is None:
        missing.append("ID")
    if email_col is None:
        missing.append("Email")
    if available is None:
        missing.append(f"Metafield: {codes.namespace}.{codes.available_key}")
    if id_col is None or email_col is None or available is None:
        raise InputFileError(
            f"{SETTING} {path}: missing column(s) {', '.join(missing)}; {describe_columns(header)}",
            hint="export customers with Matrixify (or Shopify) including the code metafields, "
            "or check codes.namespace / codes.available_key",
        )
    return CustomersLayout(
        id=id_col,
        email=email_col,
        available=available,
        used=find_metafield(header, codes.namespace, codes.used_key),
        expired=find_metafield(header, codes.namespace, codes.expired_key),
        account_state=find_column(header, fields.account_state_column),
        member_since=find_column(header, fields.member_since_column),
        header=tuple(header),
    )
