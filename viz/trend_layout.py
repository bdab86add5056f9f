"""The time panel and the "colour by growth" switch; present only for trees whose documents have times.

``topicmap.viz.layout.build_layout`` places what these return (nothing for an undated tree), so a tree without
times shows no time panel and no growth option. Callbacks: :mod:`topicmap.viz.trend_callbacks`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from dash import dcc, html

from topicmap.hierarchy.analysis.trends import Trends, format_ratio
from topicmap.viz.index import TreeIndex, shorten
from topicmap.viz.ids import goto_button
from topicmap.viz.trend_figures import index_trends, trend_spec

MOVERS = 5  # topics listed as rising and as falling
MOVERS_DEPTH = 2  # from the top two levels, as `topicmap trends` lists by default


class TrendIds:
    PANEL = "trend-panel"
    CHART = "trend-chart"
    SUMMARY = "trend-summary"
    COLOR_CHOICE = "chart-color-choice"
    RISING = "trend-rising"
    FALLING = "trend-falling"


def color_control(index: TreeIndex) -> list[Any]:
    """The chart's colour switch (topic colours or growth), for a dated tree with growth figures; nothing otherwise."""
    trends = index_trends(index)
    if trends is None or not np.isfinite(trends.growth.slope).any():  # all dates in one or two periods
        return []
    return [
        html.Label("colour by", htmlFor=TrendIds.COLOR_CHOICE, className="tm-muted"),
        dcc.RadioItems(
            id=TrendIds.COLOR_CHOICE,
            options=[{"label": "topic", "value": "topic"}, {"label": "growth", "value": "growth"}],
            value="topic",
            inline=True,
            className="tm-radio",
        ),
    ]


def trend_panel(index: TreeIndex) -> list[Any]:
    """Trend lines of the selected node and its children, and the fastest rising and falling topics."""
    trends = index_trends(index)
    if trends is None:
        return []
    undated = f" · {trends.undated:,} undated" if trends.undated else ""
    return [
        html.Div(
            id=TrendIds.PANEL,
            className="tm-trends",
            children=[
                html.H3("Over time", className="tm-subhead"),
                html.P(
                    f"{trends.dated:,} dated documents{undated}, per {trends.period}, {trends.labels[0]} to {trends.labels[-1]}",
                    className="tm-muted",
                ),
                html.Div(id=TrendIds.SUMMARY, className="tm-trend-summary"),
                dcc.Graph(
                    id=TrendIds.CHART,
                    figure=trend_spec(index, trends, "root"),
                    config={"displaylogo": False, "displayModeBar": False},
                    className="tm-trend-chart",
                ),
                *movers_lists(index, trends),
            ],
        )
    ]


def movers_lists(index: TreeIndex, trends: Trends) -> list[Any]:
    """Two short lists of buttons that select a topic: the surest fastest rising and falling ones."""
    rising, falling = trends.movers(MOVERS_DEPTH, MOVERS)
    out: list[Any] = []
    for title, rows, list_id, slot in (("Rising fastest", rising, TrendIds.RISING, "rise"), ("Falling fastest", falling, TrendIds.FALLING, "fall")):
        items = [
            html.Li([
                goto_button(index.ids[k], shorten(index.labels[k], 50), f"{slot}-{n}"),
                html.Span(f" {format_ratio(trends.growth.ratio(k)[0])}", className="tm-muted"),
            ])
            for n, k in enumerate(rows)
        ] or [html.Li("none clearly", className="tm-muted")]
        out.append(html.Div([html.H4(title, className="tm-subhead"), html.Ul(items, id=list_id, className="tm-children")], className="tm-movers"))
    out.append(html.P("× = the topic's share of documents, last period against first (fitted)", className="tm-hint tm-muted"))
    return out
