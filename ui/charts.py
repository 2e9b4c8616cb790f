"""The dashboard's Plotly figures: the same builders the monthly review pack draws (etl/charts.py)."""

from etl.charts import (
    BLUE,
    LIGHT_BLUE,
    NEUTRAL,
    ORANGE,
    aging_bars,
    ar_trend,
    autopay_adoption,
    autopay_speed,
    backtest,
    cash_forecast,
    client_months,
    kpi_trend,
    money_axis,
    mrr_trend,
    period_labels,
)

__all__ = [
    "BLUE",
    "LIGHT_BLUE",
    "NEUTRAL",
    "ORANGE",
    "aging_bars",
    "ar_trend",
    "autopay_adoption",
    "autopay_speed",
    "backtest",
    "cash_forecast",
    "client_months",
    "kpi_trend",
    "money_axis",
    "mrr_trend",
    "period_labels",
]
