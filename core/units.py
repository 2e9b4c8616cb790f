"""Figures that are not money as text: shares, days and ratios, written once for every place that
shows one to a person: the dashboard (ui/format.py) and the monthly review pack (etl/pack.py)."""

from __future__ import annotations


def percent(fraction: float | None) -> str:
    return "–" if fraction is None else f"{fraction:.1%}"


def days(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} days"


def signed_days(value: float | None) -> str:
    """A change in days, with its sign: '+1.5 days', '-7.0 days'."""
    return "–" if value is None else f"{value:+.1f} days"


def ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"
