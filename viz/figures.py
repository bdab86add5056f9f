"""Pure functions from a topic tree to plotly figures; usable from a notebook, used by the app.

Each figure comes in two forms: ``*_spec`` returns a plain dict (fast: no plotly validation, numpy
arrays sent as base64 typed arrays) for callbacks, and ``*_figure`` wraps it in a validated
``go.Figure`` for notebooks. Every piece of untrusted text (labels, keywords, titles) is
HTML-escaped before it reaches plotly, which otherwise interprets tags in its strings.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from hierarchy.tree import ROOT_ID, TopicTree
from viz.index import LABEL_CHARS, TreeIndex, lighten, plotly_text, shorten

ChartKind = Literal["sunburst", "treemap", "icicle"]
CHART_KINDS: tuple[str, ...] = ("sunburst", "treemap", "icicle")
SELECTED_LINE = "#111111"
HIGHLIGHT_LINE = "#d62728"
HOVER_TITLES_MAX_DOCS = 20_000  # above this the map hovers show the topic only (payload stays small)
RING_BUDGET = 100  # most slices in the outer ring of the first view (see default_depth)
MIN_TEXT_PX = 10  # segment labels that would be drawn smaller are hidden (plotly uniformtext)


def as_index(tree: TopicTree | TreeIndex) -> TreeIndex:
    """Accept a tree (notebook use) or a prebuilt index (the app builds it once)."""
    return tree if isinstance(tree, TreeIndex) else TreeIndex(tree)


_TYPED = {"<f4": "f4", "<f8": "f8", "<i4": "i4", "<u2": "u2"}


def typed_array(values: np.ndarray) -> dict[str, str]:
    """plotly.js's base64 typed-array form: a fraction of the JSON size of a number list."""
    array = np.ascontiguousarray(values, dtype=np.asarray(values).dtype.newbyteorder("<"))
    return {"dtype": _TYPED[array.dtype.str], "bdata": base64.b64encode(array.tobytes()).decode("ascii")}


def default_depth(tree: TopicTree | TreeIndex, ring_budget: int = RING_BUDGET, most: int = 3) -> int:
    """Rings for the first view: the most (up to ``most``) whose outermost ring has <= ``ring_budget`` slices.

    Why a per-ring count: a ring of 100 slices averages 3.6 degrees each, about one line of radial text
    at the rim of the app's chart; past that most slices are slivers with no label. A tree of 8/60/400/2,000
    nodes per level therefore opens at 2 rings (68 slices), not at 3 (468, most of them unlabelled slivers), and
    a 3-level tree of ~20 leaves opens with all 3. At least one ring is shown, however wide the top level.
    """
    index = as_index(tree)
    counts = np.bincount(index.depth, minlength=index.max_depth + 1) if index.n_nodes else np.zeros(1, np.int64)
    depth = 1
    for d in range(2, min(most, index.max_depth) + 1):
        if counts[d] > ring_budget:
            break
        depth = d
    return depth


