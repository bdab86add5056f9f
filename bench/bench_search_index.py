"""Full-text search over a sidecar tree's documents: ``python bench/bench_search_index.py --docs 1000000 10000000``.

For each size, a synthetic sidecar tree (``topicmap.viz.synthetic.synthetic_sidecar_tree``: 4,900
leaves, 16 words a document, rows in shuffled order) is written under ``--data`` (reused when
there), its SQLite FTS5 index built (timed, once), then each kind of query is run ``--runs`` times
with a fresh word each run (no cache), and the median and worst latency reported:

* ``index`` -- :meth:`topicmap.viz.search_index.SearchIndex.match` alone (rows of the matching documents);
* ``search`` -- :meth:`topicmap.viz.index.TreeIndex.search` uncached: the match plus counts per node
  and the label scan, what every search callback waits for.

Query kinds: a leaf's word (rare), a second-level topic's word (middle), a root word (in most
documents: the rows read are capped at ``MATCH_LIMIT``), two words, and a three-letter
prefix (``abc*``); two words that occur together (a level-2 topic's and one of its leaves'). Target: <= 100 ms at 10M. Writes ``bench/results/search-index.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model, memory_gib, report_head, write_report  # noqa: E402

DEFAULT_DATA = Path("/work/bench-data-sidecar")
TARGET_MS = 100.0


def tree_path(data: Path, n_docs: int) -> Path:
    return data / f"synthetic-{n_docs}" / "synthetic.tree.json"


def ensure_tree(data: Path, n_docs: int) -> tuple[Path, float | None]:
    """The synthetic sidecar tree of ``n_docs`` documents (written if missing) and the seconds writing took."""
    from topicmap.viz.synthetic import synthetic_sidecar_tree

    path = tree_path(data, n_docs)
    if path.is_file():
        return path, None
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    synthetic_sidecar_tree(path, n_docs)
    return path, time.perf_counter() - started


def queries(index, run: int) -> dict[str, str]:  # noqa: ANN001 - a TreeIndex
    """One query of each kind, a different word every run."""
    seconds = [c for t in index.top_level for c in index.children_pos[t]]
    leaves = [p for p, kids in enumerate(index.children_pos) if not kids]
    second = seconds[(7 * run) % len(seconds)]
    middle = index.nodes[second].keywords
    other = index.nodes[index.children_pos[second][run % len(index.children_pos[second])]].keywords  # a leaf below it: words that meet
    return {
        "rare (a leaf's word)": index.nodes[leaves[(131 * run) % len(leaves)]].keywords[run % 8],
        "middle (a level-2 topic's word)": middle[run % 8],
        "common (a root word)": index.nodes[0].keywords[run % 8],
        "two words (level 2 + a leaf below)": f"{middle[run % 8]} {other[(run + 1) % 8]}",
        "prefix (abc*)": index.nodes[seconds[(5 * run + 1) % len(seconds)]].keywords[0][:3] + "*",
    }


def measure(path: Path, runs: int) -> tuple[list[str], dict[str, float]]:
    import numpy as np

    from topicmap.hierarchy.tree.treefile import load_tree
    from topicmap.viz.index import TreeIndex
    from topicmap.viz.search import parse_query
    from topicmap.viz.search_index import SearchIndex, index_path

    tree = load_tree(path)
    store = tree.store
    fts = index_path(store)  # type: ignore[arg-type]
    facts: dict[str, float] = {"docs": float(len(store)), "sidecar_mb": store.path.stat().st_size / 1e6}  # type: ignore[attr-defined]
    if not fts.is_file():
        started = time.perf_counter()
        SearchIndex.for_store(store, quiet=True)  # type: ignore[arg-type]
        facts["build_s"] = time.perf_counter() - started
    facts["index_mb"] = fts.stat().st_size / 1e6
    index = TreeIndex(tree)
    assert index.search_index is not None
    samples: dict[tuple[str, str], list[float]] = {}
    matches: dict[str, list[int]] = {}
    for run in range(runs + 1):  # run 0 warms the page cache: not counted
        for kind, query in queries(index, run).items():
            terms = parse_query(query).terms
            started = time.perf_counter()
            rows, _ = index.search_index.match(terms)
            t_index = (time.perf_counter() - started) * 1000
            index.search_cache = type(index.search_cache)(index.search_cache.entries, index.search_cache.max_bytes)  # uncached
            started = time.perf_counter()
            index.search(query)
            t_search = (time.perf_counter() - started) * 1000
            if run:
                samples.setdefault((kind, "index"), []).append(t_index)
                samples.setdefault((kind, "search"), []).append(t_search)
                matches.setdefault(kind, []).append(len(rows))
    lines = []
    for kind in queries(index, 0):
        a, b = samples[(kind, "index")], samples[(kind, "search")]
        lines.append(
            f"| {int(facts['docs']):,} | {kind} | {statistics.median(matches[kind]):,.0f} | {statistics.median(a):.1f} | {max(a):.1f} "
            f"| {statistics.median(b):.1f} | {max(b):.1f} |"
        )
        print(lines[-1], file=sys.stderr)
    del np
    return lines, facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="where the synthetic trees are written (and reused)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search-index.md")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    table: list[str] = []
    data_lines: list[str] = []
    for n in args.docs:
        path, written = ensure_tree(args.data, n)
        lines, facts = measure(path, args.runs)
        table += lines
        build = f"FTS5 index built in {facts['build_s']:.0f} s" if "build_s" in facts else "FTS5 index reused"
        made = f"written in {written:.0f} s" if written is not None else "reused"
        data_lines.append(f"- {n:,} documents: sidecar {facts['sidecar_mb']:.0f} MB ({made}); {build}, {facts['index_mb']:.0f} MB")
    load_end = os.getloadavg()
    gib = memory_gib()
    out = [
        *report_head("# Full-text search over sidecar trees (SQLite FTS5)", "bench_search_index.py", argv),
        "## Machine",
        "",
        f"- {platform.platform()}; {cpu_model()} ({os.cpu_count()} logical cores); {'?' if gib is None else f'{gib:.1f} GiB'}; Python {platform.python_version()}",
        f"- load average (1/5/15 min) at start {' / '.join(f'{v:.2f}' for v in load_start)}, at end {' / '.join(f'{v:.2f}' for v in load_end)}"
        " -- the machine is shared with other jobs: latencies include waiting for a core",
        "",
        "## Data",
        "",
        *data_lines,
        "",
        "## Latency (ms; median and worst of the runs, a different word each run)",
        "",
        f"`index`: the FTS5 match alone; `search`: `TreeIndex.search` uncached (match, counts per node, label scan). Target <= {TARGET_MS:.0f} ms at 10M.",
        "",
        "| documents | query | matches | index median | index max | search median | search max |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
        *table,
        "",
    ]
    write_report(args.out, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
