"""The passes of an out-of-core build: every row read a block at a time, never all at once.

A source too big to hold (:class:`topicmap.hierarchy.inputs.vector_source.VectorSource`) is read
twice in full: once to reduce every row (PCA fitted on the same sample the in-memory path fits on,
then applied block by block into memory or a :class:`ReducedRows` scratch file, while the rows are
checked), once for the nodes' mean vectors; steered keywords add one more. Everything else (k-means,
representatives, the anchored layout) works on the reduced rows. Blocks of the reduction are cut at
the same row offsets as the in-memory path's, so both give the same numbers row for row. Each pass is
a function of a run of blocks (:mod:`topicmap.hierarchy.builder.engine`): the same functions run on a
Dask cluster's workers when the rows are there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from topicmap.hierarchy.builder.cluster import fit_pca
from topicmap.hierarchy.builder.engine import Blocks, PartitionedRows, added_in_order, each_block, local_blocks
from topicmap.hierarchy.builder.reduced_rows import ReducedRows
from topicmap.hierarchy.inputs.vector_checks import RowStats, block_stats
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
    stats: RowStats | None = None,
) -> tuple[np.ndarray | ReducedRows, object | None, PartitionedRows | None]:
    """Every row reduced as :func:`topicmap.hierarchy.builder.cluster.reduce_dimensions` reduces it, then
    scaled to unit length; held in memory, or in a scratch file with ``scratch``. ``stats`` takes each
    raw block's :func:`block_stats` (in order), for the checks on the vectors.

    Rows on an engine's workers (:class:`PartitionedRows`) are reduced there and stay there too (the
    third value, for the passes that run on the workers; with ``scratch`` each worker keeps its share in a
    scratch file of its own); a copy comes here a partition at a time.
    """
    if method == "umap":
        raise ValueError("UMAP needs every row in memory")
    n, d = source.n_rows, source.dim
    pca = None
    components = d
    if method != "none":
        components = min(n_components, d, n)
        if components < d:
            rng = np.random.default_rng(seed)
            pca = fit_pca(source.read_all() if n <= PCA_FIT_ROWS else source.take(np.sort(rng.choice(n, size=PCA_FIT_ROWS, replace=False))), components, seed)
        else:
            components = d
    out: np.ndarray | ReducedRows = ReducedRows(n, components, scratch_dir) if scratch else np.empty((n, components), dtype=np.float32)
    kept: PartitionedRows | None = None
    if isinstance(source, PartitionedRows):  # reduced where the rows are, kept there, and copied here
        engine = source.engine
        handles = engine.keep_partitions(_reduced_run, source, (pca, stats is not None, scratch))
        for p, handle in enumerate(handles):
            reduced, per_block = engine.fetch(handle)
            _put(out, int(source.bounds[p]), reduced)
            for item in per_block if stats is not None else ():
                stats.add(item)
        kept = PartitionedRows(engine, engine.pick(handles, 0), source.bounds, components, f"{source.name} (reduced)")
        return out, pca, kept
    start = 0  # block edges on the in-memory path's (a multiple of its), on forked processes too (engine.local_processes)
    for checked, reduced in each_block(_reduced_block, source, pca, stats is not None, read_rows=chunk_rows):
        if stats is not None:
            stats.add(checked)
        _put(out, start, reduced)
        start += reduced.shape[0]
    return out, pca, kept


def reduce_block(block: np.ndarray, pca: object | None) -> np.ndarray:
    """One block of raw rows reduced (a fitted PCA, or as they are) and scaled to unit length.

    Transformed :data:`TRANSFORM_ROWS` at a time on one BLAS thread, as :func:`reduce_dimensions` does:
    so the reduced rows are the same bits wherever, and from whatever storage, the block came."""
    if pca is None:
        reduced = np.array(block, dtype=np.float32, copy=True)
    else:
        reduced = np.empty((block.shape[0], pca.n_components_), dtype=np.float32)  # type: ignore[attr-defined]
        with threadpool_limits(limits=1, user_api="blas"):
            for at in range(0, block.shape[0], TRANSFORM_ROWS):
                part = block[at : at + TRANSFORM_ROWS]
                reduced[at : at + part.shape[0]] = pca.transform(part)  # type: ignore[attr-defined]
    normalise_rows_in_place(reduced)
    return reduced


def _put(out: np.ndarray | ReducedRows, start: int, rows: np.ndarray) -> None:
    if isinstance(out, ReducedRows):
        out.write(start, rows)
    else:
        out[start : start + rows.shape[0]] = rows


def _reduced_block(start: int, block: np.ndarray, pca: object | None, with_stats: bool) -> tuple[tuple[np.ndarray, np.ndarray, int] | None, np.ndarray]:
    """One block's :func:`block_stats` (with ``with_stats``) and its rows reduced."""
    return (block_stats(block, start) if with_stats else None), reduce_block(block, pca)


