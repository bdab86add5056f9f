"""TopicTree's typed API and invariants."""

from __future__ import annotations

import networkx as nx
import pytest

from topicmap.hierarchy.base.errors import TreeFileError
from topicmap.hierarchy.tree.topic_tree import Document, Node, TopicTree
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
    from topicmap.hierarchy.tree.summary import full_report

    tree = TopicTree([Node("root", None, 0, 2, label="all")], [Document("a", "root"), Document("b", "root")])
    report = full_report(tree)
    assert "root is the only node" in report and "level  nodes" not in report


def test_outline_of_two_thousand_leaves_fits_a_screen() -> None:
    from topicmap.hierarchy.tree.summary import full_report, outline
    from topicmap.viz.synthetic import synthetic_tree

    tree = synthetic_tree(n_docs=20_000, schedule=(8, 7, 7, 5), seed=0)  # 1,960 leaves
    lines = outline(tree, max_depth=4)
    assert len(lines) <= 40
    tops = sorted(tree.children("root"), key=lambda n: -n.size)
    for top in tops:  # every top-level topic is listed, then its largest subtopics
        at = next(k for k, line in enumerate(lines) if line.split()[0] == top.id)
        largest = max(tree.children(top.id), key=lambda n: n.size)
        assert lines[at + 1].split()[0] == largest.id
    more = [line for line in lines if line.strip().startswith("... ")]
    assert len(more) == 8  # each top-level topic's hidden subtopics are counted, with their documents
    shown_docs = sum(int(line.split()[1].replace(",", "")) for line in lines if line.startswith("    ") and "..." not in line)
    hidden_docs = sum(int(line.split("(")[1].split()[0].replace(",", "")) for line in more)
    assert shown_docs + hidden_docs == 20_000
    report = full_report(tree)
    assert any(line.split()[:3] == ["4", "1960", "1960"] for line in report.splitlines())  # per-level counts
    assert len(report.splitlines()) < 60


def test_outline_lists_everything_when_it_fits() -> None:
    from topicmap.hierarchy.tree.summary import outline
    from tests.viz_fixtures import small_tree

    lines = outline(small_tree(), max_depth=3)
    assert len(lines) == 1 + 3 + 6 and not any("..." in line for line in lines)
    assert [line.split()[0] for line in lines[:4]] == ["root", "2", "2.1", "2.0"]  # largest first
    assert [line.strip() for line in outline(small_tree(), max_depth=1, max_lines=3)][1:] == ["2             13  Programming", "... 2 more (23 documents)"]
