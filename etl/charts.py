"""Plotly figures. They take metric DataFrames and only draw: hover text shows exact amounts.

The dashboard shows them (ui/charts.py) and the monthly review pack draws them as static images
(etl/pack.py), so the two never disagree. Nothing here needs Streamlit. One look for light and dark themes (Streamlit draws the background and the text): series colours
of middle lightness, so none fades into either background, and months on a category axis, so a
bar is a month wide even when the as-of date sits one day after a month-end."""

from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from core.money import currency_symbol, money

# Green while current, through amber, to red for the oldest debt; any number of periods.
_BUCKET_SCALE = [[0.0, "#2e7d32"], [0.2, "#9ccc65"], [0.4, "#fbc02d"], [0.6, "#fb8c00"], [0.8, "#e53935"],
                 [1.0, "#8e0000"]]
NEUTRAL = "#78909c"  # totals and actual results: readable on white and on Streamlit's dark background
BLUE, LIGHT_BLUE, ORANGE = "#1e88e5", "#90caf9", "#fb8c00"


def _colours(labels: list[str]) -> list[str]:
    if len(labels) <= 1:
        return [_BUCKET_SCALE[0][1]] * len(labels)
    return sample_colorscale(_BUCKET_SCALE, [i / (len(labels) - 1) for i in range(len(labels))])


def period_labels(dates) -> list[str]:
    """'Nov 2026' for a month-end, '1 Dec 2026' for any other day (the as-of date)."""
    def label(day: date) -> str:
        month_end = (pd.Timestamp(day) + pd.offsets.MonthEnd(0)).date() == day
        return f"{day:%b %Y}" if month_end else f"{day.day} {day:%b %Y}"
    return [label(pd.Timestamp(day).date()) for day in dates]


def money_axis(currency: str) -> dict:
    """Ticks of money written as the tiles write it: the sign before the symbol ('-$4.5k', never
    '$-4.5k'), round steps; dollars through d3's own currency format, other symbols as a prefix."""
    if currency_symbol(currency) == "$":
        return dict(tickformat="$~s")
    return dict(tickprefix=currency_symbol(currency), tickformat="~s")


def _layout(figure: go.Figure, title: str, currency: str | None = None) -> go.Figure:
    """The shared look; `currency` prefixes the y axis of a chart of money."""
    return figure.update_layout(
        title=title, margin=dict(l=10, r=10, t=50, b=10), height=360, legend=dict(orientation="h", y=-0.15),
        yaxis=money_axis(currency) if currency else {},
    )


def aging_bars(buckets: pd.DataFrame, currency: str) -> go.Figure:
    labels = buckets["bucket"].astype(str).tolist()
    figure = go.Figure(
        go.Bar(
            x=labels,
            y=[float(amount) for amount in buckets["amount"]],
            marker_color=_colours(labels),
            customdata=[[money(a, currency), n] for a, n in zip(buckets["amount"], buckets["invoices"])],
            hovertemplate="%{x}: %{customdata[0]} in %{customdata[1]} invoices<extra></extra>",
        )
    )
    return _layout(figure, "Open A/R by days past due", currency)


def _money_bars(figure: go.Figure, x, frame: pd.DataFrame, series: list[tuple[str, str, str]], currency: str) -> None:
    """One bar trace per (column, name, colour), with the exact amount on hover."""
    for column, name, colour in series:
        figure.add_bar(
            x=x, y=[float(v) for v in frame[column]], name=name, marker_color=colour,
            customdata=[money(v, currency) for v in frame[column]],
            hovertemplate=f"{name}: %{{customdata}}<extra></extra>",
        )


