"""build_tree: embeddings -> recursive clusters -> a described TopicTree (keyword labels, no LLM)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from topicmap.hierarchy import __version__
from topicmap.hierarchy.builder.cluster import ClusterTree, RecursiveClusterer
from topicmap.hierarchy.builder.params import DOCS_PER_LEAF, BuildConfig, check_build, check_config, most_leaves, to_estimator  # noqa: F401 - check_config: also imported from here
from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.inputs.documents import Corpus
from topicmap.hierarchy.builder.keywords import STEER_POOL_FACTOR, NodeKeywords, count_terms, ctfidf_keywords, keyword_label, representative_rows, steer_keywords
from topicmap.hierarchy.builder.map_layout import document_layout, resolve_layout
from topicmap.hierarchy.base.progress import Stages
from topicmap.hierarchy.tree.arrays import TreeArrays
from topicmap.hierarchy.tree.topic_tree import Document, LabelMeta, Node, TopicTree
from topicmap.hierarchy.inputs.vector_checks import check_clusterable


@dataclass(frozen=True)
class PresetSpec:
    """The clustering settings a preset stands for (see docs/architecture.md for why these values)."""

    max_depth: int
    n_components: int
    linkage: str
    smoothing_neighbors: int
    n_init: int
    kmeans_iterations: int
    sample_size: int


PRESET_SPECS: dict[str, PresetSpec] = {
    # About one leaf per 40 documents in at most four levels: coarse topics (about sqrt(n)/5, found
    # like browse's leaves) grouped by Ward linkage, and inside each coarse topic its specific leaf
    # topics by k-means of that topic's documents alone (bench/results/quality.md has how it scores).
    "map": PresetSpec(max_depth=4, n_components=128, linkage="ward", smoothing_neighbors=15, n_init=5, kmeans_iterations=300, sample_size=20000),
    # Few leaves (about sqrt(n) / 5) in at most three levels, each found by k-means on neighbour-smoothed
    # vectors run to convergence: a tree a reader can walk label by label (bench/results/quality.md).
    "browse": PresetSpec(max_depth=3, n_components=128, linkage="ward", smoothing_neighbors=15, n_init=5, kmeans_iterations=300, sample_size=20000),
    # About one leaf per min_leaf_size documents nested up to ten levels: the most detail.
    "deep": PresetSpec(max_depth=10, n_components=50, linkage="average", smoothing_neighbors=0, n_init=1, kmeans_iterations=30, sample_size=4096),
}
BROWSE_LEAVES_PER_SQRT_N = 0.2
BROWSE_MIN_LEAVES = 6  # below this a map says little; small corpora still get a handful of topics
MAP_MAX_LEAVES = 2000  # past this a map is read by search and zoom, not by walking; keeps big builds fast
MAP_MAX_COARSE = 256


def browse_leaves(n_documents: int, min_leaf_size: int) -> int:
    """Leaf topics for the browse preset: about sqrt(n)/5, at least 6 when the corpus has 6 x ``min_leaf_size`` documents.

    21 for 11k documents, 63 for 100k, 200 for 1M: at most three levels of roughly 3-6 choices each.
    Leaves hold ``min_leaf_size`` documents on average at least, so a corpus under twice that is one node.
    """
    wanted = max(BROWSE_MIN_LEAVES, round(BROWSE_LEAVES_PER_SQRT_N * math.sqrt(n_documents)))
    return min(wanted, most_leaves(n_documents, min_leaf_size))


def map_leaves(n_documents: int, min_leaf_size: int, docs_per_leaf: int = DOCS_PER_LEAF) -> int:
    """Leaf topics for the map preset: one per ``docs_per_leaf`` documents, at least 6 and at most 2,000 (and what the corpus can fill)."""
    wanted = max(BROWSE_MIN_LEAVES, min(MAP_MAX_LEAVES, round(n_documents / max(docs_per_leaf, 1))))
    return min(wanted, most_leaves(n_documents, min_leaf_size))


def map_coarse_clusters(n_documents: int, min_leaf_size: int) -> int:
    """Coarse topics the map's leaves are found in: as many as browse makes leaves (about sqrt(n)/5), at most 256."""
    return min(MAP_MAX_COARSE, browse_leaves(n_documents, min_leaf_size))


