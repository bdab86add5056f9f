"""Placing new documents into an existing tree, staleness flags, and the assign command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.builder.assign import assign_documents, descend_by_centroids, stale_node_ids
from topicmap.hierarchy.base.errors import InputError, TopicmapError
from topicmap.hierarchy.inputs.documents import Corpus, read_documents
from topicmap.hierarchy.tree.topic_tree import LabelMeta
from topicmap.hierarchy.tree.embedder import EmbedderChoice, resolve_tree_embedder
from topicmap.hierarchy.tree.treefile import load_tree, save_tree, tree_from_dict, tree_to_dict
from tests.cli_helpers import assert_clean_error, invoke_cli
from tests.eval_fixtures import build, hand_tree, relabelled


def corpus_of(ids: list[str], source: str = "new.jsonl") -> Corpus:
    return Corpus(ids, [f"text {i}" for i in ids], ["" for _ in ids], [{} for _ in ids], source, "0" * 64)


def unit(angle: float) -> np.ndarray:
    return np.array([np.cos(angle), np.sin(angle)], dtype=np.float32)


def test_descend_follows_the_closest_centroid_at_each_level():
    tree = hand_tree()
    vectors = np.vstack([unit(0.05), unit(0.38), unit(2.5), unit(1.95)])
    assert descend_by_centroids(tree, vectors) == ["0.0", "0.1", "1.1", "1.0"]


def test_assign_updates_sizes_centroids_and_keeps_the_old_tree():
    tree = hand_tree()
    before = tree_to_dict(tree)
    result = assign_documents(tree, corpus_of(["n1", "n2"]), np.vstack([unit(0.0), unit(0.1)]), threshold=10.0)
    new = result.tree
    assert tree_to_dict(tree) == before  # the input tree is untouched
    assert result.leaves == {"0.0": 2} and result.assigned == 2
    assert [new.node(i).size for i in ("root", "0", "0.0", "0.1", "1")] == [10, 6, 4, 2, 4]
    assert np.allclose(new.node("0.0").centroid, unit(0.0) * 0.75 + unit(0.1) * 0.25, atol=1e-6)
    assert [d.id for d in new.documents[-2:]] == ["n1", "n2"] and new.documents[-1].leaf == "0.0"
    assert new.manifest["updates"][0]["kind"] == "assign" and new.manifest["updates"][0]["n_documents"] == 2
    tree_from_dict(tree_to_dict(new))  # still a valid tree file
    assert result.stale == [] and stale_node_ids(new) == []


def test_centroids_move_by_the_new_rows_summed_along_each_path_in_row_order():
    """The sums per node (taken per depth on the tree's arrays) are those of adding each row along its path, in row order, bit for bit."""
    tree = hand_tree()
    rng = np.random.default_rng(3)
    vectors = np.vstack([unit(a) for a in rng.uniform(-3.0, 3.0, 60)]) * rng.uniform(0.5, 2.0, (60, 1)).astype(np.float32)
    result = assign_documents(tree, corpus_of([f"n{i}" for i in range(60)]), vectors, threshold=10.0)
    leaves = descend_by_centroids(tree, vectors)
    sums: dict[str, np.ndarray] = {}
    added: dict[str, int] = {}
    for row, leaf in enumerate(leaves):
        for node in tree.path(leaf):
            sums[node.id] = sums.get(node.id, 0.0) + vectors[row].astype(np.float64)
            added[node.id] = added.get(node.id, 0) + 1
    assert len(set(leaves)) > 1 and set(added) == {n.id for n in tree.iter_nodes()}
    for node in tree.iter_nodes():
        old, count = node.size, added[node.id]
        expected = ((node.centroid.astype(np.float64) * old + sums[node.id]) / (old + count)).astype(np.float32)
        assert np.array_equal(result.tree.node(node.id).centroid, expected), node.id
        assert result.tree.node(node.id).size == old + count


def llm_labelled(tree):
    for node in tree.iter_nodes():
        node.label_meta = LabelMeta(labeler="llm", model="fake")
    return tree


def test_staleness_is_measured_against_the_size_at_labelling_and_cleared_by_relabelling():
    tree = llm_labelled(hand_tree())
    # +1 document on 0.0: root 8->9 (12.5%), 0 4->5 (25%), 0.0 2->3 (50%)
    first = assign_documents(tree, corpus_of(["n1"]), unit(0.0)[None, :], threshold=0.2)
    assert first.stale == ["0", "0.0"]
    assert stale_node_ids(first.tree) == ["0", "0.0"]
    assert first.tree.node("0.0").label_meta.extra == {"size_at_label": 2, "stale": True}
    # another document: root drifts to 10 vs 8 labelled -> 25%, now stale too; 0 and 0.0 stay flagged
    second = assign_documents(first.tree, corpus_of(["n2"]), unit(0.0)[None, :], threshold=0.2)
    assert second.stale == ["root"] and second.stale_total == 3
    assert second.tree.node("root").label_meta.extra["size_at_label"] == 8
    relabelled(second.tree, "0.0")
    assert stale_node_ids(second.tree) == ["root", "0"]
    saved = tree_from_dict(tree_to_dict(second.tree))
    assert stale_node_ids(saved) == ["root", "0"]


def test_drifted_nodes_get_fresh_keywords_and_keyword_labels_are_refreshed(topic_corpus):
    docs, emb = topic_corpus
    corpus = read_documents(docs)
    vectors = np.load(emb)
    tree = build(corpus, vectors, levels=[3, 6])
    football = next(d.leaf for d in tree.documents if d.id == "football-0")
    tree.node(football).label_meta = LabelMeta(labeler="llm", model="fake")
    before = {n.id: (n.label, list(n.keywords)) for n in tree.iter_nodes()}
    rows = [i for i, d in enumerate(tree.documents) if d.id.startswith("football")][:10]
    new = Corpus([f"new-{r}" for r in rows], ["zeppelin airship blimp hangar" for _ in rows], ["" for _ in rows], [{} for _ in rows], "new.jsonl", "0" * 64)
    result = assign_documents(tree, new, vectors[rows])
    parent = tree.node(football).parent
    assert set(result.leaves) == {football} and football in result.refreshed and parent in result.refreshed
    after = result.tree
    assert "zeppelin" in after.node(football).keywords  # the LLM relabel will see the new content...
    assert after.node(football).label == before[football][0] and football in result.stale  # ...its label waits for it
    assert after.node(parent).label_meta.labeler == "keywords" and parent not in stale_node_ids(after)  # keyword label: refreshed now
    assert after.node(parent).keywords != before[parent][1] or after.node(parent).label == before[parent][0]
    untouched = [n.id for n in after.iter_nodes() if n.id not in result.refreshed]
    assert all((after.node(i).label, after.node(i).keywords) == before[i] for i in untouched)


@pytest.mark.parametrize(
    "ids, vectors, message",
    [
        (["n1"], np.ones((1, 3), dtype=np.float32), "the new documents' embeddings have 3 dimensions, the tree's have 2"),
        (["0.0-1"], np.ones((1, 2), dtype=np.float32), "document id '0.0-1' is already in the tree"),
        (["n1", "n2"], np.ones((1, 2), dtype=np.float32), "1 embedding rows for 2 documents"),
    ],
)
def test_assign_refuses_bad_input(ids, vectors, message):
    with pytest.raises(InputError, match=message):
        assign_documents(hand_tree(), corpus_of(ids), vectors)


def test_the_tree_embedder_comes_from_the_manifest_or_a_clear_error():
    tree = hand_tree()
    with pytest.raises(TopicmapError, match="precomputed embeddings of an unknown model"):
        resolve_tree_embedder(tree)
    tree.manifest["embedder"] = {"name": "tfidf-lsa-256-seed0"}
    with pytest.raises(TopicmapError, match="fitted to its own corpus"):
        resolve_tree_embedder(tree)
    tree.manifest["embedder"] = {"name": "sentence-transformers/all-MiniLM-L6-v2"}
    assert resolve_tree_embedder(tree).name == "sentence-transformers/all-MiniLM-L6-v2"
    tree.manifest["embedder"] = {"name": "openai/text-embedding-3-small"}
    assert resolve_tree_embedder(tree).name == "openai/text-embedding-3-small"
    assert resolve_tree_embedder(hand_tree(), EmbedderChoice(override="minilm")).name.endswith("all-MiniLM-L6-v2")


def test_minilm_places_a_paper_next_to_itself(papers_paths):
    from topicmap.hierarchy.inputs.embed import SentenceTransformerEmbedder

    docs, emb = papers_paths
    corpus = read_documents(docs)
    tree = build(corpus, np.load(emb), embedder_name="sentence-transformers/all-MiniLM-L6-v2")
    rows = [0, 7, 21, 40]
    again = Corpus([f"copy-{r}" for r in rows], [corpus.texts[r] for r in rows], [corpus.titles[r] for r in rows], [{} for _ in rows], "copies", "0" * 64)
    model = resolve_tree_embedder(tree)
    assert isinstance(model, SentenceTransformerEmbedder)
    vectors = model.embed(again.embedding_texts())
    result = assign_documents(tree, again, vectors)
    placed = {d.id: d.leaf for d in result.tree.documents}
    same = sum(placed[f"copy-{r}"] == tree.documents[r].leaf for r in rows)
    assert same >= 3  # a copy re-embedded by the tree's own model lands with its original (centroid descent can miss one)


# -- the command ------------------------------------------------------------------------------
@pytest.fixture
def built(tmp_path: Path, topic_corpus):
    docs, emb = topic_corpus
    tree_file = tmp_path / "t.json"
    assert invoke_cli("build", str(docs), "--embeddings", str(emb), "--levels", "3,6", "-o", str(tree_file), "-q", cwd=tmp_path).returncode == 0
    rows = [json.loads(line) for line in docs.read_text().splitlines()]
    vectors = np.load(emb)
    new_docs = tmp_path / "new.jsonl"
    new_docs.write_text("".join(json.dumps({**r, "id": "new-" + r["id"]}) + "\n" for r in rows[:30]))
    new_emb = tmp_path / "new.npy"
    np.save(new_emb, vectors[:30] + 0.01)
    return tree_file, new_docs, new_emb, vectors


def test_cli_assign_writes_the_updated_tree_and_flags_stale_nodes(built, tmp_path: Path):
    tree_file, new_docs, new_emb, _ = built
    out = tmp_path / "updated.json"
    result = invoke_cli("assign", str(tree_file), str(new_docs), "--embeddings", str(new_emb), "-o", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "placed 30 documents" in result.stdout and "relabel" in result.stdout
    old, new = load_tree(tree_file), load_tree(out)
    assert len(new.documents) == len(old.documents) + 30
    by_id = {d.id: d.leaf for d in new.documents}
    assert all(by_id["new-" + d.id] == d.leaf for d in old.documents[:30])  # near-copies land with their originals
    assert new.node("root").size == old.node("root").size + 30
    assert "keyword labels refreshed" in result.stdout and stale_node_ids(new) == []  # keyword labels: refreshed at once
    refreshed = [n for n in new.iter_nodes() if n.label_meta.extra.get("refreshed_by") == "assign"]
    assert refreshed and all(n.size != old.node(n.id).size for n in refreshed)
    # the same on an LLM-labelled tree: labels kept, drifted nodes flagged for 'relabel --only-stale'
    data = json.loads(tree_file.read_text())
    for node in data["nodes"]:
        node["label_meta"] = {"labeler": "llm", "model": "fake", "status": "ok"}
    llm_tree = tmp_path / "llm.json"
    llm_tree.write_text(json.dumps(data))
    result = invoke_cli("assign", str(llm_tree), str(new_docs), "--embeddings", str(new_emb), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    flagged = stale_node_ids(load_tree(llm_tree))
    assert flagged == [n.id for n in refreshed] and "flagged for relabelling" in result.stdout
    assert [load_tree(llm_tree).node(i).label for i in flagged] == [old.node(i).label for i in flagged]


def test_cli_assign_bad_input_is_one_line_and_leaves_the_tree_alone(built, tmp_path: Path):
    tree_file, new_docs, _, vectors = built
    original = tree_file.read_bytes()
    wide = tmp_path / "wide.npy"
    np.save(wide, np.ones((30, 7), dtype=np.float32))
    assert_clean_error(invoke_cli("assign", str(tree_file), str(new_docs), "--embeddings", str(wide), cwd=tmp_path), "have 7 dimensions, the tree's have 32")
    assert_clean_error(invoke_cli("assign", str(tree_file), str(new_docs), cwd=tmp_path), "precomputed embeddings", "--embedder")
    assert tree_file.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".json") == ["t.json"]
