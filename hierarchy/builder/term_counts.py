"""Keyword counts in passes over the texts: each block of texts counted alone, the counts added up.

What :func:`topicmap.hierarchy.builder.keywords.count_terms` and ``ctfidf_keywords`` compute from one
documents x terms matrix of the whole corpus, in two passes that never hold it: the first counts, per
block, in how many texts each term occurs and how often (the vocabulary is then chosen by the same
rules as scikit-learn's CountVectorizer: document frequency between the bounds, then the most frequent
terms, ties broken by the same sort); the second counts each block's terms per node. Counts are whole
numbers, so their sums are exact in any order: the keywords are the in-memory build's, whether the
blocks are read here or on an engine's workers (:mod:`topicmap.hierarchy.builder.engine`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse

from topicmap.hierarchy.builder.engine import Blocks, each_run
from topicmap.hierarchy.builder.keywords import vectorizer_settings


def term_vocabulary(texts: Any, n_docs: int, max_features: int = 50000, min_df: int = 2) -> np.ndarray:
    """The terms ``count_terms`` keeps for these ``n_docs`` texts (a list, or texts on an engine's workers), sorted."""
    settings, min_df, max_df = vectorizer_settings(n_docs, min_df)
    df: dict[str, int] = {}
    tf: dict[str, int] = {}
    for terms, dfs, tfs in each_run(_term_stats, texts, settings):
        for term, d, t in zip(terms.tolist(), dfs.tolist(), tfs.tolist()):
            df[term] = df.get(term, 0) + d
            tf[term] = tf.get(term, 0) + t
    terms = np.array(sorted(df), dtype=object)
    dfs = np.array([df[t] for t in terms], dtype=np.int64)
    mask = (dfs <= max_df * n_docs) & (dfs >= min_df)
    if mask.sum() > max_features:  # as CountVectorizer._limit_features: its float32 totals, its sort
        tfs = np.array([tf[t] for t in terms], dtype=np.float32)
        chosen = np.zeros(terms.size, dtype=bool)
        chosen[np.flatnonzero(mask)[(-tfs[mask]).argsort()[:max_features]]] = True
        mask = chosen
    return terms[mask]


def node_counts(texts: Any, members: list[np.ndarray], sizes: Sequence[int], vocabulary: np.ndarray) -> list[sparse.csr_matrix]:
    """Term counts per node (one nodes x terms matrix per depth, indices sorted); ``members[d][i]``: text i's node at depth d, or -1."""
    if vocabulary.size == 0:
        return [sparse.csr_matrix((size, 0), dtype=np.float32) for size in sizes]
    totals: list[sparse.csr_matrix] | None = None
    for part in each_run(_node_counts, texts, members, list(sizes), vocabulary):
        totals = part if totals is None else [a + b for a, b in zip(totals, part)]
    out = []
    for total in totals or []:
        total = total.tocsr()
        total.sort_indices()
        out.append(total)
    return out


def _term_stats(blocks: Blocks, settings: dict[str, object]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every term of a run of blocks with the texts it occurs in and its total count."""
    from sklearn.feature_extraction.text import CountVectorizer

    df: dict[str, int] = {}
    tf: dict[str, int] = {}
    for _, block in blocks:
        vectorizer = CountVectorizer(**settings, dtype=np.float32)  # type: ignore[arg-type]
        try:
            counts = vectorizer.fit_transform(list(block)).tocsc()
        except ValueError:  # no words in this block
            continue
        per_text = np.diff(counts.indptr)
        totals = np.asarray(counts.sum(axis=0)).ravel()
        for term, d, t in zip(vectorizer.get_feature_names_out().tolist(), per_text.tolist(), totals.tolist()):
            df[term] = df.get(term, 0) + int(d)
            tf[term] = tf.get(term, 0) + int(t)
    terms = np.array(list(df), dtype=object)
    return terms, np.array([df[t] for t in df], dtype=np.int64), np.array([tf[t] for t in tf], dtype=np.int64)


def _node_counts(blocks: Blocks, members: list[np.ndarray], sizes: list[int], vocabulary: np.ndarray) -> list[sparse.csr_matrix]:
    """A run of blocks' term counts per node, per depth."""
    from sklearn.feature_extraction.text import CountVectorizer

    settings, _, _ = vectorizer_settings(2)
    vectorizer = CountVectorizer(**settings, vocabulary={str(t): i for i, t in enumerate(vocabulary)}, dtype=np.float32)  # type: ignore[arg-type]
    totals = [sparse.csr_matrix((size, vocabulary.size), dtype=np.float32) for size in sizes]
    for start, block in blocks:
        counts = vectorizer.transform(list(block)).tocsr()
        stop = start + counts.shape[0]
        for depth, member in enumerate(members):
            local = member[start:stop]
            keep = local >= 0
            rows = np.flatnonzero(keep)
            indicator = sparse.csr_matrix((np.ones(rows.size, dtype=np.float32), (local[keep], rows)), shape=(sizes[depth], counts.shape[0]))
            totals[depth] = totals[depth] + indicator @ counts
    return totals


__all__ = ["node_counts", "term_vocabulary"]
