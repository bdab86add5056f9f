"""Callbacks as plain functions, the precomputed index, and the app / CLI entry points."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dash import dcc, html
from dash.exceptions import PreventUpdate

from topicmap.hierarchy.base.errors import TreeFileError
from topicmap.hierarchy.tree.topic_tree import ROOT_ID, LabelMeta
from topicmap.hierarchy.tree.treefile import save_tree, tree_from_dict
from tests.viz_fixtures import EVIL_LABEL, small_tree
from topicmap.viz import callbacks as cb
from topicmap.viz import details as details_panel
from topicmap.viz.figures import BASE_OPACITY, OUTSIDE_OPACITY, overlay_positions
from topicmap.viz.index import TreeIndex
from topicmap.viz.ids import PAGE_SIZE, Ids
from topicmap.viz.layout import build_layout
from topicmap.viz.map_labels import full_frame
from topicmap.viz.synthetic import synthetic_tree


@pytest.fixture()
def index() -> TreeIndex:
    return TreeIndex(small_tree())


def _click(node_id: str) -> dict[str, Any]:
    return {"points": [{"id": node_id, "curveNumber": 0}]}


def _walk(component: Any) -> list[Any]:
    """Every component and string in a Dash component tree."""
    out = [component]
    children = getattr(component, "children", None)
    if isinstance(children, (list, tuple)):
        for child in children:
            out.extend(_walk(child))
    elif children is not None:
        out.extend(_walk(children))
    return out


def _text(components: Any) -> str:
    items = components if isinstance(components, (list, tuple)) else [components]
    return " ".join(str(c) for item in items for c in _walk(item) if isinstance(c, (str, int, float)))


# -- index -----------------------------------------------------------------------------------------
def test_index_doc_ranges_match_tree() -> None:
    tree = synthetic_tree(n_docs=1500, schedule=(3, 4, 3), seed=2)
    index = TreeIndex(tree)
    for node in tree.iter_nodes():
        assert sorted(index.node_doc_rows(node.id).tolist()) == tree.document_rows(node.id)
        assert index.doc_count(node.id) == node.size
    rows = np.array([0, 5, 17, 900, 1499])
    counts = index.counts_per_node(rows)
    for node in tree.iter_nodes():
        expected = len(set(rows.tolist()) & set(tree.document_rows(node.id)))
        assert counts[index.pos[node.id]] == expected


def test_search_is_case_insensitive_all_terms_and_cached(index: TreeIndex) -> None:
    result = index.search("  BRINE ")
    assert len(result.doc_rows) == 3
    assert {index.tree.documents[r].leaf for r in result.doc_rows.tolist()} == {"1.1"}
    assert result.node_hits == {ROOT_ID: 3, "1": 3, "1.1": 3}
    assert index.search("brine") is result  # cached under the normalised query
    assert len(index.search("lemons brine").doc_rows) == 1
    assert len(index.search("lemons python").doc_rows) == 0
    jars = index.search("jars")  # only in the (evil) label of 1.1
    assert jars.label_matches == ("1.1",) and jars.highlighted == {ROOT_ID, "1", "1.1"}
    assert len(index.search("").doc_rows) == 0


# -- navigation --------------------------------------------------------------------------------------
def test_chart_click_drills_down_and_centre_goes_up(index: TreeIndex) -> None:
    nav = {"view": ROOT_ID, "selected": ROOT_ID}
    nav = cb.chart_click(index, _click("1"), nav)
    assert nav == {"view": "1", "selected": "1"}
    leaf = cb.chart_click(index, _click("1.0"), nav)
    assert leaf == {"view": "1", "selected": "1.0"}  # leaves are selected, the view stays
    up = cb.chart_click(index, _click("1"), leaf)  # the centre of the current view
    assert up == {"view": ROOT_ID, "selected": ROOT_ID}
    assert cb.chart_click(index, _click(ROOT_ID), up) == {"view": ROOT_ID, "selected": ROOT_ID}


@pytest.mark.parametrize("click", [None, {}, [], "x", {"points": []}, {"points": "x"}, {"points": [7]}, _click("9.9"), {"points": [{"id": 3}]}])
def test_chart_click_ignores_bad_input(index: TreeIndex, click: Any) -> None:
    with pytest.raises(PreventUpdate):
        cb.chart_click(index, click, {"view": ROOT_ID, "selected": ROOT_ID})


def test_goto_and_map_click_and_untrusted_nav(index: TreeIndex) -> None:
    assert cb.goto(index, "2.1") == {"view": "2", "selected": "2.1"}
    assert cb.goto(index, "2") == {"view": "2", "selected": "2"}
    with pytest.raises(PreventUpdate):
        cb.goto(index, "nope")
    nav = cb.map_click(index, {"points": [{"curveNumber": 2, "pointIndex": 0}]})
    assert nav["selected"].startswith("2.") and nav["view"] == "2"
    for junk in (None, [], {"points": [3, "x", {"curveNumber": 99, "pointIndex": 0}]}):
        with pytest.raises(PreventUpdate):
            cb.map_click(index, junk)  # type: ignore[arg-type]
    assert cb.map_selection(index, {"points": "all"}) == ([], None)
    # on the map drawn for view "1" (traces: other documents, Bread baking, the pickles leaf), curve 2 is 1.1
    assert cb.map_click(index, {"points": [{"curveNumber": 2, "pointIndex": 0}]}, "1") == {"view": "1", "selected": "1.1"}
    assert cb.map_click(index, {"points": [{"curveNumber": 2, "pointIndex": 0}]}, "<junk>")["view"] == "2"  # as the root map
    assert details_panel.clean_nav(index, {"view": "<x>", "selected": 5}) == {"view": ROOT_ID, "selected": ROOT_ID}
    assert details_panel.clean_nav(index, None) == {"view": ROOT_ID, "selected": ROOT_ID}


# -- chart -------------------------------------------------------------------------------------------
def test_chart_figure_follows_view_depth_kind_and_highlight(index: TreeIndex) -> None:
    spec = cb.chart_figure(index, {"view": "0", "selected": "0.1"}, 1, "icicle", None, None)
    trace = spec["data"][0]
    assert trace["type"] == "icicle" and trace["ids"] == ["0", "0.0", "0.1"]
    assert trace["marker"]["line"]["color"][2] == "#111111"  # selected outline
    searched = cb.chart_figure(index, None, 2, "sunburst", "brine", None)["data"][0]
    widths = dict(zip(searched["ids"], searched["marker"]["line"]["width"]))
    assert widths["1.1"] > 1 and widths["1"] > 1 and widths["0.0"] == 1
    picked = cb.chart_figure(index, None, 2, "sunburst", None, {"n": 2, "nodes": {"2": 2, "2.1": 2, "bad": 1}})["data"][0]
    widths = dict(zip(picked["ids"], picked["marker"]["line"]["width"]))
    assert widths["2.1"] > 1 and widths["1.1"] == 1
    fallback = cb.chart_figure(index, {"view": "zz"}, "deep", "pie", ["q"], ["junk"])["data"][0]  # type: ignore[arg-type]
    assert fallback["type"] == "sunburst" and fallback["ids"][0] == ROOT_ID


# -- details panel -------------------------------------------------------------------------------------
def test_breadcrumbs_are_buttons_to_each_ancestor(index: TreeIndex) -> None:
    crumbs = details_panel.breadcrumbs(index, {"view": "1", "selected": "1.1"})
    buttons = [c for c in crumbs if isinstance(c, html.Button)]
    assert [b.id["node"] for b in buttons] == [ROOT_ID, "1", "1.1"]
    assert all(b.id["type"] == Ids.GOTO for b in buttons)
    assert buttons[0].children == "All documents" and buttons[1].children == "Cooking"


def test_node_details_show_label_summary_keywords_size_and_provenance(index: TreeIndex) -> None:
    details = details_panel.node_details(index, {"view": "0", "selected": "0.0"})
    text = _text(details)
    for expected in ("Exoplanets", "Documents on Exoplanets.", "transit", "7 documents (19.4%)", "fake-model-1", "label_leaf@v1"):
        assert expected in text
    root_text = _text(details_panel.node_details(index, None))
    assert "Subtopics (3)" in root_text and "from keywords" in root_text
    index.node("0.1").label_meta = LabelMeta(labeler="keywords", status="failed", error="model said no")
    assert "status failed: model said no" in details_panel.label_provenance(index, "0.1")


def test_untrusted_text_stays_plain_children(index: TreeIndex) -> None:
    """The <script> label reaches React only as a string child (escaped); no raw-HTML components."""
    nav = {"view": "1", "selected": "1.1"}
    produced = [*details_panel.breadcrumbs(index, nav), *details_panel.node_details(index, nav), *details_panel.document_page(index, nav, 0)[0],
                *cb.search_results(index, "brine"), build_layout(index)]
    labels = [c for item in produced for c in _walk(item) if isinstance(c, str) and "<script" in c]
    assert EVIL_LABEL in labels  # shown, as text
    for item in produced:
        for comp in _walk(item):
            assert not isinstance(comp, dcc.Markdown)
            assert "dangerously" not in json.dumps(getattr(comp, "to_plotly_json", lambda: {})(), default=str)


def test_documents_are_paged_on_the_server(index: TreeIndex) -> None:
    nav = {"view": ROOT_ID, "selected": ROOT_ID}
    cards, info, prev_disabled, next_disabled = details_panel.document_page(index, nav, 0)
    assert len(cards) == PAGE_SIZE and info == "page 1 of 5 · 36 documents"
    assert prev_disabled and not next_disabled
    card = cards[0]
    assert isinstance(card, html.Details)
    full = index.tree.documents[20].text  # the root's first representative document
    assert full in _text(card)  # expandable to the full text
    last = details_panel.document_page(index, nav, 4)
    assert len(last[0]) == 36 - 4 * PAGE_SIZE and last[3] and not last[2]
    assert details_panel.document_page(index, nav, 99)[1].startswith("page 5 of 5")
    assert details_panel.page_number(index, Ids.NEXT, nav, 4) == 4
    assert details_panel.page_number(index, Ids.NEXT, nav, 1) == 2
    assert details_panel.page_number(index, Ids.PREV, nav, 0) == 0
    assert details_panel.page_number(index, Ids.NAV, nav, 3) == 0  # a new selection starts at page 1
    assert details_panel.page_number(index, Ids.NEXT, nav, "x") == 0


# -- search, map ---------------------------------------------------------------------------------------
def test_search_results_list_nodes_and_documents(index: TreeIndex) -> None:
    assert cb.search_results(index, "  ") == []
    results = cb.search_results(index, "exoplanet")
    text = _text(results)
    assert "documents and 1 topics match" in text
    buttons = [c for item in results for c in _walk(item) if isinstance(c, html.Button)]
    assert buttons[0].id["node"] == "0.0"


def test_map_selection_reports_nodes(index: TreeIndex) -> None:
    assert cb.map_selection(index, None) == ([], None)
    points = [{"curveNumber": 0, "pointIndex": k} for k in range(7)]  # the 7 Exoplanets documents
    panel, pick = cb.map_selection(index, {"points": points})
    assert pick == {"n": 7, "nodes": {"0": 7, "0.0": 7}}
    assert "Map selection: 7 documents" in _text(panel)
    # the same curve numbers on the map drawn for view "2": curve 0 is everything outside Programming
    _, pick = cb.map_selection(index, {"points": [{"curveNumber": 0, "pointIndex": k} for k in range(23)]}, "2")
    assert pick is not None and pick["n"] == 23 and "2" not in pick["nodes"] and pick["nodes"]["0"] == 12


def test_map_highlight_overlays_and_dims(index: TreeIndex) -> None:
    # view "2": traces are [other documents, Testing, Concurrency, selected overlay, search overlay]
    sel_pos, search_pos = overlay_positions(index, "2")
    assert (sel_pos, search_pos) == (3, 4)
    updates = cb.map_highlight(index, Ids.NAV, {"view": "2", "selected": "2.1"}, None)
    assert set(updates) == {0, 1, 2, sel_pos}
    assert updates[0] == {"marker.opacity": cb.DIMMED_OUTSIDE_OPACITY}
    assert updates[1] == updates[2] == {"marker.opacity": cb.DIMMED_OPACITY}
    assert len(updates[sel_pos]["x"]["bdata"]) > 0
    assert updates[sel_pos]["marker.color"] == index.colors[index.pos["2.1"]]  # the leaf's own shade
    # selecting the view itself overlays nothing: its children's colours already show it
    own = cb.map_highlight(index, Ids.NAV, {"view": "2", "selected": "2"}, None)
    assert own[sel_pos] == {"x": [], "y": []} and own[1] == {"marker.opacity": BASE_OPACITY}
    assert own[0] == {"marker.opacity": OUTSIDE_OPACITY}
    root_sel, root_search = overlay_positions(index)
    updates = cb.map_highlight(index, Ids.SEARCH, None, "brine")
    assert root_search in updates and root_sel not in updates
    cleared = cb.map_highlight(index, None, None, "")
    assert cleared[root_sel] == {"x": [], "y": []} and cleared[0] == {"marker.opacity": BASE_OPACITY}
    full = cb.full_map(index, {"view": "2", "selected": "2.1"}, "brine")
    assert len(full["data"]) == 5 and full["data"][1]["marker"]["opacity"] == cb.DIMMED_OPACITY
    assert full["data"][sel_pos]["x"]["bdata"] and full["data"][search_pos]["x"]["bdata"]
    assert full["layout"]["legend"]["title"]["text"] == "Topics in Programming"
    patch = cb.to_patch({0: {"marker.opacity": 0.2}}).to_plotly_json()
    assert patch["operations"][0]["location"] == ["data", 0, "marker", "opacity"]


def test_map_is_redrawn_only_when_the_view_changes(index: TreeIndex) -> None:
    assert not cb.map_is_stale(index, {"view": "2", "selected": "2.1"}, "2")
    assert cb.map_is_stale(index, {"view": "1", "selected": "1"}, "2")
    assert not cb.map_is_stale(index, None, None)  # nothing drawn yet counts as the root map
    assert cb.map_is_stale(index, {"view": "0", "selected": "0"}, "<junk>")


# -- export ----------------------------------------------------------------------------------------------
def test_exports(index: TreeIndex) -> None:
    cache: dict[str, str] = {}
    tree_json = cb.export_payload(index, Ids.EXPORT_JSON, cache)
    assert tree_json["filename"].endswith(".json")
    assert len(tree_from_dict(json.loads(tree_json["content"]))) == len(index.tree)
    table = cb.export_payload(index, Ids.EXPORT_CSV, cache)
    rows = list(csv.reader(io.StringIO(table["content"])))
    assert rows[0][:3] == ["doc_id", "leaf", "path"] and len(rows) == 37
    page = cb.export_payload(index, Ids.EXPORT_HTML, cache)
    assert page["filename"].endswith(".html") and "sunburst" in page["content"] and "html" in cache
    with pytest.raises(PreventUpdate):
        cb.export_payload(index, "other", cache)


# -- the app over HTTP (Flask test client, no browser) -------------------------------------------------------
def _post(client: Any, output: str, outputs: Any, inputs: list[Any], changed: list[str], state: list[Any]) -> Any:
    body = {"output": output, "outputs": outputs, "inputs": inputs, "changedPropIds": changed, "state": state}
    return client.post("/_dash-update-component", json=body)


def test_app_serves_page_and_callbacks_over_http() -> None:
    from topicmap.viz import create_app

    app = create_app(small_tree())
    client = app.server.test_client()
    page = client.get("/")
    assert page.status_code == 200 and b"topicmap" in page.data
    assert b"cdn" not in page.data.lower() and b"unpkg" not in page.data.lower()
    assert client.get("/_dash-layout").status_code == 200
    nav = {"view": ROOT_ID, "selected": ROOT_ID}
    response = _post(
        client,
        "nav.data",
        {"id": "nav", "property": "data"},
        [
            {"id": "chart", "property": "clickData", "value": _click("2")},
            {"id": "doc-map", "property": "clickData", "value": None},
            [],
            {"id": "map-label", "property": "data", "value": None},
        ],
        ["chart.clickData"],
        [{"id": "nav", "property": "data", "value": nav}, {"id": "map-view", "property": "data", "value": ROOT_ID}],
    )
    assert response.status_code == 200
    assert response.get_json()["response"]["nav"]["data"] == {"view": "2", "selected": "2"}
    # the drill-down redraws the map for the new view, and says which view it drew
    inputs = [{"id": "nav", "property": "data", "value": {"view": "2", "selected": "2"}}, {"id": "search", "property": "value", "value": ""}]
    state = [{"id": "map-ready", "property": "data", "value": True}, {"id": "map-view", "property": "data", "value": ROOT_ID},
             {"id": "map-frame", "property": "data", "value": None}]
    outputs = [{"id": "doc-map", "property": "figure"}, {"id": "map-view", "property": "data"}]
    redraw = _post(client, "..doc-map.figure...map-view.data..", outputs, inputs, ["nav.data"], state).get_json()["response"]
    assert redraw["map-view"]["data"] == "2"
    assert redraw["doc-map"]["figure"]["layout"]["legend"]["title"]["text"] == "Topics in Programming"
    assert sorted(a["name"] for a in redraw["doc-map"]["figure"]["layout"]["annotations"]) == ["2.0", "2.1"]
    state[1]["value"] = "2"  # already drawn for this view: only a patch of overlays and opacities
    patched = _post(client, "..doc-map.figure...map-view.data..", outputs, inputs, ["nav.data"], state).get_json()["response"]
    assert "operations" in patched["doc-map"]["figure"]
    # a topic name clicked on the map selects that topic
    label_inputs = [{"id": "chart", "property": "clickData", "value": None}, {"id": "doc-map", "property": "clickData", "value": None}, [],
                    {"id": "map-label", "property": "data", "value": {"node": "0.1", "at": 1}}]
    picked = _post(client, "nav.data", {"id": "nav", "property": "data"}, label_inputs, ["map-label.data"],
                   [{"id": "nav", "property": "data", "value": nav}, {"id": "map-view", "property": "data", "value": ROOT_ID}])
    assert picked.get_json()["response"]["nav"]["data"] == {"view": "0", "selected": "0.1"}
    # the page reports a zoom: the names are placed again for what it shows
    index = TreeIndex(small_tree())
    whole = full_frame(index, index.pos["2"])
    frame = {"view": "2", "x": [whole.x0, whole.x1], "y": [whole.y0, whole.y1], "w": 600, "h": 400}
    relabel_output = next(d["output"] for d in client.get("/_dash-dependencies").get_json() if d["inputs"] == [{"id": "map-frame", "property": "data"}])
    relabelled = _post(client, relabel_output, {"id": "doc-map", "property": "figure"}, [{"id": "map-frame", "property": "data", "value": frame}],
                       ["map-frame.data"], [{"id": "map-view", "property": "data", "value": "2"}, {"id": "map-ready", "property": "data", "value": True}])
    operations = relabelled.get_json()["response"]["doc-map"]["figure"]["operations"]
    assert sorted(a["name"] for a in operations[0]["params"]["value"]) == ["2.0", "2.1"]


# -- entry points ---------------------------------------------------------------------------------------------
def test_app_py_rejects_missing_and_broken_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import app as entry

    assert entry.main([str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no such tree file" in err and "Traceback" not in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "topicmap-tree", ', encoding="utf-8")
    assert entry.main([str(broken)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_app_py_and_serve_default_to_loopback_without_debug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    import app as entry
    import topicmap.viz.app
    from topicmap.hierarchy.cli import serve as cli_serve

    path = tmp_path / "tree.json"
    save_tree(small_tree(), path)
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(topicmap.viz.app, "run_app", lambda app, **kw: calls.append(kw))
    assert entry.main([str(path)]) == 0
    assert calls[-1] == {"host": "127.0.0.1", "port": 8050, "debug": False}

    cli = typer.Typer()
    cli_serve.register(cli)
    cli.command("noop")(lambda: None)  # a second command keeps `serve` a named subcommand
    result = CliRunner().invoke(cli, ["serve", str(path), "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert calls[-1] == {"host": "127.0.0.1", "port": 8123, "debug": False}
    missing = CliRunner().invoke(cli, ["serve", str(tmp_path / "nope.json")])
    assert isinstance(missing.exception, TreeFileError)
    bad_port = CliRunner().invoke(cli, ["serve", str(path), "--port", "70000"])
    assert isinstance(bad_port.exception, cli_serve.ServeError)


def test_component_ids_on_one_page_are_unique(index: TreeIndex) -> None:
    """A node can appear in the crumbs, children, search hits and map selection at once."""
    nav = {"view": "1", "selected": "1"}
    points = [{"curveNumber": 1, "pointIndex": k} for k in range(11)]
    page = build_layout(index)
    for component in list(_walk(page)):  # the details panel as its callback fills it for ``nav``
        if getattr(component, "id", None) == Ids.CRUMBS:
            component.children = details_panel.breadcrumbs(index, nav)
        elif getattr(component, "id", None) == Ids.NODE_DETAILS:
            component.children = details_panel.node_details(index, nav)
    produced = [page, *cb.search_results(index, "brine"), *cb.map_selection(index, {"points": points})[0]]
    ids = [json.dumps(c.id, sort_keys=True) for item in produced for c in _walk(item) if getattr(c, "id", None) is not None]
    assert len(ids) == len(set(ids))


def test_degenerate_trees_still_render() -> None:
    """A root with no children, and a tree without documents, give a working page."""
    from topicmap.hierarchy.tree.topic_tree import Document, Node, TopicTree
    from topicmap.viz import create_app
    from topicmap.viz.figures import map_spec

    lone = TopicTree([Node(id=ROOT_ID, parent=None, depth=0, size=2)],
                     [Document(id="a", leaf=ROOT_ID, text="alpha"), Document(id="b", leaf=ROOT_ID, text="beta")])
    bare = TopicTree([Node(id=ROOT_ID, parent=None, depth=0, size=5), Node(id="0", parent=ROOT_ID, depth=1, size=5, label="Only")], [])
    for tree in (lone, bare):
        index = TreeIndex(tree)
        assert cb.chart_figure(index, None, 3, "sunburst", "alpha", None)["data"][0]["ids"][0] == ROOT_ID
        assert details_panel.document_page(index, None, 0)[1].startswith("page 1 of 1")
        assert len(map_spec(index)["data"]) == len(index.top_level or [0]) + 2
        client = create_app(tree).server.test_client()
        assert client.get("/_dash-layout").status_code == 200
    assert len(TreeIndex(lone).search("alpha").doc_rows) == 1


def test_run_app_warns_off_loopback_and_keeps_debug_off(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from topicmap.viz.app import create_app, run_app

    app = create_app(small_tree())
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(app, "run", lambda **kw: seen.append(kw))
    run_app(app)
    assert seen[-1]["host"] == "127.0.0.1" and seen[-1]["port"] == 8050 and seen[-1]["debug"] is False
    assert capsys.readouterr().err == ""
    run_app(app, host="0.0.0.0", port=9000)
    assert "warning: serving on 0.0.0.0" in capsys.readouterr().err


def test_representative_documents_come_first_and_pages_cover_all(index: TreeIndex) -> None:
    def rows_of(cards: list[Any]) -> list[int]:
        return [index.tree.documents.index(next(d for d in index.tree.documents if f"id {d.id} " in _text(c))) for c in cards]

    cards = details_panel.document_page(index, {"view": "2", "selected": "2.1"}, 0)[0]
    assert rows_of(cards) == [33, 30, 29, 31, 32, 34, 35]
    assert "representative" in _text(cards[0]) and "representative" not in _text(cards[2])
    seen: list[int] = []
    for page in range(5):
        seen.extend(rows_of(details_panel.document_page(index, None, page)[0]))
    assert seen[:3] == [20, 5, 0] and sorted(seen) == list(range(36))
