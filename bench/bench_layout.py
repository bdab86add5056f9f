"""Benchmark of the document map's layouts: ``python bench/bench_layout.py``.

Measures (medians of several runs; writes ``bench/results/layout.md``):
  * time of the layout step alone (``topicmap.hierarchy.builder.map_layout.document_layout``, no cache) for UMAP (the default
    below the threshold), the anchored nested discs and PCA, on synthetic 384-d nested clusters of
    10k to 1M documents (``topicmap.hierarchy.builder.synthetic``; the reduced vectors and the tree come from the
    default map preset, fitted once per size and not timed). Each size runs in its own process, with
    numba's on-disk cache of UMAP's kernels warm (the first process on a machine compiles them: also reported);
  * trustworthiness (``sklearn.manifold.trustworthiness``, 10 neighbours, cosine) of each layout
    against the document embeddings, on real corpora in ``../shared/data`` (BBC, 20 Newsgroups, the 56
    paper abstracts) and the Wikipedia vital articles when ``bench/data/wikivital`` exists
    (``bench/prepare_corpus.py``); computed on a seeded sample of at most 3,000 documents, median over seeds;
  * how the number of documents UMAP is fitted on (``--fit-rows``) trades time for trustworthiness.
Targets: 100k documents <= 90 s for the default layout; BBC's default map trustworthiness >= 0.94.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.machine import cpu_model, memory_gib  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "results" / "layout.md"
TIME_TARGET_S = 90.0
TRUST_SAMPLE = 3000
LAYOUTS = ("umap", "anchored", "pca")


def corpora(wikivital: Path | None) -> dict[str, Path]:
    """Name -> embeddings .npy of every corpus there is."""
    found = {
        "BBC News": SHARED / "bbc" / "bbc.minilm.npy",
        "20 Newsgroups": SHARED / "20news" / "train.minilm.npy",
        "paper abstracts": SHARED / "seed_papers" / "papers.minilm.npy",
    }
    wiki = (wikivital or ROOT / "bench" / "data" / "wikivital") / "wikivital.minilm.npy"
    if wiki.is_file():
        found["Wikipedia vital articles"] = wiki
    return {name: path for name, path in found.items() if path.is_file()}


def fitted_tree(X: np.ndarray, seed: int) -> dict[str, Any]:
    """The default map preset's reduced vectors and tree shape: what build_tree hands to the layout."""
    from topicmap.hierarchy.builder.pipeline import BuildConfig, make_clusterer, resolve_preset

    config = BuildConfig(seed=seed, min_leaf_size=5 if len(X) < 200 else 10)
    model = make_clusterer(resolve_preset(config, len(X))).fit(X)
    shape = model.tree_
    return {
        "reduced": model.reduced_, "doc_leaf": shape.doc_leaf, "parents": shape.parent_indices(),
        "centres": shape.centres, "sizes": shape.sizes.astype(np.float64),
    }


LAST_CPU_S: list[float] = [0.0]  # CPU seconds (all threads of this process) of the last layout_of call


def layout_of(fit: dict[str, Any], method: str, seed: int, fit_rows: int | None = None) -> tuple[np.ndarray, float]:
    from topicmap.hierarchy.builder import semantic_map
    from topicmap.hierarchy.builder.map_layout import document_layout

    started, cpu = time.perf_counter(), time.process_time()
    if fit_rows is not None:
        unit = fit["reduced"] / np.linalg.norm(fit["reduced"], axis=1, keepdims=True)
        coords = semantic_map.umap_coordinates(unit, seed=seed, fit_rows=fit_rows)
    else:
        coords = document_layout(fit["reduced"], fit["doc_leaf"], fit["parents"], fit["centres"], fit["sizes"], method=method, seed=seed)
    LAST_CPU_S[0] = time.process_time() - cpu
    return coords, time.perf_counter() - started


def trust(X: np.ndarray, coords: np.ndarray, seed: int) -> float:
    from sklearn.manifold import trustworthiness

    rows = np.arange(len(X)) if len(X) <= TRUST_SAMPLE else np.random.default_rng(seed).choice(len(X), TRUST_SAMPLE, replace=False)
    return float(trustworthiness(X[rows], coords[rows], n_neighbors=10, metric="cosine"))


