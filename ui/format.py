"""Display formatting for the dashboard. Money is turned into text by core/money.py, other figures
by core/units.py, so the dashboard and the monthly review pack write them alike."""

from __future__ import annotations

import re

from core.money import currency_symbol, money
from core.units import days, measure, measure_change, percent, ratio, signed_days, signed_money, signed_points

__all__ = ["currency_symbol", "days", "measure", "measure_change", "money", "percent", "plain", "ratio", "signed_days",
           "signed_money", "signed_points"]


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=^\"'])")


def plain(text: object) -> str:
    """Text from the books or a source (a client's name, a QuickBooks fault, a roster cell) as
    Streamlit's markdown shows it: every character as typed, so `![x](http://…)`, `**…**`,
    `<img …>`, `:red[…]` or `$…$` in a name is never an image, a style or a formula."""
    return _MARKDOWN.sub(r"\\\1", str(text)).replace("\n", "  \n")
