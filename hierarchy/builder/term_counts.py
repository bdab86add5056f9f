"""Keyword counts in passes over the texts: each block of texts counted alone, the counts added up.

What :func:`count_terms` and :func:`topicmap.hierarchy.builder.keywords.ctfidf_keywords` compute from one
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
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

from topicmap.hierarchy.builder.block_terms import block_terms, vectorizer_settings
from topicmap.hierarchy.builder.engine import Blocks, each_run, local_blocks


def count_terms(texts: Sequence[str], max_features: int = 50000, min_df: int = 2) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Documents x terms counts (float32) of the terms :func:`term_vocabulary` keeps, and those terms (sorted).

    What scikit-learn's CountVectorizer gives with :func:`vectorizer_settings` (stop words left out; for
    tiny corpora min_df=1), a block of texts at a time.
    """
    vocabulary = term_vocabulary(texts, len(texts), max_features, min_df)
    columns = pa.array(vocabulary.tolist(), pa.string())
    parts = [block_terms(block).columns_in(columns) for _, block in local_blocks(texts)]
    counts = sparse.vstack(parts, format="csr") if parts else sparse.csr_matrix((0, vocabulary.size), dtype=np.int64)
    return counts.astype(np.float32), vocabulary


def term_vocabulary(texts: Any, n_docs: int, max_features: int = 50000, min_df: int = 2) -> np.ndarray:
    """The terms ``count_terms`` keeps for these ``n_docs`` texts (a list, or texts on an engine's workers), sorted."""
    _, min_df, max_df = vectorizer_settings(n_docs, min_df)
    stats = _summed(each_run(_term_stats, texts))
    stats = stats.take(pc.sort_indices(stats, sort_keys=[("term", "ascending")]))  # code point order, as sorted() orders str
    terms = np.array(stats.column("term").to_pylist(), dtype=object)
    dfs = stats.column("df").to_numpy()
    mask = (dfs <= max_df * n_docs) & (dfs >= min_df)
    if mask.sum() > max_features:  # as CountVectorizer._limit_features: its float32 totals, its sort
        tfs = stats.column("tf").to_numpy().astype(np.float32)
        chosen = np.zeros(terms.size, dtype=bool)
        chosen[np.flatnonzero(mask)[(-tfs[mask]).argsort()[:max_features]]] = True
        mask = chosen
    return terms[mask]


def node_counts(texts: Any, members: list[np.ndarray], sizes: Sequence[int], vocabulary: np.ndarray) -> list[sparse.csr_matrix]:
    """Term counts per node (one nodes x terms matrix per depth, indices sorted); ``members[d][i]``: text i's node at depth d, or -1."""
    if vocabulary.size == 0:
        return [sparse.csr_matrix((size, 0), dtype=np.float32) for size in sizes]
    totals = [_Sum((size, vocabulary.size)) for size in sizes]
    for part in each_run(_node_counts, texts, members, list(sizes), vocabulary):
        for total, counts in zip(totals, part):
            total.add(counts)
    out = []
    for total in totals:
        summed = total.value().tocsr()
        summed.sort_indices()
        out.append(summed.astype(np.float32))
    return out


_STATS_SCHEMA = pa.schema([("term", pa.string()), ("df", pa.int64()), ("tf", pa.int64())])
_COMPACT_ROWS = 2_000_000  # per-block term rows gathered before they are summed by term


def _term_stats(blocks: Blocks) -> pa.Table:
    """Every term of a run of blocks with the texts it occurs in and its total count."""
    tables: list[pa.Table] = []
    rows = 0
    for _, block in blocks:
        terms = block_terms(block)
        tables.append(pa.table([terms.terms, terms.document_frequency(), terms.term_frequency()], schema=_STATS_SCHEMA))
        rows += len(terms.terms)
        if rows > _COMPACT_ROWS:
            tables = [_summed(tables)]
            rows = tables[0].num_rows
    return _summed(tables)


def _summed(tables: list[pa.Table]) -> pa.Table:
    """One row per term, its counts added up over ``tables``."""
    if not tables:
        return _STATS_SCHEMA.empty_table()
    grouped = pa.concat_tables(tables).group_by("term").aggregate([("df", "sum"), ("tf", "sum")])
    return pa.table([grouped.column("term"), grouped.column("df_sum"), grouped.column("tf_sum")], schema=_STATS_SCHEMA)


class _Sum:
    """Integer sparse matrices added up a few at a time (each addition costs the size of the total so far)."""

    def __init__(self, shape: tuple[int, int], batch: int = 16) -> None:
        self.batch = batch
        self.pending: list[sparse.csr_matrix] = []
        self.total = sparse.csr_matrix(shape, dtype=np.int64)

    def add(self, counts: sparse.csr_matrix) -> None:
        self.pending.append(counts)
        if len(self.pending) >= self.batch:
            self._fold()

    def value(self) -> sparse.csr_matrix:
        self._fold()
        return self.total

    def _fold(self) -> None:
        for counts in self.pending[1:]:
            self.pending[0] = self.pending[0] + counts
        if self.pending:
            self.total = self.total + self.pending[0]
        self.pending = []


def _node_counts(blocks: Blocks, members: list[np.ndarray], sizes: list[int], vocabulary: np.ndarray) -> list[sparse.csr_matrix]:
    """A run of blocks' term counts per node, per depth."""
    columns = pa.array(vocabulary.tolist(), pa.string())
    totals = [_Sum((size, vocabulary.size)) for size in sizes]
    for start, block in blocks:
        counts = block_terms(block).columns_in(columns)
        stop = start + counts.shape[0]
        for depth, member in enumerate(members):
            local = member[start:stop]
            keep = local >= 0
            rows = np.flatnonzero(keep)
            indicator = sparse.csr_matrix((np.ones(rows.size, dtype=np.int64), (local[keep], rows)), shape=(sizes[depth], counts.shape[0]))
            totals[depth].add(indicator @ counts)
    return [total.value() for total in totals]


__all__ = ["count_terms", "node_counts", "term_vocabulary"]