def ar_trend(trend: pd.DataFrame, currency: str) -> go.Figure:
    buckets = [c for c in trend.columns if c not in ("as_of", "total")]
    months = period_labels(trend["as_of"])
    figure = go.Figure()
    _money_bars(figure, months, trend, [(b, b, c) for b, c in zip(buckets, _colours(buckets))], currency)
    figure.add_scatter(
        x=months, y=[float(v) for v in trend["total"]], name="total", mode="lines+markers",
        line=dict(color=NEUTRAL), customdata=[money(v, currency) for v in trend["total"]],
        hovertemplate="total: %{customdata}<extra></extra>",
    )
    figure.update_layout(barmode="stack", hovermode="x unified", xaxis=dict(type="category"))
    return _layout(figure, "Open A/R at each month-end", currency)


def kpi_trend(series: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    for column, name in [("dso", "DSO"), ("bpdso", "Best possible DSO"), ("add_crf", "Avg days delinquent")]:
        figure.add_scatter(x=series["as_of"], y=series[column], name=name, mode="lines+markers",
                           hovertemplate=f"{name}: %{{y:.1f}} days<extra></extra>")
    figure.add_scatter(x=series["as_of"], y=series["cei"], name="CEI (%)", mode="lines+markers", yaxis="y2",
                       line=dict(dash="dot", color=NEUTRAL), hovertemplate="CEI: %{y:.1f} %<extra></extra>")
    _layout(figure, "Collection KPIs at each month-end")
    return figure.update_layout(
        hovermode="x unified", yaxis=dict(title="days"),
        yaxis2=dict(title="CEI %", overlaying="y", side="right", showgrid=False, tickmode="auto"),
    )


def autopay_adoption(trend: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    for column, name, dash in [("adoption_by_clients", "by clients", "solid"), ("adoption_by_mrr", "by MRR", "dot")]:
        figure.add_scatter(x=trend["as_of"], y=trend[column], name=name, mode="lines+markers", line=dict(dash=dash),
                           hovertemplate=f"{name}: %{{y:.1%}}<extra></extra>")
    _layout(figure, "Autopay adoption at each month-end")
    return figure.update_layout(hovermode="x unified", yaxis=dict(tickformat=".0%", rangemode="tozero"))


def autopay_speed(split: pd.DataFrame) -> go.Figure:
    """Days to pay, days late and DSO side by side for autopay and manual invoices."""
    figure = go.Figure()
    for status, colour in zip(split["autopay_status"], ["#2e7d32", "#e53935"]):
        row = split[split["autopay_status"] == status].iloc[0]
        measures = {"Days to pay": row["days_to_pay"], "Avg days delinquent": row["add_invoice"], "DSO": row["dso"]}
        figure.add_bar(x=list(measures), y=[None if pd.isna(v) else float(v) for v in measures.values()], name=status,
                       marker_color=colour, hovertemplate=f"{status} %{{x}}: %{{y:.1f}} days<extra></extra>")
    _layout(figure, "Payment speed by autopay status")
    return figure.update_layout(barmode="group", yaxis=dict(title="days"))


def cash_forecast(forecast: pd.DataFrame, currency: str) -> go.Figure:
    """Expected cash per week, split open vs not yet issued, with the low-high band."""
    figure = go.Figure()
    _money_bars(figure, forecast["week_start"], forecast,
                [("from_open", "open invoices", BLUE), ("from_not_yet_issued", "not yet issued", LIGHT_BLUE)], currency)
    figure.add_scatter(
        x=forecast["week_start"], y=[float(v) for v in forecast["expected"]], mode="markers", name="expected",
        marker=dict(color=NEUTRAL, size=9),
        error_y=dict(type="data", symmetric=False, color=NEUTRAL, thickness=2,
                     array=[float(h - e) for h, e in zip(forecast["high"], forecast["expected"])],
                     arrayminus=[float(e - lo) for e, lo in zip(forecast["expected"], forecast["low"])]),
        customdata=[[money(e, currency), money(lo, currency), money(h, currency)]
                    for e, lo, h in zip(forecast["expected"], forecast["low"], forecast["high"])],
        hovertemplate="expected %{customdata[0]} (band %{customdata[1]} – %{customdata[2]})<extra></extra>",
    )
    figure.update_layout(barmode="stack", hovermode="x unified")
    return _layout(figure, "Expected cash in, week by week", currency)


def mrr_trend(movements: pd.DataFrame, forecast: pd.DataFrame, currency: str) -> go.Figure:
    """MRR at each month-end, its forecast, and the month's movements as bars."""
    figure = go.Figure()
    for column, colour, sign in (("new", "#2e7d32", 1), ("expansion", "#9ccc65", 1), ("reactivation", "#00897b", 1),
                                 ("contraction", ORANGE, -1), ("churn", "#e53935", -1)):
        figure.add_bar(
            x=period_labels(movements["month_end"]), y=[sign * float(v) for v in movements[column]], name=column,
            marker_color=colour, yaxis="y2", customdata=[money(v, currency) for v in movements[column]],
            hovertemplate=f"{column}: %{{customdata}}<extra></extra>",
        )
    for frame, column, name, dash in ((movements, "mrr_end", "MRR", "solid"), (forecast, "mrr", "MRR forecast", "dot")):
        figure.add_scatter(
            x=period_labels(frame["month_end"]), y=[float(v) for v in frame[column]], name=name, mode="lines+markers",
            line=dict(color=NEUTRAL, dash=dash), customdata=[money(v, currency) for v in frame[column]],
            hovertemplate=f"{name}: %{{customdata}}<extra></extra>",
        )
    figure.update_layout(barmode="relative", hovermode="x unified", xaxis=dict(type="category"),
                         yaxis2=dict(overlaying="y", side="right", showgrid=False, tickmode="auto",
                                     **money_axis(currency)))
    return _layout(figure, "Invoice-based MRR: history, movements and forecast", currency)


def backtest(weekly: pd.DataFrame, week: int, currency: str) -> go.Figure:
    """Forecast made `week` weeks ahead vs the cash actually collected, for each past week."""
    chosen = weekly[weekly["week"] == week]
    figure = go.Figure()
    for column, fill in (("low", None), ("high", "tonexty")):
        figure.add_scatter(
            x=chosen["week_start"], y=[float(v) for v in chosen[column]], name="80 % band" if fill else None,
            mode="lines", line=dict(width=0), fill=fill, fillcolor="rgba(21, 101, 192, 0.15)",
            showlegend=bool(fill), hoverinfo="skip",
        )
    for column, name, colour in (("actual", "collected", NEUTRAL), ("expected", "ledgerlight", BLUE),
                                 ("due_date_baseline", "paid on due date", ORANGE)):
        figure.add_scatter(
            x=chosen["week_start"], y=[float(v) for v in chosen[column]], name=name, mode="lines+markers",
            line=dict(color=colour), customdata=[money(v, currency) for v in chosen[column]],
            hovertemplate=f"{name}: %{{customdata}}<extra></extra>",
        )
    figure.update_layout(hovermode="x unified")
    return _layout(figure, f"Backtest: forecast made {week} week(s) ahead vs cash collected", currency)


def client_months(months: pd.DataFrame, currency: str) -> go.Figure:
    """One client's months: billed (bars) and MRR (line) in money, mean days to pay on the right."""
    labels = period_labels(months["month_end"])
    figure = go.Figure()
    _money_bars(figure, labels, months, [("billed", "billed", LIGHT_BLUE)], currency)
    figure.add_scatter(
        x=labels, y=[float(v) for v in months["mrr"]], name="MRR", mode="lines+markers", line=dict(color=BLUE),
        customdata=[money(v, currency) for v in months["mrr"]], hovertemplate="MRR: %{customdata}<extra></extra>",
    )
    figure.add_scatter(
        x=labels, y=months["days_to_pay"], name="days to pay", mode="markers", yaxis="y2",
        marker=dict(color=ORANGE, size=9), hovertemplate="paid in %{y:.0f} days on average<extra></extra>",
    )
    figure.update_layout(hovermode="x unified", xaxis=dict(type="category"),
                         yaxis2=dict(title="days to pay", overlaying="y", side="right", showgrid=False, tickmode="auto", rangemode="tozero"))
    return _layout(figure, "Billed, MRR and days to pay, month by month", currency)
