"""Core benchmark of issue 2: speed and memory at scale, quality against reference categories.

    python bench/bench_core.py            # full: 10k/100k/1M rows x 3 runs, 20news and bbc quality
    python bench/bench_core.py --quick    # 10k/100k x 1 run, quality with one seed (a smoke run)

Writes ``bench/results/core.md``. Every scale run is a fresh subprocess so its peak RSS
(``ru_maxrss``) is its own; it generates its synthetic data (384-d, nested clusters with known
labels), then times the clusterer and, when ``topicmap.hierarchy.builder.pipeline`` is present, the full
``build_tree`` (keywords, representatives, layout) on synthetic texts. Quality reads
``../shared/data`` relative to the repository root and is skipped with a note if that is absent.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model, memory_gib  # noqa: E402

from topicmap.hierarchy.builder.cluster import ClusterTree, RecursiveClusterer  # noqa: E402
from topicmap.hierarchy.quality.metrics import best_level_scores, dendrogram_purity  # noqa: E402

BRANCHING = (6, 4, 4)  # 6 top groups, 24 middle, 96 fine clusters
SHARED = ROOT.parent / "shared" / "data"


# -- one scale run (child process) --------------------------------------------------------------
def child_scale(n: int, seed: int, full_build: bool, preset: str) -> dict[str, Any]:
    """Generate, cluster with the preset's estimator, score; optionally build the whole tree. Printed as one JSON line."""
    from topicmap.hierarchy.builder.pipeline import BuildConfig, make_clusterer, resolve_preset
    from topicmap.hierarchy.builder.synthetic import make_hierarchical_embeddings

    from sklearn.decomposition import PCA  # noqa: F401  (imported before the clock starts)

    data = make_hierarchical_embeddings(n, branching=BRANCHING, texts=full_build, random_state=seed)
    out: dict[str, Any] = {"n": n, "seed": seed, "preset": preset}
    config = BuildConfig(preset=preset, seed=seed)
    started = time.perf_counter()
    model = make_clusterer(resolve_preset(config, n)).fit(data.X)
    out["cluster_s"] = time.perf_counter() - started
    out["rss_cluster_mb"] = _peak_rss_mb()
    tree = model.tree_
    parents = tree.parent_indices()
    out.update(_shape(tree))
    out["n_fits"] = model.n_fits_
    out["dp"] = [dendrogram_purity(parents, tree.doc_leaf, level) for level in data.labels]
    out["nmi"] = [best_level_scores(parents, tree.doc_leaf, level, int(np.unique(level).size))["nmi"] for level in data.labels]
    del model, tree  # the build below fits its own clusterer; do not count this one twice
    gc.collect()
    if full_build:
        try:
            from topicmap.hierarchy.inputs.documents import Corpus
            from topicmap.hierarchy.builder.pipeline import BuildInputs, build_tree
        except ImportError:
            out["build_s"] = None
        else:
            corpus = Corpus(
                ids=[f"d{i}" for i in range(n)], texts=data.texts or [], titles=[""] * n,
                metadata=[{} for _ in range(n)], source="synthetic", sha256="-",
            )
            started = time.perf_counter()
            built = build_tree(corpus, data.X, config, BuildInputs(source="synthetic", sha256="-"))
            out["build_s"] = time.perf_counter() - started
            out["build_stages"] = built.manifest.get("timings_s", {})
    out["rss_mb"] = _peak_rss_mb()
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _shape(tree: ClusterTree) -> dict[str, Any]:
    parents = tree.parent_indices()
    n_children = np.bincount(parents[parents >= 0], minlength=parents.size)
    leaves = n_children == 0
    return {
        "nodes": int(parents.size),
        "depth": max(tree.depth_of(i) for i in range(parents.size)),
        "top_children": int(n_children[0]),
        "leaves": int(leaves.sum()),
        "median_leaf": float(np.median(tree.sizes[leaves])),
    }


PRESETS = ("map", "browse", "deep")


def preset_params(preset: str, n: int) -> dict[str, Any]:
    """The clusterer parameters ``topicmap build --preset PRESET`` uses for ``n`` documents (seed left out)."""
    from topicmap.hierarchy.builder.pipeline import BuildConfig, make_clusterer, resolve_preset

    params = make_clusterer(resolve_preset(BuildConfig(preset=preset), n)).get_params()
    params.pop("random_state")
    return params


def run_scale(sizes: list[int], runs: int, full_build: bool) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        for preset in PRESETS:
            results = [_scale_run(n, run, preset, full_build) for run in range(runs)]
            rows.append({"n": n, "preset": preset, "runs": results, "load": os.getloadavg()})
    return rows


