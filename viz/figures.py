"""Pure functions from a topic tree to plotly figures; usable from a notebook, used by the app.

Each figure comes in two forms: ``*_spec`` returns a plain dict (fast: no plotly validation, numpy
arrays sent as base64 typed arrays) for callbacks, and ``*_figure`` wraps it in a validated
``go.Figure`` for notebooks. Every piece of untrusted text (labels, keywords, titles) is escaped
once for plotly (``topicmap.viz.index.plotly_text``), which otherwise interprets tags in its strings.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from topicmap.hierarchy.tree.topic_tree import ROOT_ID, Document, TopicTree
from topicmap.viz.index import LABEL_CHARS, PALETTE, TreeIndex, lighten, plotly_text, shorten
from topicmap.viz.map_labels import DEFAULT_PLOT_PX, annotations, full_frame, map_labels

ChartKind = Literal["sunburst", "treemap", "icicle"]
CHART_KINDS: tuple[str, ...] = ("sunburst", "treemap", "icicle")
SELECTED_LINE = "#111111"
HIGHLIGHT_LINE = "#d62728"
HOVER_TITLES_MAX_DOCS = 20_000  # above this the map hovers show the topic only (payload stays small)
RING_BUDGET = 100  # most slices in the outer ring of the first view (see default_depth)
LEGEND_ENTRIES = 12  # most topics the map legend lists; the rest share a "+N more" entry
BASE_OPACITY = 0.7
OUTSIDE_OPACITY = 0.25  # documents outside the current view: grey context, not a topic
OUTSIDE_COLOR = "#c7c7c7"
MORE_COLOR = "#8c8c8c"
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
        trace["insidetextorientation"] = "auto"  # whichever orientation fits the largest text
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


def whole_tree_figure(
    tree: TopicTree | TreeIndex, kind: ChartKind = "sunburst", rings: int | None = None, title: str | None = None
) -> go.Figure:
    """Every node of the tree in one figure, ``rings`` levels shown at a time (default: the app's first
    view, :func:`default_depth`); plotly drills down on click with no server (notebooks, the HTML export)."""
    index = as_index(tree)
    shown = rings if rings is not None else default_depth(index)
    spec = hierarchy_spec(index, ROOT_ID, depth=max(index.max_depth, 1), kind=kind)
    spec["data"][0]["maxdepth"] = shown + 1
    if kind == "treemap":
        spec["data"][0]["pathbar"] = {"visible": True}  # without the app's breadcrumb, the way back up
    if title is not None:
        spec["layout"]["title"] = {"text": plotly_text(title)}
        spec["layout"]["margin"]["t"] = 40
    return go.Figure(spec)


# -- document map --------------------------------------------------------------------------------
@dataclass(frozen=True)
class MapGroup:
    """One base trace of the map: a legend entry, its colour, and its documents as runs of ``doc_order``."""

    name: str  # legend text, already escaped for plotly
    color: str
    runs: tuple[tuple[int, int], ...]  # [lo, hi) slices of index.map_order, in order
    kind: Literal["topic", "more", "outside"]
    node: str | None = None  # the topic's node id (kind "topic")


def map_view(index: TreeIndex, view: str | None) -> str:
    """The node whose children the map colours (unknown ids fall back to the root)."""
    return view if isinstance(view, str) and view in index else ROOT_ID


def map_groups(index: TreeIndex, view: str = ROOT_ID, entries: int = LEGEND_ENTRIES) -> list[MapGroup]:
    """The map's base traces for ``view``: one per child (its colour), never more than ``entries`` topics.

    Why per child of the current view: with hundreds of leaves, a legend per leaf is unreadable and
    one per top-level topic says nothing once the user has drilled in. If the view has more than
    ``entries`` children, the largest ``entries - 1`` keep their own trace and the rest share one
    grey "+N more" trace. Documents outside the view come first (drawn underneath, grey). A node's
    documents are one contiguous run of ``map_order`` (``doc_order``, or its sample on a big tree), so
    every group is a few slices of it.
    """
    view = map_view(index, view)
    v = index.pos[view]
    groups: list[MapGroup] = []
    outside = tuple(r for r in ((0, int(index.map_lo[v])), (int(index.map_hi[v]), len(index.map_order))) if r[1] > r[0])
    if outside:
        groups.append(MapGroup("other documents", OUTSIDE_COLOR, outside, "outside"))
    kids = index.children_pos[v]
    if not kids:
        name = plotly_text(shorten(index.labels[v], LABEL_CHARS))
        groups.append(MapGroup(name, index.colors[v] if v else PALETTE[0], ((int(index.map_lo[v]), int(index.map_hi[v])),), "topic", view))
        return groups
    by_size = sorted(kids, key=lambda c: -int(index.size[c]))
    keep = set(by_size if len(kids) <= entries else by_size[: max(entries - 1, 1)])
    shown = [c for c in kids if c in keep]  # in tree order, as the chart draws them
    for c in shown:
        name = plotly_text(shorten(index.labels[c], LABEL_CHARS))
        groups.append(MapGroup(name, index.colors[c], ((int(index.map_lo[c]), int(index.map_hi[c])),), "topic", index.ids[c]))
    rest = sorted(set(kids) - keep, key=lambda c: int(index.map_lo[c]))
    if rest:
        runs: list[tuple[int, int]] = []
        for c in rest:  # siblings' runs touch when they are neighbours in tree order: merge them
            lo, hi = int(index.map_lo[c]), int(index.map_hi[c])
            if runs and runs[-1][1] == lo:
                runs[-1] = (runs[-1][0], hi)
            elif hi > lo:
                runs.append((lo, hi))
        groups.append(MapGroup(f"+{len(rest)} more", MORE_COLOR, tuple(runs), "more"))
    return groups


def group_rows(index: TreeIndex, group: MapGroup) -> np.ndarray:
    """Document rows of one map trace, in trace order (so ``pointIndex`` indexes this array)."""
    if len(group.runs) == 1:
        lo, hi = group.runs[0]
        return index.map_order[lo:hi]
    return np.concatenate([index.map_order[lo:hi] for lo, hi in group.runs]) if group.runs else np.zeros(0, np.int64)


def map_spec(index: TreeIndex, view: str = ROOT_ID, size_px: tuple[float, float] | None = None) -> dict[str, Any]:
    """Documents as points, coloured and listed in the legend by the children of ``view``, with the
    children's names drawn on the map (:mod:`topicmap.viz.map_labels`, placed for a plot area of ``size_px``).

    One WebGL trace per :func:`map_groups` entry; the server maps ``(curveNumber, pointIndex)`` back
    to a document row with :func:`map_point_rows` given the same view. Two empty overlay traces
    follow the base traces: the selected node's documents, and the search matches. Below the root,
    the axes frame the view's documents (``uirevision`` is the view, so a new view re-frames and
    the user's zoom within a view is kept).
    """
    view = map_view(index, view)
    traces: list[dict[str, Any]] = []
    with_titles = index.n_docs <= HOVER_TITLES_MAX_DOCS
    paths: dict[int, str] = {}  # leaf -> its escaped path, shared by its documents
    for rank, group in enumerate(map_groups(index, view)):  # outside first: drawn underneath
        rows = group_rows(index, group)
        outside = group.kind == "outside"
        trace: dict[str, Any] = {
            "type": "scattergl",
            "mode": "markers",
            "name": group.name,
            "x": typed_array(index.map_x[rows]),
            "y": typed_array(index.map_y[rows]),
            "marker": {"size": 3 if outside else 4, "color": group.color, "opacity": OUTSIDE_OPACITY if outside else BASE_OPACITY},
            "hoverinfo": "text" if with_titles and not outside else "name",
            "legendrank": {"topic": rank, "more": 1000, "outside": 2000}[group.kind],  # topics, "+N more", "other"
        }
        if with_titles and not outside:  # context points hover with their trace name: a redraw stays small
            trace["hovertext"] = [_doc_hover(index, r, doc, paths) for r, doc in zip(rows.tolist(), index.documents(rows))]
        traces.append(trace)
    traces.append(_overlay("selected topic", "#111111", symbol="circle", size=5))
    traces.append(_overlay("search matches", HIGHLIGHT_LINE, symbol="diamond", size=8))
    title = "Topics" if view == ROOT_ID else f"Topics in {plotly_text(shorten(index.labels[index.pos[view]], LABEL_CHARS))}"
    if index.map_sampled:  # a browser cannot take millions of points: say that a sample is drawn
        title += f"<br><i>{sample_notice(index)}</i>"
    whole = full_frame(index, index.pos[view], size_px or DEFAULT_PLOT_PX)
    layout: dict[str, Any] = {
        "annotations": annotations(map_labels(index, index.pos[view], whole)),
        "meta": {"view": view},  # the page reports zoom with it, so labels are placed for the map on screen
        "margin": {"t": 8, "l": 8, "r": 8, "b": 8},
        "dragmode": "lasso",
        "uirevision": f"map:{view}",
        "xaxis": {"visible": False},
        "yaxis": {"visible": False, "scaleanchor": "x"},
        "legend": {"itemsizing": "constant", "font": {"size": 11}, "title": {"text": title}},
        "hovermode": "closest",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
    }
    if index.doc_count(view):  # the frame the labels were placed for (uint16 map units: never a single point)
        layout["xaxis"]["range"] = [whole.x0, whole.x1]
        layout["yaxis"]["range"] = [whole.y0, whole.y1]
    return {"data": traces, "layout": layout}


def sample_notice(index: TreeIndex) -> str:
    """What the map says when it draws a sample of a big tree's documents."""
    return f"a sample of {len(index.map_order):,} of {index.n_docs:,} documents, every topic in proportion"


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


