"""build_tree: embeddings -> recursive clusters -> a described TopicTree (keyword labels, no LLM)."""

from __future__ import annotations

import math
import os
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
from topicmap.hierarchy.inputs.lazy_corpus import LazyCorpus
from topicmap.hierarchy.builder.built_documents import BuiltDocuments
from topicmap.hierarchy.builder.representatives import node_representatives
from topicmap.hierarchy.builder.keywords import STEER_POOL_FACTOR, NodeKeywords, ctfidf_keywords, keyword_label, keywords_of_node_counts, steer_keywords
from topicmap.hierarchy.builder.term_counts import count_terms, node_counts, term_vocabulary
from topicmap.hierarchy.builder.map_layout import document_layout, resolve_layout
from topicmap.hierarchy.base.progress import Stages
from topicmap.hierarchy.tree.arrays import TreeArrays
from topicmap.hierarchy.tree.topic_tree import LabelMeta, Node, TopicTree
from topicmap.hierarchy.inputs.vector_checks import RowStats, check_clusterable, judge_clusterable
from topicmap.hierarchy.inputs.vector_source import DEFAULT_CHUNK_ROWS, ArraySource, VectorSource, check_row_count
from topicmap.hierarchy.builder.reduced_rows import ReducedRows
from topicmap.hierarchy.builder.engine import PartitionedRows, local_processes
from topicmap.hierarchy.builder.streaming import centred_unit_means, node_means, reduce_source


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


IN_MEMORY_BYTES = 256 << 20  # vectors (and reduced rows) up to this size are held whole; past it a build streams them
LOCAL_PROCESSES = 1  # processes a streamed local build's passes run on (engine.local_processes)
# ... and its passes over texts: cutting texts into words is Python-bound, and does use more cores
TEXT_PROCESSES = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


@dataclass
class BuildParts:
    """What a build computes from the vectors, before nodes and documents are made of it.

    Per-node values are in ``shape``'s numbering (the order the clusterer made the nodes); ``arrays`` is
    the tree in pre-order (arrays' node ``at[k]`` is shape's node k). ``representatives`` holds row
    numbers; ``coords`` is the (n, 2) document map.
    """

    config: BuildConfig
    shape: ClusterTree
    arrays: TreeArrays
    at: np.ndarray
    depth: np.ndarray
    centroids: np.ndarray
    keywords: dict[str, NodeKeywords]
    representatives: dict[int, np.ndarray]
    coords: np.ndarray
    layout_used: str
    warnings: list[str]
    clustering: dict[str, Any]
    timings: dict[str, float]
    streamed: bool


