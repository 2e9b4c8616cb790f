"""Display formatting. Money stays Decimal until it is turned into text here."""

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


def percent(fraction: float | None) -> str:
    return "–" if fraction is None else f"{fraction:.1%}"


def days(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} days"


def signed_days(value: float | None) -> str:
    """A change in days, with its sign: '+1.5 days', '-7.0 days'."""
    return "–" if value is None else f"{value:+.1f} days"


def ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"