def map_point_rows(index: TreeIndex, points: list[Mapping[str, Any]], view: str = ROOT_ID) -> np.ndarray:
    """Document rows of points from plotly ``selectedData``/``clickData`` on the map drawn for ``view``;
    overlay points ignored."""
    groups = map_groups(index, view)
    rows: list[int] = []
    cache: dict[int, np.ndarray] = {}
    for point in points[: 3 * index.n_docs]:  # the map draws each document at most 3 times (base trace, 2 overlays)
        if not isinstance(point, Mapping):
            continue
        curve, k = point.get("curveNumber"), point.get("pointIndex", point.get("pointNumber"))
        if not isinstance(curve, int) or not isinstance(k, int) or not 0 <= curve < len(groups):
            continue
        if curve not in cache:
            cache[curve] = group_rows(index, groups[curve])
        if 0 <= k < len(cache[curve]):
            rows.append(int(cache[curve][k]))
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


def _doc_hover(index: TreeIndex, row: int, doc: Document, paths: dict[int, str]) -> str:
    """A point's hover: the document's title, then its topic path (root to leaf) in grey."""
    leaf = int(index.doc_leaf_pos[row])
    if leaf not in paths:
        names = [shorten(index.labels[index.pos[node_id]], 40) for node_id in index.path_ids(index.ids[leaf])[1:]]
        paths[leaf] = plotly_text(" › ".join(names))
    return f"<b>{plotly_text(shorten(doc.title or doc.text, 80))}</b><br><span style='color:#666'>{paths[leaf]}</span>"


