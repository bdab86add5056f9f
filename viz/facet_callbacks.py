"""Callbacks of the facet page: plain functions of (facets, inputs) -> outputs, and :func:`register`.

As in ``topicmap.viz.callbacks``, the logic is in plain functions that tests call directly; ``register`` only
dispatches on Dash's trigger. Everything from the browser (facet names, node ids, depths) is checked
against the trees before use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from dash import Dash, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from topicmap.hierarchy.analysis.crosstab import LONG_HEADER, Crosstab, long_rows
from topicmap.hierarchy.files.spreadsheet import csv_text
from topicmap.hierarchy.tree.topic_tree import ROOT_ID
from topicmap.viz.callbacks import chart_click, goto
from topicmap.viz.facet_figures import cross_spec
from topicmap.viz.facet_index import FacetIndex
from topicmap.viz.facet_layout import FacetIds
from topicmap.viz.figures import default_depth, hierarchy_spec
from topicmap.viz.index import shorten

FacetState = dict[str, str]
MAX_ROWS = 40  # rows of the table on the page (the CSV has them all)
MAX_COLUMNS = 24  # columns on the page; the rest are summed into one "+N more" column
SHADE_RGB = (33, 113, 181)  # a cell's background: this blue, as opaque as the row share


# -- state -------------------------------------------------------------------------------------------
def clean_state(facets: FacetIndex, state: Any) -> FacetState:
    """A state whose facet names and node ids exist (it comes from the browser: never trust it)."""
    get = state.get if isinstance(state, Mapping) else (lambda _key: None)
    facet = get("facet") if get("facet") in facets else facets.names[0]
    other = get("other") if get("other") in facets and get("other") != facet else facets.others(facet)[0]
    index = facets.index(facet)
    view = get("view") if isinstance(get("view"), str) and get("view") in index else ROOT_ID
    selected = get("selected") if isinstance(get("selected"), str) and get("selected") in index else view
    return {"facet": facet, "view": view, "selected": selected, "other": other}


def choose_facet(facets: FacetIndex, state: Any, facet: Any) -> FacetState:
    """Make ``facet`` the main one: it opens at its root, and the facet left behind becomes the compared one."""
    old = clean_state(facets, state)
    if facet not in facets or facet == old["facet"]:
        return old
    return clean_state(facets, {"facet": facet, "view": ROOT_ID, "selected": ROOT_ID, "other": old["facet"]})


def choose_other(facets: FacetIndex, state: Any, other: Any) -> FacetState:
    """Compare the main facet with ``other``; the selection stays."""
    return clean_state(facets, {**clean_state(facets, state), "other": other})


def main_click(facets: FacetIndex, state: Any, click_data: Any) -> FacetState:
    """A click in the main sunburst selects and drills down as in the single-tree explorer."""
    old = clean_state(facets, state)
    nav = chart_click(facets.index(old["facet"]), click_data, old)
    return {**old, **nav}


def cross_click(facets: FacetIndex, state: Any, click_data: Any) -> FacetState:
    """A click in the compared sunburst swaps the roles: that facet becomes the main one with the clicked
    topic selected, and the facet it was compared with becomes the compared one."""
    old = clean_state(facets, state)
    points = click_data.get("points") if isinstance(click_data, Mapping) else None
    point = points[0] if isinstance(points, list) and points and isinstance(points[0], Mapping) else {}
    node_id = point.get("id")
    target = facets.index(old["other"])
    if not isinstance(node_id, str) or node_id not in target:
        raise PreventUpdate
    return {"facet": old["other"], "other": old["facet"], **goto(target, node_id)}


# -- figures and text ----------------------------------------------------------------------------------
def main_figure(facets: FacetIndex, state: Any) -> dict[str, Any]:
    s = clean_state(facets, state)
    index = facets.index(s["facet"])
    return hierarchy_spec(index, s["view"], default_depth(index), "sunburst", selected=s["selected"])


def selection_words(facets: FacetIndex, state: Any) -> tuple[str, int]:
    """The selected topic's name and its number of documents."""
    s = clean_state(facets, state)
    index = facets.index(s["facet"])
    return ("all documents" if s["selected"] == ROOT_ID else shorten(index.labels[index.pos[s["selected"]]], 80)), index.doc_count(s["selected"])


def selection_panel(facets: FacetIndex, state: Any) -> list[Any]:
    s = clean_state(facets, state)
    name, n = selection_words(facets, state)
    return [
        html.Span(f"{s['facet']}: ", className="tm-muted"),
        html.B(name, id="facet-selected-label"),
        html.Span(f" · {n:,} documents · id {s['selected']}", className="tm-muted"),
    ]


