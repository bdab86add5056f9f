"""Quality table: our default tree vs scikit-learn/SciPy Ward, flat k-means and BERTopic, on the same embeddings.

One command (from the repo root)::

    python bench/bench_quality.py                  # both corpora, writes bench/results/quality.md (+ .json)
    python bench/bench_quality.py --corpus bbc --no-bertopic --seeds 3

Corpora (MiniLM embeddings): 20 Newsgroups train split (references: newsgroup, top group) and BBC
News (category) from ``../shared/data``; Wikipedia's level-4 vital articles (topic; 5,000 sampled, never
tuned on) made by ``python bench/prepare_corpus.py`` into ``bench/data`` (skipped if absent).
Granularity: our map tree and flat k-means at N/300, N/100 and N/40 leaves (N/40 is the default tree). Every method clusters the *same* embedding matrix and
is scored by the same code (:mod:`topicmap.hierarchy.quality.metrics` via :func:`topicmap.hierarchy.quality.refs.reference_scores`):

* dendrogram purity per reference level, on each method's whole tree;
* NMI / ARI: ours and BERTopic at the tree level with the highest NMI; Ward cut at k = number of
  classes; k-means fitted with k = number of classes;
* our trees (the default browse preset and ``--preset deep``) are built with seeds 0, 1, 2: cells are
  medians over the three builds, each build's DP is listed;
* for our trees, navigation accuracy of the embedding navigator (keyword labels; every seed's tree
  with 5 seeded samples of 200 targets; means over the 15 pairs)
  and, as a ceiling for what labels could achieve on this tree shape, a navigator that reads the
  true node centroids instead of labels. With ``OPENAI_BASE_URL``/``OPENAI_API_KEY`` and
  ``TOPICMAP_BENCH_MODEL`` set, the tree is also labelled by the LLM labeller (``topicmap label``) and
  navigated again by the embedding navigator, and the LLM navigator runs on the keyword- and the
  LLM-labelled tree (first ``TOPICMAP_BENCH_LLM_SAMPLE`` targets, default 50).

Timing: median over our seeded builds and ``--runs`` k-means runs; Ward and BERTopic are timed once (their
cost is reported, not compared run to run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.machine import cpu_model  # noqa: E402

from topicmap.hierarchy.quality.refs import reference_scores  # noqa: E402
from topicmap.hierarchy.tree.arrays import TreeArrays  # noqa: E402
from topicmap.hierarchy.inputs.documents import Corpus, load_embeddings, read_documents  # noqa: E402
from topicmap.hierarchy.quality.navigate import Choice, EmbeddingNavigator, navigate, sample_targets  # noqa: E402
from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs, build_tree  # noqa: E402
from topicmap.hierarchy.tree.topic_tree import TopicTree  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
LOCAL = REPO / "bench" / "data"  # corpora made by bench/prepare_corpus.py
CORPORA: dict[str, tuple[Path, Path, list[str]]] = {
    "20news": (SHARED / "20news/train.jsonl", SHARED / "20news/train.minilm.npy", ["newsgroup", "top"]),
    "bbc": (SHARED / "bbc/bbc.jsonl", SHARED / "bbc/bbc.minilm.npy", ["category"]),
    # never tuned on: Wikipedia's level-4 vital articles by topic (python bench/prepare_corpus.py)
    "wikivital": (LOCAL / "wikivital/wikivital.jsonl", LOCAL / "wikivital/wikivital.minilm.npy", ["topic"]),
}
GRANULARITIES = (300, 100, 40)  # leaves = N / each; N/40 is the default map tree
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass
class RefCell:
    dp: float
    nmi: float
    ari: float
    how: str  # which level / cut the NMI and ARI come from
    dp_per_seed: list[float] = field(default_factory=list)  # our trees: one build per seed, the cell is the median


@dataclass
class MethodRow:
    corpus: str
    method: str
    shape: str
    seconds: float
    runs: int
    refs: dict[str, RefCell] = field(default_factory=dict)
    navigation: dict[str, Any] = field(default_factory=dict)
    note: str = ""


# -- scoring ---------------------------------------------------------------------------------
def score(arrays: TreeArrays, refs: dict[str, np.ndarray]) -> dict[str, RefCell]:
    out = {}
    for name, classes in refs.items():
        s = reference_scores(arrays, name, classes)
        out[name] = RefCell(s.dendrogram_purity, s.nmi, s.ari, f"depth {s.best_depth} ({s.best_clusters} nodes)")
    return out


def flat_scores(arrays: TreeArrays, labels: np.ndarray, classes: np.ndarray, how: str) -> RefCell:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from topicmap.hierarchy.quality.metrics import dendrogram_purity

    return RefCell(
        round(dendrogram_purity(arrays.parents, arrays.doc_leaf, classes), 4),
        round(float(normalized_mutual_info_score(classes, labels)), 4),
        round(float(adjusted_rand_score(classes, labels)), 4),
        how,
    )


# -- methods ---------------------------------------------------------------------------------
class WordVectors:
    """MiniLM vectors of keyword candidates for steered keywords (what `topicmap build` does when it embeds the
    texts itself), cached per word across the bench's builds: each seed's tree has its own candidate list."""

    def __init__(self) -> None:
        self.embedder: Any = None
        self.vectors: dict[str, np.ndarray] = {}

    def __call__(self, words: Any) -> np.ndarray:
        missing = [w for w in dict.fromkeys(words) if w not in self.vectors]
        if missing:
            if self.embedder is None:
                from topicmap.hierarchy.inputs.embed import SentenceTransformerEmbedder

                self.embedder = SentenceTransformerEmbedder("minilm")
            self.vectors.update(zip(missing, self.embedder.embed(missing)))
        return np.stack([self.vectors[w] for w in words])


WORDS = WordVectors()


def ours(corpus: Corpus, X: np.ndarray, seeds: int, config: BuildConfig, steer: bool = True) -> tuple[list[TopicTree], float]:
    """One build per seed (0, 1, ...): the trees, and the median build time (with ``steer``, word embedding included)."""
    times, trees = [], []
    for seed in range(seeds):
        start = time.perf_counter()
        inputs = BuildInputs(corpus.source, corpus.sha256, {"name": MINILM})
        trees.append(build_tree(corpus, X, replace(config, seed=seed), inputs, embed_words=WORDS if steer else None))
        times.append(time.perf_counter() - start)
    return trees, statistics.median(times)


def median_cells(per_seed: list[dict[str, RefCell]]) -> dict[str, RefCell]:
    """Per reference: median DP/NMI/ARI over the seeds' trees (the level named is seed 0's)."""
    out = {}
    for name in per_seed[0]:
        cells = [cells[name] for cells in per_seed]
        out[name] = RefCell(
            statistics.median(c.dp for c in cells),
            statistics.median(c.nmi for c in cells),
            statistics.median(c.ari for c in cells),
            cells[0].how,
            [round(c.dp, 4) for c in cells],
        )
    return out


def ward_arrays(X: np.ndarray) -> tuple[TreeArrays, np.ndarray, float]:
    from scipy.cluster.hierarchy import linkage

    start = time.perf_counter()
    Z = linkage(np.asarray(X, dtype=np.float64), method="ward")
    seconds = time.perf_counter() - start
    n = X.shape[0]
    parents = np.full(2 * n - 1, -1, dtype=np.int64)
    for j, (a, b) in enumerate(Z[:, :2].astype(np.int64)):
        parents[a] = parents[b] = n + j
    return TreeArrays.from_parents(parents, np.arange(n)), Z, seconds


def kmeans_labels(X: np.ndarray, k: int, runs: int) -> tuple[np.ndarray, float]:
    from sklearn.cluster import KMeans

    times, labels = [], None
    for _ in range(runs):
        start = time.perf_counter()
        labels = KMeans(n_clusters=k, n_init=3, random_state=0).fit_predict(X)
        times.append(time.perf_counter() - start)
    assert labels is not None
    return labels, statistics.median(times)


def flat_arrays(labels: np.ndarray) -> TreeArrays:
    k = int(labels.max()) + 1
    parents = np.array([-1] + [0] * k, dtype=np.int64)
    return TreeArrays.from_parents(parents, labels.astype(np.int64) + 1)


def bertopic_arrays(texts: list[str], X: np.ndarray) -> tuple[TreeArrays, np.ndarray, float, str]:
    """BERTopic with its defaults (UMAP 5-d + HDBSCAN min 10) on our embeddings; its topic hierarchy as a tree.

    Outliers (topic -1) hang from the root as one node, as a user browsing its hierarchy sees them.
    """
    import scipy.cluster.hierarchy as sch
    from bertopic import BERTopic
    from umap import UMAP

    start = time.perf_counter()
    umap_model = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=0)
    model = BERTopic(umap_model=umap_model, embedding_model=None, calculate_probabilities=False, verbose=False)
    topics, _ = model.fit_transform(texts, embeddings=X)
    captured: list[np.ndarray] = []

    def linkage(distances: np.ndarray) -> np.ndarray:
        Z = sch.linkage(distances, "ward", optimal_ordering=True)
        captured.append(Z.copy())
        return Z

    model.hierarchical_topics(texts, linkage_function=linkage)
    seconds = time.perf_counter() - start
    Z = captured[0]
    topics = np.asarray(topics)
    t = int(topics.max()) + 1
    parents = np.full(2 * t, -1, dtype=np.int64)  # topics 0..t-1, merges t..2t-2, outliers 2t-1
    for j, (a, b) in enumerate(Z[:, :2].astype(np.int64)):
        parents[a] = parents[b] = t + j
    parents[2 * t - 1] = 2 * t - 2
    doc_node = np.where(topics >= 0, topics, 2 * t - 1)
    outliers = float((topics < 0).mean())
    return TreeArrays.from_parents(parents, doc_node), topics, seconds, f"{t} topics, {outliers:.0%} outliers"


class CentroidNavigator:
    """Not a label reader: descends by the true node centroids. A ceiling for label navigators on this tree."""

    name = "centroid ceiling"

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self._q: dict[int, np.ndarray] = {}

    def prepare(self, tree: TopicTree, targets: list[Any]) -> None:
        from topicmap.hierarchy.files.cache_dir import default_cache_dir
        from topicmap.hierarchy.tree.embedder import embed_texts

        vectors = embed_texts([t.query for t in targets], self.embedder, tree, default_cache_dir(), "targets")
        self._q = {t.row: v for t, v in zip(targets, vectors)}

    def choose(self, target: Any, parent: Any, candidates: list[Any]) -> Choice:
        q = self._q[target.row]
        return Choice(int(np.argmax([float(c.centroid @ q) / max(float(np.linalg.norm(c.centroid)), 1e-12) for c in candidates])))


def navigation(trees: list[TopicTree], sample: int, samples_per_tree: int, with_llm: bool) -> dict[str, Any]:
    """Each navigator on every seed's tree with ``samples_per_tree`` seeded samples of targets (seeds 0, 1, ...)."""
    from topicmap.hierarchy.inputs.embed import SentenceTransformerEmbedder
    from topicmap.hierarchy.files.cache_dir import default_cache_dir

    embedder = SentenceTransformerEmbedder("minilm")
    out: dict[str, Any] = {}
    for key, make in (
        ("embedding, keyword labels", lambda: EmbeddingNavigator(embedder, default_cache_dir())),
        ("embedding, keyword labels, uncentred", lambda: EmbeddingNavigator(embedder, default_cache_dir(), centre=False)),
        ("centroid ceiling", lambda: CentroidNavigator(embedder)),
    ):
        per_sample = [navigate(tree, make(), sample_targets(tree, sample, seed=s))[0] for tree in trees for s in range(samples_per_tree)]
        out[key] = _cells(per_sample, samples_per_tree)
    if with_llm:
        out.update(llm_labelled_navigation(trees[0], sample_targets(trees[0], sample, seed=0), embedder))
    return out


