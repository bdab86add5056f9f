"""The passes of an out-of-core build: every row read a block at a time, never all at once.

A source too big to hold (:class:`topicmap.hierarchy.inputs.vector_source.VectorSource`) is read
twice in full: once to reduce every row (PCA fitted on the same sample the in-memory path fits on,
then applied block by block into memory or a :class:`ReducedRows` scratch file, while the rows are
checked), once for the nodes' mean vectors; steered keywords add one more. Everything else (k-means,
representatives, the anchored layout) works on the reduced rows. Blocks of the reduction are cut at
the same row offsets as the in-memory path's, so both give the same numbers row for row.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

import numpy as np
from scipy import sparse

from topicmap.hierarchy.builder.reduced_rows import ReducedRows
from topicmap.hierarchy.inputs.vector_source import VectorSource
from topicmap.hierarchy.inputs.vectors import normalise_rows_in_place
from topicmap.hierarchy.tree.arrays import TreeArrays

PCA_FIT_ROWS = 20000  # as reduce_dimensions: the sample PCA is fitted on
TRANSFORM_ROWS = 16384  # as reduce_dimensions: the rows transformed at once
PASS_ROWS = 4 * TRANSFORM_ROWS  # rows per block of every pass (DEFAULT_CHUNK_ROWS)


def reduce_source(
    source: VectorSource,
    method: str,
    n_components: int,
    seed: int,
    chunk_rows: int,
    scratch: bool,
    scratch_dir: str | os.PathLike[str] | None = None,
    inspect: Callable[[np.ndarray], None] | None = None,
) -> tuple[np.ndarray | ReducedRows, object | None]:
    """Every row reduced as :func:`topicmap.hierarchy.builder.cluster.reduce_dimensions` reduces it, then
    scaled to unit length; held in memory, or in a scratch file with ``scratch``. ``inspect`` sees each
    raw block (in order) on the way, for the checks on the vectors."""
    if method == "umap":
        raise ValueError("UMAP needs every row in memory")
    n, d = source.n_rows, source.dim
    pca = None
    components = d
    if method != "none":
        components = min(n_components, d, n)
        if components < d:
            from sklearn.decomposition import PCA

            rng = np.random.default_rng(seed)
            fit_on = source.read_all() if n <= PCA_FIT_ROWS else source.take(np.sort(rng.choice(n, size=PCA_FIT_ROWS, replace=False)))
            pca = PCA(n_components=components, svd_solver="randomized" if min(fit_on.shape) > 200 else "full", random_state=seed)
            pca.fit(fit_on)
            del fit_on
        else:
            components = d
    out: np.ndarray | ReducedRows = ReducedRows(n, components, scratch_dir) if scratch else np.empty((n, components), dtype=np.float32)
    start = 0
    for block in source.iter_chunks(PASS_ROWS, chunk_rows):  # block edges on the in-memory path's (a multiple of its)
        if inspect is not None:
            inspect(block)
        reduced = np.empty((block.shape[0], components), dtype=np.float32)
        for at in range(0, block.shape[0], TRANSFORM_ROWS):
            part = block[at : at + TRANSFORM_ROWS]
            reduced[at : at + part.shape[0]] = part if pca is None else pca.transform(part)
        normalise_rows_in_place(reduced)
        if isinstance(out, ReducedRows):
            out.write(start, reduced)
        else:
            out[start : start + reduced.shape[0]] = reduced
        start += block.shape[0]
    return out, pca


def node_means(blocks: Iterable[np.ndarray], arrays: TreeArrays) -> np.ndarray:
    """Mean vector under every node (rows in the arrays' pre-order): per-leaf sums of each block, pushed up the tree.

    One block holding every row gives exactly the sums of one sparse product over the whole matrix.
    """
    n_nodes = arrays.n_nodes
    doc_leaf = arrays.doc_leaf
    sums: np.ndarray | None = None
    start = 0
    for block in blocks:
        leaf = doc_leaf[start : start + block.shape[0]]
        indicator = sparse.csr_matrix((np.ones(leaf.size, dtype=np.float32), (leaf, np.arange(leaf.size))), shape=(n_nodes, leaf.size))
        part = np.asarray(indicator @ block, dtype=np.float64)
        sums = part if sums is None else sums + part
        start += block.shape[0]
    if sums is None:
        raise ValueError("no rows")
    sums = arrays.subtree_sums(sums)
    counts = arrays.subtree_sums(np.bincount(doc_leaf, minlength=n_nodes).astype(np.float64))
    return (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)


def centred_unit_means(blocks: Iterable[np.ndarray], mean: np.ndarray, arrays: TreeArrays) -> np.ndarray:
    """Mean over every node's rows (arrays' pre-order) of the rows centred on ``mean`` and scaled to unit length."""
    n_nodes = arrays.n_nodes
    doc_leaf = arrays.doc_leaf
    sums = np.zeros((n_nodes, mean.size), dtype=np.float64)
    start = 0
    for block in blocks:
        rows = np.asarray(block, dtype=np.float64) - mean
        rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
        leaf = doc_leaf[start : start + block.shape[0]]
        indicator = sparse.csr_matrix((np.ones(leaf.size), (leaf, np.arange(leaf.size))), shape=(n_nodes, leaf.size))
        sums += indicator @ rows
        start += block.shape[0]
    counts = arrays.subtree_sums(np.bincount(doc_leaf, minlength=n_nodes).astype(np.float64))
    return arrays.subtree_sums(sums) / np.maximum(counts, 1.0)[:, None]


def row_ranges(n: int, rows: int) -> Iterator[range]:
    """``range(0, n)`` cut into pieces of ``rows`` (documents are made and written a piece at a time)."""
    for start in range(0, n, max(rows, 1)):
        yield range(start, min(n, start + rows))


__all__ = ["centred_unit_means", "node_means", "reduce_source", "row_ranges"]
