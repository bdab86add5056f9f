"""--engine dask against the local engine: builds of N rows on each, the same tree, and MiniLM throughput on 1 and 2 workers.

    python bench/bench_dask.py --rows 1000000 --runs 3 --texts 1000 --data /work/bench-data-dask
    python bench/bench_dask.py --rows 1000000 10000000 --runs 3 1 --texts 0 --data /work/bench-data-ooc --append

Builds: vectors written once by ``bench/scale_data.py`` (384-d float32 ``.npy``); each run is a fresh
child process running ``build_parts`` (map preset, seed 0, anchored map, no texts: keywords are
counted in the client on either engine, so they would add the same to both). The local child streams
the ``.npy``; the Dask child connects to a ``distributed.LocalCluster`` of 2 worker processes (one
thread each) started once by this script, whose workers read their partitions of the same file. Each
child writes what the tree is made of (node ids, leaves, centroids, centres, representatives, map);
the last runs of every engine are compared to the bit (``--engines``: ``local2`` is a local build whose passes
run on two forked processes, ``engine.local_processes``; beside its peak RSS, the largest sum of the children's
private memory, sampled every 0.2 s: a forked child's own RSS counts the pages it shares with its parent). Every Dask run gets a fresh cluster (not timed),
so each worker's peak RSS (VmHWM, read by the child before it disconnects) is that run's. MiniLM: texts
embedded by the workers of a 1- and a 2-worker cluster, the model loaded on every worker before the clock
starts (``--texts 0`` skips it). Writes ``bench/results/dask.md`` (``--append``: adds a section to it) with
medians and the 1-minute load average before and after each run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model, memory_gib  # noqa: E402

# Starting a LocalCluster sets OMP/OPENBLAS/MKL_NUM_THREADS=1 in this process's environment (for its workers);
# the builds run with the environment this script was started with, so the client's BLAS (PCA fit, k-means
# on samples) uses as many threads on either engine as a build started from the same shell would.
START_ENV = dict(os.environ)
ENGINES = {"local": "local (streamed)", "local2": "local, 2 forked processes", "dask": "dask, 2 workers"}


def child(npy: str, scheduler: str | None, out: str, processes: int) -> None:
    """One build in this process; its parts saved to ``out``, its stage timings and peak RSS printed as JSON."""
    from topicmap.hierarchy.builder.params import BuildConfig
    from topicmap.hierarchy.builder.pipeline import build_parts, resolve_preset
    from topicmap.hierarchy.inputs.vector_source import NpySource

    source = NpySource(npy)
    engine = None
    sampler = ChildrenSampler()
    if processes > 1:
        sampler.start()
    began = time.perf_counter()
    if scheduler:
        from topicmap.hierarchy.builder.dask_engine import connect

        engine = connect(scheduler)
        source = engine.load(source)
    asked = BuildConfig(preset="map", layout="anchored", seed=0)
    config = resolve_preset(asked, source.n_rows)
    parts = build_parts(source, None, asked, config, npy, npy, processes=processes)
    wall = time.perf_counter() - began
    workers_gib: list[float] = []
    if engine is not None:
        workers_gib = sorted(engine.client.run(peak_rss_gib).values())
        engine.close()
    reps = np.concatenate([parts.representatives[k] for k in sorted(parts.representatives)] or [np.zeros(0, np.int64)])
    np.savez(
        out, node_ids=np.array(parts.shape.node_ids), doc_leaf=parts.shape.doc_leaf, centres=parts.shape.centres,
        centroids=parts.centroids, coords=parts.coords, reps=reps,
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if processes > 1:  # what the forked children added: their private pages (the rest they share with this process), sampled
        sampler.stop.set()
        sampler.join()
        workers_gib = [sampler.peak_gib]
    print(json.dumps({"wall": wall, "stages": parts.timings, "rss_gib": rss, "workers_gib": workers_gib, "nodes": len(parts.shape.node_ids)}))


class ChildrenSampler(threading.Thread):
    """Every 0.2 s, the private memory (Private_Clean + Private_Dirty of smaps_rollup) of this process's
    children summed; the largest sum. A forked child's RSS counts every page it shares with its parent,
    so its peak RSS would count the parent twice."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.peak_gib = 0.0

    def run(self) -> None:
        me = str(os.getpid())
        while not self.stop.wait(0.2):
            total = 0
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    if (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] != me:
                        continue
                    for line in (entry / "smaps_rollup").read_text().splitlines():
                        if line.startswith(("Private_Clean:", "Private_Dirty:")):
                            total += int(line.split()[1])
                except (OSError, IndexError):
                    continue
            self.peak_gib = max(self.peak_gib, total / 2**20)


