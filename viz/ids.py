"""Component ids, and the button every panel links to a topic with.

Shared by the layout and the panel builders (``topicmap.viz.details``, ``topicmap.viz.trend_layout``) so
none of them imports another; callbacks, tests and the browser tests use the same names.
"""

from __future__ import annotations

from typing import Any

from dash import html

PAGE_SIZE = 8


class Ids:
    """Every component id the callbacks use."""

    NAV = "nav"  # store: {"view": node id at the centre, "selected": node id in the details panel}
    DOC_PAGE = "doc-page"  # store: page number of the selected node's documents
    MAP_PICK = "map-pick"  # store: {"n": documents selected on the map, "nodes": {node id: count}}
    CHART = "chart"
    CHART_KIND = "chart-kind"
    DEPTH = "depth"
    SEARCH = "search"
    SEARCH_RESULTS = "search-results"
    CRUMBS = "crumbs"
    NODE_DETAILS = "node-details"
    DOC_LIST = "doc-list"
    PAGE_INFO = "page-info"
    PREV = "page-prev"
    NEXT = "page-next"
    MAP = "doc-map"
    MAP_SELECTION = "map-selection"
    MAP_READY = "map-ready"  # store: True once the full map figure has been sent
    MAP_TIMER = "map-timer"  # fallback trigger for loading the map
    MAP_VIEW = "map-view"  # store: the view whose children colour the map now in the browser
    MAP_LABEL = "map-label"  # store: {"node": id} of the topic name clicked on the map (set by assets/topicmap.js)
    MAP_FRAME = "map-frame"  # store: what the map shows ({"view", "x", "y", "w", "h"}; set by assets/topicmap.js)
    CHART_COLOR = "chart-color"  # store: "topic" or "growth" (set by topicmap.viz.trend_callbacks on a dated tree)
    EXPORT_JSON = "export-json"
    EXPORT_CSV = "export-csv"
    EXPORT_HTML = "export-html"
    DOWNLOAD = "download"
    GOTO = "goto"  # pattern-matching type: {"type": "goto", "node": node id, "slot": unique place}


def goto_button(node_id: str, children: Any, slot: str, class_name: str = "tm-link") -> html.Button:
    """A button that selects ``node_id`` (breadcrumbs, children, search hits, map selection).

    ``slot`` names the place on the page: one node can have a button in several lists at once,
    and Dash ids must be unique.
    """
    return html.Button(children, id={"type": Ids.GOTO, "node": node_id, "slot": slot}, className=class_name, n_clicks=0)
