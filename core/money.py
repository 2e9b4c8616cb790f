"""Money as text, written once for every place that shows an amount to a person: the dashboard
(ui/format.py), statements and reminder emails (etl/). Money stays Decimal until it is turned
into text here."""

from __future__ import annotations

from decimal import Decimal

_SYMBOLS = {"USD": "$", "CAD": "CA$", "AUD": "A$", "GBP": "£", "EUR": "€"}


def currency_symbol(currency: str) -> str:
    """What amounts in `currency` are prefixed with: '$' for USD, 'CA$' for CAD, else 'SEK '."""
    return _SYMBOLS.get(currency, currency + " ")


def money(amount: Decimal | None, currency: str = "USD") -> str:
    if amount is None:
        return "–"
    sign = "-" if amount < 0 else ""
    return f"{sign}{currency_symbol(currency)}{abs(amount):,.2f}"
