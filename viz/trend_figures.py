"""Figures for topics over time (pure functions): a node's and its children's trend lines, and the
hierarchy chart coloured by growth. The numbers come from :mod:`topicmap.hierarchy.analysis.trends`.

Growth is drawn on a log scale (log2 of the share multiplier, so x2 and x1/2 are equally far from
"no change"), clipped at x8 either way, on a diverging scale: blue falling, white steady or unclear,
red rising; the value drawn is the end of the 95% interval nearest "no change" (:func:`growth_values`).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from topicmap.hierarchy.analysis.trends import Trends, format_ratio, growth_text, tree_trends
from topicmap.viz.index import LABEL_CHARS, TreeIndex, plotly_text, shorten

GROWTH_CLIP_LOG2 = 3.0  # colours saturate at x8 / x1/8
GROWTH_SCALE = [[0.0, "#2166ac"], [0.25, "#92c5de"], [0.5, "#f7f7f7"], [0.75, "#f4a582"], [1.0, "#b2182b"]]
NODE_LINE = "#222222"
VOLUME_BAR = "rgba(160,160,160,0.35)"
MAX_LINES = 12  # children drawn as lines: the largest ones

_CACHE: weakref.WeakKeyDictionary[TreeIndex, Trends | None] = weakref.WeakKeyDictionary()
_GROWTH: weakref.WeakKeyDictionary[TreeIndex, tuple[list[float], list[str]]] = weakref.WeakKeyDictionary()


def index_trends(index: TreeIndex) -> Trends | None:
    """The trends of the index's tree (None when no document has a time), computed once per index.

    Rows follow ``tree.iter_nodes()``, the index's own order, so a node's row is ``index.pos[id]``.
    """
    if index not in _CACHE:
        _CACHE[index] = tree_trends(index.tree)
    return _CACHE[index]


def period_axis(trends: Trends) -> list[str]:
    """Each period's start as an ISO datetime, for a plotly date axis."""
    return [str(np.datetime64(int(s), "s")) for s in trends.starts]


def trend_spec(index: TreeIndex, trends: Trends, node_id: str) -> dict[str, Any]:
    """Share of the dated documents per period for ``node_id`` (thick dark line; not for the root, always 100%)
    and its largest children (their colours), over grey bars of the node's dated documents per period."""
    k = index.pos[node_id] if node_id in index else 0
    x = period_axis(trends)
    shares = trends.shares()
    unit = trends.period
    traces: list[dict[str, Any]] = [{
        "type": "bar",
        "x": x,
        "y": trends.counts[k].tolist(),
        "name": "documents",
        "marker": {"color": VOLUME_BAR},
        "yaxis": "y2",
        "hovertemplate": f"%{{y:,}} documents in this {unit}<extra></extra>",
        "showlegend": False,
    }]
    lines = [] if k == 0 else [k]
    kids = sorted(index.children_pos[k], key=lambda c: -int(index.size[c]))[:MAX_LINES]
    lines += sorted(kids)
    for i in lines:
        name = plotly_text(shorten(index.labels[i], LABEL_CHARS))
        own = i == k
        traces.append({
            "type": "scatter",
            "mode": "lines+markers" if len(x) <= 40 else "lines",
            "x": x,
            "y": (100 * shares[i]).round(3).tolist(),
            "customdata": trends.counts[i].tolist(),
            "name": name,
            "line": {"color": NODE_LINE if own else index.colors[i], "width": 3.5 if own else 2},
            "marker": {"size": 4},
            "hovertemplate": f"{name}<br>%{{y:.1f}}% of the {unit}'s documents (%{{customdata:,}})<extra></extra>",
        })
    return {
        "data": traces,
        "layout": {
            "margin": {"t": 8, "l": 44, "r": 44, "b": 30},
            "xaxis": {"type": "date", "showgrid": False},
            "yaxis": {"title": {"text": "% of documents"}, "rangemode": "tozero", "ticksuffix": "%"},
            "yaxis2": {"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero", "tickmode": "auto", "tickformat": ",~r", "title": {"text": "documents"}},
            "legend": {"orientation": "h", "y": -0.18, "font": {"size": 10}},
            "hovermode": "closest",
            "barmode": "overlay",
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
        },
    }


def growth_values(trends: Trends) -> np.ndarray:
    """Colour values per node: log2 of the share multiplier the data are sure of, clipped; 0 (steady's colour)
    where the interval holds ×1 or there is no figure.

    Why the interval's end nearest ×1 and not the estimate: a small topic's estimate swings widely by
    chance (a leaf of 40 documents can read ×8 or ×1/8 with nothing going on), and painting it
    would make noise the loudest thing on the chart; this is also how the rising and falling lists
    rank. The hover gives the estimate and its interval.
    """
    _, low, high = trends.growth.share_ratios()
    with np.errstate(invalid="ignore", divide="ignore"):
        sure = np.where(low > 1, np.log2(low), np.where(high < 1, np.log2(high), 0.0))
    return np.clip(np.nan_to_num(sure, nan=0.0), -GROWTH_CLIP_LOG2, GROWTH_CLIP_LOG2)


def growth_colorbar(trends: Trends) -> dict[str, Any]:
    """A colorbar that says what the colour is: the share's multiplier from the first period to the last."""
    ticks = list(range(-int(GROWTH_CLIP_LOG2), int(GROWTH_CLIP_LOG2) + 1))
    labels = [format_ratio(2.0**t) if t >= 0 else f"×1/{2 ** -t}" for t in ticks]
    return {
        "title": {
            "text": f"share of documents,<br>{plotly_text(trends.labels[-1])} vs<br>{plotly_text(trends.labels[0])}<br>(at least, 95%;<br>white: no clear change)",
            "side": "top",
            "font": {"size": 11},
        },
        "tickvals": ticks,
        "ticktext": labels,
        "len": 0.75,
        "thickness": 12,
        "x": 1.0,
    }


def color_by_growth(spec: dict[str, Any], index: TreeIndex, trends: Trends) -> dict[str, Any]:
    """The hierarchy chart ``spec`` (``topicmap.viz.figures.hierarchy_spec``) with segments coloured by growth and a
    colorbar; hovers gain each topic's growth and interval. Outlines (selection, matches) are kept.
    ``trends`` must be ``index_trends(index)`` (per-node values are kept with the index)."""
    trace = spec["data"][0]
    rows = [index.pos[node_id] for node_id in trace["ids"]]
    if index not in _GROWTH:  # per node once: a 5,000-node chart is redrawn on every click
        _GROWTH[index] = (
            [round(float(v), 4) for v in growth_values(trends)],
            [f"<br>growth of its share: {growth_text(trends.growth, k)}" for k in range(len(trends.node_ids))],
        )
    values, hovers = _GROWTH[index]
    marker = trace["marker"]
    marker["colors"] = [values[k] for k in rows]
    marker.update(colorscale=GROWTH_SCALE, cmin=-GROWTH_CLIP_LOG2, cmax=GROWTH_CLIP_LOG2, cmid=0.0, showscale=True, colorbar=growth_colorbar(trends))
    trace["hovertext"] = [text + hovers[k] for text, k in zip(trace["hovertext"], rows)]
    spec["layout"]["margin"]["r"] = 90
    return spec
