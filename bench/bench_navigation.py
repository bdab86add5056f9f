"""Navigation table (issue 10): can the embedding navigator find a document by the default tree's keyword labels?

One command (from the repo root)::

    python bench/bench_navigation.py                          # 20news, bbc, wikivital; seeds 0-2; 1,000 targets
    python bench/bench_navigation.py --corpus 20news --seeds 1 --sample 200

For every corpus and seed the default tree (preset map, N/40 leaves) is built three times from the same vectors, with
the same clustering (checked): the default with a word embedder (``build_tree(embed_words=MiniLM)``, what ``topicmap
build`` does when it embeds the texts itself: steered keywords, each leaf's list cut to its fitted length by
:mod:`topicmap.hierarchy.builder.leaf_keywords`); the same with whole steered lists (the fit swapped out, the default before it); and
plain c-TF-IDF keywords (what a build from precomputed vectors gets). All are navigated by
:class:`topicmap.hierarchy.quality.navigate.EmbeddingNavigator` (the instrument, unchanged: centred cosine between the MiniLM embedding of ``navigate.node_text`` and of ``navigate.target_query``) with the same targets
(``sample_targets(tree, sample, seed=0)``), and the default tree also by the centroid ceiling (a navigator that reads
the true node centroids instead of labels; ``bench_quality.CentroidNavigator``). Reported per tree: exact-leaf
accuracy, node match, accuracy per level; per corpus: medians over the seeds. Clustering, and so purity, is the same
in every variant (``bench/bench_quality.py`` scores purity).

Corpora as in ``bench/bench_quality.py``: 20 Newsgroups and BBC from ``../shared/data``, the Wikipedia vital articles
from ``bench/data`` (``python bench/prepare_corpus.py``; skipped when absent). Embeddings of node texts and targets go
through the project's embedding cache (``~/.cache/topicmap``), so a rerun embeds only what changed.
Writes ``bench/results/navigation.md`` and ``navigation.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_quality import CORPORA, MINILM, WORDS, CentroidNavigator, machine  # noqa: E402

from topicmap.hierarchy.inputs.documents import load_embeddings, read_documents  # noqa: E402
from topicmap.hierarchy.quality.navigate import EmbeddingNavigator, NavigationScores, navigate, sample_targets  # noqa: E402
from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs, build_tree  # noqa: E402
from topicmap.hierarchy.tree.topic_tree import TopicTree  # noqa: E402


LAYOUT = "pca"  # the document map is not read by any navigator; the cheapest layout keeps the builds short


@dataclass
class NavRow:
    corpus: str
    seed: int
    shape: str
    keywords: str  # one of VARIANTS, or "centroid ceiling" (reads no labels)
    exact: float
    node_match: float
    levels: list[float]
    build_seconds: float
    fit_seconds: float  # of build_seconds, the leaf fit (pipeline._leaf_counts_fitted, its text embedding included)
    leaf_keywords: str = ""  # how many leaves keep 8 / 12 / 20 / 30 keywords


def shape_of(tree: TopicTree) -> str:
    return f"{len(tree.leaves())} leaves, " + "/".join(str(len(tree.level(d))) for d in range(1, tree.depth + 1))


def row(corpus: str, seed: int, tree: TopicTree, keywords: str, scores: NavigationScores, seconds: float, fit_seconds: float) -> NavRow:
    counts = [len(n.keywords) for n in tree.leaves()]
    spread = " / ".join(str(counts.count(k)) for k in (8, 12, 20, 30))
    return NavRow(corpus, seed, shape_of(tree), keywords, scores.exact_leaf_accuracy, scores.node_match,
                  [lv.accuracy for lv in scores.levels], round(seconds, 1), round(fit_seconds, 1), spread)


def unfitted_leaf_counts(keywords: Any, *args: Any) -> Any:
    """Stands in for ``pipeline._leaf_counts_fitted`` in the "steered, whole lists" build: the steered lists as they are."""
    return keywords


def build(corpus: Any, X: np.ndarray, config: BuildConfig, inputs: BuildInputs, variant: str) -> tuple[TopicTree, float, float]:
    """The tree, the build's seconds, and the seconds the leaf fit took (its text embedding included)."""
    import topicmap.hierarchy.builder.pipeline as pipeline

    fitted = pipeline._leaf_counts_fitted
    spent = [0.0]

    def timed(*args: Any) -> Any:
        start = time.perf_counter()
        try:
            return fitted(*args)
        finally:
            spent[0] += time.perf_counter() - start

    pipeline._leaf_counts_fitted = unfitted_leaf_counts if variant == "steered, whole lists" else timed
    try:
        start = time.perf_counter()
        tree = build_tree(corpus, X, config, inputs, embed_words=None if variant == "plain" else WORDS)
        return tree, time.perf_counter() - start, spent[0]
    finally:
        pipeline._leaf_counts_fitted = fitted


VARIANTS = ("default (steered, leaf counts fitted)", "steered, whole lists", "plain")


