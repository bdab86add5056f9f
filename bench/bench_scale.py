"""Out-of-core builds at 1M, 4M and 10M rows of 384-d float32 (issue 16): wall time and peak RSS.

    python bench/bench_scale.py --rows 1000000 4000000 --runs 3 --data /work/bench-data-ooc
    python bench/bench_scale.py --rows 10000000 --runs 1 --data /work/bench-data-ooc --keep-data

Each size's vectors are written once by ``bench/scale_data.py`` (a ``.npy``; ``--parquet`` also
times Parquet shards of 1M rows), then each run is a fresh child process timed by ``/usr/bin/time -v``
(peak RSS of the child alone): the map preset on the vectors streamed from disk, fitted on samples,
the reduced rows in a scratch file, keywords skipped (vectors only, no texts), documents written as a
minimal Parquet of id and leaf. Writes ``bench/results/scale.md`` with the medians and the 1-minute load
average before and after every run (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model, memory_gib  # noqa: E402


def child(location: str, column: str | None, out: str, scratch: str) -> None:
    """One build, in this process; prints its stage timings as JSON."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from topicmap.hierarchy.builder.params import BuildConfig
    from topicmap.hierarchy.builder.pipeline import build_parts, resolve_preset
    from topicmap.hierarchy.files.safe_write import write_bytes_atomic
    from topicmap.hierarchy.inputs.vector_source import open_vectors

    started = time.perf_counter()
    source = open_vectors(location, column)
    asked = BuildConfig()
    config = resolve_preset(asked, source.n_rows, location)
    parts = build_parts(source, None, asked, config, location, location, scratch_dir=scratch)
    written = time.perf_counter()
    leaves = np.asarray(parts.shape.node_ids, dtype=object)[parts.shape.doc_leaf]
    table = pa.table({"row": pa.array(np.arange(source.n_rows)), "leaf": pa.array(leaves.tolist())})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_bytes_atomic(out, sink.getvalue().to_pybytes())
    timings = {**parts.timings, "documents": round(time.perf_counter() - written, 2), "total": round(time.perf_counter() - started, 2)}
    print(json.dumps({"timings": timings, "nodes": len(parts.shape.node_ids), "layout": parts.layout_used, "streamed": parts.streamed}))


def run_once(location: Path, column: str | None, data: Path) -> dict:
    out = data / "documents.parquet"
    command = ["/usr/bin/time", "-v", sys.executable, __file__, "--child", str(location), "--out", str(out), "--scratch", str(data)]
    if column:
        command += ["--column", column]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"child failed ({done.returncode}): {done.stderr[-2000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", done.stderr).group(1)) for kind in ("User", "System"))
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall": wall, "cpu": cpu, "peak_gb": peak_kb / 1024**2, "load_before": load_before, "load_after": os.getloadavg()[0], **report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child")
    parser.add_argument("--column")
    parser.add_argument("--out")
    parser.add_argument("--scratch")
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data-ooc"))
    parser.add_argument("--parquet", action="store_true", help="also time Parquet shards (1M rows each)")
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "scale.md")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.column, args.out, args.scratch)
        return
    from bench.scale_data import write_npy, write_parquet

    rows_out = []
    for n in args.rows:
        inputs: list[tuple[str, Path, str | None]] = [("npy", args.data / f"x{n}.npy", None)]
        if args.parquet:
            inputs.append(("parquet", args.data / f"x{n}-shards", "embedding"))
        for kind, path, column in inputs:
            if not path.exists():
                made = time.perf_counter()
                if kind == "npy":
                    write_npy(path, n)
                else:
                    write_parquet(path, n, 1_000_000)
                print(f"wrote {path} in {time.perf_counter() - made:.0f}s", file=sys.stderr)
            runs = []
            for r in range(args.runs):
                result = run_once(path, column, args.data)
                print(f"{kind} {n:,}: run {r + 1}: {result['wall']:.1f}s (CPU {result['cpu']:.0f}s), peak {result['peak_gb']:.2f} GB, load {result['load_before']:.2f}->{result['load_after']:.2f}, {result['timings']}", file=sys.stderr)
                runs.append(result)
            input_gb = n * 384 * 4 / 1e9
            rows_out.append((kind, n, input_gb, runs))
            if not args.keep_data:
                subprocess.run(["rm", "-rf", str(path)], check=True)
        (args.data / "documents.parquet").unlink(missing_ok=True)
    lines = [
        "# Out-of-core builds (issue 16)",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {memory_gib() or 0:.0f} GiB; shared with other jobs (load averages below). "
        f"Written {datetime.now(timezone.utc).isoformat(timespec='minutes')} by `python bench/bench_scale.py "
        f"--rows {' '.join(str(n) for n in args.rows)} --runs {args.runs}{' --parquet' if args.parquet else ''}`.",
        "",
        "Map preset, seed 0, vectors streamed from disk (384-d float32, 2,000 synthetic topics under 40 groups, "
        "bench/scale_data.py); reduced rows in an unlinked scratch file; **keywords skipped** (vectors only, no texts); "
        "documents written as a minimal Parquet of row and leaf. Peak RSS is the child process's (`/usr/bin/time -v`). "
        "Medians over the runs; stage seconds from the median-wall run.",
        "",
        "| input | rows | input size | runs | wall (median) | CPU user+sys (median) | peak RSS (median) | RSS / input | cluster | centroids | representatives | layout | documents | load avg 1-min (before-after) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for kind, n, input_gb, runs in rows_out:
        wall = statistics.median(r["wall"] for r in runs)
        peak = statistics.median(r["peak_gb"] for r in runs)
        middle = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
        t = middle["timings"]
        loads = ", ".join(f"{r['load_before']:.1f}-{r['load_after']:.1f}" for r in runs)
        lines.append(
            f"| {kind} | {n:,} | {input_gb:.2f} GB | {len(runs)} | {wall:.0f} s | {statistics.median(r.get('cpu', 0) for r in runs):.0f} s | {peak:.2f} GiB | {peak * 1024**3 / 1e9 / input_gb:.2f} | "
            f"{t.get('cluster', 0):.0f} s | {t.get('centroids', 0):.0f} s | {t.get('representatives', 0):.0f} s | {t.get('layout', 0):.0f} s | {t.get('documents', 0):.0f} s | {loads} |"
        )
    lines += ["", "Targets (issue 16): 10M rows in at most 10 minutes at at most 6 GB peak RSS; 4M under half its input size in RSS.", ""]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines))
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