def peak_rss_gib() -> float:
    """This process's peak resident set (VmHWM) in GiB: run on each worker."""
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def run_child(npy: Path, scheduler: str | None, out: Path, processes: int = 1) -> dict:
    before = os.getloadavg()[0]
    command = [sys.executable, __file__, "--child", str(npy), "--out", str(out), "--processes", str(processes)] + (["--scheduler", scheduler] if scheduler else [])
    done = subprocess.run(command, capture_output=True, text=True, env={**START_ENV, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = (before, os.getloadavg()[0])
    return result


def same_parts(a: Path, b: Path) -> list[str]:
    """Fields that differ between two saved builds (empty: identical to the bit)."""
    x, y = np.load(a), np.load(b)
    return [key for key in x.files if x[key].shape != y[key].shape or x[key].tobytes() != y[key].tobytes()]


def minilm(texts: list[str], workers: int, runs: int) -> tuple[list[tuple[float, float]], np.ndarray]:
    from distributed import Client, LocalCluster, wait

    from topicmap.hierarchy.builder.dask_engine import DaskEngine, embed_texts

    spec = ("minilm", None, None, None)
    out = []
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(embed_texts, ["warm up"], spec)  # the model loaded on every worker before the clock
        engine = DaskEngine(client)
        for _ in range(runs):
            load = os.getloadavg()[0]
            began = time.perf_counter()
            rows = engine.embed(texts, "minilm", None, None, None, "bbc")
            wait(rows.parts)
            out.append((time.perf_counter() - began, load))
        vectors = rows.take(np.arange(len(texts)))
    return out, vectors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--runs", type=int, nargs="+", default=[3], help="runs per engine, one number per --rows (the last repeats)")
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/bench-data-dask"))
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "dask.md")
    parser.add_argument("--skip-builds", action="store_true")
    parser.add_argument("--work", type=Path, help="where each run's parts are saved for the comparison [default: --data]")
    parser.add_argument("--append", action="store_true", help="add a section to --output instead of writing it anew")
    parser.add_argument("--child")
    parser.add_argument("--scheduler")
    parser.add_argument("--processes", type=int, default=1, help="a local build's passes on this many forked processes")
    parser.add_argument("--engines", nargs="+", default=["local", "dask"], choices=list(ENGINES), help="what is run (alternated)")
    parser.add_argument("--out")
    opts = parser.parse_args()
    if opts.child:
        child(opts.child, opts.scheduler, opts.out, opts.processes)
        return

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    command = f"python bench/bench_dask.py {' '.join(sys.argv[1:])}"
    lines = [
        "# --engine dask against the local engine (issue 16, item 3)",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {memory_gib() or 0:.0f} GiB, **shared** with other sessions' jobs (load",
        f"average beside every run). Commit {commit}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Command:",
        f"`{command}`.",
        "Dask: `distributed.LocalCluster` on 127.0.0.1, worker processes of one thread each, started before the runs",
        "(its start-up is not timed; the client's connection is). On 2 cores two workers and the client share the",
        "same two cores, so these numbers measure the engine's overhead here, not what a cluster gains.",
        "",
    ]
    if opts.append:
        lines = [
            f"## Session of {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: commit {commit}, a fresh 2-worker cluster per Dask run",
            "",
            f"Command: `{command}`. Machine: {cpu_model()}, {os.cpu_count()} cores, {memory_gib() or 0:.0f} GiB, shared (load beside every run).",
            "",
        ]
    if not opts.skip_builds:
        from distributed import LocalCluster

        opts.data.mkdir(parents=True, exist_ok=True)
        for at, rows in enumerate(opts.rows):
            runs_here = opts.runs[min(at, len(opts.runs) - 1)]
            npy = opts.data / f"x{rows}.npy"
            if not npy.exists():
                subprocess.run([sys.executable, str(ROOT / "bench" / "scale_data.py"), "npy", str(rows), str(npy)], check=True)
            results: dict[str, list[dict]] = {name: [] for name in opts.engines}
            work = opts.work or opts.data
            work.mkdir(parents=True, exist_ok=True)
            outs = {name: work / f"{name}-{rows}.npz" for name in results}
            for run in range(runs_here):  # alternated, so both engines see the same spells of load
                for name in opts.engines:
                    if name == "dask":
                        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
                            results[name].append(run_child(npy, cluster.scheduler_address, outs[name]))
                    else:
                        results[name].append(run_child(npy, None, outs[name], 2 if name == "local2" else 1))
                print(rows, run, {name: round(results[name][-1]["wall"]) for name in opts.engines}, flush=True)
            first = opts.engines[0]
            differ = {name: same_parts(outs[first], outs[name]) for name in opts.engines[1:]}
            lines += [
                f"### Build: {rows:,} x 384 float32 from a .npy (map preset, seed 0, anchored map, no texts)",
                "",
                "| engine | runs | wall median | runs (s) | client peak RSS | workers' (children's) peak RSS | sum | cluster | centroids | representatives | layout | load 1-min (before-after) |",
                "| --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
            ]
            for name in opts.engines:
                label = ENGINES[name]
                done = results[name]
                walls = [r["wall"] for r in done]
                mid = sorted(done, key=lambda r: r["wall"])[len(done) // 2]
                stage = mid["stages"]
                workers = mid.get("workers_gib") or []
                lines.append(
                    f"| {label} | {len(done)} | {statistics.median(walls):.0f} s | {', '.join(f'{w:.0f}' for w in walls)} | {mid['rss_gib']:.2f} GiB | "
                    f"{' + '.join(f'{w:.2f}' for w in workers) or '-'} | {mid['rss_gib'] + sum(workers):.2f} GiB | "
                    f"{stage.get('cluster', 0):.0f} s | {stage.get('centroids', 0):.0f} s | {stage.get('representatives', 0):.0f} s | {stage.get('layout', 0):.0f} s | "
                    f"{', '.join(f'{a:.1f}-{b:.1f}' for a, b in (r['load'] for r in done))} |"
                )
            verdicts = [f"{ENGINES[name]}: **{'identical to the bit' if not fields else 'NOT identical (' + ', '.join(fields) + ' differ)'}**" for name, fields in differ.items()]
            lines += ["", f"Same tree as {ENGINES[first]} (node ids, leaves, centres, centroids, representatives, map of the last runs; {mid['nodes']:,} nodes): {'; '.join(verdicts)}.", ""]
            if opts.append:  # each size's table written as soon as it is measured
                write_out(opts, lines)
                lines = []

    if opts.texts <= 0:
        if lines:
            write_out(opts, lines)
        return
    with gzip.open(ROOT / "data" / "bbc.jsonl.gz", "rt", encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle][: opts.texts]
    lines += [
        f"## MiniLM on the workers: {len(texts):,} BBC texts (512 a task)",
        "",
        "| workers | runs | median | texts/s | runs (s) | load 1-min (before each) | largest difference from this process's vectors |",
        "| ---: | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    from topicmap.hierarchy.inputs.embed import make_embedder

    here = make_embedder("minilm").embed(texts)  # the same texts embedded in this process, for the difference
    for workers in (1, 2):
        timed, vectors = minilm(texts, workers, opts.runs)
        gap = float(np.abs(vectors - here).max())
        median = statistics.median(t for t, _ in timed)
        lines.append(
            f"| {workers} | {len(timed)} | {median:.1f} s | {len(texts) / median:.1f} | {', '.join(f'{t:.1f}' for t, _ in timed)} | "
            f"{', '.join(f'{x:.1f}' for _, x in timed)} | {gap:.1e} |"
        )
    lines.append("")
    write_out(opts, lines)


def write_out(opts: argparse.Namespace, lines: list[str]) -> None:
    text = "\n".join(lines)
    if opts.append and opts.output.exists():
        text = opts.output.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + text
    opts.output.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
