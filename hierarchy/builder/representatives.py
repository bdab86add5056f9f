"""Representative documents of every node: central to the node, and covering it.

Every node keeps the ``n`` rows a reader (or a labeller) should see first. All nodes are served by one
pass over the rows in blocks: each row is compared with the centre of every node on its path from the
root, and each node keeps only its best ``POOL_PER_PICK * n`` candidates so far. Only those candidates
are read again for the final pick. Per node reading, as before, gathered every node's rows once per
depth: at ten million rows in a scratch file that was ~50 million scattered reads and most of a build's
time; one sequential pass is a few seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from topicmap.hierarchy.builder.engine import PASS_ROWS, Blocks, PartitionedRows, each_run, local_blocks
from topicmap.hierarchy.inputs.vector_source import DEFAULT_CHUNK_ROWS

DIVERSITY = 0.3  # weight of novelty against centrality in the maximal-marginal-relevance pick
POOL_PER_PICK = 10  # candidates per representative: the pick is made among the most central rows
MERGE_AT = 1 << 18  # candidates waiting before they are merged into each node's best (and its bar raised)


def node_representatives(
    points: Any,
    doc_leaf: np.ndarray,
    parents: np.ndarray,
    centres: np.ndarray,
    n: int = 5,
    diversity: float = DIVERSITY,
    block_rows: int = DEFAULT_CHUNK_ROWS,
    scan: PartitionedRows | None = None,
) -> dict[int, np.ndarray]:
    """For every node, ``n`` rows that are central to it and cover it, most central first.

    ``points`` answers ``points[a:b]`` and ``points[indices]`` (an array or a scratch file of rows);
    ``doc_leaf[r]`` is row r's node, ``parents[i]`` node i's parent (-1 for the root), both in one
    numbering where parents come before their children; ``centres[i]`` is node i's centre. The first
    pick is the row of highest cosine with the centre; each next one maximises maximal marginal
    relevance (Carbonell & Goldstein, 1998): ``(1 - diversity) * similarity to the centre - diversity *
    similarity to the closest row already picked``, among the ``POOL_PER_PICK * n`` most central rows.
    Closest-only picks tend to be near-duplicates of one story, which a labeller then names the topic
    after; ``diversity=0`` gives the closest rows. Equal similarities go to the lower row. ``scan``: the
    same rows held by an engine's workers, where the candidates are then found (only they come here).
    """
    n_nodes = len(parents)
    paths = _paths(np.asarray(parents, dtype=np.int64))
    unit_centres = np.asarray(centres, dtype=np.float64)
    unit_centres = (unit_centres / np.maximum(np.linalg.norm(unit_centres, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    keep = max(n, 1) * (POOL_PER_PICK if diversity > 0 else 1)
    doc_leaf = np.asarray(doc_leaf)
    if scan is None and block_rows != PASS_ROWS:
        found = [_candidates(local_blocks(points, block_rows=max(block_rows, 1)), doc_leaf, paths, unit_centres, keep)]
    else:  # each run's best candidates (a partition's where its rows are, or a forked process's); merging them is exact
        found = each_run(_candidates, points if scan is None else scan, doc_leaf, paths, unit_centres, keep)
    if len(found) == 1:
        kept_nodes, kept_rows, kept_sims = found[0]
    else:
        kept_nodes, kept_rows, kept_sims = _best_per_node(*(np.concatenate([f[i] for f in found]) for i in range(3)), keep)
    return _pick(points, kept_nodes, kept_rows, kept_sims, n_nodes, n, diversity)


def _candidates(blocks: Blocks, doc_leaf: np.ndarray, paths: np.ndarray, unit_centres: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``keep`` most central rows of every node among ``blocks`` (grouped by node, best first).

    Each row is scored against the centres on its path; a node's rows below its current ``keep``-th best
    are skipped, so few rows wait to be merged.
    """
    n_nodes = paths.shape[0]
    kept_nodes = np.empty(0, dtype=np.int64)
    kept_rows = np.empty(0, dtype=np.int64)
    kept_sims = np.empty(0, dtype=np.float32)
    worst_kept = np.full(n_nodes, -np.inf, dtype=np.float32)  # a node's keep-th best so far: rows below it cannot enter
    waiting: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    n_waiting = 0
    for start, rows in blocks:
        block = np.asarray(rows, dtype=np.float32)
        inverse_norms = 1.0 / np.maximum(np.linalg.norm(block, axis=1), np.float32(1e-12))
        on_path = paths[doc_leaf[start : start + block.shape[0]]]
        for depth in range(on_path.shape[1]):
            where = np.flatnonzero(on_path[:, depth] >= 0)
            nodes = on_path[where, depth]
            sims = np.einsum("ij,ij->i", block[where], unit_centres[nodes]) * inverse_norms[where]
            entering = np.flatnonzero(sims > worst_kept[nodes])  # a tie with the keep-th best loses: that one has the lower row
            waiting.append((nodes[entering], where[entering] + start, sims[entering]))
            n_waiting += entering.size
        if n_waiting > max(kept_nodes.size, MERGE_AT):
            kept_nodes, kept_rows, kept_sims, worst_kept = _merged(kept_nodes, kept_rows, kept_sims, waiting, keep, n_nodes)
            waiting, n_waiting = [], 0
    if waiting:
        kept_nodes, kept_rows, kept_sims, worst_kept = _merged(kept_nodes, kept_rows, kept_sims, waiting, keep, n_nodes)
    return kept_nodes, kept_rows, kept_sims


