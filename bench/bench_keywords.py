"""Keyword passes alone, on one process or on forked ones: ``python bench/bench_keywords.py --docs DOCS.jsonl``.

Reads the corpus lazily (as a build of a file from 128 MB does), gives every text a random place in a
three-level tree (10 / 100 / 2,000 nodes, seeded), then times :func:`term_vocabulary` and
:func:`node_counts` with each process count of ``--processes``, alternating, ``--runs`` times. Appends a
table to ``bench/results/keywords.md`` with the 1-minute load average after each run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model, memory_gib  # noqa: E402
from topicmap.hierarchy.builder.engine import local_processes  # noqa: E402
from topicmap.hierarchy.builder.term_counts import node_counts, term_vocabulary  # noqa: E402
from topicmap.hierarchy.inputs.documents import open_documents  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=Path, default=Path("/work/bench-data-ooc/corpus-bench/docs-1000000.jsonl"))
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "keywords.md")
    args = parser.parse_args()
    corpus = open_documents(args.docs, lazy=True)
    texts = corpus.embedding_texts()
    n = len(texts)
    leaf = np.random.default_rng(0).integers(0, 2000, n)
    members = [leaf // 200, leaf // 20, leaf]
    times: dict[int, list[tuple[float, float, float]]] = {p: [] for p in args.processes}
    for _ in range(args.runs):
        for processes in args.processes:
            started = time.perf_counter()
            with local_processes(processes):
                vocabulary = term_vocabulary(texts, n)
                middle = time.perf_counter()
                node_counts(texts, members, [10, 100, 2000], vocabulary)
            done = time.perf_counter()
            times[processes].append((middle - started, done - middle, os.getloadavg()[0]))
            print(f"{processes} process(es): vocabulary {middle - started:.1f} s, node counts {done - middle:.1f} s", file=sys.stderr)
    corpus.close()
    lines = [
        f"\n## {args.docs.name} ({n:,} texts), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"\nMachine: {cpu_model()}, {os.cpu_count()} cores, {memory_gib() or 0:.0f} GiB. Command: `python bench/bench_keywords.py --docs {args.docs.name} "
        f"--processes {' '.join(map(str, args.processes))} --runs {args.runs}` (runs alternate between process counts).\n",
        "| processes | vocabulary pass, median (runs) | node-count pass, median (runs) | load after each |",
        "| ---: | ---: | ---: | --- |",
    ]
    for processes, rows in times.items():
        vocab, counts, loads = zip(*rows)
        lines.append(
            f"| {processes} | {statistics.median(vocab):.1f} s ({', '.join(f'{v:.1f}' for v in vocab)}) | "
            f"{statistics.median(counts):.1f} s ({', '.join(f'{c:.1f}' for c in counts)}) | {', '.join(f'{x:.1f}' for x in loads)} |"
        )
    if not args.output.exists():
        args.output.write_text("# Keyword passes alone, one process or forked (issue 16)\n", encoding="utf-8")
    with args.output.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"appended to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
