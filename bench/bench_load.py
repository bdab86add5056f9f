"""Loading a tree file: ``python bench/bench_load.py --docs 100000``.

Writes a synthetic tree (``topicmap.viz.synthetic.synthetic_tree``, 5,011 nodes) of ``--docs`` documents
in both forms, one file (schema version 2) and JSON + Parquet sidecar (version 3), and times
``load_tree`` of each (median of ``--runs``, each in a fresh process so no import or cache is shared),
with the process's peak resident memory. Loading used to validate every document with jsonschema
(16 s for 100k documents in an earlier measurement); now nodes and manifest go through the schema and
documents a field check. Writes ``bench/results/load.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model, memory_gib, report_head, write_report  # noqa: E402

CHILD = """
import resource, sys, time
started = time.perf_counter()
from topicmap.hierarchy.tree.treefile import load_tree
tree = load_tree(sys.argv[1])
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, tree.n_documents)
"""


def time_load(path: Path, runs: int) -> tuple[float, list[float], float]:
    times, peaks = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()
        times.append(float(out[0]))
        peaks.append(float(out[1]))
    return statistics.median(times), times, statistics.median(peaks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.md")
    args = parser.parse_args(argv)
    from topicmap.hierarchy.tree.treefile import save_tree
    from topicmap.viz.synthetic import synthetic_tree

    load_start = os.getloadavg()
    tree = synthetic_tree(args.docs)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for form, sidecar in (("one file (v2)", False), ("JSON + sidecar (v3)", True)):
            path = save_tree(tree, Path(folder) / f"t-{int(sidecar)}.tree.json", sidecar=sidecar)
            med, times, peak = time_load(path, args.runs)
            size = sum(p.stat().st_size for p in Path(folder).glob(f"t-{int(sidecar)}.tree*"))
            rows.append(f"| {form} | {size / 1e6:.1f} | {med:.2f} | {', '.join(f'{t:.2f}' for t in times)} | {peak:.0f} |")
            print(rows[-1], file=sys.stderr)
    gib = memory_gib()
    lines = [
        *report_head(f"# Loading a {args.docs:,}-document tree file", "bench_load.py", argv),
        f"- {platform.platform()}; {cpu_model()} ({os.cpu_count()} logical cores); {'?' if gib is None else f'{gib:.1f} GiB'}; Python {platform.python_version()}",
        f"- load average (1/5/15 min) at start {' / '.join(f'{v:.2f}' for v in load_start)}, at end {' / '.join(f'{v:.2f}' for v in os.getloadavg())}"
        " -- shared machine: times include waiting for a core",
        f"- synthetic tree, 5,011 nodes, {args.docs:,} documents of ~24 words; `load_tree` in a fresh process (imports included), {args.runs} runs",
        "",
        "| form | MB on disk | median s | runs | peak RSS MB |",
        "| --- | ---: | ---: | --- | ---: |",
        *rows,
        "",
    ]
    write_report(args.out, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
