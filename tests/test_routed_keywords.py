"""Routed keywords: every node's list chosen per sibling group for how many of their documents it sends home."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from topicmap.hierarchy.builder.keywords import NodeKeywords
from topicmap.hierarchy.builder.routed_keywords import fit_node_keywords, greedy_lists, within_budget
from topicmap.hierarchy.tree.node_text import node_text
from topicmap.hierarchy.tree.topic_tree import ROOT_ID, Node
from tests.test_leaf_keywords import Lexicon as MeanOfWords, build_plain_and_with_words


class Lexicon(MeanOfWords):
    """The leaf-keyword tests' model (a text is the mean of its words' vectors), with unit word vectors for pools."""

    def __init__(self, topics: dict[str, list[str]], dimensions: int = 24, seed: int = 1) -> None:
        super().__init__(topics, dimensions, seed)

    def unit(self, words: list[str]) -> np.ndarray:
        v = np.stack([self.vectors[w] for w in words])
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def topic_words(topic: str, n: int = 30) -> list[str]:
    return [f"{topic}{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(n)]


def test_greedy_lists_take_a_siblings_own_words_before_words_that_read_as_its_rival() -> None:
    topics = {"a": topic_words("a"), "b": topic_words("b")}
    model = Lexicon(topics)
    rng = np.random.default_rng(0)
    docs = [model([" ".join(rng.choice(topics[t], 6)) for _ in range(30)]) for t in ("a", "b")]
    pool_a = topics["b"][:20] + topics["a"][:10]  # c-TF-IDF ranked the sibling's vocabulary first
    pools = [model.unit(pool_a), model.unit(topics["b"][:30])]
    lists = greedy_lists(pools, [list(range(10)), list(range(10))], docs, keep=10)
    assert all(pool_a[i].startswith("a") for i in lists[0])
    assert len(lists[0]) == 10 and len(set(lists[0])) == 10


def test_a_lone_child_or_a_group_without_documents_keeps_its_start() -> None:
    pools = [np.eye(4)[:3], np.eye(4)[1:]]
    assert greedy_lists(pools[:1], [[2, 0]], [np.eye(4)[:2]], keep=5) == [[2, 0]]
    assert greedy_lists(pools, [[0], [1]], [np.zeros((0, 4)), np.zeros((0, 4))], keep=5) == [[0], [1]]


def test_every_depth_is_fitted_and_a_parent_reads_its_childrens_final_words() -> None:
    topics = {t: topic_words(t) for t in ("ship", "train", "bread", "cheese")}
    model = Lexicon(topics)
    rng = np.random.default_rng(3)
    docs = {t: model([" ".join(rng.choice(topics[t], 6)) for _ in range(30)]) for t in topics}
    docs["travel"], docs["food"] = np.concatenate([docs["ship"], docs["train"]]), np.concatenate([docs["bread"], docs["cheese"]])
    nodes = [Node("travel", ROOT_ID, 1, 60), Node("food", ROOT_ID, 1, 60)] + [
        Node(t, parent, 2, 30) for t, parent in (("ship", "travel"), ("train", "travel"), ("bread", "food"), ("cheese", "food"))
    ]
    pool = {t: NodeKeywords(topics["train"][:20] + topics[t][:20] if t == "ship" else topics[t][:40], [1.0] * 40) for t in topics}
    pool["travel"] = NodeKeywords(topics["bread"][:20] + topics["ship"][:10] + topics["train"][:10], [1.0] * 40)
    pool["food"] = NodeKeywords(topics["bread"][:20] + topics["cheese"][:20], [1.0] * 40)
    steered = {k: NodeKeywords(v.words[:12], v.scores[:12]) for k, v in pool.items()}  # today's lists, mixed up for ship and travel
    words = sorted({w for k in pool.values() for w in k.words})
    word_vectors = dict(zip(words, model.unit(words)))
    model.seen.clear()
    fitted = fit_node_keywords(pool, steered, nodes, word_vectors, docs.__getitem__, model, np.zeros(model.dimensions), keep=12)
    assert all(w.startswith("ship") for w in fitted["ship"].words[:8])  # no longer the sibling's vocabulary
    assert sum(w.startswith("bread") for w in fitted["travel"].words) < sum(w.startswith("bread") for w in steered["travel"].words)
    assert all(w.startswith("bread") for w in fitted["bread"].words)
    assert len(model.seen) == 2  # the leaves' group texts first, then the parents', one call per depth
    leaf_texts, parent_texts = model.seen
    assert node_text(Node("ship", "travel", 2, 30, label=" · ".join(fitted["ship"].words[:3]), keywords=fitted["ship"].words)) in leaf_texts
    travel_texts = [t for t in parent_texts if "; " + ", ".join(fitted["train"].words[:8]) in t]
    assert travel_texts and all("subtopics: " + ", ".join(fitted["ship"].words[:8]) + "; " in t for t in travel_texts)


def test_a_build_that_embeds_its_texts_fits_every_depth_from_the_texts_the_navigator_reads(tmp_path: Path) -> None:
    topics = {t: topic_words(t, 40) for t in ("ship", "train", "plane", "bread", "cheese", "wine")}
    model = Lexicon(topics)
    plain, tree = build_plain_and_with_words(tmp_path, topics, model)
    assert [d.leaf for d in tree.documents] == [d.leaf for d in plain.documents]  # keywords never move documents
    depths = {n.depth for n in tree.iter_nodes() if n.id != ROOT_ID and len(tree.children(str(n.parent))) > 1}
    assert len(model.seen) == 1 + len(depths)  # the candidate words, then one call per depth with sibling groups, deepest first
    fitted_texts = {t for texts in model.seen[1:] for t in texts}
    for node in tree.iter_nodes():
        if node.id != ROOT_ID and node.depth in depths:
            subtopics = [] if tree.is_leaf(node.id) else tree.children(node.id)
            assert node_text(node, True, subtopics) in fitted_texts  # the kept list was judged as the navigator reads it
            assert 8 <= len(node.keywords) <= 30


def test_the_proposal_reads_a_bounded_share_of_a_wide_groups_documents() -> None:
    rng = np.random.default_rng(0)
    docs = [rng.normal(size=(n, 4)) for n in (300, 300, 40, 10, 300)]
    assert all(a is b for a, b in zip(within_budget(docs, 950), docs))  # within budget: untouched
    thinned = within_budget(docs, 600)
    counts = [len(d) for d in thinned]
    assert sum(counts) <= 600 and counts[2:4] == [40, 10]  # small siblings keep all they have
    assert counts[0] == counts[1] == counts[4] == max(counts)  # the large ones share what is left alike
    for before, after in zip(docs, thinned):
        assert {tuple(r) for r in after} <= {tuple(r) for r in before}