def build_parts(
    source: VectorSource,
    texts: Sequence[str] | None,
    asked: BuildConfig,
    config: BuildConfig,
    vectors_source: str,
    texts_source: str,
    show_progress: bool = False,
    cache_dir: Path | None = None,
    embed_words: WordEmbedder | None = None,
    memory_budget: int | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    scratch_dir: str | Path | None = None,
    processes: int | None = None,
) -> BuildParts:
    """Cluster the rows of ``source`` into a tree and describe every node (``config`` resolved by :func:`resolve_preset`).

    A source of at most ``memory_budget`` bytes (default :data:`IN_MEMORY_BYTES`) (or one already in memory) is read whole and clustered
    as an array; a bigger one is streamed (:mod:`topicmap.hierarchy.builder.streaming`): fitted on the
    same samples, every pass a block of ``chunk_rows`` at a time, its reduced rows in a scratch file
    under ``scratch_dir`` when they too outgrow the budget. Both give the same tree. ``texts`` (None:
    no keywords) are the documents' texts in row order. A streamed build's passes run on ``processes``
    forked processes (default :data:`LOCAL_PROCESSES`, and :data:`TEXT_PROCESSES` for the passes over texts;
    :func:`topicmap.hierarchy.builder.engine.local_processes`), with the same tree.
    """
    n = source.n_rows
    memory_budget = IN_MEMORY_BYTES if memory_budget is None else memory_budget
    on_engine = isinstance(source, PartitionedRows)  # rows on an engine's workers: always passes, run there
    stream = on_engine or (not source.in_memory and n * source.dim * 4 > memory_budget)
    components = source.dim if config.reducer == "none" else min(config.n_components or source.dim, source.dim, n)
    scratch = stream and n * components * 4 > memory_budget
    if stream and config.reducer == "umap":
        raise InputError(f"--reducer umap needs every row in memory, and {vectors_source} ({n:,} x {source.dim}) is read in chunks; use --reducer pca")
    layout_used = resolve_layout(config.layout, n)
    if scratch and layout_used == "umap":
        if config.layout == "umap":
            raise InputError(f"--layout umap needs every reduced row in memory, and {vectors_source} ({n:,} rows) is read in chunks; use --layout anchored")
        layout_used = "anchored"
    wanted, option = _wanted_leaves(asked, config, n)
    text_list: Sequence[str] = texts if texts is not None else []
    clusterer = make_clusterer(config)
    if not stream:
        embeddings = source.read_all()
        source = ArraySource(embeddings, vectors_source)
        input_warnings = check_clusterable(embeddings, text_list, vectors_source, texts_source, wanted, option)
        _say(input_warnings)
    stages = Stages(["cluster", "centroids", "keywords", "representatives", "layout"], enabled=show_progress)
    reduced: Any = None
    reduced_parts: PartitionedRows | None = None  # the reduced rows on an engine's workers too
    forks = (LOCAL_PROCESSES if processes is None else processes) if stream and not on_engine else 1
    text_forks = (TEXT_PROCESSES if processes is None else processes) if stream and not on_engine else 1
    with local_processes(forks):  # the passes over rows held here, on forked processes of one BLAS thread each
        try:
            with stages.stage("cluster"):
                try:
                    if not stream:
                        clusterer.fit(embeddings)
                    else:
                        stats = RowStats(source.dim)
                        seed = 0 if config.seed is None else int(config.seed)
                        reduced, reducer, reduced_parts = reduce_source(source, config.reducer, config.n_components, seed, chunk_rows, scratch, scratch_dir, stats)
                        input_warnings = judge_clusterable(n, stats.zero_rows(), stats.distinct, text_list, vectors_source, texts_source, wanted, option)
                        del stats
                        _say(input_warnings)
                        clusterer.fit_reduced(reduced, reducer, scan=reduced_parts)
                except ValueError as exc:
                    raise InputError(f"cannot cluster {texts_source}: {exc}") from None
                shape: ClusterTree = clusterer.tree_
                arrays, order = shape.to_arrays()
                at = np.argsort(order)
                depth = arrays.depth[at]

            # passes cut the rows at fixed offsets, in memory too (chunk_rows only sets how much is read at
            # once), so the numbers do not depend on how the vectors are stored or read
            with stages.stage("centroids"):
                centroids = node_means(source, arrays, chunk_rows)[at]

            with stages.stage("keywords"):
                keywords: dict[str, NodeKeywords] = {}
                if texts is not None:
                    members = [np.where(m >= 0, order[m], -1) for m in arrays.members_per_depth()]  # each document's node per depth
                    ids_per_depth = [[shape.node_ids[i] for i in np.flatnonzero(depth == d)] for d in range(len(members))]
                    local_members = [_to_local(m, depth == d) for d, m in enumerate(members)]
                    del members
                    pool = config.n_keywords * (STEER_POOL_FACTOR if embed_words is not None else 1)
                    if stream:  # counted a block of texts at a time (on the engine's workers if there is one)
                        text_rows: Any = source.engine.load_texts(texts, source) if isinstance(source, PartitionedRows) else texts
                        with local_processes(text_forks):
                            vocabulary = term_vocabulary(text_rows, n)
                            per_node = node_counts(text_rows, local_members, [len(i) for i in ids_per_depth], vocabulary)
                        keywords = keywords_of_node_counts(per_node, vocabulary, ids_per_depth, top_n=pool)
                        del text_rows, per_node
                    else:
                        counts, vocabulary = count_terms(texts)
                        keywords = ctfidf_keywords(counts, vocabulary, local_members, ids_per_depth, top_n=pool)
                        del counts
                    del local_members
                    if embed_words is not None:
                        pooled = keywords
                        word_vectors = _word_vectors(keywords, embed_words, source.dim, _root_mean(at, centroids))
                        keywords = _steered(keywords, word_vectors, source, chunk_rows, shape, arrays, at, centroids, config.n_keywords)
                        keywords = _texts_fitted(TextFit(pooled, keywords, word_vectors, embed_words, source, shape, arrays, at, centroids, config.seed, config.n_keywords))

            with stages.stage("representatives"):
                reps = node_representatives(clusterer.reduced_, shape.doc_leaf, shape.parent_indices(), shape.centres, config.n_representatives, scan=reduced_parts)

            with stages.stage("layout"):
                coords = document_layout(
                    clusterer.reduced_, shape.doc_leaf, shape.parent_indices(), shape.centres, shape.sizes.astype(np.float64),
                    method=layout_used, seed=config.seed, cache_dir=cache_dir, scan=reduced_parts,
                )
        finally:
            if isinstance(reduced, ReducedRows):
                reduced.close()
    clusterer.reduced_ = clusterer.scan_ = None  # the rows are not needed past this point (and may be a closed scratch file)
    clustering = {
        "kmeans_fits": clusterer.n_fits_,
        "leaf_clusters_found": int(clusterer.leaf_clusters_.sizes.size),
        "coarse_clusters_found": int(clusterer.coarse_.sizes.size) if clusterer.coarse_ is not None else None,
        "smoothing_neighbors_used": clusterer.smoothing_neighbors_,
        "descent_moved": [round(f, 4) for f in clusterer.moved_fractions_],
    }
    return BuildParts(config, shape, arrays, at, depth, centroids, keywords, reps, coords, layout_used, input_warnings, clustering, dict(stages.timings), stream)


