"""Exact money: parsing refuses anything ambiguous, formatting is for people, and nothing goes through float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidAmount, InvalidCurrency
from ledger.money import MAX_MINOR, decimal_str, format_money, parse_amount, to_decimal


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("1250.00", "USD", 125000), ("0.5", "EUR", 50), (".5", "USD", 50), ("12", "USD", 1200), ("1200", "JPY", 1200),
     ("12.5", "KWD", 12500), (" 7.25 ", "usd", 725)],
)  # fmt: skip
def test_plain_decimals_parse_to_minor_units(text, currency, minor):
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "why"),
    [("", "no amount"), ("-1", "positive"), ("1,000", "thousands"), ("$10", "currency sign"), ("1e2", "plain"),
     ("NaN", "plain"), ("Infinity", "plain"), ("0.00", "greater than zero"), ("1.234", "at most 2"), ("5.", "plain"),
     ("١٢", "plain"), (str(MAX_MINOR), "larger")],
)  # fmt: skip
def test_ambiguous_or_wrong_amounts_are_refused_saying_why(text, why):
    with pytest.raises(InvalidAmount, match=why):
        parse_amount(text, "USD")


def test_floats_are_refused_and_unknown_currencies_named():
    with pytest.raises(InvalidAmount, match="not floating point"):
        parse_amount(1.1, "USD")  # type: ignore[arg-type]
    with pytest.raises(InvalidCurrency, match="XYZ"):
        parse_amount("1", "XYZ")


def test_people_see_symbols_and_thousands_scripts_see_plain_decimals():
    assert format_money(125000, "USD") == "$1,250.00"
    assert format_money(30000, "EUR") == "€300.00"
    assert format_money(-500, "USD") == "-$5.00"
    assert format_money(1200, "JPY") == "¥1,200"
    assert decimal_str(100000, "USD") == "1000.00"
    assert decimal_str(7, "JPY") == "7"


@given(st.integers(min_value=1, max_value=MAX_MINOR), st.sampled_from(["USD", "EUR", "JPY", "KWD"]))
def test_minor_units_round_trip_through_text_and_decimal(minor, currency):
    text = decimal_str(minor, currency)
    assert parse_amount(text, currency) == minor
    assert parse_amount(Decimal(text), currency) == minor
    assert to_decimal(minor, currency) == Decimal(text)


@given(st.text(max_size=20))
def test_any_text_is_parsed_or_refused_never_crashes(text):
    try:
        minor = parse_amount(text, "USD")
    except InvalidAmount as refused:
        assert refused.message
    else:
        assert 0 < minor <= MAX_MINOR


@given(st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR), st.sampled_from(["USD", "usd", "JPY", "KWD", "EUR"]))
def test_the_json_form_of_any_amount_is_its_exact_decimal(minor, currency):
    """decimal_str (every history line's amounts) agrees with Decimal for negatives, zero and any currency case."""
    assert decimal_str(minor, currency) == str(to_decimal(minor, currency))
