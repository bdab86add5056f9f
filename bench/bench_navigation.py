"""Navigation table (issue 10): can the embedding navigator find a document by the default tree's keyword labels?

One command (from the repo root)::

    python bench/bench_navigation.py                          # 20news, bbc, wikivital; seeds 0-2; 1,000 targets
    python bench/bench_navigation.py --corpus 20news --seeds 1 --sample 200
    python bench/bench_navigation.py --corpus bbc --variants default,leaf --holdout   # also fitted on half, targets from the other

For every corpus and seed the default tree (preset map, N/40 leaves) is built once per keyword variant from the same
vectors, with the same clustering (checked): the default with a word embedder (``build_tree(embed_words=MiniLM)``,
what ``topicmap build`` does when it embeds the texts itself: steered keywords, then every node's list chosen per
sibling group by :mod:`topicmap.hierarchy.builder.routed_keywords`); steered keywords with each leaf's list cut to
its fitted length (:mod:`topicmap.hierarchy.builder.leaf_keywords`, the default before); whole steered lists (no fit);
and plain c-TF-IDF keywords (what a build from precomputed vectors gets). All are navigated by
:class:`topicmap.hierarchy.quality.navigate.EmbeddingNavigator` (the instrument, unchanged: centred cosine between the MiniLM embedding of ``navigate.node_text`` and of ``navigate.target_query``) with the same targets
(``sample_targets(tree, sample, seed=0)``), and the default tree also by the centroid ceiling (a navigator that reads
the true node centroids instead of labels; ``bench_quality.CentroidNavigator``). Reported per tree: exact-leaf
accuracy, node match, accuracy per level; per corpus: medians over the seeds. Clustering, and so purity, is the same
in every variant (``bench/bench_quality.py`` scores purity).

The fits read the sampled documents' vectors, and the standard targets are among those documents, so a fit can
learn its targets. ``--holdout`` also builds every variant with its fit reading only a seeded random half of the rows
(``pipeline._fit_rows`` narrowed) and navigates to ``sample`` targets from the other half: the number to trust.

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
from topicmap.hierarchy.quality.navigate import EmbeddingNavigator, NavigationScores, Target, navigate, sample_targets, target_query  # noqa: E402
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
    fit_seconds: float  # of build_seconds, the text fit (pipeline._texts_fitted, its text embedding included)
    leaf_keywords: str = ""  # how many leaves keep 8 / 12 / 20 / 30 keywords
    targets: str = "all rows"  # or "held-out half": targets from the half of the rows the fit did not read (--holdout)


def shape_of(tree: TopicTree) -> str:
    return f"{len(tree.leaves())} leaves, " + "/".join(str(len(tree.level(d))) for d in range(1, tree.depth + 1))


def row(corpus: str, seed: int, tree: TopicTree, keywords: str, scores: NavigationScores, seconds: float, fit_seconds: float, targets: str = "all rows") -> NavRow:
    counts = [len(n.keywords) for n in tree.leaves()]
    spread = " / ".join(str(counts.count(k)) for k in (8, 12, 20, 30))
    return NavRow(corpus, seed, shape_of(tree), keywords, scores.exact_leaf_accuracy, scores.node_match,
                  [lv.accuracy for lv in scores.levels], round(seconds, 1), round(fit_seconds, 1), spread, targets)


def fit_half(n: int, seed: int) -> np.ndarray:
    """The rows a --holdout build may fit its texts on: a seeded random half (targets come from the other half)."""
    return np.sort(np.random.default_rng([7, seed]).permutation(n)[: n // 2])


def held_out_targets(tree: TopicTree, fitted_rows: np.ndarray, size: int) -> list[Target]:
    """``size`` targets (seeded, row order) among the rows outside ``fitted_rows``, made as ``sample_targets`` makes them."""
    outside = np.setdiff1d(np.arange(tree.n_documents), fitted_rows)
    rows = np.sort(np.random.default_rng(0).choice(outside, size=min(size, outside.size), replace=False))
    return [Target(r, doc.id, target_query(doc.title, doc.text), tuple(tree.document_path(r)[1:])) for r, doc in zip(rows.tolist(), tree.store.rows(rows))]


def unfitted_leaf_counts(fit: Any) -> Any:
    """Stands in for ``pipeline._texts_fitted`` in the "steered, whole lists" build: the steered lists as they are."""
    return fit.keywords


def build(corpus: Any, X: np.ndarray, config: BuildConfig, inputs: BuildInputs, variant: str, fit_rows: np.ndarray | None = None) -> tuple[TopicTree, float, float]:
    """The tree, the build's seconds, and the seconds the text fit took (its text embedding included).

    With ``fit_rows`` the fit reads only those rows' vectors (``pipeline._fit_rows`` narrowed)."""
    import topicmap.hierarchy.builder.pipeline as pipeline

    fitted, narrow = pipeline._texts_fitted, pipeline._fit_rows
    chosen = pipeline._node_keywords_routed if variant == ROUTED else pipeline._leaf_counts_fitted
    spent = [0.0]

    def timed(fit: Any) -> Any:
        start = time.perf_counter()
        try:
            return chosen(fit)
        finally:
            spent[0] += time.perf_counter() - start

    pipeline._texts_fitted = unfitted_leaf_counts if variant == "steered, whole lists" else timed
    if fit_rows is not None:
        pipeline._fit_rows = lambda rows: rows[np.isin(rows, fit_rows)]
    try:
        start = time.perf_counter()
        tree = build_tree(corpus, X, config, inputs, embed_words=None if variant == "plain" else WORDS)
        return tree, time.perf_counter() - start, spent[0]
    finally:
        pipeline._texts_fitted, pipeline._fit_rows = fitted, narrow


