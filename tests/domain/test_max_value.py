"""Max-value properties: CSV text, parsing, and the typed comparison against Klaviyo."""

from __future__ import annotations

from decimal import Decimal

import pytest

from memberkit.domain.max_value import (
    CSV_COLUMNS,
    MaxValueRow,
    PropertyParseError,
    changed_properties,
    row_from_cells,
)


def make_row(**overrides: object) -> MaxValueRow:
    values: dict[str, object] = {
        "email": "ann@example.com",
        "has_dividends": True,
        "discount_code": "DIV-1",
        "discount_value": Decimal("10"),
        "min_spend": Decimal("50.00"),
        "multiple_codes": False,
        "number_of_codes": 1,
        "balance": Decimal("10.00"),
        "account_state": "enabled",
        "member_since": "2021-03-04",
    }
    values.update(overrides)
    return MaxValueRow(**values)  # type: ignore[arg-type]


def test_csv_cells_use_two_decimals_and_lowercase_booleans() -> None:
    assert make_row().csv_cells() == [
        "ann@example.com",
        "true",
        "DIV-1",
        "10.00",
        "50.00",
        "false",
        "1",
        "10.00",
        "enabled",
        "2021-03-04",
    ]


def test_csv_round_trip() -> None:
    row = make_row()
    assert row_from_cells(dict(zip(CSV_COLUMNS, row.csv_cells(), strict=True))) == row


def test_bad_cell_names_the_property() -> None:
    cells = dict(zip(CSV_COLUMNS, make_row().csv_cells(), strict=True))
    cells["number_of_codes"] = "two"
    with pytest.raises(PropertyParseError, match="number_of_codes"):
        row_from_cells(cells)


@pytest.mark.parametrize("theirs", ["10.00", 10, Decimal("10.0"), 10.0, "10"])
def test_money_compares_by_amount_not_spelling(theirs: object) -> None:
    props = make_row().properties() | {"discount_value": theirs}
    assert changed_properties(make_row(), props) == []


@pytest.mark.parametrize("theirs", ["true", "TRUE", True])
def test_boolean_true_and_text_true_are_equal(theirs: object) -> None:
    props = make_row().properties() | {"has_dividends": theirs}
    assert changed_properties(make_row(), props) == []


@pytest.mark.parametrize(
    ("name", "theirs"),
    [
        ("has_dividends", 1),
        ("number_of_codes", "1.5"),
        ("discount_code", "div-1"),
        ("balance", "ten"),
        ("number_of_codes", True),
    ],
)
def test_different_values_are_changes(name: str, theirs: object) -> None:
    props = make_row().properties() | {name: theirs}
    assert changed_properties(make_row(), props) == [name]


def test_missing_property_equals_only_empty_text() -> None:
    row = make_row(account_state="", member_since="")
    props = row.properties()
    del props["account_state"]
    del props["MBR_date_created"]
    del props["balance"]
    assert changed_properties(row, props) == ["balance"]
