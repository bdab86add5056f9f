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

from topicmap.hierarchy.builder.block_terms import BlockTerms, block_terms, block_words, vectorizer_settings
from topicmap.hierarchy.builder.engine import Blocks, each_run, local_blocks


def count_terms(texts: Sequence[str], max_features: int = 50000, min_df: int = 2) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Documents x terms counts (float32) of the terms :func:`term_vocabulary` keeps, and those terms (sorted).

    What scikit-learn's CountVectorizer gives with :func:`vectorizer_settings` (stop words left out; for
    tiny corpora min_df=1), a block of texts at a time.
    """
    blocks = [block_terms(block) for _, block in local_blocks(texts)]  # each text cut once: the matrix is held anyway
    vocabulary = _chosen_terms(_summed([_block_stats(b) for b in blocks]), len(texts), max_features, min_df)
    columns = pa.array(vocabulary.tolist(), pa.string())
    parts = [b.columns_in(columns) for b in blocks]
    counts = sparse.vstack(parts, format="csr") if parts else sparse.csr_matrix((0, vocabulary.size), dtype=np.int64)
    return counts.astype(np.float32), vocabulary


def term_vocabulary(texts: Any, n_docs: int, max_features: int = 50000, min_df: int = 2) -> np.ndarray:
    """The terms ``count_terms`` keeps for these ``n_docs`` texts (a list, or texts on an engine's workers), sorted."""
    return _chosen_terms(_summed(each_run(_term_stats, texts)), n_docs, max_features, min_df)


def _chosen_terms(stats: pa.Table, n_docs: int, max_features: int, min_df: int) -> np.ndarray:
    """The terms kept of every term's document and total counts: CountVectorizer's bounds and cut, sorted."""
    _, min_df, max_df = vectorizer_settings(n_docs, min_df)
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
    """Term counts per node (one nodes x terms matrix per depth, indices sorted); ``members[d][i]``: text i's node at depth d, or -1.

    Nodes nest (a text's node at one depth names its nodes above), so the passes count each text only
    into its deepest node, and every depth's counts are sums of those rows.
    """
    if vocabulary.size == 0:
        return [sparse.csr_matrix((size, 0), dtype=np.float32) for size in sizes]
    offsets = np.concatenate(([0], np.cumsum(sizes, dtype=np.int64)))
    deepest = np.full(len(members[0]) if members else 0, -1, dtype=np.int64)  # each text's deepest node, numbered over all depths
    for depth, member in enumerate(members):
        inside = member >= 0
        deepest[inside] = offsets[depth] + member[inside]
    total = _Sum((int(offsets[-1]), vocabulary.size))
    for part in each_run(_deepest_node_counts, texts, deepest, int(offsets[-1]), vocabulary):
        total.add(part)
    counted = total.value()
    counted_texts = np.flatnonzero(deepest >= 0)
    a_text = np.full(int(offsets[-1]), -1, dtype=np.int64)
    a_text[deepest[counted_texts]] = counted_texts  # one text of each node that is some text's deepest (any one: nodes nest)
    rows = np.flatnonzero(a_text >= 0)
    out = []
    for depth, member in enumerate(members):
        above = member[a_text[rows]]  # each counted row's node at this depth
        node_of_row = np.full(int(offsets[-1]), -1, dtype=np.int64)
        node_of_row[rows] = above
        if not np.array_equal(np.where(deepest >= 0, node_of_row[deepest], -1), np.where(deepest >= 0, member, -1)):
            raise ValueError(f"the nodes of depth {depth} do not nest: texts of one deeper node are in different nodes here")
        inside = above >= 0
        sums = sparse.csr_matrix((np.ones(int(inside.sum()), dtype=np.int64), (above[inside], rows[inside])), shape=(sizes[depth], int(offsets[-1])))
        per_node = (sums @ counted).tocsr()
        per_node.sort_indices()
        out.append(per_node.astype(np.float32))
    return out


_STATS_SCHEMA = pa.schema([("term", pa.string()), ("df", pa.int64()), ("tf", pa.int64())])
_COMPACT_ROWS = 2_000_000  # per-block term rows gathered before they are summed by term


def _term_stats(blocks: Blocks) -> pa.Table:
    """Every term of a run of blocks with the texts it occurs in and its total count."""
    tables: list[pa.Table] = []
    rows = 0
    for _, block in blocks:
        tables.append(_block_stats(block_terms(block)))
        rows += tables[-1].num_rows
        if rows > _COMPACT_ROWS:
            tables = [_summed(tables)]
            rows = tables[0].num_rows
    return _summed(tables)


def _block_stats(terms: BlockTerms) -> pa.Table:
    return pa.table([terms.terms, terms.document_frequency(), terms.term_frequency()], schema=_STATS_SCHEMA)


def _summed(tables: list[pa.Table]) -> pa.Table:
    """One row per term, its counts added up over ``tables``."""
    if not tables:
        return _STATS_SCHEMA.empty_table()
    grouped = pa.concat_tables(tables).group_by("term").aggregate([("df", "sum"), ("tf", "sum")])
    return pa.table([grouped.column("term"), grouped.column("df_sum"), grouped.column("tf_sum")], schema=_STATS_SCHEMA)


class _Sum:
    """Integer sparse matrices added up in pairs of like size (a binary counter), so each entry is added
    about log2(count) times rather than once for every later matrix."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.stack: list[tuple[int, sparse.csr_matrix]] = []

    def add(self, counts: sparse.csr_matrix) -> None:
        level = 0
        while self.stack and self.stack[-1][0] == level:
            counts = self.stack.pop()[1] + counts
            level += 1
        self.stack.append((level, counts))

    def value(self) -> sparse.csr_matrix:
        """The sum, in canonical form (each entry once, indices sorted)."""
        total = sparse.csr_matrix(self.shape, dtype=np.int64)
        for _, counts in reversed(self.stack):
            total = total + counts
        total = total.tocsr()
        total.sum_duplicates()
        return total


def _deepest_node_counts(blocks: Blocks, deepest: np.ndarray, n_nodes: int, vocabulary: np.ndarray) -> sparse.csr_matrix:
    """A run of blocks' term counts per node (nodes x terms), each text counted into ``deepest[text]`` (-1: none)."""
    columns = pa.array(vocabulary.tolist(), pa.string())
    total = _Sum((n_nodes, vocabulary.size))
    for start, block in blocks:
        total.add(block_words(block).counts_per_group(deepest[start : start + len(block)], n_nodes, columns))
    return total.value()


__all__ = ["count_terms", "node_counts", "term_vocabulary"]
