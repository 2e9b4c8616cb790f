"""Plotly figures. They take metric DataFrames and only draw: hover text shows exact amounts."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ui.format import currency_symbol, money

# Green while current, through amber, to red for the oldest debt.
_BUCKET_COLOURS = ["#2e7d32", "#9ccc65", "#fbc02d", "#fb8c00", "#c62828", "#8e0000"]


def _colours(labels: list[str]) -> list[str]:
    return [_BUCKET_COLOURS[min(i, len(_BUCKET_COLOURS) - 1)] for i in range(len(labels))]


def _layout(figure: go.Figure, title: str, currency: str | None = None) -> go.Figure:
    """The shared look; `currency` prefixes the y axis of a chart of money."""
    return figure.update_layout(
        title=title, margin=dict(l=10, r=10, t=50, b=10), height=360, legend=dict(orientation="h", y=-0.15),
        yaxis=dict(tickprefix=currency_symbol(currency) if currency else "", separatethousands=True),
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
    figure = go.Figure()
    _money_bars(figure, trend["as_of"], trend, [(b, b, c) for b, c in zip(buckets, _colours(buckets))], currency)
    figure.add_scatter(
        x=trend["as_of"], y=[float(v) for v in trend["total"]], name="total", mode="lines+markers",
        line=dict(color="#37474f"), customdata=[money(v, currency) for v in trend["total"]],
        hovertemplate="total %{x|%d %b %Y}: %{customdata}<extra></extra>",
    )
    figure.update_layout(barmode="stack", hovermode="x unified")
    return _layout(figure, "Open A/R at each month-end", currency)


def kpi_trend(series: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    for column, name in [("dso", "DSO"), ("bpdso", "Best possible DSO"), ("add_crf", "Avg days delinquent")]:
        figure.add_scatter(x=series["as_of"], y=series[column], name=name, mode="lines+markers",
                           hovertemplate=f"{name}: %{{y:.1f}} days<extra></extra>")
    figure.add_scatter(x=series["as_of"], y=series["cei"], name="CEI (%)", mode="lines+markers", yaxis="y2",
                       line=dict(dash="dot"), hovertemplate="CEI: %{y:.1f} %<extra></extra>")
    _layout(figure, "Collection KPIs at each month-end")
    return figure.update_layout(
        hovermode="x unified", yaxis=dict(title="days"),
        yaxis2=dict(title="CEI %", overlaying="y", side="right", showgrid=False),
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
    for status, colour in zip(split["autopay_status"], ["#2e7d32", "#c62828"]):
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
                [("from_open", "open invoices", "#1565c0"), ("from_not_yet_issued", "not yet issued", "#90caf9")], currency)
    figure.add_scatter(
        x=forecast["week_start"], y=[float(v) for v in forecast["expected"]], mode="markers", name="expected",
        marker=dict(color="#37474f"),
        error_y=dict(type="data", symmetric=False,
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
                                 ("contraction", "#fb8c00", -1), ("churn", "#c62828", -1)):
        figure.add_bar(
            x=movements["month_end"], y=[sign * float(v) for v in movements[column]], name=column,
            marker_color=colour, yaxis="y2", customdata=[money(v, currency) for v in movements[column]],
            hovertemplate=f"{column}: %{{customdata}}<extra></extra>",
        )
    for frame, column, name, dash in ((movements, "mrr_end", "MRR", "solid"), (forecast, "mrr", "MRR forecast", "dot")):
        figure.add_scatter(
            x=frame["month_end"], y=[float(v) for v in frame[column]], name=name, mode="lines+markers",
            line=dict(color="#37474f", dash=dash), customdata=[money(v, currency) for v in frame[column]],
            hovertemplate=f"{name}: %{{customdata}}<extra></extra>",
        )
    figure.update_layout(barmode="relative", hovermode="x unified",
                         yaxis2=dict(overlaying="y", side="right", showgrid=False, tickprefix=currency_symbol(currency)))
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
    for column, name, colour in (("actual", "collected", "#37474f"), ("expected", "ledgerlight", "#1565c0"),
                                 ("due_date_baseline", "paid on due date", "#fb8c00")):
        figure.add_scatter(
            x=chosen["week_start"], y=[float(v) for v in chosen[column]], name=name, mode="lines+markers",
            line=dict(color=colour), customdata=[money(v, currency) for v in chosen[column]],
            hovertemplate=f"{name}: %{{customdata}}<extra></extra>",
        )
    figure.update_layout(hovermode="x unified")
    return _layout(figure, f"Backtest: forecast made {week} week(s) ahead vs cash collected", currency)
