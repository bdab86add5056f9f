"""How many of a leaf's steered keywords to keep: the count whose text best tells the leaf from its siblings.

A reader who has reached a coarse topic chooses among its leaves by their keyword lists, and those
leaves are close relatives: thirty keywords of one leaf share many with its siblings' thirty, and the
sentence embedding of a long list drifts towards what the siblings have in common. For some leaves
the first eight or twelve words say more. The embedding of a joined list is not the mean of its
words' embeddings, so the lists are judged as the reader will see them: each leaf's text (label and
keywords, as :func:`topicmap.hierarchy.tree.node_text.node_text` writes it) is embedded for a few prefix lengths,
and per group of siblings a coordinate ascent picks for every leaf the length under which the group's
texts sort the most of the siblings' own documents (a sample of each) to their own node.

Only leaves are fitted and no list is cut below :data:`topicmap.hierarchy.tree.node_text.SUBTOPIC_KEYWORDS`, so a
parent's text (which lists each child's first keywords) does not change. The cost is a bounded
number of short texts to embed: ``len(LEAF_KEYWORD_COUNTS) + 1`` per leaf (the map preset makes at
most 2,000 leaves), plus one per non-leaf sibling of a leaf.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from topicmap.hierarchy.builder.keywords import NodeKeywords, keyword_label
from topicmap.hierarchy.tree.node_text import SUBTOPIC_KEYWORDS, node_text  # the text the navigator reads, exactly
from topicmap.hierarchy.tree.topic_tree import Node

LEAF_KEYWORD_COUNTS = (8, 12, 20)  # shorter prefixes tried besides the whole list (never under SUBTOPIC_KEYWORDS)
DOCS_PER_NODE = 100  # documents sampled per sibling to judge the texts by
MARGIN_WEIGHT = 0.1  # tie-break: mean margin (own text's cosine minus the best sibling's), clipped to +-MARGIN_CLIP
MARGIN_CLIP = 0.2
PASSES = 2


def centred_unit(vectors: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Rows centred on ``mean`` and scaled to unit length (float64): how texts and documents are compared here."""
    vectors = np.asarray(vectors, dtype=np.float64) - mean
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def with_words(node: Node, words: list[str]) -> Node:
    """``node`` as the navigator would read it with ``words`` for keywords (and the label they make)."""
    return Node(node.id, node.parent, node.depth, node.size, label=keyword_label(words), keywords=words)


def group_score(scores: np.ndarray, owners: np.ndarray) -> float:
    """Share of documents whose own node's text is the most similar, plus a small clipped-margin term.

    ``scores`` is documents x siblings (cosines); ``owners[i]`` is the column of document i's own node.
    """
    rows = np.arange(owners.size)
    own = scores[rows, owners]
    rivals = scores.copy()
    rivals[rows, owners] = -np.inf
    margin = own - rivals.max(axis=1)
    return float(np.mean(margin > 0) + MARGIN_WEIGHT * np.mean(np.clip(margin, -MARGIN_CLIP, MARGIN_CLIP)))


def choose_options(options: Sequence[np.ndarray], docs: Sequence[np.ndarray], passes: int = PASSES) -> list[int]:
    """For one group of siblings, which text option of each sibling (row of ``options[j]``) to keep.

    ``options[j]`` holds sibling j's candidate text vectors (row 0 is the default, the only row of a
    sibling that is not fitted); ``docs[j]`` its sampled document vectors; all centred and unit length.
    Coordinate ascent on :func:`group_score` from the defaults: each sibling in turn takes the option
    that raises the group's score most, until a pass changes nothing or ``passes`` are done.
    """
    pick = [0] * len(options)
    if len(options) < 2 or not any(len(d) for d in docs):
        return pick
    points = np.concatenate([d for d in docs if len(d)])
    owners = np.concatenate([np.full(len(d), j) for j, d in enumerate(docs) if len(d)])
    per_option = [points @ o.T for o in options]  # documents x options, per sibling
    scores = np.stack([p[:, 0] for p in per_option], axis=1)
    best = group_score(scores, owners)
    for _ in range(passes):
        changed = False
        for j, cosines in enumerate(per_option):
            for option in range(cosines.shape[1]):
                if option == pick[j]:
                    continue
                trial = scores.copy()
                trial[:, j] = cosines[:, option]
                value = group_score(trial, owners)
                if value > best + 1e-12:
                    best, pick[j], scores, changed = value, option, trial, True
        if not changed:
            break
    return pick


def fit_leaf_keywords(
    keywords: dict[str, NodeKeywords],
    nodes: Sequence[Node],
    is_leaf: Callable[[str], bool],
    children: Callable[[str], Sequence[Node]],
    doc_vectors: Callable[[str], np.ndarray],
    embed_texts: Callable[[Sequence[str]], np.ndarray],
    mean: np.ndarray,
) -> dict[str, NodeKeywords]:
    """``keywords`` with every leaf's list cut to the prefix that :func:`choose_options` picks for its group.

    ``nodes`` are the tree's nodes without the root, ``children`` a node's children (as :class:`Node`
    with ``keywords``), ``doc_vectors(node_id)`` a sample of the node's document vectors,
    ``embed_texts`` the model that made them, ``mean`` the corpus mean they are centred on.
    """
    def unit(vectors: np.ndarray) -> np.ndarray:
        return centred_unit(vectors, mean)

    groups: dict[str | None, list[Node]] = {}
    for node in nodes:
        groups.setdefault(node.parent, []).append(node)
    lists: dict[str, list[list[str]]] = {}
    for node in nodes:
        words = keywords[node.id].words if node.id in keywords else []
        lists[node.id] = [words] + ([words[:k] for k in LEAF_KEYWORD_COUNTS if SUBTOPIC_KEYWORDS <= k < len(words)] if is_leaf(node.id) else [])
    fitted = [g for g in groups.values() if len(g) > 1 and any(len(lists[n.id]) > 1 for n in g)]
    texts: list[str] = []
    for group in fitted:
        for node in group:
            if is_leaf(node.id):
                texts += [node_text(with_words(node, words)) for words in lists[node.id]]
            else:
                subtopics = [with_words(c, keywords[c.id].words if c.id in keywords else []) for c in children(node.id)]
                texts.append(node_text(with_words(node, lists[node.id][0]), True, subtopics))
    if not texts:
        return keywords
    vectors = unit(embed_texts(texts))
    out = dict(keywords)
    start = 0
    for group in fitted:
        options, docs = [], []
        for node in group:
            count = len(lists[node.id])
            options.append(vectors[start : start + count])
            docs.append(unit(doc_vectors(node.id)))
            start += count
        for node, option in zip(group, choose_options(options, docs)):
            if option and node.id in keywords:
                keep = len(lists[node.id][option])
                k = keywords[node.id]
                out[node.id] = NodeKeywords(k.words[:keep], k.scores[:keep])
    return out