def _scale_run(n: int, run: int, preset: str, full_build: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child-scale", str(n), "--seed", str(run), "--preset", preset]
    if full_build:
        cmd.append("--full-build")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"scale run n={n} preset={preset} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  n={n:>8,} {preset} run {run}: cluster {result['cluster_s']:.1f}s build {result.get('build_s') or 0:.1f}s "
          f"peak {result['rss_mb']:.0f} MB load {os.getloadavg()[0]:.1f}", flush=True)
    return result


# -- quality on real corpora --------------------------------------------------------------------
@dataclass
class Dataset:
    name: str
    X: np.ndarray
    fine: np.ndarray
    top: np.ndarray
    fine_name: str
    top_name: str


def load_datasets() -> list[Dataset]:
    out = []
    news = SHARED / "20news"
    if (news / "train.jsonl").exists():
        rows = [json.loads(line) for line in open(news / "train.jsonl", encoding="utf-8")]
        out.append(Dataset("20news", np.load(news / "train.minilm.npy"), np.array([r["newsgroup"] for r in rows]),
                           np.array([r["top"] for r in rows]), "newsgroups (20)", "top groups (6)"))
    bbc = SHARED / "bbc"
    if (bbc / "bbc.jsonl").exists():
        rows = [json.loads(line) for line in open(bbc / "bbc.jsonl", encoding="utf-8")]
        cats = np.array([r["category"] for r in rows])
        out.append(Dataset("bbc", np.load(bbc / "bbc.minilm.npy"), cats, cats, "categories (5)", "categories (5)"))
    return out


def score_tree(parents: np.ndarray, doc_node: np.ndarray, data: Dataset) -> dict[str, float]:
    k_top, k_fine = np.unique(data.top).size, np.unique(data.fine).size
    return {
        "dp_fine": dendrogram_purity(parents, doc_node, data.fine),
        "dp_top": dendrogram_purity(parents, doc_node, data.top),
        "nmi_top": best_level_scores(parents, doc_node, data.top, k_top)["nmi"],
        "nmi_fine": best_level_scores(parents, doc_node, data.fine, k_fine)["nmi"],
    }


def quality_ours(data: Dataset, seeds: list[int], **params: Any) -> dict[str, Any]:
    runs = []
    for seed in seeds:
        started = time.perf_counter()
        model = RecursiveClusterer(random_state=seed, **params).fit(data.X)
        elapsed = time.perf_counter() - started
        runs.append({**score_tree(model.tree_.parent_indices(), model.tree_.doc_leaf, data), "time": elapsed, **_shape(model.tree_)})
    return _median_runs(runs)


def quality_ward(data: Dataset, runs: int) -> dict[str, Any]:
    """SciPy's Ward on the raw embeddings: the full binary dendrogram, documents as leaves."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import normalized_mutual_info_score

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        Z = linkage(data.X.astype(np.float64), "ward")
        times.append(time.perf_counter() - started)
    n = data.X.shape[0]
    parents = np.full(2 * n - 1, -1, dtype=np.int64)
    for i, (a, b, _, _) in enumerate(Z):
        parents[int(a)] = parents[int(b)] = n + i
    doc_node = np.arange(n)
    k_top, k_fine = np.unique(data.top).size, np.unique(data.fine).size
    return {
        "dp_fine": dendrogram_purity(parents, doc_node, data.fine),
        "dp_top": dendrogram_purity(parents, doc_node, data.top),
        "nmi_top": normalized_mutual_info_score(data.top, fcluster(Z, k_top, "maxclust")),
        "nmi_fine": normalized_mutual_info_score(data.fine, fcluster(Z, k_fine, "maxclust")),
        "time": statistics.median(times), "nodes": 2 * n - 1, "depth": _binary_depth(parents), "top_children": 2,
    }


def _binary_depth(parents: np.ndarray) -> int:
    depth = np.zeros(parents.size, dtype=np.int64)
    for node in range(parents.size - 2, -1, -1):  # scipy numbers merges bottom-up, so parents come later
        depth[node] = depth[parents[node]] + 1
    return int(depth.max())


def quality_flat_kmeans(data: Dataset, k: int, seeds: list[int]) -> dict[str, Any]:
    """scikit-learn KMeans with k clusters, scored as a one-level tree (root -> clusters)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    runs = []
    for seed in seeds:
        started = time.perf_counter()
        labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(data.X)
        elapsed = time.perf_counter() - started
        parents = np.array([-1] + [0] * k)
        doc_node = labels + 1
        runs.append({
            "dp_fine": dendrogram_purity(parents, doc_node, data.fine),
            "dp_top": dendrogram_purity(parents, doc_node, data.top),
            "nmi_top": normalized_mutual_info_score(data.top, labels),
            "nmi_fine": normalized_mutual_info_score(data.fine, labels),
            "time": elapsed, "nodes": k + 1, "depth": 1, "top_children": k,
        })
    return _median_runs(runs)


