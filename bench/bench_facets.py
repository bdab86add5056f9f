"""Benchmark of the facet page on big facet trees: ``python bench/bench_facets.py``.

Three synthetic trees (``topicmap.viz.synthetic``, ~5,000 nodes over 100,000 documents by default, seeds 0, 1,
2: the same document ids placed differently, as facet trees of one collection are) are served
together. Measured (medians of ``--runs`` runs, over HTTP with the Flask test client on the real
``/_dash-update-component``): building the app (indexes of the three trees and their explorers), the
figures callback (main sunburst + the compared facet's sunburst coloured by share) with the root and
with a top-level topic selected, the node x node table at depths 1 x 1 and 2 x 2, and the CSV export.
The first call of a table computes it (``topicmap.hierarchy.analysis.crosstab``); later calls reuse it: both are reported.
Writes ``bench/results/facets.md``. Target: each callback <= 100 ms (as bench_viz.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_trends import median_ms, post  # noqa: E402
from bench.machine import cpu_model, memory_gib  # noqa: E402
from topicmap.hierarchy.analysis.facet_trees import facet_trees  # noqa: E402
from topicmap.hierarchy.tree.topic_tree import ROOT_ID  # noqa: E402
from topicmap.viz.facet_app import create_facet_app  # noqa: E402
from topicmap.viz.facet_index import FacetIndex  # noqa: E402
from topicmap.viz.synthetic import synthetic_tree  # noqa: E402

CALLBACK_TARGET_MS = 100.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("-o", "--output", default=str(ROOT / "bench" / "results" / "facets.md"))
    args = parser.parse_args()
    load = os.getloadavg()
    trees = [synthetic_tree(args.docs, seed=s) for s in (0, 1, 2)]
    facets = facet_trees(trees, ["problem", "method", "finding"])
    started = time.perf_counter()
    index = FacetIndex(facets)
    app = create_facet_app(index)
    app_s = time.perf_counter() - started
    client = app.server.test_client()
    top = index.index("problem").ids[index.index("problem").top_level[0]]
    state = {"facet": "problem", "view": ROOT_ID, "selected": ROOT_ID, "other": "method"}
    selected = {**state, "view": top, "selected": top}
    figures = [("facet-chart", "figure"), ("facet-cross", "figure"), ("facet-selection", "children"), ("facet-cross-caption", "children")]
    table = [("facet-table-caption", "children"), ("facet-table", "children")]

    def table_call(s: dict[str, str], depth: int):  # noqa: ANN202
        return post(client, table, [{"id": "facet-state", "property": "data", "value": s}, {"id": "facet-row-depth", "property": "value", "value": depth},
                                    {"id": "facet-column-depth", "property": "value", "value": depth}], "facet-row-depth.value")

    rows = []
    calls = {
        "figures, root selected": post(client, figures, [{"id": "facet-state", "property": "data", "value": state}], "facet-state.data"),
        f"figures, topic {top} selected": post(client, figures, [{"id": "facet-state", "property": "data", "value": selected}], "facet-state.data"),
    }
    for depth in (1, 2):
        call = table_call(selected, depth)
        first_start = time.perf_counter()
        size = call()
        first = (time.perf_counter() - first_start) * 1000
        med, worst = median_ms(call, args.runs)
        n_a = sum(1 for n in trees[0].iter_nodes() if n.depth == depth)
        n_b = sum(1 for n in trees[1].iter_nodes() if n.depth == depth)
        rows.append((f"table {n_a} x {n_b} (depth {depth} x {depth}), topic {top} selected: first call / later", f"{first:.0f} / {med:.1f}", f"{worst:.1f}", f"{size / 1024:.0f} KB",
                     f"{'yes' if med <= CALLBACK_TARGET_MS else 'NO'} / first call {'yes' if first <= CALLBACK_TARGET_MS else 'NO'}"))
    for name, call in calls.items():
        size = call()
        med, worst = median_ms(call, args.runs)
        rows.append((name, f"{med:.1f}", f"{worst:.1f}", f"{size / 1024:.0f} KB", "yes" if med <= CALLBACK_TARGET_MS else "NO"))
    payload = json.dumps({"output": "facet-download.data", "outputs": {"id": "facet-download", "property": "data"},
                          "inputs": [{"id": "facet-export", "property": "n_clicks", "value": 1}], "changedPropIds": ["facet-export.n_clicks"],
                          "state": [{"id": "facet-state", "property": "data", "value": state}, {"id": "facet-row-depth", "property": "value", "value": 2},
                                    {"id": "facet-column-depth", "property": "value", "value": 2}]})

    def export_call() -> int:
        response = client.post("/_dash-update-component", data=payload, content_type="application/json")
        assert response.status_code == 200, response.data[:300]
        return len(response.data)

    size = export_call()
    med, worst = median_ms(export_call, args.runs)
    rows.append(("CSV export, depth 2 x 2 (long format, pairs with documents)", f"{med:.1f}", f"{worst:.1f}", f"{size / 1024:.0f} KB", "yes" if med <= CALLBACK_TARGET_MS else "NO"))
    n_nodes = len(list(trees[0].iter_nodes()))
    lines = [
        "# Facet page: three facet trees served together",
        "",
        f"`python bench/bench_facets.py --docs {args.docs} --runs {args.runs}`: three synthetic trees of {n_nodes:,} nodes over "
        f"{args.docs:,} documents (same ids, seeds 0/1/2), callbacks over HTTP (Flask test client). Medians of {args.runs} runs.",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {memory_gib() or 0:.1f} GiB, Python {platform.python_version()}; "
        f"load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared machine).",
        "",
        f"Building the app (3 indexes, the facet page and 3 explorers): {app_s:.1f} s.",
        "",
        f"| callback | median ms | worst ms | response | <= {CALLBACK_TARGET_MS:.0f} ms |",
        "|---|---|---|---|---|",
        *[f"| {' | '.join(r)} |" for r in rows],
        "",
    ]
    Path(args.output).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