# -- sunburst / treemap / icicle ----------------------------------------------------------------
def hierarchy_spec(
    index: TreeIndex,
    view: str = ROOT_ID,
    depth: int = 3,
    kind: str = "sunburst",
    highlight: Mapping[str, int] | set[str] | None = None,
    selected: str | None = None,
) -> dict[str, Any]:
    """The tree below ``view``, ``depth`` rings deep, as a plotly figure dict.

    Only the visible window is sent, so a 5,000-node tree costs what its first rings cost. Sizes
    are document counts (``branchvalues="total"``). ``highlight`` (node ids, optionally with hit
    counts) fades every other node; ``selected`` gets a dark outline.
    """
    if kind not in CHART_KINDS:
        raise ValueError(f"kind must be one of {CHART_KINDS}, not {kind!r}")
    if view not in index:
        view = ROOT_ID
    window = index.window(view, depth).tolist()
    view_pos = index.pos[view]
    ids = [index.ids[i] for i in window]
    parents = ["" if i == view_pos else index.ids[index.parent_pos[i]] for i in window]
    values = index.size[window].tolist()
    labels = [index.segment_text[i] for i in window]
    hover = [index.hover_text[i] for i in window]
    colors = [index.colors[i] for i in window]
    line_colors = ["#ffffff"] * len(window)
    line_widths = [1.0] * len(window)
    if highlight is not None:
        counts = highlight if isinstance(highlight, Mapping) else dict.fromkeys(highlight, 0)
        for k, node_id in enumerate(ids):
            if node_id in counts:
                line_colors[k] = HIGHLIGHT_LINE
                line_widths[k] = 2.5
                if counts[node_id]:
                    hover[k] = f"{hover[k]}<br><i>{counts[node_id]:,} matching documents</i>"
                else:
                    hover[k] = f"{hover[k]}<br><i>matches the search</i>"
            else:
                colors[k] = lighten(colors[k], 0.8)
    if selected in index and selected in ids:
        k = ids.index(selected)
        line_colors[k] = SELECTED_LINE
        line_widths[k] = 4.0
    trace: dict[str, Any] = {
        "type": kind,
        "ids": ids,
        "parents": parents,
        "values": values,
        "labels": labels,
        "hovertext": hover,
        "hoverinfo": "text",
        "branchvalues": "total",
        "marker": {"colors": colors, "line": {"color": line_colors, "width": line_widths}},
        "level": view,
        "sort": False,
    }
    if kind == "sunburst":
        trace["insidetextorientation"] = "radial"
    if kind == "treemap":
        trace["pathbar"] = {"visible": False}
    return {
        "data": [trace],
        "layout": {
            "margin": {"t": 8, "l": 8, "r": 8, "b": 8},
            "hoverlabel": {"align": "left"},
            # a label that fits its segment only below MIN_TEXT_PX is hidden, not shrunk to a smudge;
            # every drawn label has one size (hover and the details panel still name every segment)
            "uniformtext": {"minsize": MIN_TEXT_PX, "mode": "hide"},
            "paper_bgcolor": "rgba(0,0,0,0)",
        },
    }


def hierarchy_figure(
    tree: TopicTree | TreeIndex,
    view: str = ROOT_ID,
    depth: int = 3,
    kind: ChartKind = "sunburst",
    highlight: Mapping[str, int] | set[str] | None = None,
    selected: str | None = None,
) -> go.Figure:
    """Sunburst (or treemap / icicle) of the tree below ``view``, sized by document count."""
    return go.Figure(hierarchy_spec(as_index(tree), view, depth, kind, highlight, selected))


def sunburst_figure(tree: TopicTree | TreeIndex, view: str = ROOT_ID, depth: int = 3) -> go.Figure:
    return hierarchy_figure(tree, view=view, depth=depth, kind="sunburst")


# -- document map --------------------------------------------------------------------------------
def map_spec(index: TreeIndex) -> dict[str, Any]:
    """Documents as points, one WebGL trace per top-level topic (its colour and legend entry).

    Within a trace, points are in tree order, so the server maps ``(curveNumber, pointIndex)``
    back to a document row via :func:`map_point_rows`. Two empty overlay traces follow the base
    traces: the selected node's documents, and the search matches.
    """
    traces: list[dict[str, Any]] = []
    with_titles = index.n_docs <= HOVER_TITLES_MAX_DOCS
    for top in _map_groups(index):
        rows = map_group_rows(index, top)
        name = plotly_text(shorten(index.labels[top], LABEL_CHARS)) if top >= 0 else "All documents"
        trace: dict[str, Any] = {
            "type": "scattergl",
            "mode": "markers",
            "name": name,
            "x": typed_array(index.map_x[rows]),
            "y": typed_array(index.map_y[rows]),
            "marker": {"size": 4, "color": index.top_color(top) if top >= 0 else "#4e79a7", "opacity": 0.7},
            "hoverinfo": "text" if with_titles else "name",
        }
        if with_titles:
            trace["hovertext"] = [_doc_hover(index, r) for r in rows.tolist()]
        traces.append(trace)
    traces.append(_overlay("selected topic", "#111111", symbol="circle", size=5))
    traces.append(_overlay("search matches", HIGHLIGHT_LINE, symbol="diamond", size=8))
    return {
        "data": traces,
        "layout": {
            "margin": {"t": 8, "l": 8, "r": 8, "b": 8},
            "dragmode": "lasso",
            "uirevision": "map",
            "xaxis": {"visible": False},
            "yaxis": {"visible": False, "scaleanchor": "x"},
            "legend": {"itemsizing": "constant", "font": {"size": 11}},
            "hovermode": "closest",
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
        },
    }


def map_placeholder() -> dict[str, Any]:
    """What the map shows until its points are loaded."""
    return {
        "data": [],
        "layout": {
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
            "annotations": [{"text": "loading the document map…", "showarrow": False, "font": {"color": "#888"}}],
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "margin": {"t": 8, "l": 8, "r": 8, "b": 8},
        },
    }