def map_overlay(index: TreeIndex, rows: np.ndarray | None) -> dict[str, Any]:
    """x/y of an overlay trace for ``rows`` (empty when ``rows`` is None)."""
    if rows is None or len(rows) == 0:
        return {"x": [], "y": []}
    rows = index.drawn_rows(rows)
    return {"x": typed_array(index.map_x[rows]), "y": typed_array(index.map_y[rows])}


def overlay_positions(index: TreeIndex, view: str = ROOT_ID) -> tuple[int, int]:
    """Trace numbers of the (selected-topic, search) overlays in the map figure drawn for ``view``."""
    n = len(map_groups(index, view))
    return n, n + 1


def document_map_figure(
    tree: TopicTree | TreeIndex, selected: str | None = None, search: str | None = None, view: str = ROOT_ID
) -> go.Figure:
    """The document map coloured by ``view``'s children, optionally with a node's documents and a
    query's matches overlaid."""
    index = as_index(tree)
    spec = map_spec(index, view)
    sel_pos, search_pos = overlay_positions(index, view)
    if selected and selected in index and selected not in (ROOT_ID, map_view(index, view)):
        spec["data"][sel_pos].update(map_overlay(index, index.node_doc_rows(selected)))
    if search:
        spec["data"][search_pos].update(map_overlay(index, index.search(search).doc_rows))
    return go.Figure(spec)