def _say(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def build_tree(
    corpus: Corpus | LazyCorpus,
    embeddings: np.ndarray | VectorSource,
    config: BuildConfig,
    inputs: BuildInputs,
    show_progress: bool = False,
    cache_dir: Path | None = None,
    embed_words: WordEmbedder | None = None,
    memory_budget: int | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    scratch_dir: str | Path | None = None,
) -> TopicTree:
    """Cluster ``embeddings`` (row-aligned with ``corpus``: an array, or a source read in chunks) into a tree and describe every node.

    ``cache_dir`` (the embedding cache's root) also keeps UMAP document maps, under ``layouts/``.
    ``embed_words`` embeds texts into the space of ``embeddings`` (the model that made them). With it,
    each node keeps the c-TF-IDF candidates that best tell it from its siblings in that space
    (:func:`topicmap.hierarchy.builder.keywords.steer_keywords`), and then every node's list is chosen, per group of
    siblings, for how many of their documents its text routes home (:mod:`topicmap.hierarchy.builder.routed_keywords`);
    without it (vectors of an unknown model), the top c-TF-IDF words. Sources bigger than ``memory_budget`` bytes are streamed
    (:func:`build_parts`).
    """
    n = len(corpus)
    source = embeddings if isinstance(embeddings, VectorSource) else None
    if source is None:
        if embeddings.shape[0] != n:
            raise InputError(f"{embeddings.shape[0]} embedding rows for {n} documents")
        source = ArraySource(embeddings)
    else:
        check_row_count(source, n, corpus.source)
    asked = config
    config = resolve_preset(config, n, corpus.source)
    if corpus.time is not None and config.period != "auto":  # a month period on a column of years: say so before clustering
        from topicmap.hierarchy.inputs.periods import resolve_period

        resolve_period(config.period, corpus.time.format, corpus.time.times)
    if inputs.embedder.get("source"):
        vectors_source = str(inputs.embedder.get("source") or corpus.source)
    else:
        vectors_source = f"{corpus.source} (embedded by {inputs.embedder.get('name', 'the embedder')})"
    started = time.perf_counter()
    parts = build_parts(
        source, corpus.embedding_texts(), asked, config, vectors_source, corpus.source, show_progress, cache_dir, embed_words,
        memory_budget, chunk_rows, scratch_dir,
    )
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    nodes = tree_nodes(parts, corpus.ids, created)
    documents = BuiltDocuments(corpus, parts.shape.node_ids, parts.shape.doc_leaf, parts.coords, parts.config.store_text)
    timings = {**parts.timings, "total": round(time.perf_counter() - started, 3)}
    manifest = {
        "topicmap_version": __version__,
        "created_at": created,
        "input": {"source": inputs.source, "sha256": inputs.sha256, "n_documents": n, **inputs.columns, **({"warnings": parts.warnings} if parts.warnings else {})},
        "embedder": {**inputs.embedder, "dimensions": int(source.dim)},
        "clustering": {**asdict(parts.config), "mode": "levels" if parts.config.levels else "auto", **_clustering_head(parts), "layout_used": parts.layout_used, "smoothing_neighbors_used": parts.clustering["smoothing_neighbors_used"], "descent_moved": parts.clustering["descent_moved"], "keywords_steered": embed_words is not None},
        "seed": config.seed,
        "timings_s": timings,
    }
    if isinstance(source, PartitionedRows):  # where the passes ran (a local build's manifest has no such key)
        manifest["engine"] = {"name": source.engine.name, "partitions": len(source.parts)}
    if corpus.time is not None:
        manifest["time"] = {**corpus.time.manifest(), "period": config.period}
    return TopicTree(nodes, documents, manifest=manifest)


def _clustering_head(parts: BuildParts) -> dict[str, Any]:
    return {key: parts.clustering[key] for key in ("kmeans_fits", "leaf_clusters_found", "coarse_clusters_found")}


def tree_nodes(parts: BuildParts, ids: Sequence[str], created: str) -> list[Node]:
    """The tree's nodes: shape, keyword labels, representatives (as document ids) and centroids."""
    shape = parts.shape
    nodes = []
    for index, node_id in enumerate(shape.node_ids):
        words = parts.keywords.get(node_id)
        nodes.append(
            Node(
                id=node_id,
                parent=shape.parents[index],
                depth=int(parts.depth[index]),
                size=int(shape.sizes[index]),
                label=keyword_label(words.words if words else []),
                keywords=words.words if words else [],
                keyword_scores=words.scores if words else [],
                representative_ids=[ids[r] for r in parts.representatives.get(index, [])],
                centroid=parts.centroids[index],
                label_meta=LabelMeta(labeler="keywords", created_at=created),
            )
        )
    return nodes


def _root_mean(at: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    return centroids[int(np.flatnonzero(at == 0)[0])].astype(np.float64)


def _word_vectors(keywords: dict[str, NodeKeywords], embed_words: WordEmbedder, dim: int, mean: np.ndarray) -> dict[str, np.ndarray]:
    """Every candidate keyword's embedding, centred on the corpus mean and unit length (one embedding call)."""
    words = sorted({w for k in keywords.values() for w in k.words})
    if not words:
        return {}
    vectors = np.asarray(embed_words(words), dtype=np.float64)
    if vectors.shape != (len(words), dim):
        raise InputError(
            f"the keyword embedder gives vectors of shape {vectors.shape} for {len(words)} words, but the documents' "
            f"embeddings have {dim} dimensions; it must be the model that embedded the documents"
        )
    vectors -= mean
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return dict(zip(words, vectors))


def _steered(
    keywords: dict[str, NodeKeywords],
    word_vectors: dict[str, np.ndarray],
    source: VectorSource,
    read_rows: int,
    shape: ClusterTree,
    arrays: TreeArrays,
    at: np.ndarray,
    centroids: np.ndarray,
    keep: int,
) -> dict[str, NodeKeywords]:
    """Each node's candidates re-chosen by :func:`steer_keywords`."""
    if not word_vectors:
        return keywords
    means = centred_unit_means(source, _root_mean(at, centroids), arrays, read_rows)[at]
    ids = shape.node_ids
    picked = steer_keywords(
        {node_id: keywords[node_id].words for node_id in ids if node_id in keywords},
        dict(zip(ids, shape.parents)),
        dict(zip(ids, means)),
        word_vectors,
        keep,
    )
    return {
        node_id: NodeKeywords([k.words[i] for i in picked[node_id]], [k.scores[i] for i in picked[node_id]]) if node_id in picked else k
        for node_id, k in keywords.items()
    }


def _fit_rows(rows: np.ndarray) -> np.ndarray:
    """The rows of a node that fitting its text may read: all of them (a benchmark narrows this to keep its targets unseen)."""
    return rows


def _fit_samples(shape: ClusterTree, arrays: TreeArrays, at: np.ndarray, source: VectorSource, seed: int, per_node: int) -> Callable[[str], np.ndarray]:
    """``doc_vectors(node_id)``: at most ``per_node`` of the node's document vectors, a seeded sample in row order."""
    index = {node_id: i for i, node_id in enumerate(shape.node_ids)}
    rng = np.random.default_rng(seed)

    def doc_vectors(node_id: str) -> np.ndarray:
        rows = _fit_rows(np.sort(arrays.doc_rows(at[index[node_id]])))
        if rows.size > per_node:
            rows = np.sort(rng.choice(rows, per_node, replace=False))
        return np.asarray(source.take(rows), dtype=np.float64)

    return doc_vectors


def _tree_nodes(shape: ClusterTree, arrays: TreeArrays, at: np.ndarray) -> list[Node]:
    """The tree's nodes without the root, as :class:`Node` (id, parent, depth, size)."""
    return [Node(node_id, shape.parents[i], int(arrays.depth[at[i]]), int(shape.sizes[i])) for i, node_id in enumerate(shape.node_ids) if shape.parents[i] is not None]


@dataclass(frozen=True)
class TextFit:
    """What a keyword fit after steering reads: the candidates, the steered lists, the words' vectors, the model, and the tree."""

    pooled: dict[str, NodeKeywords]  # each node's c-TF-IDF candidates, best first
    keywords: dict[str, NodeKeywords]  # the steered lists
    word_vectors: dict[str, np.ndarray]
    embed_words: WordEmbedder
    source: VectorSource
    shape: ClusterTree
    arrays: TreeArrays
    at: np.ndarray
    centroids: np.ndarray
    seed: int
    keep: int

    def nodes(self) -> list[Node]:
        return _tree_nodes(self.shape, self.arrays, self.at)

    def doc_vectors(self, per_node: int) -> Callable[[str], np.ndarray]:
        return _fit_samples(self.shape, self.arrays, self.at, self.source, self.seed, per_node)

    def mean(self) -> np.ndarray:
        return _root_mean(self.at, self.centroids)


def _leaf_counts_fitted(fit: TextFit) -> dict[str, NodeKeywords]:
    """Each leaf's steered list cut to the length that best tells it from its siblings (:mod:`topicmap.hierarchy.builder.leaf_keywords`)."""
    from topicmap.hierarchy.builder.leaf_keywords import DOCS_PER_NODE, fit_leaf_keywords

    nodes = fit.nodes()
    kids: dict[str, list[Node]] = {}
    for node in nodes:
        kids.setdefault(str(node.parent), []).append(node)
    return fit_leaf_keywords(fit.keywords, nodes, lambda node_id: node_id not in kids, lambda node_id: kids.get(node_id, []), fit.doc_vectors(DOCS_PER_NODE), fit.embed_words, fit.mean())


def _node_keywords_routed(fit: TextFit) -> dict[str, NodeKeywords]:
    """Every node's list chosen per sibling group for how many of their documents it routes home (:mod:`topicmap.hierarchy.builder.routed_keywords`)."""
    from topicmap.hierarchy.builder.routed_keywords import DOCS_PER_NODE, fit_node_keywords

    return fit_node_keywords(fit.pooled, fit.keywords, fit.nodes(), fit.word_vectors, fit.doc_vectors(DOCS_PER_NODE), fit.embed_words, fit.mean(), fit.keep)


_texts_fitted = _node_keywords_routed  # which fit the build runs after steering (a benchmark may swap it)


def _wanted_leaves(asked: BuildConfig, config: BuildConfig, n: int) -> tuple[int, str | None]:
    """The leaves the settings aim for, and the option that asked for them (None when a preset chose)."""
    if asked.levels:
        return asked.levels[-1], f"--levels {','.join(str(k) for k in asked.levels)}"
    if asked.leaves is not None:
        return asked.leaves, f"--leaves {asked.leaves}"
    return config.leaves or most_leaves(n, config.min_leaf_size), None


def _to_local(member: np.ndarray, at_depth: np.ndarray) -> np.ndarray:
    """Global node indices -> positions among the nodes of that depth (keeps -1)."""
    local = np.full(at_depth.size, -1, dtype=np.int64)
    local[np.flatnonzero(at_depth)] = np.arange(int(at_depth.sum()))
    out = np.full(member.size, -1, dtype=np.int64)
    keep = member >= 0
    out[keep] = local[member[keep]]
    return out
