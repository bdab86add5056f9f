"""Cheap, LLM-free descriptions of every node: c-TF-IDF keywords (representative documents: representatives.py).

c-TF-IDF (as in BERTopic) treats all documents of a node as one document: a term scores high when it
is frequent in the node and rare across the other nodes *of the same depth*, so a node is described
against its peers rather than against the whole corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from topicmap.hierarchy.base.safe_text import one_line

@dataclass
class NodeKeywords:
    words: list[str]
    scores: list[float]


def ctfidf_keywords(
    counts: sparse.csr_matrix,
    vocabulary: np.ndarray,
    node_of_doc_per_depth: list[np.ndarray],
    node_ids_per_depth: list[list[str]],
    top_n: int = 10,
) -> dict[str, NodeKeywords]:
    """Top c-TF-IDF terms of every node, scored against the other nodes at its depth.

    ``node_of_doc_per_depth[d][i]`` is the index (into ``node_ids_per_depth[d]``) of the node that
    document i belongs to at depth d, or -1 when the document's leaf is shallower than d.
    """
    per_depth = [node_term_counts(counts, members, len(node_ids)) for members, node_ids in zip(node_of_doc_per_depth, node_ids_per_depth)]
    return keywords_of_node_counts(per_depth, vocabulary, node_ids_per_depth, top_n)


def node_term_counts(counts: sparse.csr_matrix, members: np.ndarray, n_nodes: int) -> sparse.csr_matrix:
    """Term counts per node (nodes x terms, indices sorted) of documents' counts; ``members[i]``: document i's node, or -1.

    The counts are whole numbers in float32, so sums of them do not depend on the order they are added in.
    """
    keep = members >= 0
    rows = np.flatnonzero(keep)
    indicator = sparse.csr_matrix((np.ones(rows.size, dtype=np.float32), (members[keep], rows)), shape=(n_nodes, counts.shape[0]))
    out = (indicator @ counts).tocsr()
    out.sort_indices()
    return out


def keywords_of_node_counts(
    node_counts_per_depth: list[sparse.csr_matrix], vocabulary: np.ndarray, node_ids_per_depth: list[list[str]], top_n: int = 10
) -> dict[str, NodeKeywords]:
    """:func:`ctfidf_keywords` from the term counts of every node (one nodes x terms matrix per depth, indices sorted)."""
    out: dict[str, NodeKeywords] = {}
    for class_counts, node_ids in zip(node_counts_per_depth, node_ids_per_depth):
        if class_counts.shape[1] == 0:
            for node_id in node_ids:
                out[node_id] = NodeKeywords([], [])
            continue
        term_freq = np.asarray(class_counts.sum(axis=0)).ravel()
        words_per_class = float(class_counts.sum()) / max(len(node_ids), 1)
        idf = np.log1p(words_per_class / np.maximum(term_freq, 1.0))
        row_sums = np.asarray(class_counts.sum(axis=1)).ravel()
        damped = class_counts.copy()
        damped.data = np.sqrt(damped.data)  # damp very frequent words so one term cannot dominate
        scaled = sparse.diags(1.0 / np.sqrt(np.maximum(row_sums, 1.0))) @ damped @ sparse.diags(idf)
        scaled = scaled.tocsr()
        for index, node_id in enumerate(node_ids):
            start, end = scaled.indptr[index], scaled.indptr[index + 1]
            values, terms = scaled.data[start:end], scaled.indices[start:end]
            if values.size == 0:
                out[node_id] = NodeKeywords([], [])
                continue
            top = np.argsort(-values, kind="stable")[:top_n]
            out[node_id] = NodeKeywords([str(vocabulary[terms[i]]) for i in top], [float(values[i]) for i in top])
    return out


def keyword_label(words: Sequence[str], n: int = 3) -> str:
    """A readable label from the top keywords, e.g. ``"film · award · actor"``."""
    return " · ".join(one_line(w) for w in words[:n]) if words else "(no keywords)"


STEER_POOL_FACTOR = 3  # c-TF-IDF candidates per kept keyword when keywords are steered (see steer_keywords)


def steer_keywords(
    candidates: dict[str, list[str]],
    parents: dict[str, str | None],
    node_means: dict[str, np.ndarray],
    word_vectors: dict[str, np.ndarray],
    keep: int,
) -> dict[str, list[int]]:
    """For every node, which of its candidate keywords (positions, best first) tell it from its siblings.

    A reader who descends the tree compares a document with each child's words; c-TF-IDF picks words
    frequent in a node, but many of them (a thread's names, a desk's stock phrases) mean little to a
    reader, or mean the sibling's topic as much. Each candidate is scored by its margin in embedding
    space: its similarity to the node's documents minus its similarity to the documents of the most
    similar sibling, and the ``keep`` best are kept. ``word_vectors`` are the words' embeddings centred
    on the corpus mean and scaled to unit length; ``node_means`` are the means of each node's document
    vectors, each centred and scaled the same way before averaging (a tight node has the longer mean). A node
    without siblings is scored by its own documents alone; candidates without a vector come last.
    """
    children: dict[str | None, list[str]] = {}
    for node_id, parent in parents.items():
        children.setdefault(parent, []).append(node_id)
    out: dict[str, list[int]] = {}
    for node_id, words in candidates.items():
        if not words:
            out[node_id] = []
            continue
        known = [i for i, w in enumerate(words) if w in word_vectors]
        unknown = [i for i, w in enumerate(words) if w not in word_vectors]
        if not known or node_id not in node_means:
            out[node_id] = list(range(min(keep, len(words))))
            continue
        vectors = np.stack([word_vectors[words[i]] for i in known]).astype(np.float64)
        margin = vectors @ node_means[node_id]
        rivals = [s for s in children.get(parents.get(node_id), []) if s != node_id and s in node_means]
        if rivals:
            margin = margin - (vectors @ np.stack([node_means[s] for s in rivals]).T).max(axis=1)
        order = [known[i] for i in np.argsort(-margin, kind="stable")]
        out[node_id] = (order + unknown)[:keep]
    return out