# -- child processes ----------------------------------------------------------------------------------
def child_quality(path: str, seeds: list[int], fit_rows: list[int]) -> dict[str, Any]:
    X = np.load(path).astype(np.float32)
    out: dict[str, Any] = {"n": len(X), "trust": {}, "seconds": {}, "sweep": {}}
    for seed in seeds:
        fit = fitted_tree(X, seed)
        for method in LAYOUTS:
            coords, seconds = layout_of(fit, method, seed)
            out["trust"].setdefault(method, []).append(trust(X, coords, seed))
            out["seconds"].setdefault(method, []).append(seconds)
        for rows in fit_rows if len(X) > min(fit_rows or [0]) else []:
            coords, seconds = layout_of(fit, "umap", seed, fit_rows=rows)
            out["sweep"].setdefault(str(rows), []).append([trust(X, coords, seed), seconds])
    return out


def child_scale(n: int, runs: int) -> dict[str, Any]:
    from topicmap.hierarchy.builder.synthetic import make_hierarchical_embeddings

    data = make_hierarchical_embeddings(n, branching=(6, 4, 4), random_state=0)
    fit = fitted_tree(data.X, 0)
    out: dict[str, Any] = {"n": n, "seconds": {}}
    for method in LAYOUTS:
        for run in range(runs):
            _, seconds = layout_of(fit, method, run)
            out["seconds"].setdefault(method, []).append(seconds)
            out.setdefault("cpu", {}).setdefault(method, []).append(LAST_CPU_S[0])
    out["rss_mb"] = _peak_rss_mb()
    return out


def child_jit() -> dict[str, Any]:
    """The first UMAP fit of a fresh process (import + numba kernels, from the disk cache when warm)."""
    started = time.perf_counter()
    from topicmap.hierarchy.builder.semantic_map import umap_coordinates

    X = np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    umap_coordinates(X)
    return {"first_fit_s": time.perf_counter() - started}


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_child(args: list[str]) -> dict[str, Any]:
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- report ------------------------------------------------------------------------------------------
def machine_lines() -> list[str]:
    gib = memory_gib()
    return [
        "## Machine",
        "",
        f"- platform: {platform.platform()}",
        f"- cpu: {cpu_model()} ({os.cpu_count()} logical cores)",
        f"- memory: {'?' if gib is None else f'{gib:.1f} GiB'}",
        f"- python: {platform.python_version()}",
        f"- load average at start (1/5/15 min): {' / '.join(f'{v:.2f}' for v in os.getloadavg())}",
        "",
    ]


