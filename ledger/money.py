"""Exact money: integer minor units inside, `Decimal` at the edges, never float.

Invariant: every amount the ledger stores is an integer count of the currency's minor unit (cents for USD),
and every amount that enters from outside is parsed here, so a malformed or over-precise amount is refused
before anything is written.
"""

from __future__ import annotations

import re
from decimal import Decimal

from ledger.errors import InvalidAmount, InvalidCurrency

# ISO 4217 minor units for currencies that do not use 2 decimals; every other known code uses 2.
_ZERO_DECIMAL = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF",
                 "XOF", "XPF"}  # fmt: skip
_THREE_DECIMAL = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
_TWO_DECIMAL = {"AED", "ARS", "AUD", "BRL", "CAD", "CHF", "CNY", "COP", "CZK", "DKK", "EGP", "EUR", "GBP", "HKD",
                "HUF", "IDR", "ILS", "INR", "MXN", "MYR", "NGN", "NOK", "NZD", "PEN", "PHP", "PKR", "PLN", "RON",
                "SAR", "SEK", "SGD", "THB", "TRY", "TWD", "UAH", "USD", "ZAR"}  # fmt: skip
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "CHF": "CHF ", "INR": "₹"}

# Far above any real invoice, far below BIGINT's limit, so sums of many amounts cannot overflow.
MAX_MINOR = 10**15

# A plain decimal: digits, optionally a point and digits. No sign, separator, symbol or exponent.
_PLAIN_DECIMAL = re.compile(r"([0-9]*)(?:\.([0-9]+))?")


_DECIMALS = (
    {code: 0 for code in _ZERO_DECIMAL} | {code: 3 for code in _THREE_DECIMAL} | {code: 2 for code in _TWO_DECIMAL}
)


_SCALES = {decimals: 10**decimals for decimals in set(_DECIMALS.values())}


def currency_decimals(currency: str) -> int:
    """How many decimals `currency` has; an unknown code is refused."""
    decimals = _DECIMALS.get(currency)  # the hot path: an already normalized code
    return decimals if decimals is not None else _DECIMALS[normalize_currency(currency)]


def normalize_currency(currency: str) -> str:
    code = (currency or "").strip().upper()
    if code not in _DECIMALS:
        raise InvalidCurrency(currency)
    return code


def parse_amount(text: str | Decimal | int, currency: str, *, allow_zero: bool = False) -> int:
    """Parse a positive amount in `currency` into minor units.

    Refuses (InvalidAmount, saying why): empty, negative, zero (unless allowed), thousands separators,
    currency signs, exponents, NaN/Infinity, and more decimals than the currency has.
    """
    decimals = currency_decimals(currency)
    if isinstance(text, bool | float):
        raise InvalidAmount(str(text), "amounts must be exact decimals, not floating point")
    if isinstance(text, str):
        minor = _parse_text(text, decimals, currency)
    else:
        minor = _parse_number(text, decimals, currency)
    if minor == 0 and not allow_zero:
        raise InvalidAmount(str(text), "the amount must be greater than zero")
    if minor > MAX_MINOR:
        raise InvalidAmount(str(text), "it is larger than any invoice or credit creditbot accepts")
    return minor


def _parse_number(value: Decimal | int, decimals: int, currency: str) -> int:
    number = Decimal(value)
    if not number.is_finite():
        raise InvalidAmount(str(value), "it is not a number")
    if number < 0:
        raise InvalidAmount(str(value), "amounts must be positive")
    # A Decimal from code may carry trailing zeros, as long as the value is exact in the currency.
    if number != round(number, decimals):
        raise InvalidAmount(str(value), f"{normalize_currency(currency)} has {_decimals_phrase(decimals)}")
    return int(number.scaleb(decimals))


def _parse_text(text: str, decimals: int, currency: str) -> int:
    """Plain decimal text to minor units with integer arithmetic: the import's hot path avoids Decimal."""
    raw = text.strip()
    match = _PLAIN_DECIMAL.fullmatch(raw) if raw else None
    if match is None:
        raise InvalidAmount(text, _why_not_plain(raw))
    whole, fraction = match.group(1), match.group(2) or ""
    # Text must not carry more places than the currency has ("10.000" is a typo for USD).
    if len(fraction) > decimals:
        raise InvalidAmount(text, f"{normalize_currency(currency)} has {_decimals_phrase(decimals)}")
    return int(whole or "0") * 10**decimals + int(fraction.ljust(decimals, "0") or "0")


def _why_not_plain(raw: str) -> str:
    if not raw:
        return "no amount was given"
    if raw.startswith("-"):
        return "amounts must be positive"
    if "," in raw:
        return "write it without thousands separators, e.g. 1250.00"
    if any(symbol in raw for symbol in "$€£¥₹"):
        return "write it without a currency sign, e.g. 1250.00"
    return "it is not a plain decimal number like 1250.00"


def _decimals_phrase(decimals: int) -> str:
    if decimals == 0:
        return "no decimals"
    return f"at most {decimals} decimal{'s' if decimals > 1 else ''}"


def to_decimal(minor: int, currency: str) -> Decimal:
    """Minor units back to a `Decimal` with the currency's exact number of places."""
    decimals = currency_decimals(currency)
    return Decimal(minor).scaleb(-decimals).quantize(Decimal(1).scaleb(-decimals))


def decimal_str(minor: int, currency: str) -> str:
    """The JSON form of an amount: a plain decimal string such as "1000.00".

    Written out rather than through `_magnitude`: every write's history line holds several (issue 14)."""
    decimals = _DECIMALS.get(currency)
    if decimals is None:
        decimals = currency_decimals(currency)
    if not decimals:
        return str(minor)
    whole, fraction = divmod(-minor if minor < 0 else minor, _SCALES[decimals])
    return f"{'-' if minor < 0 else ''}{whole}.{fraction:0{decimals}d}"


def _magnitude(minor: int, decimals: int, thousands: str) -> str:
    """|minor| as a decimal with the currency's places, by integer arithmetic (replies format many amounts)."""
    whole, fraction = divmod(abs(minor), 10**decimals)
    text = f"{whole:,}" if thousands else str(whole)
    return f"{text}.{fraction:0{decimals}d}" if decimals else text


def format_money(minor: int, currency: str) -> str:
    """An amount for people: `$1,250.00`, `€300.00`, `-$5.00`, `¥1,200`, `12.500 KWD`."""
    code = currency if currency in _DECIMALS else normalize_currency(currency)
    magnitude = _magnitude(minor, _DECIMALS[code], ",")
    sign = "-" if minor < 0 else ""
    symbol = _SYMBOLS.get(code)
    if symbol is None:
        return f"{sign}{magnitude} {code}"
    return f"{sign}{symbol}{magnitude}"
