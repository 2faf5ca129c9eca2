"""The row rules of each import kind, word for word (pure: no files, no database)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memberkit.domain.imports import (
    DUPLICATE_EMAIL,
    INCOMPLETE,
    INVALID_EMAIL,
    FileProblem,
    ImportRow,
    map_columns,
    row_checker,
)

TODAY = dt.date(2026, 12, 2)


def check(kind: str, header: list[str], cells: list[str], **kw: object) -> ImportRow | list[str]:
    return row_checker(map_columns(kind, header), today=TODAY, **kw)(2, cells)  # type: ignore[arg-type]


ADD = ["Email", "Points", "Transaction Description"]


@pytest.mark.parametrize(
    "text", ["1,000", "50.5", "5e3", "+5", "٣", "0", "-5", "2147483648", " ", "x"]
)
def test_points_to_add_must_be_a_positive_integer(text: str) -> None:
    outcome = check("points-add", ADD, ["a@example.com", text, ""])
    assert isinstance(outcome, list)
    if text.strip():
        assert outcome[0].startswith("Points to add must be")
    else:
        assert outcome == [INCOMPLETE]


def test_over_two_to_the_31_is_refused_and_just_below_is_taken() -> None:
    assert check("points-add", ADD, ["a@example.com", "2147483648", ""]) == [
        "Points to add must be at most 2,147,483,647"
    ]
    row = check("points-add", ADD, ["a@example.com", "2147483647", ""])
    assert isinstance(row, ImportRow) and row.points == 2**31 - 1


def test_deduct_words_its_own_column() -> None:
    assert check("points-deduct", ADD, ["a@example.com", "-3", ""]) == [
        "Points to deduct must be a positive integer"
    ]


def test_invalid_email_and_incomplete_entry() -> None:
    assert check("points-add", ADD, ["not-an-email", "5", ""]) == [INVALID_EMAIL]
    assert check("points-add", ADD, ["", "5", ""]) == [INCOMPLETE]
    assert check("points-add", ADD, ["", "", ""]) == [INCOMPLETE]


def test_description_length_is_the_setting() -> None:
    assert check(
        "points-add", ADD, ["a@example.com", "5", "x" * 11], description_max_length=10
    ) == ["Transaction Description is longer than 10 characters"]
    assert isinstance(
        check("points-add", ADD, ["a@example.com", "5", "x" * 10], description_max_length=10),
        ImportRow,
    )


def test_headers_match_ignoring_case_spaces_and_underscores_with_aliases() -> None:
    columns = map_columns("points-add", ["EMAIL_ADDRESS", " points to add ", "extra"])
    assert (columns.email, columns.points) == (0, 1)
    columns = map_columns("points-deduct", ["customer_id", "Points To Deduct"])
    assert (columns.customer_id, columns.points) == (0, 1)


def test_customer_id_accepted_for_every_kind_with_leading_quote_ignored() -> None:
    row = check("points-add", ["Customer ID", "Points"], ["'6601234567890", "5"])
    assert isinstance(row, ImportRow) and row.customer_id == "6601234567890"


def test_missing_required_column_names_found_and_wanted() -> None:
    with pytest.raises(FileProblem) as caught:
        map_columns("tiers", ["Email", "Points", "Transaction Description"])
    text = str(caught.value)
    assert "Tier Name" in text and "'Email', 'Points'" in text and "points-add" in text


def test_adjust_expiry_must_be_blank_when_deducting() -> None:
    header = ["Customer ID", "Points", "Points Expiry Date"]
    assert check("points-adjust", header, ["1", "-5", "2027-01-01"]) == [
        "Points Expiry Date must be blank when deducting points"
    ]
    assert check("points-adjust", header, ["1", "0", ""]) == [
        "Points must be a non-zero whole number (negative deducts)"
    ]
    assert check("points-adjust", header, ["1", "5", "2027-02-30"]) == [
        "Points Expiry Date must be a real date written yyyy-mm-dd"
    ]
    row = check("points-adjust", header, ["1", "5", "2027-02-28"])
    assert isinstance(row, ImportRow) and row.expires_on == dt.date(2027, 2, 28)


def test_set_takes_zero_and_refuses_negative() -> None:
    header = ["Customer ID", "Points"]
    assert isinstance(check("points-set", header, ["1", "0"]), ImportRow)
    assert check("points-set", header, ["1", "-1"]) == [
        "Points must be a whole number of 0 or more (the new balance)"
    ]


def test_tier_must_exist_ignoring_case() -> None:
    header = ["Customer ID", "Tier Name"]
    row = check("tiers", header, ["1", "gOLD"], tiers=["Silver", "Gold"])
    assert isinstance(row, ImportRow) and row.tier == "Gold"
    assert check("tiers", header, ["1", "Platinum"], tiers=["Gold"]) == [
        "Unknown tier 'Platinum' (tiers: Gold)"
    ]


def test_profile_birthday_and_gender_rules() -> None:
    header = ["Customer ID", "Birthday", "Gender"]
    row = check("profiles", header, ["1", "1990-05-17", "WOMAN"])
    assert isinstance(row, ImportRow) and row.gender == "woman"
    assert check("profiles", header, ["1", "2030-01-01", ""]) == [
        "Birthday must be in the past and after 1900"
    ]
    assert check("profiles", header, ["1", "1899-12-31", ""]) == [
        "Birthday must be in the past and after 1900"
    ]
    assert check("profiles", header, ["1", "17/05/1990", "other"]) == [
        "Birthday must be a real date written yyyy-mm-dd",
        "Gender must be one of man, woman, transgender, preferNoResponse",
    ]
    blank_birthday = check("profiles", header, ["1", "", "preferNoResponse"])
    assert isinstance(blank_birthday, ImportRow) and blank_birthday.birthday is None


def test_duplicate_reason_is_worded_per_column() -> None:
    assert DUPLICATE_EMAIL == "Contains multiple rows with the same email address"


@given(st.integers(min_value=1, max_value=2**31 - 1))
def test_any_plain_positive_number_is_taken_as_written(value: int) -> None:
    row = check("points-add", ADD, ["a@example.com", str(value), ""])
    assert isinstance(row, ImportRow) and row.points == value


@given(st.text(max_size=12))
def test_points_cell_is_a_number_or_a_reason_never_an_exception(text: str) -> None:
    outcome = check("points-add", ADD, ["a@example.com", text, ""])
    if isinstance(outcome, ImportRow):
        stripped = text.strip()
        assert stripped.isascii() and stripped.isdigit()
        assert outcome.points == int(stripped) > 0