def _med(values: list[float]) -> float:
    return float(statistics.median(values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,300000,1000000", help="synthetic corpus sizes to time")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per size and layout (median reported)")
    parser.add_argument("--seeds", default="0,1,2", help="seeds for the trustworthiness runs (median reported)")
    parser.add_argument("--fit-rows", default="2000,5000,10000", help="UMAP fit sizes to compare (corpora larger than the smallest)")
    parser.add_argument("--wikivital", type=Path, default=None, help="folder with wikivital.minilm.npy [default: bench/data/wikivital]")
    parser.add_argument("--only", choices=("quality", "scale"), default=None, help="run one part only")
    parser.add_argument("--jit-runs", type=int, default=3, help="fresh processes timing the first UMAP fit (0: skip)")
    parser.add_argument("--corpus", action="append", default=None, help="score only this corpus (repeatable; names as in the table)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "quality":
            result = child_quality(rest[0], [int(s) for s in rest[1].split(",")], [int(r) for r in rest[2].split(",") if r])
        elif kind == "scale":
            result = child_scale(int(rest[0]), int(rest[1]))
        else:
            result = child_jit()
        print(json.dumps(result))
        return 0

    from topicmap.hierarchy.builder.choices import AUTO_UMAP_MAX_DOCS
    from topicmap.hierarchy.builder.semantic_map import FIT_ROWS, N_NEIGHBORS

    lines = ["# Document map layouts", "", f"Command: `python bench/bench_layout.py {' '.join(argv if argv is not None else sys.argv[1:])}` "
             f"(written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", ""]
    lines += machine_lines()
    jit = [run_child(["jit"])["first_fit_s"] for _ in range(args.jit_runs)]
    print(f"first UMAP fit in a fresh process: {jit}", file=sys.stderr)

    quality: dict[str, dict[str, Any]] = {}
    for name, path in corpora(args.wikivital).items() if args.only != "scale" else []:
        if args.corpus and name not in args.corpus:
            continue
        quality[name] = run_child(["quality", str(path), args.seeds, args.fit_rows])
        print(name, {m: round(_med(v), 3) for m, v in quality[name]["trust"].items()}, file=sys.stderr)
    scale = []
    for n in [int(s) for s in args.sizes.split(",") if s] if args.only != "quality" else []:
        scale.append(run_child(["scale", str(n), str(max(args.runs, 1))]))
        print(n, {m: round(_med(v), 1) for m, v in scale[-1]["seconds"].items()}, file=sys.stderr)

    seeds = len(args.seeds.split(","))
    lines += [] if not quality else [
        f"## Trustworthiness against the embeddings (10 neighbours, cosine; median of {seeds} seeds)",
        "",
        f"Each seed builds the default map preset's tree; the layouts are computed from the same reduced vectors "
        f"and tree. Scored on a seeded sample of at most {TRUST_SAMPLE:,} documents. `umap` is the default "
        f"(`--layout auto`) from 45 to {AUTO_UMAP_MAX_DOCS:,} documents: fitted on at most {FIT_ROWS:,} documents "
        f"with {N_NEIGHBORS} exact cosine neighbours, the rest placed by their nearest fitted documents.",
        "",
        "| corpus | documents | umap (default) | anchored | pca | umap s | anchored s | pca s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, q in quality.items():
        t, s = q["trust"], q["seconds"]
        lines.append(f"| {name} | {q['n']:,} | {_med(t['umap']):.3f} | {_med(t['anchored']):.3f} | {_med(t['pca']):.3f} "
                     f"| {_med(s['umap']):.1f} | {_med(s['anchored']):.2f} | {_med(s['pca']):.2f} |")
    sweep_rows = [(name, q) for name, q in quality.items() if q["sweep"]]
    if sweep_rows:
        lines += ["", "### How many documents to fit UMAP on", "",
                  "Trustworthiness and seconds of the UMAP layout by fit size (median over seeds); documents beyond the fit "
                  "are placed by their neighbours.", "",
                  "| corpus | fit rows | trustworthiness | seconds |", "|---|---:|---:|---:|"]
        for name, q in sweep_rows:
            for rows, values in q["sweep"].items():
                lines.append(f"| {name} | {int(rows):,} | {_med([v[0] for v in values]):.3f} | {_med([v[1] for v in values]):.1f} |")
    lines += [] if not scale else [
        "",
        f"## Time of the layout step (synthetic 384-d nested clusters; median of {args.runs} runs, target <= {TIME_TARGET_S:.0f} s at 100k)",
        "",
        "Wall-clock seconds, and in brackets the CPU seconds of the process (all its threads): on a machine shared "
        "with other work the wall clock also counts the wait for a core.",
        "",
        "| documents | umap s | anchored s | pca s | umap within target | peak RSS MB |",
        "|---:|---:|---:|---:|---|---:|",
    ]
    for row in scale:
        s, c = row["seconds"], row.get("cpu", {})
        cell = lambda m: f"{_med(s[m]):.1f}" + (f" ({_med(c[m]):.1f} CPU)" if m in c else "")  # noqa: E731
        lines.append(f"| {row['n']:,} | {cell('umap')} | {cell('anchored')} | {cell('pca')} | "
                     f"{'yes' if _med(s['umap']) <= TIME_TARGET_S else 'NO'} | {row['rss_mb']:.0f} |")
    lines += [] if not jit else ["", f"First UMAP fit in a fresh process (import of umap-learn and numba, kernels loaded from numba's disk cache): "
              f"median {_med(jit):.1f} s (runs: {', '.join(f'{j:.1f}' for j in jit)}). The first process on a machine also "
              "compiles them once (about 20-40 s on this machine)."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
