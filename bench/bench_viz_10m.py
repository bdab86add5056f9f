"""The explorer over a sidecar tree of millions of documents: ``python bench/bench_viz_10m.py --docs 10000000``.

A synthetic sidecar tree (``topicmap.viz.synthetic.synthetic_sidecar_tree``: 5,011 nodes, 16 words a
document, rows shuffled so a topic's documents are spread over the whole file) is written under
``--data`` (reused when there; ``bench/bench_search_index.py`` shares it). Measured:

* ``load_tree`` (nodes, manifest and the sidecar's id and leaf columns; no text), and the resident
  memory after it;
* the explorer's index (x / y columns, the map sample, the FTS5 index opened; built first if missing,
  timed separately), and the resident memory after it;
* every callback of a drill-down, a search, a page of documents and a lasso, posted over HTTP to the
  app's real endpoint (Flask test client), medians of ``--runs`` with a fresh topic and word each run;
* first render in headless Chromium (``/usr/bin/chromium``): navigation start until the sunburst and
  details show, and until the sampled document map has drawn.

Targets: callbacks <= 100 ms, first render <= 2 s. Writes ``bench/results/viz-10m.md``.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_search_index import DEFAULT_DATA, ensure_tree  # noqa: E402
from bench.bench_viz import CallbackClient, browser_runs, machine_info, rss_mb  # noqa: E402
from bench.machine import report_head, write_report  # noqa: E402

CALLBACK_TARGET_MS = 100.0
RENDER_TARGET_S = 2.0


def lasso(index: Any, top_pos: int, points: int = 2000) -> dict[str, Any]:
    """selectedData for a lasso over ``points`` drawn points of one top-level topic (root view)."""
    from topicmap.viz.figures import group_rows, map_groups

    groups = map_groups(index)
    curve = next(k for k, g in enumerate(groups) if g.node == index.ids[top_pos])
    rows = group_rows(index, groups[curve])[:points]
    return {"points": [{"curveNumber": curve, "pointNumber": j, "pointIndex": j} for j in range(len(rows))]}


def time_callbacks(app: Any, index: Any, runs: int) -> list[tuple[str, str, float, float, float]]:
    """(interaction, callback, median ms, max ms, median CPU ms) over ``runs`` (a first, uncounted run warms caches)."""
    from topicmap.hierarchy.tree.topic_tree import ROOT_ID
    from topicmap.viz.figures import default_depth

    client = CallbackClient(app)
    depth = default_depth(index)
    root_nav = {"view": ROOT_ID, "selected": ROOT_ID}
    tops = [index.ids[t] for t in index.top_level]
    seconds = [c for t in index.top_level for c in index.children_pos[t]]
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}

    def record(run: int, interaction: str, name: str, result: tuple[float, int]) -> None:
        if run:
            samples.setdefault((interaction, name), []).append((result[0], client.last_cpu_ms))

    for run in range(runs + 1):
        record(run, "page load", "document map (full figure, sampled)", client.map_load(root_nav))
        target = tops[run % len(tops)]
        nav = {"view": target, "selected": target}
        record(run, "drill-down", "navigate (chart click)", client.navigate({"points": [{"id": target, "curveNumber": 0}]}, root_nav))
        record(run, "drill-down", "chart figure", client.chart(nav, depth, "", None, "nav.data"))
        record(run, "drill-down", "details panel", client.details(nav))
        record(run, "drill-down", "documents page", client.documents(nav))
        record(run, "drill-down", "document map (redrawn for the new view)", client.map_highlight(nav, "", "nav.data"))
        leaf_nav = {"view": target, "selected": index.ids[index.children_pos[index.pos[target]][0]]}
        record(run, "drill-down", "documents page (a level-2 topic)", client.documents(leaf_nav))
        word = index.nodes[seconds[(7 * run) % len(seconds)]].keywords[run % 8]
        record(run, "search (a topic's word)", "search results", client.search_results(word))
        record(run, "search (a topic's word)", "chart figure", client.chart(root_nav, depth, word, None, "search.value"))
        record(run, "search (a topic's word)", "map highlight (patch)", client.map_highlight(root_nav, word, "search.value"))
        common = index.nodes[0].keywords[run % 8]
        record(run, "search (a word in most documents)", "search results", client.search_results(common))
        record(run, "search (a word in most documents)", "chart figure", client.chart(root_nav, depth, common, None, "search.value"))
        record(run, "search (a word in most documents)", "map highlight (patch)", client.map_highlight(root_nav, common, "search.value"))
        selected = lasso(index, index.top_level[run % len(tops)])
        record(run, "selection", "map selection (lasso, 2,000 points)", client.map_selection(selected))
    return [
        (interaction, name, statistics.median(t for t, _ in v), max(t for t, _ in v), statistics.median(c for _, c in v))
        for (interaction, name), v in samples.items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--browser-runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "viz-10m.md")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)
    machine = machine_info()
    path, written = ensure_tree(args.data, args.docs)

    from topicmap.hierarchy.tree.treefile import load_tree
    from topicmap.viz.app import create_app
    from topicmap.viz.index import TreeIndex
    from topicmap.viz.search_index import SearchIndex, index_path

    rss_start = rss_mb()
    started = time.perf_counter()
    tree = load_tree(path)
    t_load = time.perf_counter() - started
    gc.collect()
    rss_loaded = rss_mb()
    fts = index_path(tree.store)  # type: ignore[arg-type]
    t_fts = None
    if not fts.is_file():
        started = time.perf_counter()
        SearchIndex.for_store(tree.store, quiet=True)  # type: ignore[arg-type]
        t_fts = time.perf_counter() - started
    started = time.perf_counter()
    index = TreeIndex(tree)
    t_index = time.perf_counter() - started
    started = time.perf_counter()
    app = create_app(index)
    t_app = time.perf_counter() - started
    gc.collect()
    rss_index = rss_mb()
    print(f"load {t_load:.2f} s, index {t_index:.2f} s, app {t_app:.2f} s, rss {rss_loaded:.0f} / {rss_index:.0f} MB", file=sys.stderr)

    rows = time_callbacks(app, index, args.runs)
    for interaction, name, med, worst, cpu in rows:
        print(f"{interaction:<36} {name:<44} {med:8.1f} ms (max {worst:.1f}, cpu {cpu:.1f})", file=sys.stderr)
    render: tuple[list[float], list[float], list[float], dict[str, int]] | None = None
    if not args.no_browser:
        render = browser_runs(app, index, args.browser_runs)
        print(f"first render {render[1]}, map {render[2]}", file=sys.stderr)
    gc.collect()
    rss_end = rss_mb()

    lines = [
        *report_head(f"# The explorer over a {args.docs:,}-document sidecar tree", "bench_viz_10m.py", argv),
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in machine.items()],
        f"- load average at end (1/5/15 min): {' / '.join(f'{v:.2f}' for v in os.getloadavg())}",
        "- the machine is shared with other jobs: wall times include waiting for a core (CPU ms is this request's own)",
        "",
        "## Data and start-up",
        "",
        f"- synthetic sidecar tree, {index.n_nodes:,} nodes, {index.n_docs:,} documents of 16 words, rows shuffled; "
        + (f"written in {written:.0f} s" if written is not None else "reused")
        + f"; JSON {path.stat().st_size / 1e6:.1f} MB, sidecar {tree.store.path.stat().st_size / 1e6:.0f} MB, "  # type: ignore[attr-defined]
        f"FTS5 index {fts.stat().st_size / 1e6:.0f} MB" + (f" (built in {t_fts:.0f} s, once)" if t_fts is not None else " (reused)"),
        f"- `load_tree`: {t_load:.2f} s; resident memory {rss_start:.0f} MB before, {rss_loaded:.0f} MB after",
        f"- explorer index (`TreeIndex`): {t_index:.2f} s, app {t_app:.2f} s; resident memory {rss_index:.0f} MB after, "
        f"{rss_end:.0f} MB at the end",
        f"- the map draws {len(index.map_order):,} of {index.n_docs:,} points (a sample stratified by leaf; its legend says so)",
        "",
        f"## Callbacks (ms over HTTP, median and max of {args.runs} runs; target <= {CALLBACK_TARGET_MS:.0f} ms)",
        "",
        "| interaction | callback | median | max | CPU median | target |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for interaction, name, med, worst, cpu in rows:
        ok = "met" if med <= CALLBACK_TARGET_MS else "missed"
        lines.append(f"| {interaction} | {name} | {med:.1f} | {worst:.1f} | {cpu:.1f} | {ok} |")
    if render is not None:
        wall, in_page, map_times, sizes = render
        lines += [
            "",
            f"## First render in Chromium (seconds, median of {args.browser_runs}; target <= {RENDER_TARGET_S:.0f} s)",
            "",
            f"- navigation start until sunburst and details show: median {statistics.median(in_page):.2f} s (runs: {', '.join(f'{v:.2f}' for v in in_page)})"
            f" -- {'met' if statistics.median(in_page) <= RENDER_TARGET_S else 'missed'}",
            f"- until the sampled document map has drawn: median {statistics.median(map_times):.2f} s (runs: {', '.join(f'{v:.2f}' for v in map_times)})",
            f"- wall clock from `goto` until the first view: median {statistics.median(wall):.2f} s",
            "- bytes loaded for the first view: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sizes.items()),
        ]
    write_report(args.out, lines, final_newline=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
