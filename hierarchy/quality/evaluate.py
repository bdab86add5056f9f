"""How good is a tree? What can be measured without references, and agreement with reference categories.

Reference-free: shape per level, leaf-size spread, tiny nodes, cohesion/separation (silhouette on a
sample, needs document vectors), sibling-label distinctness and label fidelity (is a node's label
closer to its own documents than to its siblings'?). Fidelity uses the stored centroids: with unit
document vectors, ``label . centroid`` *is* the mean cosine between the label and the node's
documents, so no document has to be re-embedded.

With references (one or more category columns; :mod:`topicmap.hierarchy.quality.refs`): dendrogram purity,
NMI/ARI of the best-matching tree level, and how many nodes mix categories. This module runs the
whole report (:func:`evaluate_tree`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import silhouette_score

from topicmap.hierarchy.base.errors import InputError, TopicmapError
from topicmap.hierarchy.quality.refs import ReferenceScores, reference_scores
from topicmap.hierarchy.inputs.documents import embedding_text
from topicmap.hierarchy.inputs.vectors import normalise_rows
from topicmap.hierarchy.labels.fidelity import sibling_margin
from topicmap.hierarchy.tree.topic_tree import ROOT_ID, TopicTree


def require_labels(tree: TopicTree, source: str = "tree") -> None:
    """Label metrics and navigation mean nothing on unlabelled nodes: refuse them up front."""
    missing = [n.id for n in tree.iter_nodes() if n.id != ROOT_ID and not n.label.strip()]
    if missing:
        raise TopicmapError(
            f"{source}: {len(missing)} of {len(tree) - 1} nodes have no label (first: node {missing[0]!r}); "
            "label the tree first (topicmap build writes keyword labels; topicmap label writes LLM labels)"
        )


# -- reference-free -------------------------------------------------------------------------
@dataclass
class LevelShape:
    depth: int
    nodes: int
    leaves: int
    branching_mean: float  # children per node of the level above that has children
    branching_min: int
    branching_max: int
    size_median: float
    size_min: int
    size_max: int


@dataclass
class SizeSpread:
    count: int
    min: int
    p10: float
    median: float
    p90: float
    max: int
    cv: float  # standard deviation / mean
    singletons: int  # nodes (any depth) with one document
    tiny: int  # nodes (any depth) with fewer than tiny_threshold documents
    tiny_threshold: int


def shape_levels(tree: TopicTree) -> list[LevelShape]:
    arrays = tree.arrays
    out = []
    for depth in range(1, arrays.max_depth + 1):
        level = arrays.depth == depth
        sizes = arrays.sizes[level]
        branching = arrays.n_children[(arrays.depth == depth - 1) & ~arrays.is_leaf]
        out.append(
            LevelShape(
                depth=depth,
                nodes=int(level.sum()),
                leaves=int(arrays.is_leaf[level].sum()),
                branching_mean=round(float(branching.mean()), 3),
                branching_min=int(branching.min()),
                branching_max=int(branching.max()),
                size_median=float(np.median(sizes)),
                size_min=int(sizes.min()),
                size_max=int(sizes.max()),
            )
        )
    return out


def size_spread(tree: TopicTree, tiny_threshold: int = 5) -> SizeSpread:
    arrays = tree.arrays
    order = arrays.breadth_first()
    sizes = arrays.sizes[order[arrays.is_leaf[order]]].astype(np.float64)  # breadth-first, as the spread was always summed
    all_sizes = arrays.sizes[1:]
    return SizeSpread(
        count=int(sizes.size),
        min=int(sizes.min()),
        p10=float(np.percentile(sizes, 10)),
        median=float(np.median(sizes)),
        p90=float(np.percentile(sizes, 90)),
        max=int(sizes.max()),
        cv=round(float(sizes.std() / max(sizes.mean(), 1e-12)), 4),
        singletons=int((all_sizes == 1).sum()),
        tiny=int((all_sizes < tiny_threshold).sum()),
        tiny_threshold=tiny_threshold,
    )


@dataclass
class LevelCohesion:
    depth: int
    clusters: int
    silhouette: float | None  # cosine silhouette on the sample; None when undefined (one cluster)
    cohesion: float  # mean cosine between a document and its node's centroid
    separation: float  # mean over documents of 1 - cosine to the nearest other centroid of the level


def cohesion_levels(tree: TopicTree, vectors: np.ndarray, sample: int = 2000, seed: int = 0) -> list[LevelCohesion]:
    """Silhouette, cohesion and separation per level on a seeded sample of the documents."""
    n = tree.n_documents
    if vectors.shape[0] != n:
        raise InputError(f"{vectors.shape[0]} embedding rows for {n} documents in the tree; they must be row-aligned")
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False))
    return cohesion_levels_rows(tree, rows, vectors[rows])


def cohesion_levels_rows(tree: TopicTree, rows: np.ndarray, vectors: np.ndarray) -> list[LevelCohesion]:
    """As :func:`cohesion_levels`, for given document ``rows`` and their vectors only."""
    unit = normalise_rows(vectors)
    arrays = tree.arrays
    out = []
    for depth, labels in enumerate(arrays.doc_levels(), start=1):
        labels = labels[rows]
        ids = np.unique(labels)
        centroids = normalise_rows(np.vstack([tree.node(arrays.node_ids[i]).centroid for i in ids]))
        position = np.searchsorted(ids, labels)
        sims = unit @ centroids.T
        own = sims[np.arange(rows.size), position]
        if ids.size > 1:
            sims[np.arange(rows.size), position] = -np.inf
            separation = float((1.0 - sims.max(axis=1)).mean())
        else:
            separation = 0.0
        silhouette = None
        if 1 < ids.size < rows.size:
            silhouette = round(float(silhouette_score(unit, labels, metric="cosine")), 4)
        out.append(LevelCohesion(depth, int(ids.size), silhouette, round(float(own.mean()), 4), round(separation, 4)))
    return out


@dataclass
class LabelPair:
    parent: str
    a: str
    b: str
    label_a: str
    label_b: str
    kind: str  # "duplicate" or "near-duplicate"
    similarity: float


@dataclass
class Distinctness:
    sibling_pairs: int
    duplicates: int
    near_duplicates: int
    distinct_share: float  # share of sibling pairs that are neither
    examples: list[LabelPair] = field(default_factory=list)


def label_distinctness(
    tree: TopicTree, label_vectors: dict[str, np.ndarray] | None = None, word_threshold: float = 0.5, cosine_threshold: float = 0.9, max_examples: int = 10
) -> Distinctness:
    """Duplicate (same normalised text) and near-duplicate (word Jaccard, or label-embedding cosine) sibling labels."""
    pairs = dup = near = 0
    examples: list[LabelPair] = []
    arrays = tree.arrays
    nodes = [tree.node(node_id) for node_id in arrays.node_ids]
    words = [_words(n.label) for n in nodes]  # once per node, not once per pair
    order = arrays.breadth_first()
    for parent in order[~arrays.is_leaf[order]].tolist():
        children = arrays.children(parent).tolist()
        for i, a in enumerate(children):
            for b in children[i + 1 :]:
                pairs += 1
                kind, score = _compare_labels(words[a], words[b], label_vectors, nodes[a].id, nodes[b].id, word_threshold, cosine_threshold)
                if kind is None:
                    continue
                if kind == "duplicate":
                    dup += 1
                else:
                    near += 1
                if len(examples) < max_examples:
                    examples.append(LabelPair(nodes[parent].id, nodes[a].id, nodes[b].id, nodes[a].label, nodes[b].label, kind, round(score, 4)))
    share = 1.0 if pairs == 0 else (pairs - dup - near) / pairs
    return Distinctness(pairs, dup, near, round(share, 4), examples)


def _words(label: str) -> set[str]:
    return set(re.findall(r"[^\W_]+", label.lower()))


def _compare_labels(
    wa: set[str], wb: set[str], vectors: dict[str, np.ndarray] | None, id_a: str, id_b: str, word_threshold: float, cosine_threshold: float
) -> tuple[str | None, float]:
    """How alike two sibling labels are, given their words (:func:`_words`)."""
    if wa == wb:
        return "duplicate", 1.0
    jaccard = len(wa & wb) / max(len(wa | wb), 1)
    if jaccard >= word_threshold:
        return "near-duplicate", jaccard
    if vectors is not None and id_a in vectors and id_b in vectors:
        cosine = float(vectors[id_a] @ vectors[id_b])
        if cosine >= cosine_threshold:
            return "near-duplicate", cosine
    return None, 0.0


@dataclass
class FidelityMiss:
    node: str
    label: str
    own: float  # mean cosine of the label to its own documents
    best_sibling: str
    sibling: float  # ... to the documents of its closest sibling


@dataclass
class LevelFidelity:
    depth: int
    nodes: int
    faithful: int
    rate: float


@dataclass
class Fidelity:
    nodes: int  # nodes with at least one sibling
    faithful: int
    rate: float
    mean_margin: float  # own minus best sibling similarity, averaged
    levels: list[LevelFidelity] = field(default_factory=list)
    misses: list[FidelityMiss] = field(default_factory=list)


def label_fidelity(tree: TopicTree, label_vectors: dict[str, np.ndarray], max_misses: int = 10) -> Fidelity:
    """Is each label closer (mean cosine) to its own documents than to any sibling's?

    ``label_vectors`` are unit vectors of the labels made by the tree's embedder. ``label . centroid``
    is the mean similarity to the node's documents when document vectors are unit length, as every
    embedder here produces.
    """
    per_depth: dict[int, list[int]] = {}
    margins: list[float] = []
    misses: list[tuple[float, FidelityMiss]] = []
    for node in tree.iter_nodes():
        siblings = tree.siblings(node.id) if node.id != ROOT_ID else []
        if not siblings or node.centroid is None:
            continue
        margin = sibling_margin(label_vectors[node.id], node, siblings)
        if margin is None:
            continue
        per_depth.setdefault(node.depth, []).append(int(margin.faithful))
        margins.append(margin.value)
        if not margin.faithful:
            misses.append((margin.value, FidelityMiss(node.id, node.label, round(margin.own, 4), margin.sibling, round(margin.best, 4))))
    counts = [v for values in per_depth.values() for v in values]
    levels = [LevelFidelity(d, len(v), sum(v), round(sum(v) / len(v), 4)) for d, v in sorted(per_depth.items())]
    misses.sort(key=lambda m: m[0])
    return Fidelity(
        nodes=len(counts),
        faithful=sum(counts),
        rate=round(sum(counts) / len(counts), 4) if counts else 1.0,
        mean_margin=round(float(np.mean(margins)), 4) if margins else 0.0,
        levels=levels,
        misses=[m for _, m in misses[:max_misses]],
    )


# -- the whole report -----------------------------------------------------------------------
@dataclass
class Section:
    """A part of the report that could not be computed, and why (instead of failing the whole run)."""

    skipped: str


@dataclass
class EvaluationReport:
    tree: str
    documents: int
    nodes: int
    leaves: int
    depth: int
    embedder: str
    labels: dict[str, int]  # labeler -> nodes
    shape: list[LevelShape]
    leaf_sizes: SizeSpread
    cohesion: list[LevelCohesion] | Section
    distinctness: Distinctness
    fidelity: Fidelity | Section
    references: list[ReferenceScores] = field(default_factory=list)
    navigation: list[Any] = field(default_factory=list)  # navigate.NavigationScores, or Section

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def label_kinds(tree: TopicTree) -> dict[str, int]:
    return dict(Counter(n.label_meta.labeler + ("" if n.label_meta.status == "ok" else " (failed)") for n in tree.iter_nodes() if n.id != ROOT_ID))




# -- orchestration --------------------------------------------------------------------------
@dataclass
class EvaluateOptions:
    """What to measure. ``embedder`` None: sections that need one are skipped with ``embedder_note``."""

    references: dict[str, np.ndarray] = field(default_factory=dict)
    vectors: np.ndarray | None = None  # row-aligned document vectors, for silhouette
    vectors_source: str = ""
    embedder: Any = None  # topicmap.hierarchy.inputs.embed.Embedder in the tree's space
    embedder_note: str = ""
    navigators: list[Any] = field(default_factory=list)  # topicmap.hierarchy.quality.navigate.Navigator
    sample: int = 200
    seed: int = 0
    silhouette_sample: int = 1000
    tiny_threshold: int = 5
    mix_threshold: float = 0.8
    cache_dir: Any = None  # Path | None


def evaluate_tree(tree: TopicTree, source: str, options: EvaluateOptions) -> EvaluationReport:
    """Every section of the report; cheap checks and input errors come before any embedding work."""
    from topicmap.hierarchy.quality.navigate import navigate, sample_targets
    from topicmap.hierarchy.tree.embedder import embed_texts

    require_labels(tree, source)
    targets = sample_targets(tree, options.sample, options.seed) if options.navigators else []
    references = [reference_scores(tree.arrays, name, classes, options.mix_threshold) for name, classes in options.references.items()]

    label_vectors: dict[str, np.ndarray] | None = None
    fidelity: Fidelity | Section
    if options.embedder is not None:
        nodes = [n for n in tree.iter_nodes() if n.id != ROOT_ID]
        vectors = embed_texts([n.label for n in nodes], options.embedder, tree, options.cache_dir, "labels")
        label_vectors = {n.id: v for n, v in zip(nodes, vectors)}
        fidelity = label_fidelity(tree, label_vectors)
    else:
        fidelity = Section(skipped=options.embedder_note or "no embedder for the tree's space")

    cohesion: list[LevelCohesion] | Section
    rows, doc_vectors, note = _cohesion_vectors(tree, options)
    if doc_vectors is None:
        cohesion = Section(skipped=note)
    else:
        cohesion = cohesion_levels_rows(tree, rows, doc_vectors)

    navigation = []
    for navigator in options.navigators:
        scores, _ = navigate(tree, navigator, targets, seed=options.seed)
        navigation.append(scores)

    return EvaluationReport(
        tree=source,
        documents=tree.n_documents,
        nodes=len(tree),
        leaves=len(tree.leaves()),
        depth=tree.depth,
        embedder=str(tree.manifest.get("embedder", {}).get("name", "?")),
        labels=label_kinds(tree),
        shape=shape_levels(tree),
        leaf_sizes=size_spread(tree, options.tiny_threshold),
        cohesion=cohesion,
        distinctness=label_distinctness(tree, label_vectors),
        fidelity=fidelity,
        references=references,
        navigation=navigation,
    )


def _cohesion_vectors(tree: TopicTree, options: EvaluateOptions) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Document vectors for a seeded sample: given ones, else the embedding cache, else embed the sample."""
    n = tree.n_documents
    rows = np.sort(np.random.default_rng(options.seed).choice(n, size=min(options.silhouette_sample, n), replace=False))
    if tree.root.centroid is None:  # the tree file check allows centroids on every node or on none
        return rows, None, "the tree has no centroids to compare documents with; rebuild it with topicmap build"
    if options.vectors is not None:
        return rows, options.vectors[rows], options.vectors_source
    recorded = _recorded_vectors(tree)
    if recorded is not None:
        return rows, np.asarray(recorded[rows], dtype=np.float32), str(tree.manifest["embedder"]["source"])
    if options.embedder is None:
        return rows, None, "no document vectors: pass --embeddings FILE.npy (row-aligned with the tree's documents) or --embedder"
    if tree.store.lazy:
        return _cohesion_vectors_lazy(tree, rows, options)
    texts = [embedding_text(title, text) for title, text in zip(tree.store.strings("title"), tree.store.strings("text"))]
    if not all(t.strip() for t in texts):
        return rows, None, NO_TEXTS
    cached = _cached_corpus_vectors(texts, options.embedder.name, options.cache_dir)
    if cached is not None and cached.shape[0] == n:
        return rows, np.asarray(cached[rows], dtype=np.float32), "embedding cache"
    from topicmap.hierarchy.tree.embedder import embed_texts

    return rows, embed_texts([texts[r] for r in rows], options.embedder, tree, options.cache_dir, "sampled documents"), "re-embedded sample"