def resolve_preset(config: BuildConfig, n_documents: int, source: str | None = None) -> BuildConfig:
    """The config with every None field filled in from its preset (explicit values win), once the
    settings pass the build parameters' checks for ``n_documents`` documents (``source`` names them)."""
    check_build(config, n_documents, source)
    spec = PRESET_SPECS[config.preset]
    leaves = config.leaves
    coarse = config.coarse_clusters
    if leaves is None and not config.levels and config.preset == "browse":
        leaves = browse_leaves(n_documents, config.min_leaf_size)
    if config.preset == "map" and not config.levels:
        if leaves is None:
            leaves = map_leaves(n_documents, config.min_leaf_size, config.docs_per_leaf)
        if coarse is None:
            coarse = map_coarse_clusters(n_documents, config.min_leaf_size)
    from_spec = {f.name: getattr(spec, f.name) if getattr(config, f.name) is None else getattr(config, f.name) for f in fields(PresetSpec)}
    return replace(config, **from_spec, leaves=leaves, coarse_clusters=coarse, descent_rounds=config.descent_rounds or 0)


def make_clusterer(config: BuildConfig) -> RecursiveClusterer:
    """The estimator a resolved config (see :func:`resolve_preset`) stands for: every field the
    estimator takes, under its name there (:func:`topicmap.hierarchy.builder.params.to_estimator`)."""
    return RecursiveClusterer(**to_estimator(asdict(config)))


@dataclass
class BuildInputs:
    """Where the documents and vectors came from, for the manifest."""

    source: str
    sha256: str
    embedder: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Any] = field(default_factory=dict)


WordEmbedder = Callable[[Sequence[str]], np.ndarray]


def build_tree(
    corpus: Corpus,
    embeddings: np.ndarray,
    config: BuildConfig,
    inputs: BuildInputs,
    show_progress: bool = False,
    cache_dir: Path | None = None,
    embed_words: WordEmbedder | None = None,
) -> TopicTree:
    """Cluster ``embeddings`` (row-aligned with ``corpus``) into a tree and describe every node.

    ``cache_dir`` (the embedding cache's root) also keeps UMAP document maps, under ``layouts/``.
    ``embed_words`` embeds texts into the space of ``embeddings`` (the model that made them). With it,
    each node keeps the c-TF-IDF candidates that best tell it from its siblings in that space
    (:func:`topicmap.hierarchy.builder.keywords.steer_keywords`), and each leaf's list is cut to the length whose text
    best sorts its siblings' documents (:mod:`topicmap.hierarchy.builder.leaf_keywords`); without it (vectors of an
    unknown model), the top c-TF-IDF words.
    """
    n = len(corpus)
    if embeddings.shape[0] != n:
        raise InputError(f"{embeddings.shape[0]} embedding rows for {n} documents")
    asked = config
    config = resolve_preset(config, n, corpus.source)
    if corpus.time is not None and config.period != "auto":  # a month period on a column of years: say so before clustering
        from topicmap.hierarchy.inputs.periods import resolve_period

        resolve_period(config.period, corpus.time.format, corpus.time.times)
    input_warnings = _check_vectors(corpus, embeddings, asked, config, inputs)
    for warning in input_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    stages = Stages(["cluster", "centroids", "keywords", "representatives", "layout"], enabled=show_progress)
    started = time.perf_counter()

    with stages.stage("cluster"):
        clusterer = make_clusterer(config)
        try:
            clusterer.fit(embeddings)
        except ValueError as exc:
            raise InputError(f"cannot cluster {corpus.source}: {exc}") from None
        shape: ClusterTree = clusterer.tree_
        # per-node values stay in shape's numbering (the order the clusterer made the nodes); the tree's
        # arrays are in pre-order: shape's node k is arrays' node at[k], arrays' node i is shape's source[i]
        arrays, source = shape.to_arrays()
        at = np.argsort(source)
        depth = arrays.depth[at]

    with stages.stage("centroids"):
        centroids = _node_means(embeddings, arrays)[at]

    with stages.stage("keywords"):
        texts = corpus.embedding_texts()
        counts, vocabulary = count_terms(texts)
        members = [np.where(m >= 0, source[m], -1) for m in arrays.members_per_depth()]  # each document's node per depth
        ids_per_depth = [[shape.node_ids[i] for i in np.flatnonzero(depth == d)] for d in range(len(members))]
        local_members = [_to_local(m, depth == d) for d, m in enumerate(members)]
        pool = config.n_keywords * (STEER_POOL_FACTOR if embed_words is not None else 1)
        keywords = ctfidf_keywords(counts, vocabulary, local_members, ids_per_depth, top_n=pool)
        if embed_words is not None:
            keywords = _steered(keywords, embed_words, embeddings, shape, arrays, at, centroids, config.n_keywords)
            keywords = _leaf_counts_fitted(keywords, embed_words, embeddings, shape, arrays, at, centroids, config.seed)

    with stages.stage("representatives"):
        reps: dict[int, list[str]] = {}
        for node in range(len(shape.node_ids)):
            rows = representative_rows(clusterer.reduced_, np.sort(arrays.doc_rows(at[node])), shape.centres[node], config.n_representatives)
            reps[node] = [corpus.ids[r] for r in rows]

    layout_used = resolve_layout(config.layout, n)
    with stages.stage("layout"):
        coords = document_layout(
            clusterer.reduced_, shape.doc_leaf, shape.parent_indices(), shape.centres, shape.sizes.astype(np.float64),
            method=layout_used, seed=config.seed, cache_dir=cache_dir,
        )

    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    nodes = []
    for index, node_id in enumerate(shape.node_ids):
        words = keywords.get(node_id)
        nodes.append(
            Node(
                id=node_id,
                parent=shape.parents[index],
                depth=int(depth[index]),
                size=int(shape.sizes[index]),
                label=keyword_label(words.words if words else []),
                keywords=words.words if words else [],
                keyword_scores=words.scores if words else [],
                representative_ids=reps.get(index, []),
                centroid=centroids[index],
                label_meta=LabelMeta(labeler="keywords", created_at=created),
            )
        )
    documents = [
        Document(
            id=corpus.ids[row],
            leaf=shape.node_ids[shape.doc_leaf[row]],
            text=corpus.texts[row] if config.store_text else "",
            title=corpus.titles[row],
            x=float(coords[row, 0]),
            y=float(coords[row, 1]),
            metadata=corpus.metadata[row],
            time=corpus.time_of(row),
        )
        for row in range(n)
    ]
    timings = {**stages.timings, "total": round(time.perf_counter() - started, 3)}
    manifest = {
        "topicmap_version": __version__,
        "created_at": created,
        "input": {"source": inputs.source, "sha256": inputs.sha256, "n_documents": n, **inputs.columns, **({"warnings": input_warnings} if input_warnings else {})},
        "embedder": {**inputs.embedder, "dimensions": int(embeddings.shape[1])},
        "clustering": {**asdict(config), "mode": "levels" if config.levels else "auto", "kmeans_fits": clusterer.n_fits_, "leaf_clusters_found": int(clusterer.leaf_clusters_.sizes.size), "coarse_clusters_found": int(clusterer.coarse_.sizes.size) if clusterer.coarse_ is not None else None, "layout_used": layout_used, "smoothing_neighbors_used": clusterer.smoothing_neighbors_, "descent_moved": [round(f, 4) for f in clusterer.moved_fractions_], "keywords_steered": embed_words is not None},
        "seed": config.seed,
        "timings_s": timings,
    }
    if corpus.time is not None:
        manifest["time"] = {**corpus.time.manifest(), "period": config.period}
    return TopicTree(nodes, documents, manifest=manifest)


