"""The dashboard's Plotly figures: the same builders the monthly review pack draws (etl/charts.py)."""

from etl.charts import (
    aging_bars,
    ar_trend,
    autopay_adoption,
    autopay_speed,
    backtest,
    cash_forecast,
    kpi_trend,
    mrr_trend,
)

__all__ = ["aging_bars", "ar_trend", "autopay_adoption", "autopay_speed", "backtest", "cash_forecast", "kpi_trend",
           "mrr_trend"]
