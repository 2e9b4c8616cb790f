"""Money as the canonical tables hold it, for every source's mapping: amounts to the cent, and the
home-currency figure of an amount at its exchange rate (home units per unit of the transaction's
currency), rounded as models/macros.sql's `home_amount` rounds: half away from zero."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def cents(value) -> Decimal:
    """`value` (a number, a numeric string, None for 0) to the cent; decimal.InvalidOperation when
    it is not a number."""
    return Decimal(str(value if value is not None else 0)).quantize(CENT, rounding=ROUND_HALF_UP)


def home_amount(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)