# -- standalone export -----------------------------------------------------------------------------
EXPORT_MAP_PX = (1100, 720)  # the exported map's fixed size, so its names are placed for what is drawn
_EXPORT_ZOOM_JS = """
(function () {
  var gd = document.getElementById("tm-export-map");
  var sets = JSON.parse(document.getElementById("tm-label-sets").textContent);
  var base = null, shown = 0;
  gd.on("plotly_relayout", function () {
    var xr = gd._fullLayout.xaxis.range, yr = gd._fullLayout.yaxis.range;
    var span = Math.max(xr[1] - xr[0], yr[1] - yr[0]);
    if (base === null) { base = sets.span; }
    var level = Math.min(sets.levels.length - 1, Math.max(0, Math.floor(Math.log2(base / span) + 1e-9)));
    if (level !== shown) { shown = level; Plotly.relayout(gd, {annotations: sets.levels[level]}); }
  });
})();
"""


def standalone_html(tree: TopicTree | TreeIndex, depth: int | None = None, title: str = "topicmap") -> str:
    """A self-contained HTML page with the sunburst and the labelled document map (plotly.js inline
    once): opens with no server or CDN.

    The whole tree is embedded; plotly drills down on click in the browser, showing ``depth``
    rings at a time (default: the app's first-view depth). The map shows the top level's names;
    zooming in (each doubling) swaps in the next level's, placed in advance for that zoom.
    """
    import html
    import json

    from topicmap.viz.map_labels import zoom_label_sets

    index = as_index(tree)
    sunburst = whole_tree_figure(index, kind="sunburst", rings=depth, title=title)
    map_dict = map_spec(index, ROOT_ID, (EXPORT_MAP_PX[0] - 16, EXPORT_MAP_PX[1] - 16))
    map_dict["data"] = map_dict["data"][:-2]  # no selection or search overlays without a server
    map_dict["layout"].update(width=EXPORT_MAP_PX[0], height=EXPORT_MAP_PX[1], dragmode="zoom")
    frame = full_frame(index, 0, (EXPORT_MAP_PX[0] - 16, EXPORT_MAP_PX[1] - 16))
    sets = [annotations(labels) for labels in zoom_label_sets(index, frame)]
    if sets:
        map_dict["layout"]["annotations"] = sets[0]
    config = {"displaylogo": False, "responsive": True}
    chart_html = pio.to_html(sunburst, include_plotlyjs=True, full_html=False, config=config, default_height="90vh")
    map_html = pio.to_html(go.Figure(map_dict), include_plotlyjs=False, full_html=False, config={"displaylogo": False, "scrollZoom": True}, div_id="tm-export-map")
    label_sets = json.dumps({"span": max(frame.x1 - frame.x0, frame.y1 - frame.y0), "levels": sets}).replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n</head>\n<body style=\"font-family: sans-serif; margin: 8px\">\n"
        f"{chart_html}\n<h3>Document map</h3>\n<div class=\"tm-export-map\">{map_html}</div>\n"
        f"<script type=\"application/json\" id=\"tm-label-sets\">{label_sets}</script>\n"
        f"<script>{_EXPORT_ZOOM_JS}</script>\n</body>\n</html>\n"
    )