def cross_view(facets: FacetIndex, state: Any) -> tuple[dict[str, Any], list[Any]]:
    """The compared facet's sunburst coloured by the selection, and a caption saying what it shows."""
    s = clean_state(facets, state)
    name, n = selection_words(facets, state)
    cross = facets.cross_counts(s["facet"], s["selected"], s["other"])
    figure = cross_spec(facets.index(s["other"]), cross)
    caption = [
        "Where the ", html.B(f"{n:,}"), f" documents of {s['facet']} ", html.B(f"“{name}”"), f" sit in {s['other']}: ",
        "each topic is coloured by the share of them it holds (hover for counts). ",
        html.Span(f"Click a topic to make {s['other']} the main facet with it selected.", className="tm-muted"),
    ]
    return figure, caption


# -- the node x node table ------------------------------------------------------------------------------
def table_rows(facets: FacetIndex, state: Any, table: Crosstab) -> list[int]:
    """Rows of ``table`` (the main facet's cut) inside the selected topic; none when the selection lies
    below the cut (:func:`shown_rows` then gives the selection a row of its own)."""
    s = clean_state(facets, state)
    index = facets.index(s["facet"])
    if s["selected"] == ROOT_ID:
        return list(range(len(table.rows)))
    sel = index.pos[s["selected"]]
    return [i for i, node_id in enumerate(table.rows) if index.pre_rank[sel] <= index.pre_rank[index.pos[node_id]] < index.pre_end[sel]]


def shown_rows(facets: FacetIndex, state: Any, table: Crosstab) -> list[tuple[str, str, np.ndarray]]:
    """(node id, label, counts per column) of the rows the page shows: the cut's rows inside the selection,
    or, for a selection below the cut, the selected topic alone, counted from its documents (the
    columns of a cut hold every document once, so its counts are exact)."""
    s = clean_state(facets, state)
    keep = table_rows(facets, s, table)
    if keep:
        return [(table.rows[i], table.row_labels[i], table.counts[i]) for i in keep]
    cross = facets.cross_counts(s["facet"], s["selected"], s["other"])
    target = facets.index(s["other"])
    counts = np.array([cross.counts[target.pos[c]] for c in table.columns], dtype=np.int64)
    index = facets.index(s["facet"])
    return [(s["selected"], index.labels[index.pos[s["selected"]]], counts)]


def current_table(facets: FacetIndex, state: Any, row_depth: Any, column_depth: Any) -> tuple[FacetState, Crosstab]:
    s = clean_state(facets, state)
    depth_a = facets.depth_for(s["facet"], row_depth)
    depth_b = facets.depth_for(s["other"], column_depth)
    return s, facets.table(s["facet"], s["other"], depth_a, depth_b)


def _cell_style(share: float) -> dict[str, str]:
    r, g, b = SHADE_RGB
    style = {"background": f"rgba({r},{g},{b},{0.85 * share:.3f})"}
    if share > 0.5:
        style["color"] = "#fff"
    return style


def table_view(facets: FacetIndex, state: Any, row_depth: Any, column_depth: Any) -> tuple[str, list[Any]]:
    """A caption and the table as HTML: the selection's rows of the main facet's cut x the compared facet's cut.

    Each cell holds the documents in both topics and that count's share of the row. At most MAX_ROWS
    rows and MAX_COLUMNS columns are drawn (the columns holding most of the shown rows' documents, the
    rest summed in one); the export has the whole table."""
    s, table = current_table(facets, state, row_depth, column_depth)
    rows = shown_rows(facets, s, table)
    name, _ = selection_words(facets, s)
    index = facets.index(s["facet"])
    if s["selected"] == ROOT_ID:
        what = f"{s['facet']} topics at depth {table.depth_a} ({len(rows)})"
    elif int(index.depth[index.pos[s["selected"]]]) > table.depth_a:
        what = f"the selected {s['facet']} topic “{name}” (below depth {table.depth_a})"
    else:
        what = f"{s['facet']} topics at depth {table.depth_a} within “{name}” ({len(rows)})"
    caption = (
        f"Rows: {what}; columns: {s['other']} topics at depth {table.depth_b} ({len(table.columns)}). A cell: documents in "
        f"both, and their share of the row. The CSV has every {s['facet']} topic at depth {table.depth_a}, as `topicmap crosstab` writes it."
    )
    counts = np.array([c for _, _, c in rows], dtype=np.int64).reshape(len(rows), len(table.columns))
    columns = list(range(len(table.columns)))
    rest: list[int] = []
    if len(columns) > MAX_COLUMNS:
        top = set(np.argsort(-counts.sum(axis=0), kind="stable")[: MAX_COLUMNS - 1].tolist())
        rest = [j for j in columns if j not in top]
        columns = [j for j in columns if j in top]
    head = [html.Th(f"{s['facet']} \\ {s['other']}", className="tm-facet-corner"), html.Th("documents")]
    head += [html.Th(shorten(table.column_labels[j], 28), title=f"{table.columns[j]} {table.column_labels[j]}", **{"data-node": table.columns[j]}) for j in columns]
    if rest:
        head.append(html.Th(f"+{len(rest)} more", title="the other columns, summed"))
    body = []
    for (node_id, label, _), row_counts in zip(rows[:MAX_ROWS], counts):
        row_total = int(row_counts.sum())
        cells: list[Any] = [
            html.Th(shorten(label, 40), title=f"{node_id} {label}", **{"data-node": node_id}),
            html.Td(f"{row_total:,}", className="tm-facet-total"),
        ]
        for j in columns:
            count = int(row_counts[j])
            share = count / max(row_total, 1)
            cells.append(html.Td([f"{count:,}", html.Span(f" {share:.0%}", className="tm-facet-share")] if count else "·", style=_cell_style(share)))
        if rest:
            count = int(row_counts[rest].sum())
            cells.append(html.Td(f"{count:,}" if count else "·", style=_cell_style(count / max(row_total, 1))))
        body.append(html.Tr(cells))
    if len(rows) > MAX_ROWS:
        body.append(html.Tr(html.Td(f"… {len(rows) - MAX_ROWS} more rows in the CSV", colSpan=len(head), className="tm-muted")))
    return caption, [html.Table([html.Thead(html.Tr(head)), html.Tbody(body)], className="tm-facet-grid")]