def _merged(
    kept_nodes: np.ndarray, kept_rows: np.ndarray, kept_sims: np.ndarray, waiting: list[tuple[np.ndarray, np.ndarray, np.ndarray]], keep: int, n_nodes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The waiting candidates merged into each node's best, and every node's new bar (its keep-th best, once it has keep)."""
    kept_nodes, kept_rows, kept_sims = _best_per_node(
        np.concatenate([kept_nodes, *(w[0] for w in waiting)]),
        np.concatenate([kept_rows, *(w[1] for w in waiting)]),
        np.concatenate([kept_sims, *(w[2] for w in waiting)]),
        keep,
    )
    full = np.bincount(kept_nodes, minlength=n_nodes) >= keep
    last = np.maximum(np.searchsorted(kept_nodes, np.arange(n_nodes), side="right") - 1, 0)
    worst_kept = np.where(full, kept_sims[last] if kept_sims.size else np.float32(-np.inf), np.float32(-np.inf)).astype(np.float32)
    return kept_nodes, kept_rows, kept_sims, worst_kept


def representative_rows(
    points: Any, rows: np.ndarray, centre: np.ndarray, n: int = 5, diversity: float = DIVERSITY, block_rows: int = DEFAULT_CHUNK_ROWS
) -> np.ndarray:
    """:func:`node_representatives` for one node holding ``rows`` of ``points`` (any order) with ``centre``."""
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    subset = _Rows(points, rows[order])
    picked = node_representatives(subset, np.zeros(rows.size, dtype=np.int64), np.array([-1]), np.asarray(centre)[None, :], n, diversity, block_rows)
    return rows[order][picked[0]]


class _Rows:
    """``points[rows]`` answered a slice at a time (a node of a scratch file is not gathered whole)."""

    def __init__(self, points: Any, rows: np.ndarray) -> None:
        self.points, self.rows = points, rows

    def __len__(self) -> int:
        return int(self.rows.size)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.points[self.rows[key]])


def _paths(parents: np.ndarray) -> np.ndarray:
    """``paths[i, d]``: node i's ancestor at depth d (itself at its own depth), -1 below it."""
    n_nodes = parents.size
    depth = np.zeros(n_nodes, dtype=np.int64)
    for i in range(n_nodes):
        if parents[i] >= 0:
            if parents[i] >= i:
                raise ValueError("parents must come before their children")
            depth[i] = depth[parents[i]] + 1
    paths = np.full((n_nodes, int(depth.max(initial=0)) + 1), -1, dtype=np.int64)
    for i in range(n_nodes):
        if parents[i] >= 0:
            paths[i] = paths[parents[i]]
        paths[i, depth[i]] = i
    return paths


def _best_per_node(nodes: np.ndarray, rows: np.ndarray, sims: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``keep`` best (similarity high, then row low) of each node, grouped by node, best first."""
    order = np.lexsort((rows, -sims, nodes))
    nodes, rows, sims = nodes[order], rows[order], sims[order]
    first = np.flatnonzero(np.r_[True, nodes[1:] != nodes[:-1]])
    rank = np.arange(nodes.size) - np.repeat(first, np.diff(np.r_[first, nodes.size]))
    chosen = rank < keep
    return nodes[chosen], rows[chosen], sims[chosen]


def _pick(
    points: Any, nodes: np.ndarray, rows: np.ndarray, sims: np.ndarray, n_nodes: int, n: int, diversity: float
) -> dict[int, np.ndarray]:
    """The final picks of every node from its candidates (grouped by node, best first)."""
    bounds = np.searchsorted(nodes, np.arange(n_nodes + 1))
    vectors_of: Callable[[np.ndarray], np.ndarray] = lambda wanted: np.empty((0, 0))  # noqa: E731
    if diversity > 0 and n > 1 and rows.size:
        needed = np.unique(rows)
        gathered = np.asarray(points[needed], dtype=np.float64)
        gathered /= np.maximum(np.linalg.norm(gathered, axis=1, keepdims=True), 1e-12)
        vectors_of = lambda wanted: gathered[np.searchsorted(needed, wanted)]  # noqa: E731
    out: dict[int, np.ndarray] = {}
    for node in range(n_nodes):
        pool, relevance = rows[bounds[node] : bounds[node + 1]], sims[bounds[node] : bounds[node + 1]]
        take = min(n, pool.size)
        if diversity <= 0 or take <= 1:
            out[node] = pool[:take].copy()
            continue
        vectors = vectors_of(pool)
        chosen = [0]
        redundancy = vectors @ vectors[0]
        for _ in range(take - 1):
            score = (1.0 - diversity) * relevance - diversity * redundancy
            score[chosen] = -np.inf
            best = int(np.argmax(score))
            chosen.append(best)
            redundancy = np.maximum(redundancy, vectors @ vectors[best])
        out[node] = pool[chosen]
    return out


__all__ = ["DIVERSITY", "POOL_PER_PICK", "node_representatives", "representative_rows"]
