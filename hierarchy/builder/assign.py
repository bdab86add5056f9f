"""Place new documents into an existing tree without rebuilding it.

Each new document descends from the root to the child whose centroid is closest (cosine) at every
level, so it lands on a leaf exactly as a reader following the map would. Sizes and centroids of the
nodes on its path are updated (running means); node ids, labels and the other documents stay as
they are. A node whose size has drifted more than ``threshold`` (relative) from its size when it was
labelled is flagged stale in ``label_meta.extra`` (``{"stale": true, "size_at_label": N}``), so
``relabel --only-stale`` can refresh just those; relabelling writes a fresh ``label_meta`` and the
flag goes with it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from topicmap.hierarchy.base.errors import InputError, TopicmapError
from topicmap.hierarchy.inputs.documents import Corpus, embedding_text
from topicmap.hierarchy.tree.documents_store import AppendedStore, DocumentStore
from topicmap.hierarchy.tree.topic_tree import ROOT_ID, Document, LabelMeta, Node, TopicTree
from topicmap.hierarchy.inputs.vectors import normalise_rows
from topicmap.hierarchy.tree.embedder import tree_dimensions
from topicmap.hierarchy.inputs.vector_source import VectorSource

DEFAULT_STALE_THRESHOLD = 0.2
# Up to this many documents, drifted nodes' keywords are counted over every text, as at build time (a
# single-file tree gives what it always gave). Beyond it, every document under a drifted node is counted
# (or a seeded sample of them when there are more than KEYWORD_SAMPLE_ROWS) plus a seeded sample of the
# others standing in for them (each row weighted by its stratum's size over its sample's), so a 10M-document
# tree reads the texts of those rows only. On 1M synthetic documents counting every text took 100 s and 700 MB.
EXACT_KEYWORD_ROWS = 200_000
KEYWORD_SAMPLE_ROWS = 100_000


@dataclass
class AssignResult:
    tree: TopicTree
    assigned: int
    leaves: dict[str, int]  # leaf id -> new documents placed there
    stale: list[str]  # nodes flagged stale by this run (parents first), to relabel with the LLM
    stale_total: int  # nodes flagged stale in the tree after this run
    refreshed: list[str] = field(default_factory=list)  # drifted nodes given new keywords (keyword labels: new labels)
    info: dict[str, Any] = field(default_factory=dict)


def is_stale(node: Node) -> bool:
    """True when :func:`assign_documents` flagged the node's label as outgrown by new documents."""
    return node.label_meta.extra.get("stale") is True


def stale_node_ids(tree: TopicTree) -> list[str]:
    """Ids of nodes whose label no longer fits their size (flagged by :func:`assign_documents`), parents first."""
    return [n.id for n in tree.iter_nodes() if is_stale(n)]


def descend_by_centroids(tree: TopicTree, vectors: np.ndarray) -> list[str]:
    """The leaf each row lands on, walking down by the closest child centroid (:meth:`TreeArrays.descend`)."""
    arrays = tree.arrays
    reached, _, _ = place_rows(tree, vectors)
    return [arrays.node_ids[i] for i in reached.tolist()]


def unit_centres(tree: TopicTree, dim: int) -> np.ndarray:
    """Every node's centroid at unit length (pre-order rows), or one line naming a parent whose children lack one."""
    arrays = tree.arrays
    nodes = [tree.node(node_id) for node_id in arrays.node_ids]
    order = arrays.breadth_first()
    for i in order[~arrays.is_leaf[order]].tolist():  # the first such node breadth-first is the one named
        if any(nodes[k].centroid is None for k in arrays.children(i).tolist()):
            raise TopicmapError(f"node {nodes[i].id!r} has children without centroids; the tree cannot place new documents")
    centres = np.vstack([n.centroid if n.centroid is not None else np.zeros(dim, dtype=np.float32) for n in nodes])
    return normalise_rows(centres).astype(np.float32)