NO_TEXTS = "the tree stores no document texts (built with --no-text): pass --embeddings FILE.npy"


def _cohesion_vectors_lazy(tree: TopicTree, rows: np.ndarray, options: EvaluateOptions) -> tuple[np.ndarray, np.ndarray | None, str]:
    """As the in-memory path, on a sidecar: the corpus's cache key is hashed batch by batch (no text column
    is held), and only the sampled rows' texts are read to embed them."""
    from topicmap.hierarchy.tree.embedder import embed_texts

    store = tree.store
    n = len(store)
    sampled = [embedding_text(d.title, d.text) for d in store.rows(rows)]
    if not all(t.strip() for t in sampled):
        return rows, None, NO_TEXTS
    if options.cache_dir is not None:
        every_text = [True]
        cached = _cached_corpus_vectors(_streamed_texts(store, every_text), options.embedder.name, options.cache_dir, n)
        if not every_text[0]:
            return rows, None, NO_TEXTS
        if cached is not None and cached.shape[0] == n:
            return rows, np.asarray(cached[rows], dtype=np.float32), "embedding cache"
    return rows, embed_texts(sampled, options.embedder, tree, options.cache_dir, "sampled documents"), "re-embedded sample"


def _streamed_texts(store: Any, every_text: list[bool]) -> Iterator[str]:
    """Each document's embedding text, a batch of the title and text columns at a time; ``every_text[0]``
    turns False at a document without any."""
    if hasattr(store, "iter_columns"):
        batches = ((b["title"], b["text"]) for b in store.iter_columns(["title", "text"]))
    else:
        batches = iter([(store.strings("title"), store.strings("text"))])
    for titles, texts in batches:
        for title, text in zip(titles, texts):
            joined = embedding_text(title or "", text or "")
            if not joined.strip():
                every_text[0] = False
            yield joined


