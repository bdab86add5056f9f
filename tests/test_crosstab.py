"""The node x node table of two trees over the same documents: the function and ``topicmap crosstab``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.analysis.crosstab import crosstab, long_rows
from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.tree.topic_tree import Document, Node, TopicTree
from topicmap.hierarchy.tree.treefile import save_tree
from tests.cli_helpers import assert_clean_error, invoke_cli


def facet_tree(assign: dict[str, str], labels: dict[str, str], prefix: str = "") -> TopicTree:
    """A tree from doc id -> leaf id; parents are the leaf ids' prefixes, labels given per node."""
    leaves = sorted(set(assign.values()))
    ids = sorted({leaf.rsplit(".", 1)[0] for leaf in leaves if "." in leaf} | set(leaves), key=lambda i: [int(p) for p in i.split(".")])
    size = {i: sum(1 for leaf in assign.values() if leaf == i or leaf.startswith(i + ".")) for i in ids}
    nodes = [Node("root", None, 0, len(assign), label="all")]
    nodes += [Node(i, i.rsplit(".", 1)[0] if "." in i else "root", i.count(".") + 1, size[i], label=prefix + labels.get(i, i)) for i in ids]
    docs = [Document(doc_id, leaf, text=doc_id) for doc_id, leaf in assign.items()]
    return TopicTree(nodes, docs)


# problems: 0 (0.0, 0.1) and 1 (a leaf at depth 1); methods: 0 and 1, each with two leaves
PROBLEMS = {"d1": "0.0", "d2": "0.0", "d3": "0.1", "d4": "0.1", "d5": "1", "d6": "1"}
METHODS = {"d1": "0.0", "d2": "1.0", "d3": "1.0", "d4": "1.1", "d5": "0.1", "d6": "0.1"}


def test_counts_and_row_shares_at_chosen_depths() -> None:
    a = facet_tree(PROBLEMS, {"0": "Drug resistance", "0.0": "Bacteria", "0.1": "Viruses", "1": "Crop yield"})
    b = facet_tree(METHODS, {"0": "Field trials", "1": "Sequencing"})
    table = crosstab(a, b, depth_a=1)
    assert table.rows == ["0", "1"] and table.columns == ["0", "1"]
    np.testing.assert_array_equal(table.counts, [[1, 3], [2, 0]])
    np.testing.assert_allclose(table.row_shares, [[0.25, 0.75], [1.0, 0.0]])
    deeper = crosstab(a, b, depth_a=2, depth_b=2)
    assert deeper.rows == ["1", "0.0", "0.1"]  # the depth-1 leaf stands for itself in the depth-2 cut
    assert deeper.columns == ["0.0", "0.1", "1.0", "1.1"]
    np.testing.assert_array_equal(deeper.counts, [[0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1]])
    assert deeper.counts.sum() == 6 and (deeper.row_shares.sum(axis=1) == 1).all()
    rows = long_rows(table)
    assert rows[0] == ["0", "Drug resistance", "0", "Field trials", 1, 0.25, round(1 / 3, 4)]
    assert len(rows) == 3 and len(long_rows(table, keep_zeros=True)) == 4


def test_documents_are_matched_by_id_not_by_row_order() -> None:
    a = facet_tree(PROBLEMS, {})
    b = facet_tree(dict(reversed(list(METHODS.items()))), {})
    np.testing.assert_array_equal(crosstab(a, b, 1).counts, [[1, 3], [2, 0]])


def test_trees_over_different_documents_are_refused_with_counts_and_examples() -> None:
    a = facet_tree(PROBLEMS, {})
    b = facet_tree({**{k: v for k, v in METHODS.items() if k not in ("d5", "d6")}, "x9": "0.0", "x8": "1.0", "x7": "1.1", "x6": "0.1"}, {})
    with pytest.raises(InputError) as caught:
        crosstab(a, b, 1, name_a="problem.json", name_b="method.json")
    message = str(caught.value)
    assert "2 only in problem.json (e.g. 'd5', 'd6')" in message and "4 only in method.json (e.g. 'x6', 'x7', 'x8')" in message
    assert "\n" not in message


def test_a_cut_deeper_than_the_tree_is_refused() -> None:
    a = facet_tree(PROBLEMS, {})
    with pytest.raises(InputError, match="--depth-b 3: tree B is only 2 levels deep"):
        crosstab(a, a, 1, 3)
    with pytest.raises(InputError, match="--depth 0: must be at least 1"):
        crosstab(a, a, 0)


def test_the_command_prints_a_summary_and_writes_a_spreadsheet_safe_csv(tmp_path: Path) -> None:
    save_tree(facet_tree(PROBLEMS, {"0": "=HYPERLINK(1)", "1": "Crop yield"}), tmp_path / "a.json")
    save_tree(facet_tree(METHODS, {"0": "Field trials", "1": "Sequencing"}), tmp_path / "b.json")
    shown = invoke_cli("crosstab", "a.json", "b.json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "2 nodes of A (depth 1) x 2 nodes of B (depth 1)" in shown.stdout and "Sequencing [1] 75%" in shown.stdout
    wrote = invoke_cli("crosstab", "a.json", "b.json", "--depth", "1", "-o", "x.csv", cwd=tmp_path)
    assert wrote.returncode == 0 and "wrote x.csv" in wrote.stdout, wrote.stderr
    rows = list(csv.reader(io.StringIO((tmp_path / "x.csv").read_text("utf-8"))))
    assert rows[0] == ["a_node", "a_label", "b_node", "b_label", "documents", "share_of_a", "share_of_b"]
    assert rows[1] == ["0", "'=HYPERLINK(1)", "0", "Field trials", "1", "0.25", "0.3333"]
    wide = invoke_cli("crosstab", "a.json", "b.json", "--depth", "1", "--depth-b", "2", "--format", "wide", "-o", "w.csv", cwd=tmp_path)
    assert wide.returncode == 0, wide.stderr
    table = list(csv.reader(io.StringIO((tmp_path / "w.csv").read_text("utf-8"))))
    assert table[0][:4] == ["a_node", "a_label", "documents", "0.0 0.0"] and len(table[0]) == 7
    assert table[2] == ["1", "Crop yield", "2", "0", "2", "0", "0"]
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically: no temporary file left


def test_the_command_refuses_mismatched_trees_in_one_line(tmp_path: Path) -> None:
    save_tree(facet_tree(PROBLEMS, {}), tmp_path / "a.json")
    save_tree(facet_tree({**METHODS, "extra": "0.0"}, {}), tmp_path / "b.json")
    result = invoke_cli("crosstab", "a.json", "b.json", "-o", "x.csv", cwd=tmp_path)
    assert_clean_error(result, "a.json and b.json are not over the same documents", "1 only in b.json (e.g. 'extra')")
    assert not (tmp_path / "x.csv").exists()