def _median_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


# -- report -------------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    cpu = cpu_model()
    gib = memory_gib()
    ram = "unknown" if gib is None else f"{gib:.1f} GiB"
    import scipy
    import sklearn

    return {
        "cpu": cpu, "cores": str(os.cpu_count()), "ram": ram,
        "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__,
    }


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render(info: dict[str, str], scale: list[dict[str, Any]], quality: list[tuple[str, list[tuple[str, dict[str, Any]]]]],
           notes: list[str], runs: int, load_before: tuple[float, ...], load_after: tuple[float, ...]) -> str:
    lines = [
        "# Core benchmark: scale and quality of the clustering",
        "",
        f"Generated by `python bench/bench_core.py` on {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM; Python {info['python']}, "
        f"numpy {info['numpy']}, scipy {info['scipy']}, scikit-learn {info['sklearn']}",
        f"- Load average (1/5/15 min) before: {' / '.join(f'{x:.2f}' for x in load_before)}; "
        f"after: {' / '.join(f'{x:.2f}' for x in load_after)} (a shared 2-core machine: timings are noisy)",
        *[f"- `--preset {p}` clusterer at 1M rows: " + ", ".join(f"{k}={v}" for k, v in preset_params(p, 1_000_000).items() if k != "levels") for p in PRESETS],
        "",
        "## Scale (synthetic hierarchical embeddings)",
        "",
        f"384-d unit vectors, nested clusters {' x '.join(map(str, BRANCHING))} (6 top, 24 middle, 96 fine; log-normal sizes). "
        f"Each cell is the median of {runs} run(s), each in a fresh process (seed = run number). "
        "*cluster* = `RecursiveClusterer.fit`; *build* = the lead's full `build_tree` (clustering + centroids + "
        "c-TF-IDF keywords on synthetic texts + representatives + 2-D layout); peak RSS is the child process's "
        "`ru_maxrss` (maximum over the runs) and includes the input matrix itself (*input*: n x 384 float32), the "
        "synthetic texts and their Corpus; *cluster* is the peak right after the fit, *build* the peak of the whole "
        "process. Recovery: dendrogram purity (DP) and NMI at "
        "the tree level whose node count is closest to the true count, against the true labels of each level.",
        "",
        "| rows | preset | input | cluster s | build s | peak RSS cluster | peak RSS build | k-means fits | nodes | depth | top children "
        "| leaves (median size) | DP top / mid / fine | NMI top / mid / fine | load (1 min) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for row in scale:
        rs = row["runs"]

        def med(key: str, rs: list[dict[str, Any]] = rs) -> Any:
            values = [r[key] for r in rs if r.get(key) is not None]
            return statistics.median(values) if values else None

        dp = [statistics.median(r["dp"][i] for r in rs) for i in range(len(BRANCHING))]
        nmi = [statistics.median(r["nmi"][i] for r in rs) for i in range(len(BRANCHING))]
        rss_cluster = max(r["rss_cluster_mb"] for r in rs)
        rss_build = max(r["rss_mb"] for r in rs)
        lines.append(
            f"| {row['n']:,} | {row['preset']} | {row['n'] * 384 * 4 / 1024**3:.2f} GB | {_fmt(med('cluster_s'), 1)} | {_fmt(med('build_s'), 1)} | "
            f"{rss_cluster / 1024:.2f} GB | {rss_build / 1024:.2f} GB | "
            f"{_fmt(med('n_fits'))} | {_fmt(med('nodes'))} | {_fmt(med('depth'))} | {_fmt(med('top_children'))} | "
            f"{_fmt(med('leaves'))} ({_fmt(med('median_leaf'), 0)}) | {' / '.join(f'{x:.3f}' for x in dp)} | "
            f"{' / '.join(f'{x:.3f}' for x in nmi)} | {row['load'][0]:.1f} |"
        )
    stage_rows = [r for row in scale for r in row["runs"] if r.get("build_stages")]
    if stage_rows:
        lines += ["", "Full-build stage times (median seconds per size):", "",
                  "| rows | preset | " + " | ".join(stage_rows[0]["build_stages"]) + " |",
                  "| ---: | --- | " + " | ".join("---:" for _ in stage_rows[0]["build_stages"]) + " |"]
        for row in scale:
            rs = [r for r in row["runs"] if r.get("build_stages")]
            if rs:
                keys = list(rs[0]["build_stages"])
                lines.append(f"| {row['n']:,} | {row['preset']} | " + " | ".join(f"{statistics.median(r['build_stages'][k] for r in rs):.1f}" for k in keys) + " |")
    lines += ["", "## Quality on real corpora (MiniLM embeddings)", ""]
    if not quality:
        lines.append("Skipped: `../shared/data` not found.")
    for name, methods in quality:
        lines += [
            f"### {name}",
            "",
            "DP = dendrogram purity (Heller & Ghahramani 2005) of the whole tree; NMI@k = NMI at the tree level whose node "
            "count is closest to k (Ward: its dendrogram cut at k; flat KMeans: its one partition). Our rows: median over seeds "
            "0, 1, 2; time: median.",
            "",
            "| method | DP fine | DP top | NMI@top | NMI@fine | nodes | depth | top children | time s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for method, r in methods:
            lines.append(
                f"| {method} | {_fmt(r['dp_fine'])} | {_fmt(r['dp_top'])} | {_fmt(r['nmi_top'])} | {_fmt(r['nmi_fine'])} | "
                f"{_fmt(r.get('nodes'))} | {_fmt(r.get('depth'))} | {_fmt(r.get('top_children'))} | {_fmt(r['time'], 2)} |"
            )
        lines.append("")
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10k and 100k rows, one run, one seed")
    parser.add_argument("--sizes", type=str, default=None, help="comma-separated row counts (default 10000,100000,1000000)")
    parser.add_argument("--runs", type=int, default=None, help="runs per size (default 3)")
    parser.add_argument("--no-build", action="store_true", help="time only the clusterer, not the full build_tree")
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "core.md")
    parser.add_argument("--child-scale", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--full-build", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--preset", default="browse", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_scale is not None:
        print(json.dumps(child_scale(args.child_scale, args.seed, args.full_build, args.preset)))
        return
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    runs = args.runs or (1 if args.quick else 3)
    seeds = [0] if args.quick else [0, 1, 2]
    load_before = os.getloadavg()
    info = machine()
    print(f"machine: {info}; load {load_before}", flush=True)
    print("scale:", flush=True)
    scale = run_scale(sizes, runs, full_build=not args.no_build)
    quality: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = []
    notes: list[str] = []
    datasets = [] if args.no_quality else load_datasets()
    if not args.no_quality and not datasets:
        print(f"note: {SHARED} not found; quality section skipped", flush=True)
        notes.append(f"Quality section skipped: {SHARED} not found.")
    for data in datasets:
        print(f"quality: {data.name} ({data.X.shape[0]} docs)", flush=True)
        k_top, k_fine = np.unique(data.top).size, np.unique(data.fine).size
        deep = preset_params("deep", data.X.shape[0])
        methods: list[tuple[str, dict[str, Any]]] = [
            ("**ours, default** (`--preset browse`)", quality_ours(data, seeds, **preset_params("browse", data.X.shape[0]))),
            ("ours, `--preset deep`", quality_ours(data, seeds, **deep)),
            ("ours, deep with `linkage='ward'`", quality_ours(data, seeds, **{**deep, "linkage": "ward"})),
            (f"ours, fixed `levels=[{k_top}, {k_fine}, {10 * k_fine}]`" if k_top != k_fine else f"ours, fixed `levels=[{k_fine}, {10 * k_fine}]`",
             quality_ours(data, seeds, levels=[k_top, k_fine, 10 * k_fine] if k_top != k_fine else [k_fine, 10 * k_fine])),
            ("Ward (SciPy, raw 384-d, binary dendrogram over documents)", quality_ward(data, runs=1 if args.quick else 3)),
            (f"flat KMeans k={k_fine} (scikit-learn)", quality_flat_kmeans(data, k_fine, seeds)),
        ]
        if k_top != k_fine:
            methods.append((f"flat KMeans k={k_top} (scikit-learn)", quality_flat_kmeans(data, k_top, seeds)))
        methods.append(("ours, deep with `reducer='umap'` (seed 0 only; slow)", quality_ours(data, [0], **{**deep, "reducer": "umap"})))
        for depth in (4, 6, 8):  # the depth budget trades dendrogram purity for a shallower map
            methods.append((f"ours, deep with `max_depth={depth}`", quality_ours(data, seeds, **{**deep, "max_depth": depth})))
        for method, r in methods:
            print(f"  {method}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in r.items()), flush=True)
        quality.append((f"{data.name}: {data.X.shape[0]:,} documents; fine = {data.fine_name}, top = {data.top_name}", methods))
    report = render(info, scale, quality, notes, runs, load_before, os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