def llm_labelled_navigation(tree: TopicTree, targets: list[Any], embedder: Any) -> dict[str, Any]:
    """Label the tree with the LLM labeller (when a server is configured) and navigate again."""
    model = os.environ.get("TOPICMAP_BENCH_MODEL")
    if not model or not (os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY")):
        return {}
    import tempfile

    from topicmap.hierarchy.files.cache_dir import default_cache_dir
    from topicmap.hierarchy.tree.treefile import load_tree, save_tree

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tree.json"
        save_tree(tree, path)
        result = subprocess.run([sys.executable, "-m", "hierarchy", "label", str(path), "--model", model], cwd=REPO, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
            return {"embedding, LLM labels": {"error": last.replace("|", "/")}}
        labelled = load_tree(path)
    out: dict[str, Any] = {}
    scores, _ = navigate(labelled, EmbeddingNavigator(embedder, default_cache_dir()), targets)
    out[f"embedding, LLM labels ({model}), tree 0, sample 0 only"] = _cells([scores])
    from topicmap.hierarchy.llm.settings import environment, resolve_settings
    from topicmap.hierarchy.quality.navigate import LabellerChat, LLMNavigator

    settings = resolve_settings({"model": model}, environment())
    few = targets[: int(os.environ.get("TOPICMAP_BENCH_LLM_SAMPLE", "50"))]
    for name, which in (("keyword", tree), ("LLM", labelled)):
        scores, _ = navigate(which, LLMNavigator(LabellerChat(settings.config), model=model), few)
        out[f"LLM navigator ({model}), {name} labels, first {len(few)} targets"] = {**_cells([scores]), "invalid": scores.invalid_answers}
    return out


def _cells(per_sample: list[Any], per_tree: int = 1) -> dict[str, Any]:
    """Means over all (tree, sample) pairs, the median pair, and each tree's mean exact-leaf accuracy.

    ``per_sample`` holds ``per_tree`` consecutive samples for each tree.
    """
    depth = max(len(s.levels) for s in per_sample)
    levels = [statistics.mean(s.levels[d].accuracy for s in per_sample if d < len(s.levels)) for d in range(depth)]
    exact = [s.exact_leaf_accuracy for s in per_sample]
    return {
        "exact_leaf": statistics.mean(exact),
        "exact_leaf_median": statistics.median(exact),
        "node_match": statistics.mean(s.node_match for s in per_sample),
        "levels": levels,
        "exact_leaf_per_tree": [statistics.mean(exact[i : i + per_tree]) for i in range(0, len(exact), per_tree)],
        "exact_leaf_per_sample": exact,
    }


# -- one corpus ------------------------------------------------------------------------------
# Our tree shapes: the default (map, N/40 leaves), the browse and deep presets.
# Keywords are steered by MiniLM (as `topicmap build` does when it embeds the texts); the ablation row keeps the
# plain c-TF-IDF keywords (what a build from precomputed vectors of an unknown model gets).
OUR_SHAPES: list[tuple[str, BuildConfig, bool]] = [
    ("topicmap default tree (preset map, N/40 leaves)", BuildConfig(), True),
    ("topicmap default tree, keywords not steered (c-TF-IDF only)", BuildConfig(), False),
    ("topicmap --preset browse", BuildConfig(preset="browse"), True),
    ("topicmap --preset deep", BuildConfig(preset="deep"), True),
]


def run_corpus(name: str, runs: int, with_bertopic: bool, sample: int, seeds: int = 3, samples_per_tree: int = 5) -> list[MethodRow]:
    docs_file, emb_file, ref_names = CORPORA[name]
    if not docs_file.exists() or not emb_file.exists():
        print(f"[{name}] skipped: {docs_file} not found (bench/prepare_corpus.py makes the local corpora)", file=sys.stderr, flush=True)
        return []
    corpus = read_documents(docs_file)
    X = load_embeddings(emb_file, len(corpus))
    refs = {r: np.array([str(m[r]) for m in corpus.metadata], dtype=object) for r in ref_names}
    rows: list[MethodRow] = []

    for index, (method, config, steer) in enumerate(OUR_SHAPES):
        print(f"[{name}] {method} (seeds 0-{seeds - 1})", file=sys.stderr, flush=True)
        trees, seconds = ours(corpus, X, seeds, config, steer)
        shapes = sorted({f"{len(t.leaves())} leaves, levels " + "/".join(str(len(t.level(d))) for d in range(1, t.depth + 1)) for t in trees})
        cells = median_cells([score(t.arrays, refs) for t in trees])
        row = MethodRow(name, method, "; ".join(shapes), seconds, seeds, cells)
        print(f"[{name}] navigation ({seeds} trees x {samples_per_tree} samples x {sample} targets)", file=sys.stderr, flush=True)
        row.navigation = navigation(trees, sample, samples_per_tree, with_llm=index == 0)
        rows.append(row)

    n = X.shape[0]
    for div in GRANULARITIES[:-1]:  # N/40 is the default tree above
        k = round(n / div)
        print(f"[{name}] granularity N/{div}: --leaves {k} and flat k-means k={k}", file=sys.stderr, flush=True)
        trees, seconds = ours(corpus, X, seeds, BuildConfig(leaves=k), steer=False)  # purity only: keywords do not change it
        shapes = sorted({f"{len(t.leaves())} leaves, levels " + "/".join(str(len(t.level(d))) for d in range(1, t.depth + 1)) for t in trees})
        rows.append(MethodRow(name, f"topicmap --leaves {k} (N/{div})", "; ".join(shapes), seconds, seeds, median_cells([score(t.arrays, refs) for t in trees])))
        labels, seconds = kmeans_labels(X, k, 1)
        rows.append(MethodRow(name, f"flat k-means, k={k} (N/{div})", f"{k} clusters", seconds, 1, {r: flat_scores(flat_arrays(labels), labels, c, f"k={k}") for r, c in refs.items()}))
    k = round(n / GRANULARITIES[-1])
    labels, seconds = kmeans_labels(X, k, 1)
    rows.append(MethodRow(name, f"flat k-means, k={k} (N/{GRANULARITIES[-1]})", f"{k} clusters", seconds, 1, {r: flat_scores(flat_arrays(labels), labels, c, f"k={k}") for r, c in refs.items()}))

    print(f"[{name}] Ward", file=sys.stderr, flush=True)
    from scipy.cluster.hierarchy import fcluster

    arrays, Z, seconds = ward_arrays(X)
    cells = {}
    for r, classes in refs.items():
        k = len(set(classes))
        cells[r] = flat_scores(arrays, fcluster(Z, k, criterion="maxclust"), classes, f"cut at k={k}")
    rows.append(MethodRow(name, "Ward (SciPy linkage, full dendrogram)", f"binary, {X.shape[0]} leaves", seconds, 1, cells))

    for r, classes in refs.items():
        k = len(set(classes))
        print(f"[{name}] k-means k={k}", file=sys.stderr, flush=True)
        labels, seconds = kmeans_labels(X, k, runs)
        cells = {r2: flat_scores(flat_arrays(labels), labels, c2, f"k={k}") for r2, c2 in refs.items()}
        rows.append(MethodRow(name, f"flat k-means, k={k}", f"{k} clusters", seconds, runs, cells))

    if with_bertopic:
        print(f"[{name}] BERTopic (UMAP + HDBSCAN; minutes on 2 cores)", file=sys.stderr, flush=True)
        try:
            arrays, topics, seconds, shape = bertopic_arrays(corpus.embedding_texts(), X)
        except ImportError as exc:
            rows.append(MethodRow(name, "BERTopic hierarchical topics", "-", 0.0, 0, note=f"not installed ({exc}); pip install 'topicmap[bench]'"))
        else:
            cells = score(arrays, refs)
            for r, classes in refs.items():
                flat = flat_scores(arrays, topics, classes, "flat topics (outliers as one)")
                cells[r] = RefCell(cells[r].dp, flat.nmi, flat.ari, flat.how) if flat.nmi >= cells[r].nmi else cells[r]
            rows.append(MethodRow(name, "BERTopic hierarchical topics", shape, seconds, 1, cells, note="outliers hang from the root as one node"))
    return rows


# -- report ----------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    import sklearn
    import scipy

    cpu = cpu_model()
    versions = {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__}
    try:
        import bertopic

        versions["bertopic"] = bertopic.__version__
    except ImportError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "versions": versions, "load_avg": os.getloadavg()}


def markdown(rows: list[MethodRow], info: dict[str, Any], started: str, total: float, sample: int) -> str:
    out = [
        "# Tree quality against reference categories",
        "",
        f"Generated by `python bench/bench_quality.py` on {started} in {total / 60:.1f} min.",
        f"Machine: {info['cpu']}, {info['cores']} cores (shared; load average at start {info['load_avg'][0]:.1f}), {info['platform']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".",
        "",
        "Same MiniLM embeddings for every method. DP = dendrogram purity (whole tree); NMI/ARI from the level or cut named.",
        "Our trees are built once per seed (0, 1, 2): their cells are medians over those builds, each build's DP is listed",
        "under the table, and the shape column lists every distinct shape the seeds gave.",
        "Seconds: median over our builds and the k-means runs, one run for Ward and BERTopic. Our build time includes",
        "keywords, representative documents and the 2-D layout; on a shared 2-core machine timings vary by 2-5x between runs.",
        "",
    ]
    for corpus in dict.fromkeys(r.corpus for r in rows):
        group = [r for r in rows if r.corpus == corpus]
        refs = list(next(r for r in group if r.refs).refs)
        out.append(f"## {corpus}")
        out.append("")
        header = "| method | shape | " + " | ".join(f"DP {r} | NMI {r} | ARI {r}" for r in refs) + " | NMI/ARI from | seconds (runs) |"
        out += [header, "|" + "---|" * (header.count("|") - 1)]
        for row in group:
            if not row.refs:
                out.append(f"| {row.method} | {row.note} |" + " - |" * (3 * len(refs) + 2))
                continue
            cells = " | ".join(f"{row.refs[r].dp:.3f} | {row.refs[r].nmi:.3f} | {row.refs[r].ari:.3f}" for r in refs)
            how = "; ".join(dict.fromkeys(row.refs[r].how for r in refs))
            out.append(f"| {row.method} | {row.shape} | {cells} | {how} | {row.seconds:.1f} ({row.runs}) |")
        notes = [f"{r.method}: {r.note}" for r in group if r.note and r.refs]
        notes += [
            f"{r.method}: DP per seed " + "; ".join(f"{ref} " + " / ".join(f"{v:.3f}" for v in r.refs[ref].dp_per_seed) for ref in refs)
            for r in group
            if r.refs and r.refs[refs[0]].dp_per_seed
        ]
        if notes:
            out += ["", *[f"- {n}" for n in notes]]
        nav_rows = [r for r in group if r.navigation]
        if nav_rows:
            first = next(iter(nav_rows[0].navigation.values()))
            trees_n = len(first.get("exact_leaf_per_tree", [0]))
            per_tree = len(first.get("exact_leaf_per_sample", [0])) // max(trees_n, 1)
            out += [
                "",
                f"Navigation ({trees_n} trees (seeds 0..{trees_n - 1}) x {per_tree} seeded samples of {sample} targets each; each target is its "
                "title + first 300 characters. Exact leaf, node match and per-level accuracy are means over all tree x sample pairs; "
                "the spread between samples of one tree is larger than between trees):",
                "",
                "| tree | navigator | exact leaf (mean) | per tree (mean of its samples) | median pair (min-max) | node match | accuracy per level |",
                "|---|---|---|---|---|---|---|",
            ]
            for row in nav_rows:
                for key, value in row.navigation.items():
                    if "error" in value:
                        out.append(f"| {row.method} | {key} | error: {value['error']} | | | | |")
                        continue
                    if value.get("invalid"):
                        key = f"{key} ({value['invalid']} answers named no candidate: misses)"
                    trees = " / ".join(f"{a:.3f}" for a in value.get("exact_leaf_per_tree", []))
                    pairs = value.get("exact_leaf_per_sample", [])
                    spread = f"{value['exact_leaf_median']:.3f} ({min(pairs):.3f}-{max(pairs):.3f})" if pairs else ""
                    levels = " / ".join(f"{a:.2f}" for a in value["levels"])
                    out.append(f"| {row.method} | {key} | {value['exact_leaf']:.3f} | {trees} | {spread} | {value['node_match']:.3f} | {levels} |")
                if row is nav_rows[0] and not any(k.startswith("embedding, LLM labels") for k in row.navigation):
                    out.append(f"| {row.method} | embedding, LLM labels | no server configured (set OPENAI_BASE_URL or OPENAI_API_KEY and TOPICMAP_BENCH_MODEL) | | | | |")
        out.append("")
    return "\n".join(out)


def merge(parts: list[Path], out: Path) -> None:
    """One report from several runs' JSON (in the order given): their rows, the first run's machine and start, the longest run's time."""
    loaded = [json.loads(p.read_text(encoding="utf-8")) for p in parts]
    rows = []
    for part in loaded:
        for data in part["rows"]:
            refs = {name: RefCell(**cell) for name, cell in data.pop("refs").items()}
            rows.append(MethodRow(**data, refs=refs))
    total = max(part.get("seconds", 0.0) for part in loaded)
    sample = loaded[0].get("sample", 200)
    text = markdown(rows, loaded[0]["machine"], loaded[0]["started"], total, sample)
    text = text.replace(" in ", f" ({len(parts)} corpora run as parallel processes, the longest) in ", 1) if len(parts) > 1 else text
    out.write_text(text + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({"started": loaded[0]["started"], "machine": loaded[0]["machine"], "seconds": total, "sample": sample, "rows": [asdict(r) for r in rows]}, indent=1), encoding="utf-8")
    print(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=[*CORPORA, "all"], default="all")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of k-means (median reported)")
    parser.add_argument("--sample", type=int, default=200, help="navigation targets per sample")
    parser.add_argument("--seeds", type=int, default=3, help="our trees are built with seeds 0..N-1 (medians of DP/NMI/ARI reported)")
    parser.add_argument("--samples-per-tree", type=int, default=5, help="seeded navigation samples per tree (means reported)")
    parser.add_argument("--no-bertopic", action="store_true", help="skip BERTopic (its UMAP takes minutes)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "quality.md")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON", help="only write one report from the .json files of runs made with --corpus NAME --out (e.g. corpora run as parallel processes)")
    args = parser.parse_args(argv)
    if args.merge:
        merge(args.merge, args.out)
        return
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    t0 = time.perf_counter()
    rows: list[MethodRow] = []
    for name in CORPORA if args.corpus == "all" else [args.corpus]:
        rows += run_corpus(name, args.runs, not args.no_bertopic, args.sample, args.seeds, args.samples_per_tree)
    total = time.perf_counter() - t0
    text = markdown(rows, info, started, total, args.sample)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps({"started": started, "machine": info, "seconds": total, "sample": args.sample, "rows": [asdict(r) for r in rows]}, indent=1), encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
