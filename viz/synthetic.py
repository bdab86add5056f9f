"""A synthetic topic tree of any size, for benchmarks and for trying the explorer without a corpus.

Deterministic for a seed. Each node splits into ``schedule[depth]`` children with Dirichlet-random
shares of its documents; documents get words from their branch's vocabulary (so search finds them)
and 2-D coordinates around their branch's centre (so the map shows the clusters).
"""

from __future__ import annotations

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