def _reduced_run(
    blocks: Blocks, pca: object | None, with_stats: bool, scratch: bool,
) -> tuple[np.ndarray | ReducedRows, list[tuple[np.ndarray, np.ndarray, int]]]:
    """A partition's rows reduced (in memory, or with ``scratch`` in a scratch file of the worker that
    makes them), and its raw blocks' :func:`block_stats`. Sent anywhere, a scratch file goes as its rows."""
    pieces, stats = [], []
    for start, block in blocks:
        if with_stats:
            stats.append(block_stats(block, start))
        pieces.append((start, reduce_block(block, pca)))
    first = pieces[0][0] if pieces else 0
    width = pieces[0][1].shape[1] if pieces else 0
    if not scratch:
        return (np.concatenate([rows for _, rows in pieces]) if pieces else np.empty((0, width), dtype=np.float32)), stats
    out = ReducedRows(sum(rows.shape[0] for _, rows in pieces), width)
    for start, rows in pieces:
        out.write(start - first, rows)
    return out, stats


def node_means(rows: object, arrays: TreeArrays, read_rows: int | None = None) -> np.ndarray:
    """Mean vector under every node (rows in the arrays' pre-order): per-leaf sums of each block, pushed up the tree.

    ``rows`` is a source (read ``read_rows`` at a time), or rows on an engine's workers (summed there).
    """
    n_nodes = arrays.n_nodes
    doc_leaf = arrays.doc_leaf
    sums = added_in_order(each_block(_leaf_sums, rows, doc_leaf, n_nodes, read_rows=read_rows))
    sums = arrays.subtree_sums(sums)
    counts = arrays.subtree_sums(np.bincount(doc_leaf, minlength=n_nodes).astype(np.float64))
    return (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)


def _leaf_sums(start: int, block: np.ndarray, doc_leaf: np.ndarray, n_nodes: int) -> np.ndarray:
    """One block's float64 row sums per leaf, as one sparse product of the float32 rows."""
    leaf = doc_leaf[start : start + block.shape[0]]
    indicator = sparse.csr_matrix((np.ones(leaf.size, dtype=np.float32), (leaf, np.arange(leaf.size))), shape=(n_nodes, leaf.size))
    return np.asarray(indicator @ block, dtype=np.float64)


def centred_unit_means(rows: object, mean: np.ndarray, arrays: TreeArrays, read_rows: int | None = None) -> np.ndarray:
    """Mean over every node's rows (arrays' pre-order) of the rows centred on ``mean`` and scaled to unit length."""
    n_nodes = arrays.n_nodes
    doc_leaf = arrays.doc_leaf
    zeros = np.zeros((n_nodes, mean.size), dtype=np.float64)
    sums = added_in_order(each_block(_centred_unit_sums, rows, doc_leaf, n_nodes, mean, read_rows=read_rows), zeros)
    counts = arrays.subtree_sums(np.bincount(doc_leaf, minlength=n_nodes).astype(np.float64))
    return arrays.subtree_sums(sums) / np.maximum(counts, 1.0)[:, None]


def _centred_unit_sums(start: int, block: np.ndarray, doc_leaf: np.ndarray, n_nodes: int, mean: np.ndarray) -> np.ndarray:
    rows = np.asarray(block, dtype=np.float64) - mean
    rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    leaf = doc_leaf[start : start + block.shape[0]]
    indicator = sparse.csr_matrix((np.ones(leaf.size), (leaf, np.arange(leaf.size))), shape=(n_nodes, leaf.size))
    return np.asarray(indicator @ rows)


def row_ranges(n: int, rows: int) -> Iterator[range]:
    """``range(0, n)`` cut into pieces of ``rows`` (documents are made and written a piece at a time)."""
    for start in range(0, n, max(rows, 1)):
        yield range(start, min(n, start + rows))


__all__ = ["centred_unit_means", "node_means", "reduce_block", "reduce_source", "row_ranges"]