def export_table(facets: FacetIndex, state: Any, row_depth: Any, column_depth: Any) -> dict[str, Any]:
    """The whole table as `topicmap crosstab A B --depth D --depth-b E -o x.csv` writes it (long format)."""
    s, table = current_table(facets, state, row_depth, column_depth)
    filename = f"{s['facet']}-x-{s['other']}.csv".replace("/", "_").replace(" ", "_")
    return dcc.send_string(csv_text(LONG_HEADER, long_rows(table)), filename, type="text/csv")


# -- wiring -----------------------------------------------------------------------------------------
def register(app: Dash, facets: FacetIndex) -> None:
    """Attach the facet page's callbacks to ``app``."""

    # One callback owns the state and the two radios, so a swap by a click in the compared sunburst
    # moves the radios too (Dash allows a callback to set its own inputs).
    @app.callback(
        Output(FacetIds.STATE, "data"),
        Output(FacetIds.CHOICE, "value"),
        Output(FacetIds.OTHER, "options"),
        Output(FacetIds.OTHER, "value"),
        Input(FacetIds.CHOICE, "value"),
        Input(FacetIds.OTHER, "value"),
        Input(FacetIds.CHART, "clickData"),
        Input(FacetIds.CROSS, "clickData"),
        State(FacetIds.STATE, "data"),
        prevent_initial_call=True,
    )
    def _state(facet: Any, other: Any, chart_click_data: Any, cross_click_data: Any, state: Any) -> tuple[Any, ...]:
        trigger = ctx.triggered_id
        if trigger == FacetIds.CHOICE:
            new = choose_facet(facets, state, facet)
        elif trigger == FacetIds.OTHER:
            new = choose_other(facets, state, other)
        elif trigger == FacetIds.CHART:
            new = main_click(facets, state, chart_click_data)
        elif trigger == FacetIds.CROSS:
            new = cross_click(facets, state, cross_click_data)
        else:
            raise PreventUpdate
        options = [{"label": n, "value": n} for n in facets.others(new["facet"])]
        return new, new["facet"], options, new["other"]

    @app.callback(
        Output(FacetIds.CHART, "figure"),
        Output(FacetIds.CROSS, "figure"),
        Output(FacetIds.SELECTION, "children"),
        Output(FacetIds.CROSS_CAPTION, "children"),
        Input(FacetIds.STATE, "data"),
    )
    def _figures(state: Any) -> tuple[Any, ...]:
        cross, caption = cross_view(facets, state)
        return main_figure(facets, state), cross, selection_panel(facets, state), caption

    @app.callback(
        Output(FacetIds.TABLE_CAPTION, "children"),
        Output(FacetIds.TABLE, "children"),
        Input(FacetIds.STATE, "data"),
        Input(FacetIds.ROW_DEPTH, "value"),
        Input(FacetIds.COLUMN_DEPTH, "value"),
    )
    def _table(state: Any, row_depth: Any, column_depth: Any) -> tuple[str, list[Any]]:
        return table_view(facets, state, row_depth, column_depth)

    @app.callback(
        Output(FacetIds.DOWNLOAD, "data"),
        Input(FacetIds.EXPORT, "n_clicks"),
        State(FacetIds.STATE, "data"),
        State(FacetIds.ROW_DEPTH, "value"),
        State(FacetIds.COLUMN_DEPTH, "value"),
        prevent_initial_call=True,
    )
    def _export(_clicks: Any, state: Any, row_depth: Any, column_depth: Any) -> dict[str, Any]:
        return export_table(facets, state, row_depth, column_depth)


__all__ = [
    "choose_facet", "choose_other", "clean_state", "cross_click", "cross_view", "export_table", "main_click",
    "main_figure", "register", "selection_panel", "shown_rows", "table_rows", "table_view",
]
