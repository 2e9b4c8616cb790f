"""Figures that are not money as text: shares, days and ratios, written once for every place that
shows one to a person: the dashboard (ui/format.py) and the monthly review pack (etl/pack.py)."""

from __future__ import annotations

from decimal import Decimal

from core.money import money


def percent(fraction: float | None) -> str:
    return "–" if fraction is None else f"{fraction:.1%}"


def days(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} days"


def signed_days(value: float | None) -> str:
    """A change in days, with its sign: '+1.5 days', '-7.0 days'."""
    return "–" if value is None else f"{value:+.1f} days"


def ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def signed_money(amount: Decimal | None, currency: str = "USD") -> str:
    """A change in money, with its sign: '+$1,200.00', '-$87,716.10'."""
    return "–" if amount is None else ("+" if amount >= 0 else "") + money(amount, currency)


def signed_points(change: float | None) -> str:
    """A change in a share, in percentage points: '+1.2 pts'."""
    return "–" if change is None else f"{change * 100:+.1f} pts"


def measure(value: float | None, unit: str) -> str:
    """A KPI in its unit: 'days' or a share."""
    return days(value) if unit == "days" else percent(value)


def measure_change(change: float | None, unit: str) -> str:
    """A change of a KPI in its unit: days, or percentage points of a share."""
    return signed_days(change) if unit == "days" else signed_points(change)