def _steered(
    keywords: dict[str, NodeKeywords],
    embed_words: WordEmbedder,
    embeddings: np.ndarray,
    shape: ClusterTree,
    arrays: TreeArrays,
    at: np.ndarray,
    centroids: np.ndarray,
    keep: int,
) -> dict[str, NodeKeywords]:
    """Each node's candidates re-chosen by :func:`steer_keywords` (one embedding call for all distinct words)."""
    words = sorted({w for k in keywords.values() for w in k.words})
    if not words:
        return keywords
    mean = centroids[int(np.flatnonzero(at == 0)[0])].astype(np.float64)  # the root's
    vectors = np.asarray(embed_words(words), dtype=np.float64)
    if vectors.shape != (len(words), embeddings.shape[1]):
        raise InputError(
            f"the keyword embedder gives vectors of shape {vectors.shape} for {len(words)} words, but the documents' "
            f"embeddings have {embeddings.shape[1]} dimensions; it must be the model that embedded the documents"
        )
    vectors -= mean
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    means = _centred_unit_means(embeddings, mean, arrays)[at]
    ids = shape.node_ids
    picked = steer_keywords(
        {node_id: keywords[node_id].words for node_id in ids if node_id in keywords},
        dict(zip(ids, shape.parents)),
        dict(zip(ids, means)),
        dict(zip(words, vectors)),
        keep,
    )
    return {
        node_id: NodeKeywords([k.words[i] for i in picked[node_id]], [k.scores[i] for i in picked[node_id]]) if node_id in picked else k
        for node_id, k in keywords.items()
    }