def run_corpus(name: str, seeds: int, sample: int) -> list[NavRow]:
    from topicmap.hierarchy.inputs.embed import SentenceTransformerEmbedder
    from topicmap.hierarchy.files.cache_dir import default_cache_dir

    docs_file, emb_file, _ = CORPORA[name]
    if not docs_file.exists() or not emb_file.exists():
        print(f"[{name}] skipped: {docs_file} not found (bench/prepare_corpus.py makes the local corpora)", file=sys.stderr, flush=True)
        return []
    corpus = read_documents(docs_file)
    X = load_embeddings(emb_file, len(corpus))
    embedder = SentenceTransformerEmbedder("minilm")
    cache = default_cache_dir()
    inputs = BuildInputs(corpus.source, corpus.sha256, {"name": MINILM})
    rows: list[NavRow] = []
    for seed in range(seeds):
        config = replace(BuildConfig(), seed=seed, layout=LAYOUT)
        trees: dict[str, tuple[TopicTree, float, float]] = {}
        for variant in VARIANTS:
            print(f"[{name}] seed {seed}: build, {variant}", file=sys.stderr, flush=True)
            trees[variant] = build(corpus, X, config, inputs, variant)
        first = trees[VARIANTS[0]][0]
        if any(tree_signature(tree) != tree_signature(first) for tree, _, _ in trees.values()):
            raise SystemExit(f"[{name}] seed {seed}: the builds clustered differently; the comparison needs the same tree")
        targets = sample_targets(first, sample, seed=0)
        for variant, (tree, seconds, fit_seconds) in trees.items():
            print(f"[{name}] seed {seed}: navigate {len(targets)} targets, {variant}", file=sys.stderr, flush=True)
            scores, _ = navigate(tree, EmbeddingNavigator(embedder, cache), targets)
            rows.append(row(name, seed, tree, variant, scores, seconds, fit_seconds))
        scores, _ = navigate(first, CentroidNavigator(embedder), targets)
        rows.append(row(name, seed, first, "centroid ceiling", scores, 0.0, 0.0))
        print(f"[{name}] seed {seed}: " + ", ".join(f"{r.keywords} {r.exact:.3f}" for r in rows[-4:]), file=sys.stderr, flush=True)
    return rows


def tree_signature(tree: TopicTree) -> list[str]:
    return [d.leaf for d in tree.documents]


def markdown(rows: list[NavRow], info: dict[str, Any], started: str, seconds: float, sample: int) -> str:
    out = [
        "# Navigation of the default tree (issue 10)",
        "",
        f"Run {started} UTC, {seconds / 60:.0f} min in all, `python bench/bench_navigation.py`. Machine: {info['cpu']}, "
        f"{info['cores']} cores, load average at the end {' / '.join(f'{x:.1f}' for x in info['load_avg'])} (shared machine); "
        f"Python {info['versions']['python']}, numpy {info['versions']['numpy']}.",
        "",
        "Default tree (preset map, N/40 leaves) per seed, built three ways with the same clustering (checked): the default",
        "with MiniLM as word embedder (steered keywords, each leaf's list cut to its fitted length: `hierarchy/builder/leaf_keywords.py`),",
        "the same with whole steered lists (the default before the fit), and plain c-TF-IDF keywords (no word embedder).",
        f"Each is navigated by the embedding navigator (`navigate.EmbeddingNavigator`, unchanged) with the same {sample} targets",
        f"per tree (`sample_targets(tree, {sample}, seed=0)`: title + first 300 characters). The centroid ceiling reads the",
        "true node centroids instead of labels: what labels could reach on this tree shape. Build seconds: the whole build",
        f"(layout `{LAYOUT}`: no navigator reads the map), word and leaf-text embedding included; MiniLM vectors of words and",
        "texts are cached in memory across the run's builds, so a later build embeds only what is new to it.",
        "",
        "| corpus | seed | shape | keywords | exact leaf | node match | accuracy per level | leaves with 8 / 12 / 20 / 30 keywords | build s | of it, leaf fit s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(f"| {r.corpus} | {r.seed} | {r.shape} | {r.keywords} | {r.exact:.3f} | {r.node_match:.3f} | "
                   f"{' / '.join(f'{a:.2f}' for a in r.levels)} | {r.leaf_keywords} | {r.build_seconds:.1f} | {r.fit_seconds:.1f} |")
    out += ["", "Medians over the seeds (exact leaf; node match; accuracy per level, per depth):", ""]
    for corpus in dict.fromkeys(r.corpus for r in rows):
        cells = []
        for keywords in dict.fromkeys(r.keywords for r in rows if r.corpus == corpus):
            group = [r for r in rows if r.corpus == corpus and r.keywords == keywords]
            depth = min(len(r.levels) for r in group)
            levels = " / ".join(f"{statistics.median(r.levels[d] for r in group):.2f}" for d in range(depth))
            cells.append(f"{keywords} {statistics.median(r.exact for r in group):.3f}; "
                         f"{statistics.median(r.node_match for r in group):.3f}; {levels} ({len(group)} seeds)")
        out.append(f"- {corpus}: " + " | ".join(cells))
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA), help="corpus to run (repeatable; default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="trees per corpus, built with seeds 0, 1, ... (default 3)")
    parser.add_argument("--sample", type=int, default=1000, help="navigation targets per tree (default 1000)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "navigation.md", help="results table (a .json beside it)")
    args = parser.parse_args(argv)
    from topicmap.hierarchy.files.safe_write import write_text_atomic

    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
    begin = time.perf_counter()
    rows: list[NavRow] = []
    for name in args.corpus or list(CORPORA):
        rows += run_corpus(name, args.seeds, args.sample)
        info = machine()  # written after every corpus, so an interrupted run keeps what it measured
        total = time.perf_counter() - begin
        write_text_atomic(args.out, markdown(rows, info, started, total, args.sample))
        write_text_atomic(args.out.with_suffix(".json"), json.dumps({"machine": info, "started": started, "rows": [asdict(r) for r in rows]}, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
