"""Callbacks: plain functions of (index, inputs) -> outputs, plus :func:`register` that wires them.

Keeping the logic in plain functions means tests call them directly, with no server and no Dash
context; ``register`` only adapts Dash's trigger information and wraps results (e.g. in ``Patch``).
Untrusted text is only ever placed as component children or plain props, which React escapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from itertools import islice
from typing import Any

from dash import ALL, Dash, Input, Output, Patch, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from topicmap.hierarchy.tree.topic_tree import ROOT_ID
from topicmap.hierarchy.tree.treefile import assignments_csv, tree_to_dict
from topicmap.viz.figures import (
    BASE_OPACITY,
    CHART_KINDS,
    OUTSIDE_OPACITY,
    apply_updates,
    hierarchy_spec,
    map_groups,
    map_overlay,
    map_point_rows,
    map_spec,
    map_view,
    overlay_positions,
    standalone_html,
)
from topicmap.viz.index import TreeIndex, shorten
from topicmap.viz.map_labels import annotations, frame_from_browser, map_labels
from topicmap.viz.details import Nav, breadcrumbs, clean_nav, document_page, node_details, page_number
from topicmap.viz.ids import Ids, goto_button
from topicmap.viz.layout import MAX_DEPTH_CONTROL
from topicmap.viz.search import MAX_QUERY_CHARS, MAX_QUERY_TERMS, SearchResult
from topicmap.viz.trend_figures import color_by_growth, index_trends

RESULT_NODES = 12
RESULT_DOCS = 10
DIMMED_OPACITY = 0.2
DIMMED_OUTSIDE_OPACITY = 0.1


# -- navigation ---------------------------------------------------------------------------------
def goto(index: TreeIndex, node_id: str) -> Nav:
    """Select a node and centre the chart on it (on its parent if it is a leaf, so it stays visible)."""
    if node_id not in index:
        raise PreventUpdate
    if index.children_pos[index.pos[node_id]] or node_id == ROOT_ID:
        return {"view": node_id, "selected": node_id}
    return {"view": index.node(node_id).parent or ROOT_ID, "selected": node_id}


def chart_click(index: TreeIndex, click_data: Mapping[str, Any] | None, nav: Mapping[str, Any] | None) -> Nav:
    """Segment click drills down (and selects); a click on the centre goes up one level."""
    state = clean_nav(index, nav)
    points = click_data.get("points") if isinstance(click_data, Mapping) else None
    if not isinstance(points, list):
        raise PreventUpdate
    node_id = points[0].get("id") if points and isinstance(points[0], Mapping) else None
    if not isinstance(node_id, str) or node_id not in index:
        raise PreventUpdate
    if node_id == state["view"] and node_id != ROOT_ID:
        parent = index.node(node_id).parent or ROOT_ID
        return {"view": parent, "selected": parent}
    if node_id == state["view"]:
        return {"view": ROOT_ID, "selected": ROOT_ID}
    if index.children_pos[index.pos[node_id]]:
        return {"view": node_id, "selected": node_id}
    return {"view": state["view"], "selected": node_id}


def map_click(index: TreeIndex, click_data: Mapping[str, Any] | None, shown: Any = ROOT_ID) -> Nav:
    """Clicking a document on the map selects the leaf it belongs to (``shown``: the map's view)."""
    points = click_data.get("points") if isinstance(click_data, Mapping) else None
    rows = map_point_rows(index, points if isinstance(points, list) else [], map_view(index, shown))
    if len(rows) == 0:
        raise PreventUpdate
    return goto(index, index.ids[index.doc_leaf_pos[rows[0]]])


# -- chart -----------------------------------------------------------------------------------------
def chart_figure(
    index: TreeIndex,
    nav: Mapping[str, Any] | None,
    depth: Any,
    kind: Any,
    query: str | None,
    map_pick: Mapping[str, Any] | None,
    color: Any = "topic",
) -> dict[str, Any]:
    """The chart for the current view, depth and chart kind, with search / map-selection highlight;
    ``color`` "growth" colours a dated tree's segments by growth (``topicmap.viz.trend_figures``)."""
    state = clean_nav(index, nav)
    rings = int(depth) if isinstance(depth, (int, float)) and 1 <= depth <= MAX_DEPTH_CONTROL else 2
    kind = kind if kind in CHART_KINDS else "sunburst"
    highlight: dict[str, int] | None = None
    result = index.search(query) if isinstance(query, str) else None
    if result is not None and result.terms:
        highlight = dict(result.node_hits)
    if isinstance(map_pick, Mapping) and isinstance(map_pick.get("nodes"), Mapping):
        highlight = highlight or {}
        for node_id, count in islice(map_pick["nodes"].items(), index.n_nodes):  # no more than the tree has
            if node_id in index and isinstance(count, int):
                highlight[node_id] = max(highlight.get(node_id, 0), count)
    spec = hierarchy_spec(index, state["view"], rings, kind, highlight=highlight, selected=state["selected"])
    trends = index_trends(index) if color == "growth" else None
    return color_by_growth(spec, index, trends) if trends is not None else spec


# -- search and map selection ------------------------------------------------------------------------
def search_results(index: TreeIndex, query: str | None) -> list[Any]:
    """Matching topics (by label) and documents, each a link that selects the node.

    Says so when the query was shortened or the scan stopped at its time limit (``topicmap.viz.search``)."""
    result = index.search(query) if isinstance(query, str) else None
    if result is None or not result.terms:
        return []
    out: list[Any] = [html.H3(f"Search: {shorten(result.query, 60)}", className="tm-subhead")]
    notices = search_notices(result)
    if notices:
        out.append(html.P(" ".join(notices), className="tm-notice", id="search-notice"))
    out.append(
        html.P(
            f"{len(result.doc_rows):,} documents and {len(result.label_matches):,} topics match",
            className="tm-muted",
            id="search-summary",
        )
    )
    if result.label_matches:
        out.append(html.Ul([
            html.Li(goto_button(node_id, shorten(index.labels[index.pos[node_id]], 60), f"search-node-{k}"))
            for k, node_id in enumerate(result.label_matches[:RESULT_NODES])
        ], className="tm-children"))
    if len(result.doc_rows):
        items = []
        shown = result.doc_rows[:RESULT_DOCS]
        for row, doc in zip(shown.tolist(), index.documents(shown)):
            items.append(html.Li([goto_button(doc.leaf, shorten(doc.title or doc.id, 60), f"search-doc-{row}"), html.Span(" " + index.snippet(row, doc)[:90], className="tm-snippet")]))
        out.append(html.Ul(items, className="tm-results"))
    return out


def search_notices(result: SearchResult) -> list[str]:
    """What the user should know about how the search was bounded."""
    notices = []
    if result.shortened:
        notices.append(
            f"The search was shortened to its first {MAX_QUERY_CHARS} characters and at most "
            f"{MAX_QUERY_TERMS} different words."
        )
    if not result.complete:
        notices.append(
            f"The search stopped at its time limit after {result.docs_scanned:,} of {result.docs_total:,} "
            "documents, so more may match: a more specific word searches faster."
        )
    if result.limited:
        notices.append(
            f"More than {result.limited:,} documents match: counts, the map and this list use the first "
            f"{result.limited:,} of them. A more specific word narrows it."
        )
    return notices


def map_selection(
    index: TreeIndex, selected_data: Mapping[str, Any] | None, shown: Any = ROOT_ID
) -> tuple[list[Any], dict[str, Any] | None]:
    """Which nodes the lasso-selected documents fall in: a ranked list, and hits for the chart.
    ``shown`` is the view the map was drawn for (its traces depend on it)."""
    points = selected_data.get("points") if isinstance(selected_data, Mapping) else None
    rows = map_point_rows(index, points if isinstance(points, list) else [], map_view(index, shown))
    if len(rows) == 0:
        return [], None
    hits = index.nodes_of_rows(rows)
    hits.pop(ROOT_ID, None)
    ranked = sorted(hits.items(), key=lambda kv: (-index.depth[index.pos[kv[0]]], -kv[1]))
    # the deepest nodes say most; show the most populated ones at each level, deepest first
    by_level: dict[int, list[tuple[str, int]]] = {}
    for node_id, count in ranked:
        by_level.setdefault(int(index.depth[index.pos[node_id]]), []).append((node_id, count))
    out: list[Any] = [html.H3(f"Map selection: {len(rows):,} documents", className="tm-subhead", id="map-selection-title")]
    for level in sorted(by_level):
        items = sorted(by_level[level], key=lambda kv: -kv[1])[:8]
        out.append(html.Div(f"level {level}", className="tm-muted"))
        out.append(html.Ul([
            html.Li([goto_button(node_id, shorten(index.labels[index.pos[node_id]], 50), f"pick-{node_id}"), html.Span(f" {count:,}", className="tm-muted")])
            for node_id, count in items
        ], className="tm-children"))
    return out, {"n": int(len(rows)), "nodes": hits}


def map_highlight(index: TreeIndex, trigger: Any, nav: Mapping[str, Any] | None, query: str | None) -> dict[int, dict[str, Any]]:
    """Trace updates for the map drawn for the current view: the selected node's documents and the
    search matches overlaid, the rest dimmed. Returned as {trace number: fields}; only what
    ``trigger`` changed is included.

    The view's own documents are already coloured by its children, so selecting the view itself
    overlays nothing; a node selected inside it (a leaf clicked in place) is overlaid in its colour.
    """
    state = clean_nav(index, nav)
    view, node_id = state["view"], state["selected"]
    groups = map_groups(index, view)
    sel_pos, search_pos = overlay_positions(index, view)
    node_rows = None if node_id in (ROOT_ID, view) else index.node_doc_rows(node_id)
    search = index.search(query) if isinstance(query, str) else None
    search_rows = search.doc_rows if search is not None and search.terms else None
    updates: dict[int, dict[str, Any]] = {}
    if trigger in (None, Ids.NAV):
        updates[sel_pos] = map_overlay(index, node_rows)
        if node_rows is not None:
            updates[sel_pos]["marker.color"] = index.colors[index.pos[node_id]]
    if trigger in (None, Ids.SEARCH):
        updates[search_pos] = map_overlay(index, search_rows)
    active = node_rows is not None or (search_rows is not None and len(search_rows) > 0)
    for t, group in enumerate(groups):
        if group.kind == "outside":
            updates[t] = {"marker.opacity": DIMMED_OUTSIDE_OPACITY if active else OUTSIDE_OPACITY}
        else:
            updates[t] = {"marker.opacity": DIMMED_OPACITY if active else BASE_OPACITY}
    return updates


def full_map(index: TreeIndex, nav: Mapping[str, Any] | None, query: str | None, frame: Any = None) -> dict[str, Any]:
    """The whole map figure for the current view, with the selection and search already overlaid;
    labels placed for the plot size the page last reported (``frame``), if any."""
    view = clean_nav(index, nav)["view"]
    reported = frame_from_browser(frame)
    size = (reported.width_px, reported.height_px) if reported else None
    return apply_updates(map_spec(index, view, size), map_highlight(index, None, nav, query))


def map_label_click(index: TreeIndex, data: Any) -> Nav:
    """A topic name clicked on the map selects that topic everywhere (as a sunburst click would)."""
    node_id = data.get("node") if isinstance(data, Mapping) else None
    if not isinstance(node_id, str) or node_id not in index:
        raise PreventUpdate
    return goto(index, node_id)


def relabel_map(index: TreeIndex, frame: Any, shown: Any) -> dict[int | str, Any]:
    """Labels for the map as the page shows it now (zoomed or panned): ``{"annotations": [...]}``.

    Ignored (PreventUpdate) when the report is malformed or was made for another view than ``shown``."""
    reported = frame_from_browser(frame)
    view = map_view(index, shown)
    if reported is None or not isinstance(frame, Mapping) or frame.get("view") != view:
        raise PreventUpdate
    return {"annotations": annotations(map_labels(index, index.pos[view], reported))}


def map_is_stale(index: TreeIndex, nav: Mapping[str, Any] | None, shown: Any) -> bool:
    """True when the map in the browser was drawn for another view than the current one.

    A new view regroups the traces (legend and colours follow the level the user is in), so the
    whole figure is sent again; within the same view a patch of overlays and opacities is enough.
    """
    return clean_nav(index, nav)["view"] != map_view(index, shown)


def to_patch(updates: Mapping[int, Mapping[str, Any]]) -> Patch:
    """Turn {trace: {"a.b": value}} into a Dash Patch so only these fields travel to the browser."""
    patch = Patch()
    for trace, fields in updates.items():
        for dotted, value in fields.items():
            target = patch["data"][trace]
            *head, last = dotted.split(".")
            for part in head:
                target = target[part]
            target[last] = value
    return patch


# -- export ------------------------------------------------------------------------------------------
def export_payload(index: TreeIndex, trigger: Any, html_cache: dict[str, str]) -> dict[str, Any]:
    """The file for an export button, in dcc.Download's format."""
    if trigger == Ids.EXPORT_JSON:
        content = json.dumps(tree_to_dict(index.tree), ensure_ascii=False, separators=(",", ":"))
        return dcc.send_string(content, "topicmap-tree.json", type="application/json")
    if trigger == Ids.EXPORT_CSV:
        return dcc.send_string(assignments_csv(index.tree), "topicmap-assignments.csv", type="text/csv")
    if trigger == Ids.EXPORT_HTML:
        if "html" not in html_cache:
            html_cache["html"] = standalone_html(index)
        return dcc.send_string(html_cache["html"], "topicmap-sunburst.html", type="text/html")
    raise PreventUpdate


# -- wiring ------------------------------------------------------------------------------------------
def _trigger() -> Any:
    """The id of the input that fired, or None on the initial call."""
    return ctx.triggered_id


def register(app: Dash, index: TreeIndex) -> None:
    """Attach every callback to ``app``, closing over the prebuilt ``index``."""
    html_cache: dict[str, str] = {}

    @app.callback(
        Output(Ids.NAV, "data"),
        Input(Ids.CHART, "clickData"),
        Input(Ids.MAP, "clickData"),
        Input({"type": Ids.GOTO, "node": ALL, "slot": ALL}, "n_clicks"),
        Input(Ids.MAP_LABEL, "data"),
        State(Ids.NAV, "data"),
        State(Ids.MAP_VIEW, "data"),
        prevent_initial_call=True,
    )
    def _navigate(chart_click_data: Any, map_click_data: Any, _goto_clicks: Any, label_click: Any, nav: Any, shown: Any) -> Nav:
        trigger = _trigger()
        if trigger == Ids.CHART:
            return chart_click(index, chart_click_data, nav)
        if trigger == Ids.MAP:
            return map_click(index, map_click_data, shown)
        if trigger == Ids.MAP_LABEL:
            return map_label_click(index, label_click)
        if isinstance(trigger, Mapping) and trigger.get("type") == Ids.GOTO:
            if not any(t.get("value") for t in ctx.triggered):  # buttons just created, not clicked
                raise PreventUpdate
            return goto(index, str(trigger.get("node")))
        raise PreventUpdate

    @app.callback(
        Output(Ids.CHART, "figure"),
        Input(Ids.NAV, "data"),
        Input(Ids.DEPTH, "value"),
        Input(Ids.CHART_KIND, "value"),
        Input(Ids.SEARCH, "value"),
        Input(Ids.MAP_PICK, "data"),
        Input(Ids.CHART_COLOR, "data"),
        prevent_initial_call=True,
    )
    def _chart(nav: Any, depth: Any, kind: Any, query: Any, map_pick: Any, color: Any) -> dict[str, Any]:
        return chart_figure(index, nav, depth, kind, query, map_pick, color)

    @app.callback(Output(Ids.CRUMBS, "children"), Output(Ids.NODE_DETAILS, "children"), Input(Ids.NAV, "data"), prevent_initial_call=True)
    def _details(nav: Any) -> tuple[list[Any], list[Any]]:
        return breadcrumbs(index, nav), node_details(index, nav)

    @app.callback(
        Output(Ids.DOC_PAGE, "data"),
        Input(Ids.NAV, "data"),
        Input(Ids.PREV, "n_clicks"),
        Input(Ids.NEXT, "n_clicks"),
        State(Ids.DOC_PAGE, "data"),
        prevent_initial_call=True,
    )
    def _page(nav: Any, _prev: Any, _next: Any, page: Any) -> int:
        return page_number(index, _trigger(), nav, page)

    @app.callback(
        Output(Ids.DOC_LIST, "children"),
        Output(Ids.PAGE_INFO, "children"),
        Output(Ids.PREV, "disabled"),
        Output(Ids.NEXT, "disabled"),
        Input(Ids.DOC_PAGE, "data"),
        Input(Ids.NAV, "data"),  # also an input: Dash runs this once, after the page reset
        prevent_initial_call=True,  # the layout holds the first page
    )
    def _documents(page: Any, nav: Any) -> tuple[list[Any], str, bool, bool]:
        return document_page(index, nav, page)

    @app.callback(Output(Ids.SEARCH_RESULTS, "children"), Input(Ids.SEARCH, "value"), prevent_initial_call=True)
    def _search(query: Any) -> list[Any]:
        return search_results(index, query if isinstance(query, str) else None)

    @app.callback(
        Output(Ids.MAP_SELECTION, "children"),
        Output(Ids.MAP_PICK, "data"),
        Input(Ids.MAP, "selectedData"),
        State(Ids.MAP_VIEW, "data"),
        prevent_initial_call=True,
    )
    def _map_selection(selected_data: Any, shown: Any) -> tuple[list[Any], Any]:
        return map_selection(index, selected_data if isinstance(selected_data, Mapping) else None, shown)

    # The map's figure and the view it was drawn for (MAP_VIEW) always travel together, so a click or
    # lasso on the map is decoded against the traces the browser actually has.
    @app.callback(
        Output(Ids.MAP, "figure", allow_duplicate=True),
        Output(Ids.MAP_READY, "data"),
        Output(Ids.MAP_VIEW, "data", allow_duplicate=True),
        Input(Ids.CHART, "relayoutData"),  # set by the chart once it has drawn
        Input(Ids.MAP_TIMER, "n_intervals"),  # fallback
        State(Ids.MAP_READY, "data"),
        State(Ids.NAV, "data"),
        State(Ids.SEARCH, "value"),
        State(Ids.MAP_FRAME, "data"),
        prevent_initial_call=True,
    )
    def _load_map(_relayout: Any, _ticks: Any, ready: Any, nav: Any, query: Any, frame: Any) -> tuple[dict[str, Any], bool, str]:
        if ready:
            raise PreventUpdate
        return full_map(index, nav, query if isinstance(query, str) else None, frame), True, clean_nav(index, nav)["view"]

    @app.callback(
        Output(Ids.MAP, "figure"),
        Output(Ids.MAP_VIEW, "data"),
        Input(Ids.NAV, "data"),
        Input(Ids.SEARCH, "value"),
        State(Ids.MAP_READY, "data"),
        State(Ids.MAP_VIEW, "data"),
        State(Ids.MAP_FRAME, "data"),
        prevent_initial_call=True,
    )
    def _map(nav: Any, query: Any, ready: Any, shown: Any, frame: Any) -> tuple[dict[str, Any] | Patch, str]:
        if not ready:  # the map is not loaded yet; _load_map will apply the current state
            raise PreventUpdate
        text = query if isinstance(query, str) else None
        view = clean_nav(index, nav)["view"]
        if map_is_stale(index, nav, shown):
            return full_map(index, nav, text, frame), view
        return to_patch(map_highlight(index, _trigger(), nav, text)), view

    # Zoom, pan or a resize of the map: the names follow (the next level's when zoomed in).
    @app.callback(
        Output(Ids.MAP, "figure", allow_duplicate=True),
        Input(Ids.MAP_FRAME, "data"),
        State(Ids.MAP_VIEW, "data"),
        State(Ids.MAP_READY, "data"),
        prevent_initial_call=True,
    )
    def _relabel(frame: Any, shown: Any, ready: Any) -> Patch:
        if not ready:
            raise PreventUpdate
        patch = Patch()
        patch["layout"]["annotations"] = relabel_map(index, frame, shown)["annotations"]
        return patch

    @app.callback(
        Output(Ids.DOWNLOAD, "data"),
        Input(Ids.EXPORT_JSON, "n_clicks"),
        Input(Ids.EXPORT_CSV, "n_clicks"),
        Input(Ids.EXPORT_HTML, "n_clicks"),
        prevent_initial_call=True,
    )
    def _export(_json: Any, _csv: Any, _html: Any) -> dict[str, Any]:
        return export_payload(index, _trigger(), html_cache)

