"""Pure figures for facet trees: another facet's sunburst coloured by where a selection's documents
sit, and the node x node table as a heatmap. Usable from a notebook:

```python
from topicmap.hierarchy.tree.treefile import load_tree
from topicmap.viz.facet_figures import cross_figure
cross_figure(load_tree("problem.tree.json"), load_tree("method.tree.json"), node="0").show()
```
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from topicmap.hierarchy.analysis.crosstab import Crosstab
from topicmap.hierarchy.analysis.facet_trees import FacetTree
from topicmap.hierarchy.tree.topic_tree import ROOT_ID, TopicTree
from topicmap.viz.facet_index import CrossCounts, FacetIndex
from topicmap.viz.figures import default_depth, hierarchy_spec
from topicmap.viz.index import TreeIndex, plotly_text, shorten

# white to dark blue: a share is an amount, not a direction, so one hue growing darker
SHARE_SCALE: list[list[Any]] = [[0.0, "#f7fbff"], [0.25, "#c6dbef"], [0.5, "#6baed6"], [0.75, "#2171b5"], [1.0, "#08306b"]]
MIN_SCALE_TOP = 0.05  # the colour scale tops out at the largest share shown, but never below 5 %


def cross_spec(target: TreeIndex, cross: CrossCounts, depth: int | None = None) -> dict[str, Any]:
    """``target``'s sunburst from its root, every topic coloured by the share of the selected
    documents (``cross``) that lie under it; sizes stay the topic's own document counts, so the tree
    keeps its shape and only the colour moves with the selection.

    The scale runs from 0 to the largest share among the topics drawn (the centre always holds all
    of them and is left out), so a selection spread over many topics still shows where it gathers.
    """
    rings = depth if depth is not None else default_depth(target)
    spec = hierarchy_spec(target, ROOT_ID, rings, "sunburst")
    trace = spec["data"][0]
    rows = [target.pos[node_id] for node_id in trace["ids"]]
    shares = cross.shares
    shown = [float(shares[k]) for k in rows if k != 0]
    top = max([MIN_SCALE_TOP, *shown])
    n = cross.n_selected
    hovers = []
    for text, k in zip(trace["hovertext"], rows):
        count = int(cross.counts[k])
        own = count / max(int(target.size[k]), 1)
        hovers.append(f"{text}<br><i>{count:,} of the {n:,} selected documents ({shares[k]:.0%}); {own:.0%} of this topic's</i>")
    trace["hovertext"] = hovers
    marker = trace["marker"]
    marker["colors"] = [0.0 if k == 0 else round(float(shares[k]), 4) for k in rows]  # the centre holds them all: left pale, like the main chart's
    marker.update(
        colorscale=SHARE_SCALE,
        cmin=0.0,
        cmax=round(top, 4),
        showscale=True,
        colorbar={"title": {"text": "share of the selection", "side": "right"}, "tickformat": ".0%", "thickness": 12, "len": 0.8},
    )
    spec["layout"]["margin"]["r"] = 90
    return spec


def _pair(tree_a: TopicTree, tree_b: TopicTree, names: tuple[str, str]) -> FacetIndex:
    return FacetIndex([FacetTree(names[0], tree_a, names[0]), FacetTree(names[1], tree_b, names[1])])


def cross_figure(
    tree_a: TopicTree, tree_b: TopicTree, node: str = ROOT_ID, depth: int | None = None, names: tuple[str, str] = ("A", "B")
) -> go.Figure:
    """Where the documents of ``node`` in ``tree_a`` sit in ``tree_b``: ``tree_b``'s sunburst coloured by share.
    The trees must hold the same document ids (``InputError`` otherwise)."""
    facets = _pair(tree_a, tree_b, names)
    return go.Figure(cross_spec(facets.index(names[1]), facets.cross_counts(names[0], node, names[1]), depth))


def crosstab_spec(table: Crosstab, rows: list[int] | None = None, title: str | None = None) -> dict[str, Any]:
    """The node x node table as a heatmap: colour is the row share, hover the count (``rows``: which rows of A)."""
    keep = list(range(len(table.rows))) if rows is None else rows
    shares = table.row_shares[keep] if keep else np.zeros((0, len(table.columns)))
    y = [plotly_text(f"{table.rows[i]} {shorten(table.row_labels[i], 40)}") for i in keep]
    x = [plotly_text(f"{c} {shorten(label, 30)}") for c, label in zip(table.columns, table.column_labels)]
    counts = table.counts[keep] if keep else np.zeros((0, len(table.columns)), np.int64)
    hover = [[f"{y[r]}<br>{x[c]}<br>{int(counts[r, c]):,} documents ({shares[r, c]:.0%} of the row)" for c in range(len(x))] for r in range(len(y))]
    layout: dict[str, Any] = {
        "margin": {"t": 30 if title else 8, "l": 8, "r": 8, "b": 8},
        "yaxis": {"autorange": "reversed", "automargin": True},
        "xaxis": {"automargin": True, "tickangle": -35},
        "paper_bgcolor": "rgba(0,0,0,0)",
    }
    if title:
        layout["title"] = {"text": plotly_text(title)}
    return {
        "data": [{
            "type": "heatmap", "z": np.round(shares, 4).tolist(), "x": x, "y": y, "zmin": 0.0, "zmax": 1.0,
            "colorscale": SHARE_SCALE, "text": hover, "hoverinfo": "text", "colorbar": {"tickformat": ".0%", "title": {"text": "row share"}},
        }],
        "layout": layout,
    }


def crosstab_figure(table: Crosstab, title: str | None = None) -> go.Figure:
    """``topicmap.hierarchy.analysis.crosstab.crosstab(a, b, ...)`` drawn as a heatmap of row shares (notebooks)."""
    return go.Figure(crosstab_spec(table, title=title))


__all__ = ["SHARE_SCALE", "cross_figure", "cross_spec", "crosstab_figure", "crosstab_spec"]
