"""The customers export (Matrixify or Shopify): which column holds what.

Required: the customer id (``ID``, or Shopify's ``Customer ID``) and ``Email``;
the rewards update also requires the available-codes metafield
(``require_codes``), while ``customers import`` accepts any customers export
(Shopify's own has no code metafields: the code lists are then None, "not in
this file", so a stored wallet is left as it is). Optional: the used and
expired metafields (a missing one reads as empty lists in the update), the
account state and member-since columns (names from ``fields.*``), and the
profile columns ``First Name``, ``Last Name``, ``Birthday``, ``Gender``,
``Tags``, ``Accepts Email Marketing``, ``Total Spent`` and ``Orders Count``.
Every other column is ignored, but kept in rejects. A column we read that
appears twice refuses the file (``files.headers``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memberkit.config import CodesSettings, FieldsSettings
from memberkit.errors import InputFileError
from memberkit.files.headers import (
    RepeatedColumnError,
    describe_columns,
    find_column,
    find_metafield,
)

SETTING = "input.customers_csv"


@dataclass(frozen=True, slots=True)
class CustomersLayout:
    """Column indexes in a customers export header (``None`` = column absent)."""

    id: int
    email: int
    available: int | None
    used: int | None
    expired: int | None
    account_state: int | None
    member_since: int | None
    header: tuple[str, ...]
    first_name: int | None = None
    last_name: int | None = None
    birthday: int | None = None
    gender: int | None = None
    tags: int | None = None
    accepts_email_marketing: int | None = None
    total_spent: int | None = None
    orders_count: int | None = None

    def name(self, index: int | None) -> str:
        """A column's header as written (trimmed), for messages."""
        return self.header[index].strip() if index is not None else "code metafield"


def customers_layout(
    header: Sequence[str],
    codes: CodesSettings,
    fields: FieldsSettings,
    *,
    path: str,
    setting: str = SETTING,
    require_codes: bool = True,
) -> CustomersLayout:
    """Locate the columns; raise ``InputFileError`` naming the missing ones and those found.

    ``setting`` names the file in messages: a config key, or a command's argument.
    """
    repeated: list[str] = []

    def column(*names: str) -> int | None:
        try:
            return find_column(header, *names)
        except RepeatedColumnError as exc:
            repeated.append(str(exc))
            return None

    def metafield(key: str) -> int | None:
        try:
            return find_metafield(header, codes.namespace, key)
        except RepeatedColumnError as exc:
            repeated.append(str(exc))
            return None

    id_col = column("ID", "Customer ID")
    email_col = column("Email", "Customer Email")
    available = metafield(codes.available_key)
    layout_rest = {
        "used": metafield(codes.used_key),
        "expired": metafield(codes.expired_key),
        "account_state": column(fields.account_state_column),
        "member_since": column(fields.member_since_column),
        "first_name": column("First Name"),
        "last_name": column("Last Name"),
        "birthday": column("Birthday", "Date of Birth"),
        "gender": column("Gender"),
        "tags": column("Tags"),
        "accepts_email_marketing": column("Accepts Email Marketing", "Accepts Marketing"),
        "total_spent": column("Total Spent"),
        "orders_count": column("Orders Count", "Total Orders"),
    }
    if repeated:
        raise InputFileError(
            f"{setting} {path}: a column appears more than once: {'; '.join(repeated)}",
            hint="export the file again, or delete or rename the extra column",
        )
    missing = []
    if id_col is None:
        missing.append("ID")
    if email_col is None:
        missing.append("Email")
    if available is None and require_codes:
        missing.append(f"Metafield: {codes.namespace}.{codes.available_key}")
    if id_col is None or email_col is None or missing:
        hint = (
            "export customers with Matrixify (or Shopify) including the code metafields, "
            "or check codes.namespace / codes.available_key"
            if require_codes
            else "export customers from Shopify or Matrixify; the file needs ID and Email columns"
        )
        raise InputFileError(
            f"{setting} {path}: missing column(s) {', '.join(missing)}; {describe_columns(header)}",
            hint=hint,
        )
    return CustomersLayout(
        id=id_col, email=email_col, available=available, header=tuple(header), **layout_rest
    )
