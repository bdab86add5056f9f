"""A synthetic topic tree of any size, for benchmarks and for trying the explorer without a corpus.

Deterministic for a seed. Each node splits into ``schedule[depth]`` children with Dirichlet-random
shares of its documents; documents get words from their branch's vocabulary (so search finds them)
and 2-D coordinates around their branch's centre (so the map shows the clusters).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from topicmap.hierarchy.tree.topic_tree import ROOT_ID, Document, LabelMeta, Node, TopicTree, child_id

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "sa", "do", "fu", "gi", "ho", "ju", "be")


def _word(rng: np.random.Generator) -> str:
    return "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 4))))


def synthetic_tree(n_docs: int = 100_000, schedule: tuple[int, ...] = (10, 10, 49), seed: int = 0) -> TopicTree:
    """A tree with ``1 + 10 + 100 + 4900`` nodes for the default schedule, over ``n_docs`` documents."""
    rng = np.random.default_rng(seed)
    nodes: list[Node] = []
    centres: dict[str, np.ndarray] = {ROOT_ID: np.zeros(2)}
    vocab: dict[str, list[str]] = {ROOT_ID: [_word(rng) for _ in range(40)]}
    leaf_counts: dict[str, int] = {}

    def add(node_id: str, parent: str | None, depth: int, size: int) -> None:
        words = vocab[node_id]
        nodes.append(
            Node(
                id=node_id,
                parent=parent,
                depth=depth,
                size=size,
                label="" if node_id == ROOT_ID else " ".join(words[:2]).title(),
                summary=f"Documents about {words[0]} and {words[1]}, often mentioning {words[2]}.",
                keywords=words[:8],
                keyword_scores=[round(1.0 / (k + 1), 3) for k in range(8)],
                label_meta=LabelMeta(labeler="keywords"),
            )
        )

    queue: list[tuple[str, str | None, int, int]] = [(ROOT_ID, None, 0, n_docs)]
    while queue:
        next_queue: list[tuple[str, str | None, int, int]] = []
        for node_id, parent, depth, size in queue:
            add(node_id, parent, depth, size)
            if depth == len(schedule):
                leaf_counts[node_id] = size
                continue
            k = schedule[depth]
            shares = rng.dirichlet(np.full(k, 2.0))
            sizes = np.floor(shares * size).astype(int)
            sizes[: size - sizes.sum()] += 1
            sizes = np.sort(sizes)[::-1]
            spread = 10.0 / (3.0 ** depth)
            for j, s in enumerate(sizes.tolist()):
                cid = child_id(node_id, j)
                angle = 2 * np.pi * j / k + rng.normal(0, 0.2)
                centres[cid] = centres[node_id] + spread * np.array([np.cos(angle), np.sin(angle)])
                vocab[cid] = [_word(rng) for _ in range(12)]
                next_queue.append((cid, node_id, depth + 1, s))
        queue = next_queue

    documents: list[Document] = []
    row = 0
    for leaf_id, count in leaf_counts.items():
        branch = [leaf_id]
        while branch[-1] != ROOT_ID:
            branch.append(ROOT_ID if "." not in branch[-1] else branch[-1].rsplit(".", 1)[0])
        words = np.array([w for b in branch for w in vocab[b]])
        picks = rng.integers(0, len(words), size=(count, 24))
        xy = centres[leaf_id] + rng.normal(0, 0.15, size=(count, 2))
        for k in range(count):
            text = " ".join(words[picks[k]].tolist())
            documents.append(
                Document(id=f"d{row}", leaf=leaf_id, title=text[:40].title(), text=text, x=float(xy[k, 0]), y=float(xy[k, 1]))
            )
            row += 1
    return TopicTree(nodes, documents, manifest={"source": "topicmap.viz.synthetic", "seed": seed})


def synthetic_sidecar_tree(
    path: str | os.PathLike[str],
    n_docs: int,
    schedule: tuple[int, ...] = (10, 10, 49),
    seed: int = 0,
    batch_rows: int = 100_000,
    words_per_doc: int = 16,
) -> Path:
    """A synthetic tree of ``n_docs`` documents written as a sidecar tree file at ``path``, batch by batch.

    The same shape as :func:`synthetic_tree`, but documents are never all in memory, and rows come
    in shuffled leaf order (as a real corpus's input order would), so a topic's documents are spread
    over the whole sidecar. For the 10M-document benchmarks.
    """
    from topicmap.hierarchy.tree.documents_store import write_batches
    from topicmap.hierarchy.tree.treefile import save_tree

    shape = synthetic_tree(0, schedule, seed)  # the nodes' shape and vocabulary come from the same generator
    rng = np.random.default_rng(seed)
    leaves = [n for n in shape.iter_nodes() if shape.is_leaf(n.id)]
    shares = rng.dirichlet(np.full(len(leaves), 2.0))
    counts = np.floor(shares * n_docs).astype(np.int64)
    counts[: n_docs - int(counts.sum())] += 1
    leaf_of_row = rng.permutation(np.repeat(np.arange(len(leaves), dtype=np.int32), counts))
    centres = rng.normal(0, 10, size=(len(leaves), 2))
    words = sorted({w for leaf in leaves for w in leaf.keywords + shape.node(leaf.parent or ROOT_ID).keywords + shape.root.keywords})
    number = {w: k for k, w in enumerate(words)}
    vocab = np.array([[number[w] for w in leaf.keywords + shape.node(leaf.parent or ROOT_ID).keywords + shape.root.keywords] for leaf in leaves])
    word_array = np.array(words, dtype=object)
    leaf_ids = np.array([leaf.id for leaf in leaves], dtype=object)

    def batches() -> Iterator[dict[str, list[Any]]]:
        for lo in range(0, n_docs, batch_rows):
            hi = min(lo + batch_rows, n_docs)
            which = leaf_of_row[lo:hi]
            picks = rng.integers(0, vocab.shape[1], size=(hi - lo, words_per_doc))
            texts = [" ".join(row) for row in word_array[vocab[which[:, None], picks]].tolist()]
            xy = centres[which] + rng.normal(0, 0.4, size=(hi - lo, 2))
            yield {
                "id": [f"d{r}" for r in range(lo, hi)],
                "leaf": leaf_ids[which].tolist(),
                "x": np.round(xy[:, 0], 5).tolist(),
                "y": np.round(xy[:, 1], 5).tolist(),
                "title": [t[:40].title() for t in texts],
                "text": texts,
            }

    store = write_batches(path, batches(), metadata_keys=[])
    by_id = {n.id: n for n in shape.iter_nodes()}
    for leaf, count in zip(leaves, counts.tolist()):
        node_id: str | None = leaf.id
        while node_id is not None:
            by_id[node_id].size += count
            node_id = by_id[node_id].parent
    tree = TopicTree(list(by_id.values()), store, manifest={"source": "topicmap.viz.synthetic", "seed": seed, "rows": "shuffled"})
    return save_tree(tree, path)
