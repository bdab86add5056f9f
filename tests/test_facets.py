"""Facet trees taken together: naming, the same-documents check, the cross counts and table behind the
facet page, its callbacks as plain functions, and `topicmap serve A B C` refusing bad input in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.analysis.facet_trees import facet_names, file_stem, load_facet_trees
from topicmap.hierarchy.tree.topic_tree import ROOT_ID
from topicmap.hierarchy.tree.treefile import load_tree
from tests.cli_helpers import assert_clean_error, invoke_cli
from tests.facet_fixtures import FACETS, build_facet_trees, write_facet_corpus


@pytest.fixture(scope="module")
def facet_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_facet_trees(tmp_path_factory.mktemp("facets"))


@pytest.fixture(scope="module")
def facet_index(facet_paths: dict[str, Path]):  # noqa: ANN201 - viz imported lazily
    from topicmap.viz.facet_index import FacetIndex

    return FacetIndex(load_facet_trees(list(facet_paths.values())))


def test_facets_are_named_by_their_text_column_else_their_file(facet_paths: dict[str, Path], tmp_path: Path) -> None:
    facets = load_facet_trees([facet_paths[f] for f in FACETS])
    assert [f.name for f in facets] == ["problem", "method", "finding"]
    assert file_stem("out/papers.method.tree.json") == "papers.method" and file_stem("x.json.gz") == "x"
    trees = [load_tree(facet_paths["problem"]), load_tree(facet_paths["problem"])]
    # two trees of one column (a tree and its regrouped twin): the files name them
    assert facet_names(trees, ["a/problem.tree.json", "b/hybrid.tree.json"]) == ["problem", "hybrid"]
    assert facet_names(trees, ["a/t.tree.json", "b/t.tree.json"]) == ["t (1)", "t (2)"]
    trees[0].manifest["input"]["text_column"] = "text"  # built from the default column: named by the file
    assert facet_names(trees[:1] + [load_tree(facet_paths["method"])], ["x/abstracts.tree.json", "m.json"]) == ["abstracts", "method"]


def test_trees_over_other_documents_are_refused_in_one_line(facet_paths: dict[str, Path], tmp_path: Path) -> None:
    docs, vectors = write_facet_corpus(tmp_path)
    rows = docs.read_text(encoding="utf-8").splitlines()
    subset = tmp_path / "subset.jsonl"
    subset.write_text("\n".join(rows[3:]) + "\n", encoding="utf-8")  # d000, d001, d002 left out
    np.save(tmp_path / "subset.npy", np.load(vectors["method"])[3:])
    built = invoke_cli("build", str(subset), "--text-column", "method", "--embeddings", str(tmp_path / "subset.npy"), "--min-leaf-size", "5", "--layout", "pca", "-q", "-o", "sub.tree.json", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    with pytest.raises(InputError, match=r"3 only in .*problem.tree.json \(e\.g\. 'd000', 'd001', 'd002'\)"):
        load_facet_trees([facet_paths["problem"], tmp_path / "sub.tree.json"])
    result = invoke_cli("serve", str(facet_paths["problem"]), str(tmp_path / "sub.tree.json"), "--port", "8123", cwd=tmp_path)
    assert_clean_error(result, "not over the same documents", "3 only in", "build every facet tree from the same rows")
    assert_clean_error(invoke_cli("serve", str(facet_paths["problem"]), str(facet_paths["problem"]), cwd=tmp_path), "the same tree file is given twice")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    assert_clean_error(invoke_cli("serve", str(facet_paths["problem"]), str(tmp_path / "broken.json"), cwd=tmp_path), "broken.json: not valid JSON")
    assert_clean_error(invoke_cli("serve", str(facet_paths["problem"]), str(facet_paths["method"]), "--port", "0", cwd=tmp_path), "--port 0")


def test_serve_help_teaches_facets() -> None:
    result = invoke_cli("serve", "--help")
    assert result.returncode == 0
    assert "problem.tree.json method.tree.json finding.tree.json" in result.stdout and "same document ids" in result.stdout


def test_cross_counts_match_the_documents_by_id(facet_index) -> None:  # noqa: ANN001
    a, b = facet_index.index("problem"), facet_index.index("method")
    for node in [ROOT_ID, *(n.id for n in a.tree.iter_nodes() if n.id != ROOT_ID)]:
        cross = facet_index.cross_counts("problem", node, "method")
        ids = {a.tree.documents[r].id for r in a.node_doc_rows(node).tolist()}
        expected = [sum(b.tree.documents[r].id in ids for r in b.node_doc_rows(m).tolist()) for m in b.ids]
        assert cross.counts.tolist() == expected and cross.n_selected == len(ids)
    assert facet_index.cross_counts("problem", "no-such-node", "method").node == ROOT_ID


def test_cross_sunburst_is_coloured_by_share(facet_index) -> None:  # noqa: ANN001
    from topicmap.viz.facet_figures import cross_figure, cross_spec

    problem = facet_index.index("problem")
    top = problem.ids[problem.top_level[0]]
    cross = facet_index.cross_counts("problem", top, "method")
    spec = cross_spec(facet_index.index("method"), cross)
    trace = spec["data"][0]
    method = facet_index.index("method")
    for node_id, value, hover in zip(trace["ids"], trace["marker"]["colors"], trace["hovertext"]):
        k = method.pos[node_id]
        if node_id != ROOT_ID:
            assert value == pytest.approx(cross.counts[k] / cross.n_selected, abs=1e-4)
        assert f"{int(cross.counts[k]):,} of the {cross.n_selected:,} selected documents" in hover
    shown = [v for i, v in zip(trace["ids"], trace["marker"]["colors"]) if i != ROOT_ID]
    assert trace["marker"]["cmax"] == pytest.approx(max(shown), abs=1e-4) and trace["marker"]["showscale"]
    assert trace["values"] == [int(method.size[method.pos[i]]) for i in trace["ids"]]  # sizes: the tree's own
    # the notebook form draws the same
    figure = cross_figure(facet_index.by_name["problem"].tree, facet_index.by_name["method"].tree, node=top, names=("problem", "method"))
    assert list(figure.data[0].marker.colors) == trace["marker"]["colors"]


def test_state_switching_and_pivot(facet_index) -> None:  # noqa: ANN001
    from dash.exceptions import PreventUpdate

    from topicmap.viz.facet_callbacks import choose_facet, choose_other, clean_state, cross_click, main_click

    start = clean_state(facet_index, None)
    assert start == {"facet": "problem", "view": ROOT_ID, "selected": ROOT_ID, "other": "method"}
    assert clean_state(facet_index, {"facet": "<x>", "other": "problem", "selected": "9.9.9"}) == {**start, "other": "method"}
    problem = facet_index.index("problem")
    top = problem.ids[problem.top_level[1]]
    picked = main_click(facet_index, start, {"points": [{"id": top}]})
    assert picked["selected"] == top and picked["view"] == top and picked["facet"] == "problem"
    assert choose_other(facet_index, picked, "finding") == {**picked, "other": "finding"}
    # switching the main facet: it opens at its root, and the facet left behind is compared
    assert choose_facet(facet_index, picked, "finding") == {"facet": "finding", "view": ROOT_ID, "selected": ROOT_ID, "other": "problem"}
    assert choose_facet(facet_index, picked, "nonsense") == picked
    # a click in the compared sunburst swaps the roles, with the clicked topic selected
    method = facet_index.index("method")
    leaf = next(i for i in method.ids if i != ROOT_ID and not method.children_pos[method.pos[i]])
    pivot = cross_click(facet_index, picked, {"points": [{"id": leaf}]})
    assert pivot == {"facet": "method", "other": "problem", "view": method.node(leaf).parent, "selected": leaf}
    with pytest.raises(PreventUpdate):
        cross_click(facet_index, picked, {"points": [{"id": "not-a-node"}]})


def test_table_follows_the_selection_and_exports_what_crosstab_writes(facet_index, facet_paths: dict[str, Path], tmp_path: Path) -> None:  # noqa: ANN001
    from topicmap.viz.facet_callbacks import clean_state, export_table, shown_rows, table_rows, table_view

    state = clean_state(facet_index, None)
    caption, children = table_view(facet_index, state, 1, 1)
    table = facet_index.table("problem", "method", 1, 1)
    assert "problem topics at depth 1 (3)" in caption and len(table.rows) == 3
    assert len(children[0].children[1].children) == 3  # one row per top-level problem
    problem = facet_index.index("problem")
    top = problem.ids[problem.top_level[0]]
    deep = {**state, "selected": top, "view": top}
    assert [table.rows[i] for i in table_rows(facet_index, deep, table)] == [top]
    table2 = facet_index.table("problem", "method", 2, 1)
    assert {table2.rows[i] for i in table_rows(facet_index, deep, table2)} == {problem.ids[c] for c in problem.children_pos[problem.pos[top]]}
    # a selection below the cut gets a row of its own, counted from its documents
    leaf = problem.ids[problem.children_pos[problem.pos[top]][0]]
    assert table_rows(facet_index, {**state, "selected": leaf}, table) == []
    (node_id, _, counts), = shown_rows(facet_index, {**state, "selected": leaf}, table)
    ids = {problem.tree.documents[r].id for r in problem.node_doc_rows(leaf).tolist()}
    method = facet_index.index("method")
    assert node_id == leaf and counts.tolist() == [sum(method.tree.documents[r].id in ids for r in method.node_doc_rows(c).tolist()) for c in table.columns]
    caption, _ = table_view(facet_index, {**state, "selected": leaf}, 1, 1)
    assert "the selected problem topic" in caption and "below depth 1" in caption
    _, children = table_view(facet_index, deep, 9, "x")  # depths from the browser are clamped, not trusted
    assert facet_index.depth_for("problem", 9) == problem.max_depth and facet_index.depth_for("method", "x") == 1
    # the export is the CLI's table, byte for byte
    download = export_table(facet_index, state, 1, 1)
    result = invoke_cli("crosstab", str(facet_paths["problem"]), str(facet_paths["method"]), "--depth", "1", "-o", str(tmp_path / "x.csv"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert download["content"] == (tmp_path / "x.csv").read_bytes().decode("utf-8") and download["filename"] == "problem-x-method.csv"


def test_facet_app_serves_the_page_and_each_explorer(facet_paths: dict[str, Path]) -> None:
    from topicmap.viz.facet_app import create_facet_app

    app = create_facet_app(load_facet_trees([facet_paths[f] for f in FACETS]))
    client = app.server.test_client()
    layout = json.dumps(client.get("/_dash-layout").get_json())
    assert "facet-choice" in layout and "finding" in layout
    for k in (1, 2, 3):
        assert client.get(f"/facet/{k}/").status_code == 200
        explorer = json.dumps(client.get(f"/facet/{k}/_dash-layout").get_json())
        assert '"chart"' in explorer and '"doc-map"' in explorer


def test_app_script_refuses_facet_trees_over_other_documents(facet_paths: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import app

    other = tmp_path / "other.tree.json"
    tree = load_tree(facet_paths["method"])
    tree.documents[0].id = "renamed"  # one id differs
    from topicmap.hierarchy.tree.treefile import save_tree

    save_tree(tree, other)
    assert app.main([str(facet_paths["problem"]), str(other), "--port", "8124"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: facet trees") and "1 only in" in err[0] and "'renamed'" in err[0]