def apply_updates(spec: dict[str, Any], updates: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """Apply {trace number: {"dotted.key": value}} to a figure dict in place (same shape as a Patch)."""
    for trace, fields in updates.items():
        for dotted, value in fields.items():
            target = spec["data"][trace]
            *head, last = dotted.split(".")
            for part in head:
                target = target.setdefault(part, {})
            target[last] = value
    return spec


def _map_groups(index: TreeIndex) -> list[int]:
    return list(index.top_level) if index.top_level else [-1]


def map_group_rows(index: TreeIndex, top: int) -> np.ndarray:
    """Document rows of one map trace, in tree order (so ``pointIndex`` indexes this array)."""
    if top < 0:
        return index.doc_order
    return index.doc_order[index.doc_lo[top] : index.doc_hi[top]]


def map_point_rows(index: TreeIndex, points: list[Mapping[str, Any]]) -> np.ndarray:
    """Document rows of points from plotly ``selectedData``/``clickData``; overlay points ignored."""
    groups = _map_groups(index)
    rows: list[int] = []
    for point in points:
        if not isinstance(point, Mapping):
            continue
        curve, k = point.get("curveNumber"), point.get("pointIndex", point.get("pointNumber"))
        if not isinstance(curve, int) or not isinstance(k, int) or not 0 <= curve < len(groups):
            continue
        start = 0 if groups[curve] < 0 else int(index.doc_lo[groups[curve]])
        end = index.n_docs if groups[curve] < 0 else int(index.doc_hi[groups[curve]])
        if 0 <= start + k < end:
            rows.append(int(index.doc_order[start + k]))
    return np.unique(np.array(rows, dtype=np.int64))


def _overlay(name: str, color: str, symbol: str, size: int) -> dict[str, Any]:
    return {
        "type": "scattergl",
        "mode": "markers",
        "name": name,
        "x": [],
        "y": [],
        "marker": {"size": size, "color": color, "symbol": symbol, "opacity": 0.95},
        "hoverinfo": "skip",
        "showlegend": False,
    }


def _doc_hover(index: TreeIndex, row: int) -> str:
    doc = index.tree.documents[row]
    return plotly_text(shorten(doc.title or doc.text, 80))


def map_overlay(index: TreeIndex, rows: np.ndarray | None) -> dict[str, Any]:
    """x/y of an overlay trace for ``rows`` (empty when ``rows`` is None)."""
    if rows is None or len(rows) == 0:
        return {"x": [], "y": []}
    return {"x": typed_array(index.map_x[rows]), "y": typed_array(index.map_y[rows])}


def overlay_positions(index: TreeIndex) -> tuple[int, int]:
    """Trace numbers of the (selected-topic, search) overlays in the map figure."""
    n = len(_map_groups(index))
    return n, n + 1


def document_map_figure(
    tree: TopicTree | TreeIndex, selected: str | None = None, search: str | None = None
) -> go.Figure:
    """The document map, optionally with a node's documents and a query's matches overlaid."""
    index = as_index(tree)
    spec = map_spec(index)
    sel_pos, search_pos = overlay_positions(index)
    if selected and selected in index and selected != ROOT_ID:
        spec["data"][sel_pos].update(map_overlay(index, index.node_doc_rows(selected)))
    if search:
        spec["data"][search_pos].update(map_overlay(index, index.search(search).doc_rows))
    return go.Figure(spec)


# -- standalone export -----------------------------------------------------------------------------
def standalone_html(tree: TopicTree | TreeIndex, depth: int | None = None, title: str = "topicmap") -> str:
    """A self-contained HTML page with the sunburst (plotly.js inline): opens with no server or CDN.

    The whole tree is embedded; plotly drills down on click in the browser, showing ``depth``
    rings at a time (default: the app's first-view depth).
    """
    index = as_index(tree)
    rings = depth if depth is not None else default_depth(index)
    spec = hierarchy_spec(index, ROOT_ID, depth=max(index.max_depth, 1), kind="sunburst")
    spec["data"][0]["maxdepth"] = rings + 1
    spec["layout"]["title"] = {"text": plotly_text(title)}
    spec["layout"]["margin"]["t"] = 40
    figure = go.Figure(spec)
    return pio.to_html(
        figure,
        include_plotlyjs=True,
        full_html=True,
        config={"displaylogo": False, "responsive": True},
        default_height="95vh",
    )