def _cached_corpus_vectors(texts: Iterable[str], embedder_name: str, cache_dir: Any, n: int | None = None) -> np.ndarray | None:
    """The cached vectors of the whole corpus, keyed by every text (an iterator is hashed as it goes)."""
    if cache_dir is None:
        return None
    from topicmap.hierarchy.inputs.embed import cache_path, read_cached_vectors

    counted = [0]

    def counting() -> Iterator[str]:
        for text in texts:
            counted[0] += 1
            yield text

    path = cache_path(cache_dir, embedder_name, counting())  # type: ignore[arg-type]  # corpus_key only iterates
    return read_cached_vectors(path, counted[0] if n is None else n, mmap=True)


def _recorded_vectors(tree: TopicTree) -> np.ndarray | None:
    """The .npy the tree was built from, if it is still where the manifest says and unchanged."""
    from topicmap.hierarchy.inputs.documents import file_sha256, load_embeddings

    info = tree.manifest.get("embedder", {}) or {}
    source = info.get("source")
    if not isinstance(source, str) or not source.endswith(".npy") or not Path(source).is_file():
        return None
    if info.get("sha256") and file_sha256(source) != info["sha256"]:
        return None
    try:
        return load_embeddings(source, tree.n_documents, expected_dim=int(tree.root.centroid.size) if tree.root.centroid is not None else None)
    except TopicmapError:
        return None