def place_rows(tree: TopicTree, rows: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's leaf (pre-order number), and per node the sum of the rows under it (float64) and their count.

    One pass over ``rows`` (an array, or partitions of rows on an engine's workers: ``assign --engine dask``)
    in blocks of :data:`~topicmap.hierarchy.builder.engine.PASS_ROWS`, each block walked down on one BLAS
    thread and its sums added block after block in row order: the same bits wherever the blocks ran.
    """
    from topicmap.hierarchy.builder.engine import added_in_order, each_block

    arrays = tree.arrays
    dim = int(rows.shape[1]) if isinstance(rows, np.ndarray) else int(rows.dim)
    centres = unit_centres(tree, dim)
    blocks = list(each_block(_place_block, rows, arrays, centres))
    if not blocks:
        return np.zeros(0, dtype=np.int64), np.zeros((arrays.n_nodes, dim)), np.zeros(arrays.n_nodes, dtype=np.int64)
    leaves = np.concatenate([b[0] for b in blocks])
    sums = added_in_order(iter([b[1] for b in blocks]))
    counts = np.sum([b[2] for b in blocks], axis=0)
    return leaves, sums, counts


def _place_block(start: int, block: np.ndarray, arrays: Any, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One block's leaves, per-node sums and counts (what :func:`place_rows` adds up; runs where the block is)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        levels = arrays.descend(block, centres, unit_rows=False)
        reached = levels[-1] if levels else np.zeros(block.shape[0], dtype=np.int64)
        vectors = np.asarray(block, dtype=np.float64)
        sums = np.zeros((arrays.n_nodes, vectors.shape[1]))
        counts = np.zeros(arrays.n_nodes, dtype=np.int64)
        for depth in range(arrays.max_depth + 1):  # each row's node at every depth down to its leaf, rows added in row order
            at = arrays.node_ancestors(depth)[reached]
            rows = np.flatnonzero(at >= 0)
            np.add.at(sums, at[rows], vectors[rows])
            counts += np.bincount(at[rows], minlength=arrays.n_nodes)
    return reached, sums, counts


def assign_documents(
    tree: TopicTree,
    corpus: Corpus,
    vectors: np.ndarray | VectorSource,
    threshold: float = DEFAULT_STALE_THRESHOLD,
    store_text: bool = True,
    seed: int = 0,
) -> AssignResult:
    """A new tree with ``corpus`` placed on leaves; ``tree`` itself is not modified.

    ``vectors`` is an array, or the rows held by an engine's workers (embedded there: ``assign --engine
    dask``), where they are then placed; only each row's leaf and the per-node sums come back."""
    if threshold < 0:
        raise InputError(f"--stale-threshold {threshold}: must be zero or more")
    dims = tree_dimensions(tree)
    if dims is None:
        raise TopicmapError("the tree has no centroids, so new documents cannot be placed in it; rebuild it")
    n_rows, dim = (vectors.shape[0], vectors.shape[-1]) if isinstance(vectors, np.ndarray) else (vectors.n_rows, vectors.dim)
    if n_rows != len(corpus) or (isinstance(vectors, np.ndarray) and vectors.ndim != 2):
        raise InputError(f"{corpus.source}: {n_rows} embedding rows for {len(corpus)} documents")
    if dim != dims:
        raise InputError(f"{corpus.source}: the new documents' embeddings have {dim} dimensions, the tree's have {dims}")
    existing = tree.store.find_ids(corpus.ids)  # a sidecar reads its id column only
    for doc_id in corpus.ids:
        if doc_id in existing:
            raise InputError(f"{corpus.source}: document id {doc_id!r} is already in the tree (row {existing[doc_id] + 1}); new documents need new ids")

    arrays = tree.arrays
    leaf_of_row, sums, added = place_rows(tree, vectors)  # added: new documents under each node (pre-order numbers)
    leaves = [arrays.node_ids[i] for i in leaf_of_row.tolist()]
    nodes = {n.id: copy.deepcopy(n) for n in tree.iter_nodes()}
    before = {n.id: n.size for n in tree.iter_nodes()}
    for i in np.flatnonzero(added).tolist():
        node, count = nodes[arrays.node_ids[i]], int(added[i])
        old = node.size
        if node.centroid is not None:
            node.centroid = ((node.centroid.astype(np.float64) * old + sums[i]) / (old + count)).astype(np.float32)
        node.size = old + count

    newly_stale = []
    for node_id in (n.id for n in tree.iter_nodes()):
        node = nodes[node_id]
        if not added[arrays.index[node_id]]:
            continue
        extra = node.label_meta.extra
        base = int(extra.get("size_at_label", before[node_id]))
        extra["size_at_label"] = base
        if abs(node.size - base) > threshold * max(base, 1) and not extra.get("stale"):
            extra["stale"] = True
            newly_stale.append(node_id)

    placed = _placed_documents(tree, corpus, leaves, store_text, seed)
    documents: list[Document] | DocumentStore
    if tree.store.lazy:  # a sidecar tree: its documents stay in the file and the new ones follow them when saved
        base = tree.store
        documents = AppendedStore(base.base, base.added + placed) if isinstance(base, AppendedStore) else AppendedStore(base, placed)  # type: ignore[arg-type]
    else:
        documents = list(tree.documents) + placed
    n_keywords = int(tree.manifest.get("clustering", {}).get("n_keywords", 10))
    if newly_stale and len(documents) > EXACT_KEYWORD_ROWS:
        doc_leaf = np.concatenate([arrays.doc_leaf, leaf_of_row]).astype(np.int64)
        refreshed = refresh_keywords(nodes, documents, newly_stale, n_keywords, sample=(arrays, doc_leaf, seed))
    else:
        refreshed = refresh_keywords(nodes, documents, newly_stale, n_keywords)
    newly_stale = [i for i in newly_stale if nodes[i].label_meta.extra.get("stale")]
    manifest = copy.deepcopy(tree.manifest)
    info = {
        "kind": "assign",
        "source": corpus.source,
        "sha256": corpus.sha256,
        "n_documents": len(corpus),
        "stale_threshold": threshold,
        "stale_flagged": len(newly_stale),
        "keywords_refreshed": len(refreshed),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    manifest.setdefault("updates", []).append(info)
    if isinstance(manifest.get("time"), dict):  # the tree's time column: count the new documents' times too
        if isinstance(documents, list):
            dated = sum(d.time is not None for d in documents)
        else:  # the time column only
            dated = int(np.isfinite(documents.times()).sum())
        manifest["time"].update(dated=dated, undated=len(documents) - dated)
    new_tree = TopicTree([nodes[n.id] for n in tree.iter_nodes()], documents, manifest=manifest)
    per_leaf: dict[str, int] = {}
    for leaf in leaves:
        per_leaf[leaf] = per_leaf.get(leaf, 0) + 1
    return AssignResult(new_tree, len(corpus), per_leaf, newly_stale, len(stale_node_ids(new_tree)), refreshed=refreshed, info=info)


def refresh_keywords(
    nodes: dict[str, Node],
    documents: list[Document] | DocumentStore,
    node_ids: list[str],
    top_n: int = 10,
    sample: tuple[Any, np.ndarray, int] | None = None,
) -> list[str]:
    """New c-TF-IDF keywords for ``node_ids`` from the stored texts, so a relabel sees what changed.

    Only those nodes change (the others keep keywords their labels were made from). A node labelled
    by keywords gets its keyword label refreshed at once, which is its relabelling: its stale flag
    goes. An LLM-labelled node keeps its label and its flag, and ``relabel --only-stale`` then sends
    the model the new keywords (a new prompt, so no stale cache hit). Skipped when texts are not stored.
    ``sample`` (tree arrays, each row's leaf number, seed) counts only the rows :func:`_keyword_rows`
    picks, weighted: what a tree of more than :data:`EXACT_KEYWORD_ROWS` documents does.
    """
    from topicmap.hierarchy.builder.keywords import ctfidf_keywords, keyword_label
    from topicmap.hierarchy.builder.term_counts import count_terms

    if not node_ids:
        return []
    weights = None
    if sample is not None:  # (tree arrays, each row's leaf number, seed): the rows under node_ids and a sample of the rest
        rows, weights = _keyword_rows(sample[0], sample[1], node_ids, sample[2])
        picked = [documents[r] for r in rows.tolist()] if isinstance(documents, list) else documents.rows(rows)
        titles, bodies = [d.title for d in picked], [d.text for d in picked]
        doc_leaves = [sample[0].node_ids[c] for c in sample[1][rows].tolist()]
        del picked
    elif isinstance(documents, list):
        titles, bodies, doc_leaves = [d.title for d in documents], [d.text for d in documents], [d.leaf for d in documents]
    else:  # a sidecar: three string columns, no document objects
        titles, bodies, doc_leaves = documents.strings("title"), documents.strings("text"), documents.strings("leaf")
    if not all(text or title for title, text in zip(titles, bodies)):
        return []
    texts = [embedding_text(title, text) for title, text in zip(titles, bodies)]
    del titles, bodies
    counts, vocabulary = count_terms(texts)
    del texts
    if weights is not None:
        from scipy import sparse

        counts = (sparse.diags(weights) @ counts).tocsr()
    paths: dict[str, list[str]] = {}
    for node_id in nodes:
        chain, current = [], nodes[node_id]
        while current.parent is not None:
            chain.append(current.id)
            current = nodes[current.parent]
        paths[node_id] = [ROOT_ID, *reversed(chain)]
    wanted_depths = sorted({nodes[i].depth for i in node_ids})
    ids_per_depth = [[i for i in nodes if nodes[i].depth == d] for d in wanted_depths]
    members = []
    for ids in ids_per_depth:
        local = {node_id: k for k, node_id in enumerate(ids)}
        depth = nodes[ids[0]].depth
        members.append(np.array([local[paths[leaf][depth]] if len(paths[leaf]) > depth else -1 for leaf in doc_leaves], dtype=np.int64))
    fresh = ctfidf_keywords(counts, vocabulary, members, ids_per_depth, top_n=top_n)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for node_id in node_ids:
        node = nodes[node_id]
        node.keywords, node.keyword_scores = fresh[node_id].words, fresh[node_id].scores
        if node.label_meta.labeler == "keywords" and node.label_meta.status == "ok":
            node.label = keyword_label(node.keywords)
            node.label_meta = LabelMeta(labeler="keywords", created_at=now, extra={"refreshed_by": "assign"})
    return list(node_ids)


def _keyword_rows(arrays: Any, doc_leaf: np.ndarray, node_ids: list[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose texts a big tree's keyword refresh reads (sorted) and each one's weight.

    Two strata: documents under ``node_ids`` and the others; each is kept whole up to
    :data:`KEYWORD_SAMPLE_ROWS` rows, else sampled (seeded), and a row weighs its stratum's size over
    the rows kept of it, so the counts stand for the whole tree's."""
    under = np.zeros(doc_leaf.size, dtype=bool)
    for node_id in node_ids:  # a subtree is a run of pre-order numbers
        i = arrays.index[node_id]
        under |= (doc_leaf >= i) & (doc_leaf < arrays.subtree_end[i])
    rng = np.random.default_rng(seed)
    rows, weights = [], []
    for stratum in (np.flatnonzero(under), np.flatnonzero(~under)):
        if not stratum.size:
            continue
        kept = stratum if stratum.size <= KEYWORD_SAMPLE_ROWS else np.sort(rng.choice(stratum, size=KEYWORD_SAMPLE_ROWS, replace=False))
        rows.append(kept)
        weights.append(np.full(kept.size, stratum.size / kept.size))
    all_rows, all_weights = np.concatenate(rows), np.concatenate(weights)
    order = np.argsort(all_rows, kind="stable")
    return all_rows[order], all_weights[order]


def _placed_documents(tree: TopicTree, corpus: Corpus, leaves: list[str], store_text: bool, seed: int) -> list[Document]:
    """New documents, drawn on the map near their leaf's documents (mean position plus a seeded jitter)."""
    rng = np.random.default_rng(seed)
    anchors: dict[str, tuple[float, float, float]] = {}
    xs, ys = tree.store.xy()  # the x / y columns only (a sidecar's texts are not read)
    for leaf in set(leaves):
        rows = tree.document_rows(leaf)
        if rows:
            xy = np.column_stack([xs[rows], ys[rows]])
            spread = float(xy.std(axis=0).mean()) if len(rows) > 1 else 0.0
            anchors[leaf] = (float(xy[:, 0].mean()), float(xy[:, 1].mean()), spread)
        else:
            anchors[leaf] = (0.0, 0.0, 0.0)
    out = []
    for row, leaf in enumerate(leaves):
        x, y, spread = anchors[leaf]
        dx, dy = rng.normal(size=2) * spread * 0.5
        out.append(
            Document(
                id=corpus.ids[row],
                leaf=leaf,
                text=corpus.texts[row] if store_text else "",
                title=corpus.titles[row],
                x=float(x + dx),
                y=float(y + dy),
                metadata=corpus.metadata[row],
                time=corpus.time_of(row),
            )
        )
    return out