def _leaf_counts_fitted(
    keywords: dict[str, NodeKeywords],
    embed_words: WordEmbedder,
    embeddings: np.ndarray,
    shape: ClusterTree,
    arrays: TreeArrays,
    at: np.ndarray,
    centroids: np.ndarray,
    seed: int,
) -> dict[str, NodeKeywords]:
    """Each leaf's steered list cut to the length that best tells it from its siblings (:mod:`topicmap.hierarchy.builder.leaf_keywords`)."""
    from topicmap.hierarchy.builder.leaf_keywords import DOCS_PER_NODE, fit_leaf_keywords

    ids = shape.node_ids
    index = {node_id: i for i, node_id in enumerate(ids)}
    nodes = [Node(node_id, shape.parents[i], int(arrays.depth[at[i]]), int(shape.sizes[i])) for i, node_id in enumerate(ids) if shape.parents[i] is not None]
    kids: dict[str, list[Node]] = {}
    for node in nodes:
        kids.setdefault(str(node.parent), []).append(node)
    rng = np.random.default_rng(seed)

    def doc_vectors(node_id: str) -> np.ndarray:
        rows = np.sort(arrays.doc_rows(at[index[node_id]]))
        if rows.size > DOCS_PER_NODE:
            rows = np.sort(rng.choice(rows, DOCS_PER_NODE, replace=False))
        return np.asarray(embeddings[rows], dtype=np.float64)

    mean = centroids[int(np.flatnonzero(at == 0)[0])].astype(np.float64)
    return fit_leaf_keywords(keywords, nodes, lambda node_id: node_id not in kids, lambda node_id: kids.get(node_id, []), doc_vectors, embed_words, mean)


def _centred_unit_means(embeddings: np.ndarray, mean: np.ndarray, arrays: TreeArrays, chunk: int = 65536) -> np.ndarray:
    """Mean over every node's documents (rows in the arrays' pre-order) of their vectors centred on ``mean`` and
    scaled to unit length (in chunks: no full copy)."""
    n_nodes = arrays.n_nodes
    doc_leaf = arrays.doc_leaf
    sums = np.zeros((n_nodes, embeddings.shape[1]), dtype=np.float64)
    for start in range(0, embeddings.shape[0], chunk):
        rows = np.asarray(embeddings[start : start + chunk], dtype=np.float64) - mean
        rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
        leaf = doc_leaf[start : start + chunk]
        indicator = sparse.csr_matrix((np.ones(leaf.size), (leaf, np.arange(leaf.size))), shape=(n_nodes, leaf.size))
        sums += indicator @ rows
    counts = arrays.subtree_sums(np.bincount(doc_leaf, minlength=n_nodes).astype(np.float64))
    return arrays.subtree_sums(sums) / np.maximum(counts, 1.0)[:, None]


def _check_vectors(corpus: Corpus, embeddings: np.ndarray, asked: BuildConfig, config: BuildConfig, inputs: BuildInputs) -> list[str]:
    """Errors for embeddings with nothing to split, warnings for fewer distinct rows than leaves wanted."""
    if inputs.embedder.get("source"):
        vectors_source = str(inputs.embedder.get("source") or corpus.source)
    else:
        vectors_source = f"{corpus.source} (embedded by {inputs.embedder.get('name', 'the embedder')})"
    if asked.levels:
        wanted, option = asked.levels[-1], f"--levels {','.join(str(k) for k in asked.levels)}"
    elif asked.leaves is not None:
        wanted, option = asked.leaves, f"--leaves {asked.leaves}"
    else:
        wanted, option = config.leaves or most_leaves(len(corpus), config.min_leaf_size), None
    return check_clusterable(embeddings, corpus.embedding_texts(), vectors_source, corpus.source, wanted, option)


def _to_local(member: np.ndarray, at_depth: np.ndarray) -> np.ndarray:
    """Global node indices -> positions among the nodes of that depth (keeps -1)."""
    local = np.full(at_depth.size, -1, dtype=np.int64)
    local[np.flatnonzero(at_depth)] = np.arange(int(at_depth.sum()))
    out = np.full(member.size, -1, dtype=np.int64)
    keep = member >= 0
    out[keep] = local[member[keep]]
    return out


def _node_means(embeddings: np.ndarray, arrays: TreeArrays) -> np.ndarray:
    """Mean embedding under every node (rows in the arrays' pre-order), from leaf sums pushed up the tree (one pass over the data)."""
    n_nodes = arrays.n_nodes
    doc_leaf = arrays.doc_leaf
    indicator = sparse.csr_matrix((np.ones(doc_leaf.size, dtype=np.float32), (doc_leaf, np.arange(doc_leaf.size))), shape=(n_nodes, doc_leaf.size))
    sums = arrays.subtree_sums(np.asarray(indicator @ embeddings, dtype=np.float64))
    counts = arrays.subtree_sums(np.bincount(doc_leaf, minlength=n_nodes).astype(np.float64))
    return (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)
