"""Known nested structure comes back as nested nodes."""

from __future__ import annotations

from pathlib import Path

from topicmap.hierarchy.tree.treefile import load_tree
from tests.cli_helpers import invoke_cli


def test_three_topics_two_subtopics_come_back_nested(tmp_path: Path, topic_corpus: tuple[Path, Path]) -> None:
    docs, emb = topic_corpus
    assert invoke_cli("build", str(docs), "--embeddings", str(emb), "-o", "a.json", "--min-leaf-size", "5", "-q", cwd=tmp_path).returncode == 0
    tree = load_tree(tmp_path / "a.json")
    tops: dict[str, set[str]] = {}
    for row, doc in enumerate(tree.documents):
        tops.setdefault(doc.metadata["top"], set()).add(tree.document_path(row)[1])
    assert len(tree.children("root")) == 3
    assert all(len(v) == 1 for v in tops.values())  # each topic is exactly one top-level node
    for top in tree.children("root"):
        children = tree.children(top.id)
        assert len(children) >= 2  # and is split further
        for child in children:  # never mixing its subtopics
            assert len({d.metadata["sub"] for d in tree.documents_of(child.id)}) == 1
