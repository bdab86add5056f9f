"""Fitted leaf keyword counts: each leaf keeps the prefix of its steered list that best tells it from its siblings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.inputs.documents import read_documents
from topicmap.hierarchy.builder.keywords import NodeKeywords
from topicmap.hierarchy.builder.leaf_keywords import choose_options, fit_leaf_keywords
from topicmap.hierarchy.tree.node_text import SUBTOPIC_KEYWORDS, node_text
from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs, build_tree
from topicmap.hierarchy.tree.topic_tree import ROOT_ID, Node, TopicTree


def unit_rows(rows: list[list[float]]) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float64)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_a_sibling_takes_the_option_that_sorts_more_documents_to_their_own_node() -> None:
    docs_a = unit_rows([[1, 0.1, 0], [1, 0.3, 0], [1, 0.5, 0]])
    docs_b = unit_rows([[0.3, 1, 0], [0.5, 1, 0], [0.1, 1, 0]])
    a_options = unit_rows([[0.7, 0.7, 0], [1, 0, 0]])  # default leans to b; the second reads as a alone
    b_options = unit_rows([[0, 1, 0]])
    assert choose_options([a_options, b_options], [docs_a, docs_b]) == [1, 0]


def test_the_default_is_kept_when_no_option_sorts_better() -> None:
    docs_a = unit_rows([[1, 0.1, 0], [1, 0.2, 0]])
    docs_b = unit_rows([[0.1, 1, 0], [0.2, 1, 0]])
    a_options = unit_rows([[1, 0, 0], [0.5, 1, 0]])  # the alternative would pull b's documents
    assert choose_options([a_options, unit_rows([[0, 1, 0]])], [docs_a, docs_b]) == [0, 0]
    assert choose_options([a_options], [docs_a]) == [0]  # a lone child has nobody to be told from


class Lexicon:
    """A real (if simple) embedding model: a text is the mean of its words' vectors; each word points at its topic."""

    def __init__(self, topics: dict[str, list[str]], dimensions: int = 16, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.vectors: dict[str, np.ndarray] = {}
        for topic, words in topics.items():
            direction = rng.normal(size=dimensions) * 3
            for word in words:
                self.vectors[word] = direction + rng.normal(size=dimensions)
        self.dimensions = dimensions
        self.seen: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.seen.append(list(texts))
        tokens = [[w.strip(",:·;") for w in t.lower().split()] for t in texts]
        out = np.stack([np.mean([self.vectors.get(w, np.zeros(self.dimensions)) for w in ws] or [np.zeros(self.dimensions)], axis=0) for ws in tokens])
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def test_a_leaf_whose_later_keywords_read_as_its_sibling_is_cut_to_its_first_words() -> None:
    topics = {"a": [f"alpha{i}" for i in range(30)], "b": [f"beta{i}" for i in range(30)]}
    model = Lexicon(topics)
    nodes = [Node("0", ROOT_ID, 1, 50), Node("1", ROOT_ID, 1, 50)]
    keywords = {
        "0": NodeKeywords(topics["a"][:8] + topics["b"][:22], [1.0] * 30),  # a's own words first, then b's vocabulary
        "1": NodeKeywords(topics["b"][:30], [1.0] * 30),
    }
    rng = np.random.default_rng(0)
    docs = {"0": model([" ".join(rng.choice(topics["a"], 6)) for _ in range(40)]), "1": model([" ".join(rng.choice(topics["b"], 6)) for _ in range(40)])}
    model.seen.clear()
    fitted = fit_leaf_keywords(keywords, nodes, lambda _: True, lambda _: [], docs.__getitem__, model, np.zeros(model.dimensions))
    assert fitted["0"].words == topics["a"][:8]  # the prefix without the sibling's words
    assert fitted["1"].words == topics["b"][:30]  # b's whole list already sorts its documents
    # one call, with exactly the texts the navigator would read for each candidate prefix (never under SUBTOPIC_KEYWORDS)
    assert len(model.seen) == 1
    expected = [node_text(Node(n, ROOT_ID, 1, 50, label=" · ".join(w[:3]), keywords=w)) for n in ("0", "1") for w in
                [keywords[n].words] + [keywords[n].words[:k] for k in (8, 12, 20)]]
    assert model.seen[0] == expected and SUBTOPIC_KEYWORDS == 8


def test_lists_too_short_to_cut_embed_nothing() -> None:
    model = Lexicon({"a": ["x", "y"]})
    keywords = {"0": NodeKeywords(["x", "y"], [1.0, 1.0]), "1": NodeKeywords(["y"], [1.0])}
    nodes = [Node("0", ROOT_ID, 1, 5), Node("1", ROOT_ID, 1, 5)]
    assert fit_leaf_keywords(keywords, nodes, lambda _: True, lambda _: [], lambda _: np.zeros((0, 16)), model, np.zeros(16)) == keywords
    assert model.seen == []


def build_plain_and_with_words(tmp_path: Path, topics: dict[str, list[str]], model: Lexicon) -> tuple[TopicTree, TopicTree]:
    """25 documents a topic, built from the model's vectors without and then with the model for words (its calls
    recorded from the second build on)."""
    rng = np.random.default_rng(2)
    rows = [{"id": f"{t}-{i}", "text": " ".join(rng.choice(words, 25))} for t, words in topics.items() for i in range(25)]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    corpus = read_documents(path)
    vectors = model([r["text"] for r in rows]).astype(np.float32)
    config = BuildConfig(leaves=6, min_leaf_size=5, seed=0)
    plain = build_tree(corpus, vectors, config, BuildInputs(str(path), corpus.sha256))
    model.seen.clear()
    tree = build_tree(corpus, vectors, config, BuildInputs(str(path), corpus.sha256), embed_words=model)
    return plain, tree


def test_build_cuts_only_leaves_and_never_changes_what_a_parent_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import topicmap.hierarchy.builder.pipeline as pipeline

    monkeypatch.setattr(pipeline, "_texts_fitted", pipeline._leaf_counts_fitted)  # the build's fit before routed keywords
    topics = {t: [f"{t}{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(40)] for t in ("ship", "train", "plane", "bread", "cheese", "wine")}
    model = Lexicon(topics, dimensions=24)
    plain, tree = build_plain_and_with_words(tmp_path, topics, model)
    assert [d.leaf for d in tree.documents] == [d.leaf for d in plain.documents]  # keywords never move documents
    assert len(model.seen) == 2  # the candidate words, then every candidate text of the fitted groups
    leaf_texts = set(model.seen[1])
    for node in tree.iter_nodes():
        if node.id == ROOT_ID:
            continue
        if tree.is_leaf(node.id):
            assert len(node.keywords) in (8, 12, 20, 30) and node_text(node) in leaf_texts
        else:
            assert len(node.keywords) == 30  # a parent's list, and so its children's first words in its text, stay whole
