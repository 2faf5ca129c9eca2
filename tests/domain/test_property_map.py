"""Issue 8.11: each store names its Klaviyo properties and chooses which are sent.

The defaults are the seed store's names and reproduce today's max-value file.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from memberkit.domain.max_value import (
    DEFAULT_PROPERTIES,
    FIELDS,
    MaxValueRow,
    PropertyMap,
    PropertyMapError,
    changed_properties,
    properties_from_cells,
    subset_properties,
)
from memberkit.domain.rewards import max_value_cells, max_value_row

ROW = MaxValueRow(
    email="ann@example.com",
    has_dividends=True,
    discount_code="DIV-1",
    discount_value=Decimal("10"),
    min_spend=Decimal("50"),
    multiple_codes=False,
    number_of_codes=1,
    balance=Decimal("10"),
    account_state="enabled",
    member_since="2021-03-04",
)


def test_the_defaults_are_todays_columns_in_todays_order() -> None:
    assert DEFAULT_PROPERTIES.columns == (
        "Email",
        "has_dividends",
        "discount_code",
        "discount_value",
        "min_spend",
        "multiple_codes",
        "number_of_codes",
        "balance",
        "account_state",
        "MBR_date_created",
    )
    assert PropertyMap.of({}) == DEFAULT_PROPERTIES


def test_renamed_and_left_out_properties() -> None:
    names = PropertyMap.of(
        {"has_dividends": "has_rewards", "member_since": "joined", "account_state": ""}
    )
    assert names.columns == (
        "Email",
        "has_rewards",
        "discount_code",
        "discount_value",
        "min_spend",
        "multiple_codes",
        "number_of_codes",
        "balance",
        "joined",
    )
    assert ROW.properties(names) == {
        "has_rewards": True,
        "discount_code": "DIV-1",
        "discount_value": Decimal("10.00"),
        "min_spend": Decimal("50.00"),
        "multiple_codes": False,
        "number_of_codes": 1,
        "balance": Decimal("10.00"),
        "joined": "2021-03-04",
    }
    assert ROW.csv_cells(names) == [
        "ann@example.com", "true", "DIV-1", "10.00", "50.00", "false", "1", "10.00", "2021-03-04",
    ]  # fmt: skip
    # The fast path picks the same cells.
    full = max_value_cells("ann@example.com", [], account_state="enabled", member_since="x")
    slow = max_value_row("ann@example.com", [], account_state="enabled", member_since="x")
    assert names.pick(full) == slow.csv_cells(names)


def test_only_the_sent_names_are_compared_and_cached() -> None:
    names = PropertyMap.of({"balance": "points_value", "account_state": ""})
    klaviyo = ROW.properties(names) | {"account_state": "disabled", "balance": "99"}
    # account_state is not sent, and "balance" is not our name for the balance any more.
    assert changed_properties(ROW, klaviyo, names) == []
    assert changed_properties(ROW, klaviyo | {"points_value": "9.99"}, names) == ["points_value"]
    assert "account_state" not in subset_properties(klaviyo, names)
    assert subset_properties(klaviyo, names)["points_value"] == Decimal("10.00")


def test_a_file_with_renamed_columns_reads_back_typed() -> None:
    names = PropertyMap.of({"number_of_codes": "codes", "discount_code": ""})
    cells = dict(zip(names.columns, ROW.csv_cells(names), strict=True))
    values = properties_from_cells(cells, names)
    assert values["codes"] == 1 and values["balance"] == Decimal("10.00")
    assert "discount_code" not in values


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ({"balance": "discount_code"}, "already the name of discount_code"),
        ({"balance": "Discount_Code"}, "already the name of discount_code"),
        ({"balance": "$email"}, "starts with '\\$'"),
        ({"balance": "email"}, "Email column"),
        ({"balance": " balance"}, "surrounding spaces"),
        ({"balnce": "x"}, "unknown max-value field 'balnce'"),
        (dict.fromkeys(FIELDS, ""), "no max-value property is sent"),
    ],
)
def test_an_unusable_mapping_is_refused(names: dict[str, str], message: str) -> None:
    with pytest.raises(PropertyMapError, match=message):
        PropertyMap.of(names)
