"""Display formatting. Money stays Decimal until it is turned into text here."""

from __future__ import annotations

import re
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


def signed_money(amount: Decimal | None, currency: str = "USD") -> str:
    """A change in money, with its sign: '+$1,200.00', '-$87,716.10'."""
    return "–" if amount is None else ("+" if amount >= 0 else "") + money(amount, currency)


def signed_points(change: float | None) -> str:
    """A change in a share, in percentage points: '+1.2 pts'."""
    return "–" if change is None else f"{change * 100:+.1f} pts"


def measure(value: float | None, unit: str) -> str:
    """A KPI in its unit: days or a share."""
    return days(value) if unit == "days" else percent(value)


def measure_change(change: float | None, unit: str) -> str:
    return signed_days(change) if unit == "days" else signed_points(change)


def ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=^\"'])")


def plain(text: object) -> str:
    """Text from the books or a source (a client's name, a QuickBooks fault, a roster cell) as
    Streamlit's markdown shows it: every character as typed, so `![x](http://…)`, `**…**`,
    `<img …>`, `:red[…]` or `$…$` in a name is never an image, a style or a formula."""
    return _MARKDOWN.sub(r"\\\1", str(text)).replace("\n", "  \n")
