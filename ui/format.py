"""Display formatting. Money stays Decimal until it is turned into text here."""

from __future__ import annotations

from decimal import Decimal

_SYMBOLS = {"USD": "$", "CAD": "CA$", "AUD": "A$", "GBP": "£", "EUR": "€"}


def money(amount: Decimal | None, currency: str = "USD") -> str:
    if amount is None:
        return "–"
    sign = "-" if amount < 0 else ""
    return f"{sign}{_SYMBOLS.get(currency, currency + ' ')}{abs(amount):,.2f}"


def percent(fraction: float | None) -> str:
    return "–" if fraction is None else f"{fraction:.1%}"


def days(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} days"


def ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"
