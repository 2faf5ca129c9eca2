"""Reward code objects: what a valid code is, and writing codes back exactly as read."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memberkit.domain.codes import (
    CodeListError,
    CodeParser,
    CompactJson,
    _dump_with_decimals,
    dump_compact,
    parse_available_codes,
    parse_code_objects,
)
from memberkit.domain.money import parse_money

LONDON = ZoneInfo("Europe/London")


def codes_of(cell: str) -> list:  # type: ignore[type-arg]
    return parse_available_codes(parse_code_objects(cell), LONDON)


def test_blank_cell_is_an_empty_list() -> None:
    assert parse_code_objects("") == []
    assert parse_code_objects("   ") == []
    assert parse_code_objects("[]") == []


def test_a_code_object_is_read_with_typed_values() -> None:
    [code] = codes_of(
        '[{"code":"DIV-7KQ2-91XZ","value":"10.00","min_spend":"50.00","expires":"2027-03-31"}]'
    )
    assert code.code == "DIV-7KQ2-91XZ"
    assert code.key == "div-7kq2-91xz"
    assert code.value == Decimal("10.00")
    assert code.min_spend == Decimal("50.00")
    assert code.expires == dt.date(2027, 3, 31)


def test_money_may_be_a_string_or_a_number_and_is_never_a_float() -> None:
    values = codes_of(
        '[{"code":"A","value":10},{"code":"B","value":10.5},{"code":"C","value":" 7.25 "}]'
    )
    assert [c.value for c in values] == [Decimal(10), Decimal("10.5"), Decimal("7.25")]
    assert all(isinstance(c.value, Decimal) for c in values)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"-5.00"', "is negative"),
        ("12.345", "more than 2 decimals"),
        ('"10.000"', "more than 2 decimals"),
        ('"ten"', "is not an amount"),
        ("true", "is not an amount"),
        ("null", "is not an amount"),
        ('"NaN"', "is not an amount"),
    ],
)
def test_a_bad_value_is_rejected_with_the_reason(value: str, problem: str) -> None:
    with pytest.raises(CodeListError, match=problem) as info:
        codes_of(f'[{{"code":"DIV-1","value":{value}}}]')
    assert "code 1 (DIV-1): value" in str(info.value)


def test_a_negative_min_spend_is_rejected() -> None:
    with pytest.raises(CodeListError, match=r"min_spend .* is negative"):
        codes_of('[{"code":"DIV-1","value":"1.00","min_spend":"-1"}]')


def test_missing_value_and_missing_code_are_rejected() -> None:
    with pytest.raises(CodeListError, match='has no "value"'):
        codes_of('[{"code":"DIV-1"}]')
    with pytest.raises(CodeListError, match='has no "code" text'):
        codes_of('[{"value":"1.00"}]')
    with pytest.raises(CodeListError, match='has no "code" text'):
        codes_of('[{"code":"  ","value":"1.00"}]')


def test_min_spend_absent_or_null_is_zero() -> None:
    a, b = codes_of('[{"code":"A","value":"1"},{"code":"B","value":"1","min_spend":null}]')
    assert a.min_spend == b.min_spend == 0


def test_expiry_absent_or_null_never_expires() -> None:
    a, b = codes_of('[{"code":"A","value":"1"},{"code":"B","value":"1","expires":null}]')
    assert a.expires is None and b.expires is None


def test_an_expiry_datetime_counts_on_its_date_in_the_store_time_zone() -> None:
    # 23:30 UTC on 31 March 2027 is 00:30 on 1 April in London (summer time).
    [code] = codes_of('[{"code":"A","value":"1","expires":"2027-03-31T23:30:00Z"}]')
    assert code.expires == dt.date(2027, 4, 1)
    [code] = codes_of('[{"code":"A","value":"1","expires":"2027-01-31T23:30:00Z"}]')
    assert code.expires == dt.date(2027, 1, 31)


@pytest.mark.parametrize("expires", ['"2027-02-30"', '"31/03/2027"', '"next spring"', "20270331"])
def test_a_bad_expiry_is_rejected(expires: str) -> None:
    with pytest.raises(CodeListError, match=r"expires .* not a date"):
        codes_of(f'[{{"code":"A","value":"1","expires":{expires}}}]')


@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ('[{"code":"A","value":"1"}', "malformed JSON"),
        ("[{'code':'A'}]", "malformed JSON"),
        ('{"code":"A"}', "expected a JSON array"),
        ('["A"]', "item 1 is not an object"),
    ],
)
def test_a_cell_that_is_not_a_list_of_code_objects_is_rejected(cell: str, problem: str) -> None:
    with pytest.raises(CodeListError, match=problem):
        parse_code_objects(cell)


def test_the_parser_cache_gives_the_same_answers_and_the_same_errors() -> None:
    parser = CodeParser(LONDON)
    objects = parse_code_objects('[{"code":"A","value":"5.00","expires":"2027-01-01"}]')
    assert parser.available_codes(objects) == parser.available_codes(objects)
    bad = parse_code_objects('[{"code":"A","value":"5.001"}]')
    for _ in range(2):
        with pytest.raises(CodeListError, match="more than 2 decimals"):
            parser.available_codes(bad)


def test_codes_are_written_back_with_keys_key_order_and_value_types_kept() -> None:
    cell = (
        '[{"expires": null, "value": 10.00, "code": "DIV-1", "min_spend": "50", '
        '"note": {"by": "ops", "tags": [1, 2.50, true]}}]'
    )
    assert dump_compact(parse_code_objects(cell)) == (
        '[{"expires":null,"value":10.00,"code":"DIV-1","min_spend":"50",'
        '"note":{"by":"ops","tags":[1,2.50,true]}}]'
    )


def test_written_json_keeps_non_ascii_text_and_escapes_quotes() -> None:
    assert dump_compact([{"code": 'Café "10"'}]) == '[{"code":"Café \\"10\\""}]'


def test_parse_money_accepts_two_decimals_at_most() -> None:
    assert parse_money("0") == 0
    assert parse_money("0.01") == Decimal("0.01")
    with pytest.raises(ValueError, match="more than 2 decimals"):
        parse_money(Decimal("0.001"))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["\x00", "\\u0000", '"\x00', "\x001\x00"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_compact_json_is_valid_and_keeps_every_number_exactly(value: object) -> None:
    text = dump_compact(value)
    assert text == _dump_with_decimals(value)
    assert json.loads(text, parse_float=Decimal) == _as_json_numbers(value)


_ONE_DUMPER = CompactJson()  # reused across examples, as a row processor reuses it


@given(json_values)
def test_the_reusable_compact_encoder_writes_exactly_what_dump_compact_writes(
    value: object,
) -> None:
    assert _ONE_DUMPER.dumps(value) == dump_compact(value)
    assert CompactJson().dumps(value) == dump_compact(value)


def test_the_reusable_compact_encoder_refuses_what_dump_compact_refuses() -> None:
    for value in ([{1, 2}], [Decimal("1.5"), object()]):
        with pytest.raises(TypeError):
            dump_compact(value)
        with pytest.raises(TypeError):
            _ONE_DUMPER.dumps(value)
    assert _ONE_DUMPER.dumps([Decimal("10.00"), "\x00"]) == '[10.00,"\\u0000"]'


def _as_json_numbers(value: object) -> object:
    # Read back, a whole Decimal such as 1E+2 is a float literal, hence a Decimal again.
    if isinstance(value, list):
        return [_as_json_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_json_numbers(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("1e3", "exponent"),
        ("1E+3", "exponent"),
        ("١٠", "not an amount"),
        ("１２", "not an amount"),
        ("1,000", "not an amount"),
        ("1_000", "not an amount"),
        ("NaN", "not an amount"),
        ("Infinity", "not an amount"),
        ("1000000000000", "too large"),
        ("9" * 5000, "too large"),
    ],
)
def test_money_is_plain_ascii_digits_below_the_limit(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as info:
        parse_money(value)
    assert len(str(info.value)) < 200  # the 5,000-digit value is not echoed whole


def test_minus_zero_is_zero_and_written_as_0_00() -> None:
    for text in ("-0", "-0.00", "+0"):
        amount = parse_money(text)
        assert amount == 0 and not amount.is_signed()
        assert f"{amount.quantize(Decimal('0.01')):f}" == "0.00"


@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('[{"code":"A","value":' + "9" * 5000 + "}]", "too many digits"),
    ],
)
def test_a_hostile_cell_is_a_code_list_error_not_a_crash(cell: str, problem: str) -> None:
    with pytest.raises(CodeListError, match=problem):
        parse_code_objects(cell)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("1e309", "exponent"),
        ("1e3", "exponent"),
        ("1" + "0" * 400 + ".0", "too large"),
        ("99999999999999999999", "too large"),
        ('"99999999999999999999"', "too large"),
    ],
)
def test_a_json_number_too_large_or_in_exponent_form_rejects_the_code(
    value: str, problem: str
) -> None:
    cell = '[{"code":"A","value":' + value + "}]"
    for parse in (
        lambda c: codes_of(c),
        lambda c: CodeParser(LONDON).available_codes(CodeParser(LONDON).code_objects(c)),
    ):
        with pytest.raises(CodeListError, match=problem):
            parse(cell)


def test_a_huge_expiry_or_code_is_echoed_cut() -> None:
    cell = json.dumps([{"code": "A" * 10_000, "value": "1.00", "expires": "x" * 10_000}])
    with pytest.raises(CodeListError) as info:
        codes_of(cell)
    assert len(str(info.value)) < 300 and "…" in str(info.value)


def test_a_lone_surrogate_escape_is_rejected_and_a_pair_is_kept() -> None:
    with pytest.raises(CodeListError, match="invalid character escape"):
        parse_code_objects('[{"code":"A\\ud800","value":"1.00"}]')
    with pytest.raises(CodeListError, match="invalid character escape"):
        parse_code_objects('[{"code":"A","value":"1.00","note":["\\uDFFF"]}]')
    [code] = parse_code_objects('[{"code":"A\\ud83d\\ude00","value":"1.00"}]')
    assert code["code"] == "A\U0001f600"