ROUTED = "default (steered, then routed: every node's words chosen per sibling group)"
LEAF_FIT = "steered, leaf counts fitted (the default before)"
VARIANTS = (ROUTED, LEAF_FIT, "steered, whole lists", "plain")
SHORT = {"default": ROUTED, "leaf": LEAF_FIT, "whole": VARIANTS[2], "plain": VARIANTS[3]}


def run_corpus(name: str, seeds: int, sample: int, variants: tuple[str, ...] = VARIANTS, holdout: bool = False, first_seed: int = 0) -> list[NavRow]:
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
    for seed in range(first_seed, first_seed + seeds):
        config = replace(BuildConfig(), seed=seed, layout=LAYOUT)
        trees: dict[str, tuple[TopicTree, float, float]] = {}
        for variant in variants:
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
        print(f"[{name}] seed {seed}: " + ", ".join(f"{r.keywords} {r.exact:.3f}" for r in rows[-len(variants) - 1:]), file=sys.stderr, flush=True)
        if holdout:
            half = fit_half(X.shape[0], seed)
            unseen = held_out_targets(first, half, sample)
            for variant in variants:
                print(f"[{name}] seed {seed}: build fitted on half the rows, {variant}", file=sys.stderr, flush=True)
                tree, seconds, fit_seconds = build(corpus, X, config, inputs, variant, half)
                if tree_signature(tree) != tree_signature(first):
                    raise SystemExit(f"[{name}] seed {seed}: the held-out build clustered differently")
                scores, _ = navigate(tree, EmbeddingNavigator(embedder, cache), unseen)
                rows.append(row(name, seed, tree, variant, scores, seconds, fit_seconds, "held-out half"))
            scores, _ = navigate(first, CentroidNavigator(embedder), unseen)
            rows.append(row(name, seed, first, "centroid ceiling", scores, 0.0, 0.0, "held-out half"))
            print(f"[{name}] seed {seed}, held-out targets: " + ", ".join(f"{r.keywords} {r.exact:.3f}" for r in rows[-len(variants) - 1:]), file=sys.stderr, flush=True)
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
        "Default tree (preset map, N/40 leaves) per seed, built once per keyword variant with the same clustering (checked): the",
        "default with MiniLM as word embedder (steered keywords, then every node's list chosen per sibling group:",
        "`hierarchy/builder/routed_keywords.py`), whole steered lists, and plain c-TF-IDF keywords (no word embedder); with `--variants",
        "leaf`, also steered keywords with leaf lists cut to their fitted length (`hierarchy/builder/leaf_keywords.py`, the default before). Targets from the held-out half:",
        "the same variants built with their fit reading only a seeded random half of the rows, targets from the other half (`--holdout`).",
        f"Each is navigated by the embedding navigator (`navigate.EmbeddingNavigator`, unchanged) with the same {sample} targets",
        f"per tree (`sample_targets(tree, {sample}, seed=0)`: title + first 300 characters). The centroid ceiling reads the",
        "true node centroids instead of labels: what labels could reach on this tree shape. Build seconds: the whole build",
        f"(layout `{LAYOUT}`: no navigator reads the map), word and leaf-text embedding included; MiniLM vectors of words and",
        "texts are cached in memory across the run's builds, so a later build embeds only what is new to it.",
        "",
        "| corpus | seed | shape | keywords | targets | exact leaf | node match | accuracy per level | leaves with 8 / 12 / 20 / 30 keywords | build s | of it, text fit s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(f"| {r.corpus} | {r.seed} | {r.shape} | {r.keywords} | {r.targets} | {r.exact:.3f} | {r.node_match:.3f} | "
                   f"{' / '.join(f'{a:.2f}' for a in r.levels)} | {r.leaf_keywords} | {r.build_seconds:.1f} | {r.fit_seconds:.1f} |")
    out += ["", "Medians over the seeds (exact leaf; node match; accuracy per level, per depth):", ""]
    for corpus, targets in dict.fromkeys((r.corpus, r.targets) for r in rows):
        cells = []
        for keywords in dict.fromkeys(r.keywords for r in rows if r.corpus == corpus and r.targets == targets):
            group = [r for r in rows if r.corpus == corpus and r.keywords == keywords and r.targets == targets]
            depth = min(len(r.levels) for r in group)
            levels = " / ".join(f"{statistics.median(r.levels[d] for r in group):.2f}" for d in range(depth))
            cells.append(f"{keywords} {statistics.median(r.exact for r in group):.3f}; "
                         f"{statistics.median(r.node_match for r in group):.3f}; {levels} ({len(group)} seeds)")
        out.append(f"- {corpus}, targets from {targets}: " + " | ".join(cells))
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA), help="corpus to run (repeatable; default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="trees per corpus, built with seeds 0, 1, ... (default 3)")
    parser.add_argument("--sample", type=int, default=1000, help="navigation targets per tree (default 1000)")
    parser.add_argument("--variants", default=",".join(SHORT), help=f"keyword variants, comma-separated, of {', '.join(SHORT)} (default: all)")
    parser.add_argument("--holdout", action="store_true", help="also build each variant fitted on a random half of the rows and navigate to targets from the other half")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first tree (default 0)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "navigation.md", help="results table (a .json beside it)")
    args = parser.parse_args(argv)
    from topicmap.hierarchy.files.safe_write import write_text_atomic

    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
    begin = time.perf_counter()
    rows: list[NavRow] = []
    for name in args.corpus or list(CORPORA):
        rows += run_corpus(name, args.seeds, args.sample, tuple(SHORT[v.strip()] for v in args.variants.split(",")), args.holdout, args.first_seed)
        info = machine()  # written after every corpus, so an interrupted run keeps what it measured
        total = time.perf_counter() - begin
        write_text_atomic(args.out, markdown(rows, info, started, total, args.sample))
        write_text_atomic(args.out.with_suffix(".json"), json.dumps({"machine": info, "started": started, "rows": [asdict(r) for r in rows]}, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
