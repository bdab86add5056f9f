"""The page: component tree and ids. No callbacks here (see ``topicmap.viz.callbacks``), no data loading.

Component ids live in :class:`topicmap.viz.ids.Ids`; the details panel's first contents come from
:mod:`topicmap.viz.details`, as its callbacks' later ones do, so the page needs no callback to open.
"""

from __future__ import annotations

from dash import dcc, html

from topicmap.hierarchy.tree.topic_tree import ROOT_ID
from topicmap.viz.details import FIRST_VIEW, breadcrumbs, document_page, node_details
from topicmap.viz.figures import default_depth, hierarchy_spec, map_placeholder
from topicmap.viz.ids import Ids
from topicmap.viz.index import TreeIndex
from topicmap.viz.search import MAX_QUERY_CHARS
from topicmap.viz.trend_layout import color_control, trend_panel

MAX_DEPTH_CONTROL = 6
SEARCH_INPUT_CHARS = 10 * MAX_QUERY_CHARS  # what the browser sends; the server reads the first MAX_QUERY_CHARS and says so


def build_layout(index: TreeIndex, title: str = "topicmap") -> html.Div:
    """The whole page for one tree; the first view (figures, details, documents) is embedded so it renders at once."""
    depth = default_depth(index)
    cards, page_info, no_prev, no_next = document_page(index, FIRST_VIEW, 0)
    max_control = max(1, min(index.max_depth, MAX_DEPTH_CONTROL))
    stats = f"{index.n_docs:,} documents · {index.n_nodes:,} topics · {index.max_depth} levels"
    header = html.Header(
        className="tm-header",
        children=[
            html.H1(title, className="tm-title"),
            html.Span(stats, className="tm-stats"),
            dcc.Input(
                id=Ids.SEARCH,
                type="search",
                placeholder="Search documents and topics… (Enter)",
                debounce=True,
                maxLength=SEARCH_INPUT_CHARS,
                className="tm-search",
                value="",
            ),
            html.Div(
                className="tm-exports",
                children=[
                    html.Span("Export:", className="tm-muted"),
                    html.Button("tree JSON", id=Ids.EXPORT_JSON, n_clicks=0),
                    html.Button("CSV", id=Ids.EXPORT_CSV, n_clicks=0),
                    html.Button("HTML", id=Ids.EXPORT_HTML, n_clicks=0),
                    dcc.Download(id=Ids.DOWNLOAD),
                ],
            ),
        ],
    )
    chart_panel = html.Section(
        className="tm-panel tm-chart-panel",
        children=[
            html.Div(
                className="tm-controls",
                children=[
                    dcc.RadioItems(
                        id=Ids.CHART_KIND,
                        options=[{"label": k, "value": k} for k in ("sunburst", "treemap", "icicle")],
                        value="sunburst",
                        inline=True,
                        className="tm-radio",
                    ),
                    html.Label("rings", htmlFor=Ids.DEPTH, className="tm-muted"),
                    html.Div(
                        dcc.Slider(
                            id=Ids.DEPTH,
                            min=1,
                            max=max_control,
                            step=1,
                            value=min(depth, max_control),
                            marks={i: str(i) for i in range(1, max_control + 1)},
                        ),
                        className="tm-depth",
                    ),
                    *color_control(index),  # dated trees only
                ],
            ),
            dcc.Graph(
                id=Ids.CHART,
                figure=hierarchy_spec(index, ROOT_ID, depth, "sunburst", selected=ROOT_ID),
                config={"displaylogo": False, "displayModeBar": False},
                className="tm-chart",
            ),
            html.P("Click a segment to drill down, the centre to go up.", className="tm-hint tm-muted"),
        ],
    )
    details_panel = html.Section(
        className="tm-panel tm-details",
        children=[
            html.Nav(breadcrumbs(index, FIRST_VIEW), id=Ids.CRUMBS, className="tm-crumbs"),
            html.Div(node_details(index, FIRST_VIEW), id=Ids.NODE_DETAILS),
            html.H3("Documents", className="tm-subhead"),
            html.Div(cards, id=Ids.DOC_LIST, className="tm-docs"),
            html.Div(
                className="tm-pager",
                children=[
                    html.Button("‹ prev", id=Ids.PREV, n_clicks=0, disabled=no_prev),
                    html.Span(page_info, id=Ids.PAGE_INFO, className="tm-muted"),
                    html.Button("next ›", id=Ids.NEXT, n_clicks=0, disabled=no_next),
                ],
            ),
        ],
    )
    map_panel = html.Section(
        className="tm-panel tm-map-panel",
        children=[
            html.H3("Document map", className="tm-subhead"),
            # The map's points (~1 MB for 100k documents, and a WebGL context that is slow to start
            # without a GPU) arrive after the sunburst has drawn, so the chart shows first.
            dcc.Interval(id=Ids.MAP_TIMER, interval=1500, max_intervals=1),
            dcc.Graph(
                id=Ids.MAP,
                figure=map_placeholder(),
                config={"displaylogo": False, "scrollZoom": True},
                className="tm-map",
            ),
            html.P("Click a topic name to open it; zoom in for the names of its subtopics. Lasso or box-select points to see which topics they fall in.", className="tm-hint tm-muted"),
        ],
    )
    side_panel = html.Section(
        className="tm-panel tm-side",
        children=[
            html.Div(id=Ids.SEARCH_RESULTS),
            html.Div(id=Ids.MAP_SELECTION),
            *trend_panel(index),  # dated trees only
        ],
    )
    return html.Div(
        className="tm-app",
        children=[
            dcc.Store(id=Ids.NAV, data=dict(FIRST_VIEW)),
            dcc.Store(id=Ids.DOC_PAGE, data=0),
            # Stores start with {} for "nothing yet", never None: dcc.Store reports a None start as a change
            # on mount, which would run their callbacks (and redraw the chart) during the first render.
            dcc.Store(id=Ids.MAP_PICK, data={}),
            dcc.Store(id=Ids.MAP_READY, data=False),
            dcc.Store(id=Ids.MAP_VIEW, data=ROOT_ID),
            dcc.Store(id=Ids.MAP_LABEL, data={}),
            dcc.Store(id=Ids.MAP_FRAME, data={}),
            dcc.Store(id=Ids.CHART_COLOR, data="topic"),
            header,
            html.Main(className="tm-main", children=[chart_panel, details_panel]),
            html.Div(className="tm-lower", children=[map_panel, side_panel]),
        ],
    )
