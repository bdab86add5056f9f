"""The facet page: a switcher between facet trees, the main facet's sunburst, another facet's sunburst
coloured by where the selection's documents sit, and the node x node table. No callbacks here
(``topicmap.viz.facet_callbacks``), no data loading.

Selection semantics, shown on the page: the selection is always a topic of the *main* facet; the
other facet only shows where that topic's documents sit. Switching the main facet starts at its root
(its selection cannot mean anything in another tree) and makes the facet you left the compared one;
clicking a topic in the compared sunburst swaps the roles, with that topic selected.
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from topicmap.hierarchy.tree.topic_tree import ROOT_ID
from topicmap.viz.facet_index import MAX_TABLE_DEPTH, FacetIndex

EXPLORER_PATH = "/facet/{k}/"  # each facet's full single-tree explorer, mounted on the same server


class FacetIds:
    """Every component id of the facet page."""

    STATE = "facet-state"  # store: {"facet", "view", "selected", "other"}
    CHOICE = "facet-choice"  # radio: the main facet
    OTHER = "facet-other"  # radio: the facet compared with it
    CHART = "facet-chart"  # the main facet's sunburst
    CROSS = "facet-cross"  # the compared facet's sunburst, coloured by share
    SELECTION = "facet-selection"  # what is selected, in words
    CROSS_CAPTION = "facet-cross-caption"
    ROW_DEPTH = "facet-row-depth"
    COLUMN_DEPTH = "facet-column-depth"
    TABLE = "facet-table"
    TABLE_CAPTION = "facet-table-caption"
    EXPORT = "facet-export"
    DOWNLOAD = "facet-download"
    EXPLORERS = "facet-explorers"


def explorer_path(facets: FacetIndex, name: str) -> str:
    return EXPLORER_PATH.format(k=facets.names.index(name) + 1)


def initial_state(facets: FacetIndex) -> dict[str, str]:
    return {"facet": facets.names[0], "view": ROOT_ID, "selected": ROOT_ID, "other": facets.names[1]}


def _depth_choice(component_id: str, label: str) -> list[Any]:
    return [
        html.Label(label, htmlFor=component_id, className="tm-muted"),
        dcc.RadioItems(
            id=component_id,
            options=[{"label": str(d), "value": d} for d in range(1, MAX_TABLE_DEPTH + 1)],
            value=1,
            inline=True,
            className="tm-radio",
        ),
    ]


def build_facet_layout(facets: FacetIndex, title: str = "topicmap") -> html.Div:
    """The whole facet page; figures arrive with the first callback (the state store's initial value)."""
    state = initial_state(facets)
    stats = f"{facets.n_docs:,} documents · {len(facets.names)} facet trees"
    header = html.Header(
        className="tm-header",
        children=[
            html.H1(title, className="tm-title"),
            html.Span(stats, className="tm-stats"),
            html.Label("facet", htmlFor=FacetIds.CHOICE, className="tm-muted"),
            dcc.RadioItems(
                id=FacetIds.CHOICE,
                options=[{"label": name, "value": name} for name in facets.names],
                value=state["facet"],
                inline=True,
                className="tm-radio tm-facet-choice",
            ),
            html.Span(
                id=FacetIds.EXPLORERS,
                className="tm-muted",
                children=["full explorer: ", *[html.A(name, href=explorer_path(facets, name), className="tm-facet-link") for name in facets.names]],
            ),
        ],
    )
    main_panel = html.Section(
        className="tm-panel",
        children=[
            html.Div(id=FacetIds.SELECTION, className="tm-facet-selection"),
            dcc.Graph(id=FacetIds.CHART, config={"displaylogo": False, "displayModeBar": False}, className="tm-facet-chart"),
            html.P("Click a topic to select it (and drill down), the centre to go up.", className="tm-hint tm-muted"),
        ],
    )
    cross_panel = html.Section(
        className="tm-panel",
        children=[
            html.Div(
                className="tm-controls",
                children=[
                    html.Label("compare with", htmlFor=FacetIds.OTHER, className="tm-muted"),
                    dcc.RadioItems(
                        id=FacetIds.OTHER,
                        options=[{"label": n, "value": n} for n in facets.others(state["facet"])],
                        value=state["other"],
                        inline=True,
                        className="tm-radio",
                    ),
                ],
            ),
            html.P(id=FacetIds.CROSS_CAPTION, className="tm-facet-caption"),
            dcc.Graph(id=FacetIds.CROSS, config={"displaylogo": False, "displayModeBar": False}, className="tm-facet-chart"),
        ],
    )
    table_panel = html.Section(
        className="tm-panel tm-facet-table-panel",
        children=[
            html.Div(
                className="tm-controls",
                children=[
                    html.H3("Node x node table", className="tm-subhead"),
                    *_depth_choice(FacetIds.ROW_DEPTH, "rows: depth"),
                    *_depth_choice(FacetIds.COLUMN_DEPTH, "columns: depth"),
                    html.Button("export CSV", id=FacetIds.EXPORT, n_clicks=0),
                    dcc.Download(id=FacetIds.DOWNLOAD),
                ],
            ),
            html.P(id=FacetIds.TABLE_CAPTION, className="tm-muted"),
            html.Div(id=FacetIds.TABLE, className="tm-facet-table"),
        ],
    )
    return html.Div(
        className="tm-app",
        children=[
            dcc.Store(id=FacetIds.STATE, data=state),
            header,
            html.Main(className="tm-facet-main", children=[main_panel, cross_panel]),
            table_panel,
        ],
    )


__all__ = ["EXPLORER_PATH", "FacetIds", "build_facet_layout", "explorer_path", "initial_state"]
