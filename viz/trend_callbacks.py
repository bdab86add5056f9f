"""Callbacks of the time panel: plain functions of (index, inputs), and :func:`register` that wires them.

Registered by ``topicmap.viz.app.create_app`` only for a tree with dated documents (the panel exists only then).
The rising / falling lists are buttons of ``topicmap.viz.layout.goto_button``, so ``topicmap.viz.callbacks``' navigation
already selects their topic when clicked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import Dash, Input, Output, html
from dash.exceptions import PreventUpdate

from topicmap.hierarchy.tree.topic_tree import ROOT_ID
from topicmap.hierarchy.analysis.trends import growth_text
from topicmap.viz.index import TreeIndex, shorten
from topicmap.viz.ids import Ids
from topicmap.viz.trend_figures import index_trends, trend_spec
from topicmap.viz.trend_layout import TrendIds

COLOR_CHOICES = ("topic", "growth")


def selected_node(index: TreeIndex, nav: Mapping[str, Any] | None) -> str:
    """The node in the details panel (ids come from the browser: unknown ones mean the root)."""
    node_id = nav.get("selected") if isinstance(nav, Mapping) else None
    return node_id if isinstance(node_id, str) and node_id in index else ROOT_ID


def trend_view(index: TreeIndex, nav: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[Any]]:
    """The trend chart and the one-line growth summary for the selected node."""
    trends = index_trends(index)
    if trends is None:
        raise PreventUpdate
    node_id = selected_node(index, nav)
    k = index.pos[node_id]
    label = shorten(index.labels[k], 60)
    if node_id == ROOT_ID:
        summary: list[Any] = [html.B("All documents"), html.Span(" — lines: each top-level topic's share per " + trends.period)]
    else:
        summary = [
            html.B(label),
            html.Span(f" — share {growth_text(trends.growth, k)}, {trends.labels[-1]} against {trends.labels[0]}"),
        ]
    return trend_spec(index, trends, node_id), summary


def chart_color(choice: Any) -> str:
    """The chart colouring asked for by the switch (anything unknown: topic colours)."""
    return choice if choice in COLOR_CHOICES else "topic"


def register(app: Dash, index: TreeIndex) -> None:
    """Attach the time panel's callbacks to ``app`` (a dated tree's app: see ``topicmap.viz.app.create_app``)."""
    if index_trends(index) is None:
        return

    @app.callback(Output(TrendIds.CHART, "figure"), Output(TrendIds.SUMMARY, "children"), Input(Ids.NAV, "data"))
    def _trend(nav: Any) -> tuple[dict[str, Any], list[Any]]:
        return trend_view(index, nav)

    @app.callback(Output(Ids.CHART_COLOR, "data"), Input(TrendIds.COLOR_CHOICE, "value"), prevent_initial_call=True)
    def _color(choice: Any) -> str:
        return chart_color(choice)
