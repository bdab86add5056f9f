"""TopicTree's typed API and invariants."""

from __future__ import annotations

import networkx as nx
import pytest

from hierarchy.errors import TreeFileError
from hierarchy.tree import Document, Node, TopicTree
from tests.test_treefile import small_tree


def test_navigation() -> None:
    tree = small_tree()
    assert [n.id for n in tree.iter_nodes()] == ["root", "0", "1", "0.0", "0.1"]
    assert [n.id for n in tree.children("0")] == ["0.0", "0.1"]
    assert [n.id for n in tree.siblings("0.0")] == ["0.1"]
    assert [n.id for n in tree.path("0.1")] == ["root", "0", "0.1"]
    assert [n.id for n in tree.leaves()] == ["1", "0.0", "0.1"]
    assert tree.depth == 2 and len(tree) == 5
    assert tree.document_rows("root") == [0, 1, 2]
    bottom_up = [n.id for n in tree.iter_bottom_up()]
    assert bottom_up.index("0.0") < bottom_up.index("0") < bottom_up.index("root")
    graph = tree.to_networkx()
    assert isinstance(graph, nx.DiGraph) and graph.number_of_edges() == 4


def test_children_sort_numerically() -> None:
    nodes = [Node("root", None, 0, 11)] + [Node(str(i), "root", 1, 1) for i in range(11)]
    docs = [Document(f"d{i}", str(i)) for i in range(11)]
    tree = TopicTree(nodes, docs)
    assert [n.id for n in tree.children("root")][-2:] == ["9", "10"]


def test_invariants() -> None:
    with pytest.raises(TreeFileError, match="no root"):
        TopicTree([Node("0", None, 0, 0)], [])
    with pytest.raises(TreeFileError, match="appears twice"):
        TopicTree([Node("root", None, 0, 0), Node("root", None, 0, 0)], [])
    with pytest.raises(TreeFileError, match="exactly one root"):
        TopicTree([Node("root", None, 0, 0), Node("0", "root", 1, 0), Node("1", None, 0, 0)], [])


def test_report_of_a_root_only_tree_says_why() -> None:
    from hierarchy.summary import full_report

    tree = TopicTree([Node("root", None, 0, 2, label="all")], [Document("a", "root"), Document("b", "root")])
    report = full_report(tree)
    assert "root is the only node" in report and "level  nodes" not in report
