"""Benchmark of the Dash explorer on a big synthetic tree: ``python bench/bench_viz.py``.

Measures, for ~5,000 nodes over 100,000 documents (medians of several runs):
  * page payload: bytes of every response the browser loads for the first view (app data vs.
    JS/CSS bundles);
  * server time of the drill-down, search and map-selection callbacks, posted over HTTP to the
    app's real ``/_dash-update-component`` endpoint (Flask test client: routing, JSON decoding,
    the callback, and JSON encoding of the response; no network);
  * first render in headless Chromium: navigation start until the sunburst, the document map
    and the details panel are all on screen; then a click on the largest top-level topic, until
    the chart and details show it, and until the map's legend lists its subtopics.
  * search under hostile queries (``topicmap.viz.search`` bounds them): the search-results callback for an
    ordinary word, ten common terms, an 800 KB query and 300 distinct words, with how much of the
    corpus each scan covered; and the server's memory after 23 and 46 distinct 20 MB queries.
``--docs 20000 --schedule 8,7,7,5`` gives the ~2,000-leaf shape of the new default trees.
Writes ``bench/results/viz.md`` (``--search-only``: only the search section, to
``bench/results/viz-search.md``). Targets: each callback <= 100 ms, first render <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model, memory_gib  # noqa: E402

import dash  # noqa: E402
import numpy as np  # noqa: E402
import plotly  # noqa: E402

from topicmap.hierarchy.tree.topic_tree import ROOT_ID  # noqa: E402
from topicmap.viz.app import create_app  # noqa: E402
from topicmap.viz.figures import default_depth  # noqa: E402
from topicmap.viz.index import TreeIndex  # noqa: E402
from topicmap.viz.synthetic import synthetic_tree  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CALLBACK_TARGET_MS = 100.0
DEFAULT_OUT = str(ROOT / "bench" / "results" / "viz.md")
RENDER_TARGET_S = 2.0


# -- machine -----------------------------------------------------------------------------------
def machine_info() -> dict[str, str]:
    cpu = cpu_model()
    gib = memory_gib()
    mem = "?" if gib is None else f"{gib:.1f} GiB"
    try:
        chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        chromium = "not found"
    return {
        "platform": platform.platform(),
        "cpu": f"{cpu} ({os.cpu_count()} logical cores)",
        "memory": mem,
        "python": platform.python_version(),
        "dash / plotly.py": f"{dash.__version__} / {plotly.__version__}",
        "chromium": chromium,
        "load average at start (1/5/15 min)": " / ".join(f"{v:.2f}" for v in os.getloadavg()),
    }


# -- callbacks over HTTP --------------------------------------------------------------------------
class CallbackClient:
    """Posts Dash callback requests shaped like the browser's, and times the server side."""

    GOTO_ALL: list[Any] = []  # no goto buttons in these requests

    def __init__(self, app: dash.Dash) -> None:
        self.client = app.server.test_client()
        deps = self.client.get("/_dash-dependencies").get_json()
        # outputs declared with allow_duplicate carry a hash suffix: take the real names from the app
        self.map_load_output = next(d["output"] for d in deps if "map-ready.data" in d["output"])
        self.relabel_output = next(d["output"] for d in deps if d["inputs"] == [{"id": "map-frame", "property": "data"}])

    def post(self, outputs: list[tuple[str, str]], inputs: list[Any], state: list[Any], changed: list[str]) -> tuple[float, int]:
        if len(outputs) == 1:
            output = f"{outputs[0][0]}.{outputs[0][1]}"
            outs: Any = {"id": outputs[0][0], "property": outputs[0][1]}
        else:
            output = ".." + "...".join(f"{i}.{p}" for i, p in outputs) + ".."
            outs = [{"id": i, "property": p} for i, p in outputs]
        body = json.dumps({"output": output, "outputs": outs, "inputs": inputs, "changedPropIds": changed, "state": state})
        start, cpu = time.perf_counter(), time.thread_time()
        response = self.client.post("/_dash-update-component", data=body, content_type="application/json")
        elapsed = (time.perf_counter() - start) * 1000
        self.last_cpu_ms = (time.thread_time() - cpu) * 1000
        if response.status_code not in (200, 204):
            raise RuntimeError(f"callback {output} failed: HTTP {response.status_code} {response.data[:300]!r}")
        self.last_body = response.get_data(as_text=True)
        return elapsed, len(response.data)

    # one method per callback, with the browser's request shape
    def navigate(self, click: Any, nav: dict[str, str], label: Any = None) -> tuple[float, int]:
        """A sunburst click, or (``label``) a click on a topic name on the map."""
        return self.post(
            [("nav", "data")],
            [{"id": "chart", "property": "clickData", "value": None if label else click}, {"id": "doc-map", "property": "clickData", "value": None}, [],
             {"id": "map-label", "property": "data", "value": label}],
            [{"id": "nav", "property": "data", "value": nav}, {"id": "map-view", "property": "data", "value": nav["view"]}],
            ["map-label.data" if label else "chart.clickData"],
        )

    def relabel(self, frame: dict[str, Any], shown: str) -> tuple[float, int]:
        """The map's names placed again for a zoom the page reported."""
        body = json.dumps({
            "output": self.relabel_output, "outputs": {"id": "doc-map", "property": "figure"},
            "inputs": [{"id": "map-frame", "property": "data", "value": frame}], "changedPropIds": ["map-frame.data"],
            "state": [{"id": "map-view", "property": "data", "value": shown}, {"id": "map-ready", "property": "data", "value": True}],
        })
        start, cpu = time.perf_counter(), time.thread_time()
        response = self.client.post("/_dash-update-component", data=body, content_type="application/json")
        elapsed = (time.perf_counter() - start) * 1000
        self.last_cpu_ms = (time.thread_time() - cpu) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"relabel failed: HTTP {response.status_code} {response.data[:300]!r}")
        return elapsed, len(response.data)

    def chart(self, nav: dict[str, str], depth: int, query: str, pick: Any, changed: str) -> tuple[float, int]:
        return self.post(
            [("chart", "figure")],
            [
                {"id": "nav", "property": "data", "value": nav},
                {"id": "depth", "property": "value", "value": depth},
                {"id": "chart-kind", "property": "value", "value": "sunburst"},
                {"id": "search", "property": "value", "value": query},
                {"id": "map-pick", "property": "data", "value": pick},
                {"id": "chart-color", "property": "data", "value": "topic"},
            ],
            [],
            [changed],
        )

    def details(self, nav: dict[str, str]) -> tuple[float, int]:
        return self.post([("crumbs", "children"), ("node-details", "children")], [{"id": "nav", "property": "data", "value": nav}], [], ["nav.data"])

    def documents(self, nav: dict[str, str]) -> tuple[float, int]:
        return self.post(
            [("doc-list", "children"), ("page-info", "children"), ("page-prev", "disabled"), ("page-next", "disabled")],
            [{"id": "doc-page", "property": "data", "value": 0}, {"id": "nav", "property": "data", "value": nav}],
            [],
            ["doc-page.data", "nav.data"],
        )

    def map_highlight(self, nav: dict[str, str], query: str, changed: str, shown: str = ROOT_ID) -> tuple[float, int]:
        """The map after a click or search: a patch, or the whole figure when the view changed
        (``shown`` is the view the browser's map was drawn for)."""
        return self.post(
            [("doc-map", "figure"), ("map-view", "data")],
            [{"id": "nav", "property": "data", "value": nav}, {"id": "search", "property": "value", "value": query}],
            [{"id": "map-ready", "property": "data", "value": True}, {"id": "map-view", "property": "data", "value": shown},
             {"id": "map-frame", "property": "data", "value": None}],
            [changed],
        )

    def map_load(self, nav: dict[str, str]) -> tuple[float, int]:
        """The full map figure, sent once after the chart has drawn."""
        parts = [part.split(".", 1) for part in self.map_load_output.strip(".").split("...")]
        body = json.dumps({
            "output": self.map_load_output,
            "outputs": [{"id": i, "property": prop} for i, prop in parts],
            "inputs": [{"id": "chart", "property": "relayoutData", "value": {"autosize": True}},
                       {"id": "map-timer", "property": "n_intervals", "value": None}],
            "changedPropIds": ["chart.relayoutData"],
            "state": [{"id": "map-ready", "property": "data", "value": False},
                      {"id": "nav", "property": "data", "value": nav},
                      {"id": "search", "property": "value", "value": ""},
                      {"id": "map-frame", "property": "data", "value": None}],
        })
        start, cpu = time.perf_counter(), time.thread_time()
        response = self.client.post("/_dash-update-component", data=body, content_type="application/json")
        elapsed = (time.perf_counter() - start) * 1000
        self.last_cpu_ms = (time.thread_time() - cpu) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"map load failed: HTTP {response.status_code} {response.data[:300]!r}")
        return elapsed, len(response.data)

    def search_results(self, query: str) -> tuple[float, int]:
        return self.post([("search-results", "children")], [{"id": "search", "property": "value", "value": query}], [], ["search.value"])

    def map_selection(self, selected: Any) -> tuple[float, int]:
        return self.post(
            [("map-selection", "children"), ("map-pick", "data")],
            [{"id": "doc-map", "property": "selectedData", "value": selected}],
            [{"id": "map-view", "property": "data", "value": ROOT_ID}],
            ["doc-map.selectedData"],
        )


lasso_sizes: list[int] = []  # points per lasso in the last time_callbacks run, for the report


def lasso_points(index: TreeIndex, top: int, fraction: float = 0.5) -> dict[str, Any]:
    """selectedData as plotly sends it for a lasso over part of one top-level topic's points."""
    lo, hi = int(index.doc_lo[top]), int(index.doc_hi[top])
    k = int((hi - lo) * fraction)
    curve = index.top_level.index(top)
    rows = index.doc_order[lo : lo + k]
    return {"points": [
        {"curveNumber": curve, "pointNumber": j, "pointIndex": j, "x": float(index.doc_x[r]), "y": float(index.doc_y[r])}
        for j, r in enumerate(rows.tolist())
    ]}


def time_callbacks(app: dash.Dash, index: TreeIndex, runs: int) -> list[tuple[str, str, float, float, int, float]]:
    """(interaction, callback, median ms, max ms, response bytes, median CPU ms) for each callback an interaction fires.

    CPU ms is the CPU time of the thread that ran the request: on a machine shared with other work it
    shows what the callback costs, where wall-clock time also counts the wait for a core."""
    client = CallbackClient(app)
    depth = default_depth(index)
    root_nav = {"view": ROOT_ID, "selected": ROOT_ID}
    tops = [index.ids[t] for t in index.top_level]
    queries = [index.nodes[index.top_level[k % len(tops)]].keywords[k // len(tops) % 8] for k in range(runs * 3)]
    samples: dict[tuple[str, str], list[tuple[float, int]]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    lasso_sizes.clear()

    def record(interaction: str, name: str, result: tuple[float, int]) -> None:
        samples.setdefault((interaction, name), []).append(result)
        cpu.setdefault((interaction, name), []).append(client.last_cpu_ms)

    for run in range(runs):
        record("page load", "document map (full figure, once)", client.map_load(root_nav))
        target = tops[run % len(tops)]  # drill into a different top-level topic each run
        nav = {"view": target, "selected": target}
        record("drill-down", "navigate (chart click)", client.navigate({"points": [{"id": target, "curveNumber": 0}]}, root_nav))
        record("drill-down", "chart figure", client.chart(nav, depth, "", None, "nav.data"))
        record("drill-down", "details panel", client.details(nav))
        record("drill-down", "documents page", client.documents(nav))
        record("drill-down", "document map (redrawn for the new view)", client.map_highlight(nav, "", "nav.data"))
        query = queries[run]  # a fresh query each run: no cache hit in the first callback
        record("search", "search results", client.search_results(query))
        record("search", "chart figure", client.chart(root_nav, depth, query, None, "search.value"))
        record("search", "map highlight (patch)", client.map_highlight(root_nav, query, "search.value"))
        label_target = index.ids[index.children_pos[index.pos[target]][0]]  # a name on the map drawn for ``target``
        record("map names", "navigate (click on a topic name)", client.navigate(None, nav, {"node": label_target, "at": run}))
        for zoom in (1, 4, 16):  # the whole map, then zoomed in twice around a top-level topic: deeper names
            record("map names", f"names placed again (zoom x{zoom})", client.relabel(zoom_frame(index, index.pos[target], zoom, run), ROOT_ID))
        selected = lasso_points(index, index.top_level[run % len(tops)])
        elapsed, size = client.map_selection(selected)
        record("selection", "map selection (lasso)", (elapsed, size))
        lasso_sizes.append(len(selected["points"]))
        pick = {"n": len(selected["points"]), "nodes": index.nodes_of_rows(map_rows(index, selected))}
        record("selection", "chart figure", client.chart(root_nav, depth, "", pick, "map-pick.data"))
    out = []
    for (interaction, name), values in samples.items():
        times = [t for t, _ in values]
        out.append((interaction, name, statistics.median(times), max(times), int(statistics.median([s for _, s in values])),
                    statistics.median(cpu[(interaction, name)])))
    return out


def zoom_frame(index: TreeIndex, around: int, zoom: int, run: int) -> dict[str, Any]:
    """What the page reports after zooming the whole map ``zoom`` times around a topic's documents
    (plot size varied a little per run, so no two reports are identical)."""
    from topicmap.viz.map_labels import full_frame

    whole = full_frame(index, 0)
    rows = index.node_doc_rows(index.ids[around])
    cx, cy = float(index.map_x[rows].mean()), float(index.map_y[rows].mean())
    half_x, half_y = (whole.x1 - whole.x0) / (2 * zoom), (whole.y1 - whole.y0) / (2 * zoom)
    return {"view": ROOT_ID, "x": [cx - half_x, cx + half_x], "y": [cy - half_y, cy + half_y], "w": 760 + run, "h": 430}


def map_rows(index: TreeIndex, selected: dict[str, Any]) -> np.ndarray:
    from topicmap.viz.figures import map_point_rows

    return map_point_rows(index, selected["points"])


# -- search under hostile queries ---------------------------------------------------------------------
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "sa", "do", "fu", "gi", "ho", "ju", "be")
MEMORY_QUERIES = 23
MEMORY_QUERY_BYTES = 20 * 2**20


def search_queries(index: TreeIndex, run: int) -> dict[str, str]:
    """One query of each kind, different in every run (so the first callback never hits the cache)."""
    # a second-level topic's keyword: time_callbacks searched the top-level ones, which are cached now
    seconds = [c for t in index.top_level for c in index.children_pos[t]]
    word = index.nodes[seconds[(7 * run) % len(seconds)]].keywords[0]
    common = [SYLLABLES[(run + 3 * k) % len(SYLLABLES)] for k in range(10)]  # each in most synthetic documents
    return {
        "one keyword": word,
        "10 common terms (every one in most documents)": " ".join(common),
        "800 KB: one keyword + 200,000 x 'the'": word + " " + "the " * 200_000,
        "300 distinct words (cut to 200 characters)": " ".join(f"{word}{k}" for k in range(300)),
    }


def scan_report(body: str, n_docs: int) -> tuple[int, int]:
    """(documents scanned, documents matched) as the search-results panel reports them."""
    import re

    matched = re.search(r"([\d,]+) documents and [\d,]+ topics match", body)
    stopped = re.search(r"after ([\d,]+) of [\d,]+ documents", body)
    number = lambda m: int(m.group(1).replace(",", ""))  # noqa: E731
    return (number(stopped) if stopped else n_docs), (number(matched) if matched else 0)


def rss_mb() -> float:
    """This process's resident memory now (Linux /proc), in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def time_search(app: dash.Dash, index: TreeIndex, runs: int) -> tuple[list[tuple[str, float, float, float, int, int]], tuple[float, float, float]]:
    """Per query kind: (kind, median ms, max ms, median % of documents scanned, median matches, response bytes);
    and RSS MB before, after 23 and after 46 distinct 20 MB queries."""
    client = CallbackClient(app)
    samples: dict[str, list[tuple[float, float, int, int]]] = {}
    for run in range(runs):
        for kind, query in search_queries(index, run).items():
            elapsed, size = client.search_results(query)
            scanned, matches = scan_report(client.last_body, index.n_docs)
            samples.setdefault(kind, []).append((elapsed, 100.0 * scanned / max(index.n_docs, 1), matches, size))
    rows = []
    for kind, values in samples.items():
        times = [v[0] for v in values]
        rows.append((kind, statistics.median(times), max(times), statistics.median(v[1] for v in values),
                     int(statistics.median(v[2] for v in values)), int(statistics.median(v[3] for v in values))))
    return rows, memory_after_big_queries(app)


def memory_after_big_queries(app: dash.Dash) -> tuple[float, float, float]:
    """RSS (MB) before, after MEMORY_QUERIES distinct big queries and after as many more, posted to the
    app served as ``app.run`` serves it (werkzeug, threaded, over a socket). Bounded memory shows as
    a plateau: the second batch adds nothing."""
    import gc
    import http.client

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    httpd = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        gc.collect()
        measured = [rss_mb()]
        for batch in range(2):
            for k in range(batch * MEMORY_QUERIES, (batch + 1) * MEMORY_QUERIES):
                filler = SYLLABLES[k % len(SYLLABLES)] + f"{k} "
                query = (filler * (MEMORY_QUERY_BYTES // len(filler)))[:MEMORY_QUERY_BYTES]
                body = json.dumps({"output": "search-results.children", "outputs": {"id": "search-results", "property": "children"},
                                   "inputs": [{"id": "search", "property": "value", "value": query}], "changedPropIds": ["search.value"], "state": []})
                connection = http.client.HTTPConnection("127.0.0.1", httpd.server_port, timeout=120)
                connection.request("POST", "/_dash-update-component", body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                connection.close()
                if response.status != 200:
                    raise RuntimeError(f"big query {k}: HTTP {response.status}")
            measured.append(rss_mb())
        return measured[0], measured[1], measured[2]
    finally:
        httpd.shutdown()
        thread.join(timeout=10)


def search_lines(rows: list[tuple[str, float, float, float, int, int]], memory: tuple[float, float, float], runs: int, n_docs: int) -> list[str]:
    from topicmap.viz.app import max_request_bytes
    from topicmap.viz.search import CACHE_BYTES, CACHE_ENTRIES, MAX_QUERY_CHARS, MAX_QUERY_TERMS, SCAN_CPU_BUDGET_S

    lines = [
        f"## Search under hostile queries ({n_docs:,} documents, median of {runs} runs, target <= {CALLBACK_TARGET_MS:.0f} ms)",
        "",
        "The search-results callback, posted to `/_dash-update-component` through the Flask test client, shaped like "
        "the browser's request (the first callback of a search: it runs the search; the chart and map reuse it). "
        "Every run uses queries not seen before. A query is read up "
        f"to {MAX_QUERY_CHARS} characters and {MAX_QUERY_TERMS} distinct terms; the document scan stops after "
        f"{SCAN_CPU_BUDGET_S * 1000:.0f} ms of CPU time and says how far it got ('scanned'); results are cached under "
        f"the bounded terms ({CACHE_ENTRIES} entries, {CACHE_BYTES // 2**20} MB); request bodies above "
        f"{max_request_bytes(n_docs) / 1e6:.1f} MB are refused (HTTP 413).",
        "",
        "| query | median ms | max ms | documents scanned | matches | response bytes | within target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for kind, med, worst, scanned, matches, size in rows:
        lines.append(f"| {kind} | {med:.1f} | {worst:.1f} | {scanned:.0f}% | {matches:,} | {size:,} | {'yes' if med <= CALLBACK_TARGET_MS else 'NO'} |")
    before, first, second = memory
    lines += [
        "",
        f"Server memory (RSS of the app served by werkzeug as `app.run` does, over a socket) under distinct "
        f"{MEMORY_QUERY_BYTES // 2**20} MB queries, one after another: {before:.0f} MB before, {first:.0f} MB after "
        f"{MEMORY_QUERIES}, {second:.0f} MB after {2 * MEMORY_QUERIES} (what the allocator keeps for the next big "
        "request; the search cache holds only the bounded terms).",
    ]
    return lines


# -- browser --------------------------------------------------------------------------------------
def browser_runs(
    app: dash.Dash, index: TreeIndex, runs: int, clicks: dict[str, list[float]] | None = None
) -> tuple[list[float], list[float], list[float], dict[str, int]]:
    """First-render seconds (wall clock from goto; in page from navigation start), seconds until
    the document map has drawn (in page), and bytes loaded by kind. With ``clicks``, also times a
    click on the largest top-level segment (in page): until the chart and details show that topic
    ("chart"), and until the map has been redrawn with its subtopics in the legend ("map")."""
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    httpd = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_port}/"
    wall: list[float] = []
    in_page: list[float] = []
    map_times: list[float] = []
    sizes: dict[str, int] = {}
    ready = """() => document.querySelectorAll('#chart g.slice path.surface').length > 3
                && (document.querySelector('#node-label')?.innerText || '').length > 0"""
    map_ready = """() => document.querySelector('#doc-map canvas') !== null
                && (document.querySelector('#doc-map .js-plotly-plot')?.data || []).length > 2"""
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for run in range(runs + 1):  # run 0 warms the OS file cache and the server; not counted
                context = browser.new_context(viewport={"width": 1400, "height": 1100})  # empty HTTP cache
                page = context.new_page()
                responses: list[Any] = []
                page.on("response", lambda r: responses.append(r))
                start = time.perf_counter()
                page.goto(url)
                page.wait_for_function(ready, polling=20, timeout=60_000)
                elapsed = time.perf_counter() - start
                nav_ms = page.evaluate("performance.now()")
                page.wait_for_function(map_ready, polling=20, timeout=60_000)
                map_s = page.evaluate("performance.now()") / 1000
                if run > 0:
                    wall.append(elapsed)
                    in_page.append(nav_ms / 1000)
                    map_times.append(map_s)
                if run == runs:
                    time.sleep(1.0)  # let trailing callback responses land before counting bytes
                    for response in list(responses):  # the first view only: before the timed click
                        try:
                            body = len(response.body())
                        except Exception:  # noqa: BLE001 - a redirect or aborted request has no body
                            continue
                        path = response.url.split("?")[0]
                        kind = "js/css bundles" if path.endswith((".js", ".css")) else "app data (html, layout, callbacks)"
                        sizes[kind] = sizes.get(kind, 0) + body
                        if "_dash-layout" in path:
                            sizes["of which /_dash-layout"] = body
                if run > 0 and clicks is not None and index.top_level:
                    chart_s, legend_s = time_click(page, index)
                    clicks.setdefault("chart", []).append(chart_s)
                    clicks.setdefault("map", []).append(legend_s)
                context.close()
            browser.close()
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
    return wall, in_page, map_times, sizes


def time_click(page: Any, index: TreeIndex) -> tuple[float, float]:
    """Seconds from a click on the largest top-level segment until the chart is recentred on it
    with the details panel following, and until the map's legend lists its subtopics."""
    top = index.top_level[0]
    label = index.labels[top]
    slices = len(index.window(index.ids[top], default_depth(index)))
    page.wait_for_timeout(1000)  # let the first render settle (plotly transitions, trailing callbacks)
    box = page.locator("#chart g.slice text").filter(has_text=label).first.bounding_box()
    if box is None:
        raise RuntimeError(f"no chart label {label!r} to click")
    start = page.evaluate("performance.now()")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function(
        f"""() => document.querySelector('#node-label')?.innerText === {json.dumps(label)}
                  && document.querySelectorAll('#chart g.slice path.surface').length === {slices}""",
        polling=10, timeout=60_000,
    )
    chart = page.evaluate("performance.now()")
    page.wait_for_function(
        f"document.querySelector('#doc-map .legendtitletext')?.textContent === {json.dumps('Topics in ' + label)}",
        polling=10, timeout=60_000,
    )
    legend = page.evaluate("performance.now()")
    return (chart - start) / 1000, (legend - start) / 1000


# -- report ---------------------------------------------------------------------------------------
def report_header(title: str, argv: list[str] | None) -> list[str]:
    """Title, the command that reproduces the report, when it was written, and the machine."""
    command = " ".join(["python bench/bench_viz.py", *(argv if argv is not None else sys.argv[1:])])
    lines = [f"# {title}", "", f"Command: `{command}` (written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", ""]
    return lines + ["## Machine", ""] + [f"- {k}: {v}" for k, v in machine_info().items()] + [""]


def write_search_only(app: dash.Dash, index: TreeIndex, runs: int, args: argparse.Namespace, argv: list[str] | None, t_tree: float) -> int:
    """The hostile-search section alone, with the machine and data it ran on."""
    rows, memory = time_search(app, index, runs)
    for kind, med, worst, scanned, matches, size in rows:
        print(f"{kind:<48} {med:7.1f} ms (max {worst:.1f}) scanned {scanned:.0f}% {matches:>7,} matches", file=sys.stderr)
    print(f"memory: {memory[0]:.0f} -> {memory[1]:.0f} -> {memory[2]:.0f} MB", file=sys.stderr)
    lines = report_header("Dash explorer: search under hostile queries", argv)
    lines += [
        "## Data",
        "",
        f"- synthetic tree (`topicmap.viz.synthetic.synthetic_tree`, schedule {args.schedule}, seed 0): {index.n_nodes:,} nodes, "
        f"{index.n_docs:,} documents of ~24 words; built in {t_tree:.1f} s",
        "",
    ]
    lines += search_lines(rows, memory, runs, index.n_docs)
    out = Path(args.out if args.out != DEFAULT_OUT else ROOT / "bench" / "results" / "viz-search.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--schedule", default="10,10,49", help="children per level (default: 5,011 nodes)")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median reported; >= 3)")
    parser.add_argument("--browser-runs", type=int, default=3)
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--search-only", action="store_true", help="only the hostile-search section, to bench/results/viz-search.md")
    args = parser.parse_args(argv)
    runs, browser_n = max(3, args.runs), max(3, args.browser_runs)
    schedule = tuple(int(s) for s in args.schedule.split(","))

    t0 = time.perf_counter()
    tree = synthetic_tree(n_docs=args.docs, schedule=schedule, seed=0)
    t_tree = time.perf_counter() - t0
    t0 = time.perf_counter()
    app = create_app(tree)
    t_app = time.perf_counter() - t0
    index = TreeIndex(tree)
    print(f"tree: {len(tree):,} nodes, {len(tree.documents):,} documents ({t_tree:.1f} s); create_app {t_app:.2f} s", file=sys.stderr)

    if args.search_only:
        return write_search_only(app, index, runs, args, argv, t_tree)
    callbacks = time_callbacks(app, index, runs)
    for row in callbacks:
        print(f"{row[0]:<11} {row[1]:<32} {row[2]:7.1f} ms (max {row[3]:.1f}, CPU {row[5]:.1f}) {row[4]:>9,} B", file=sys.stderr)
    wall: list[float] = []
    in_page: list[float] = []
    map_times: list[float] = []
    sizes: dict[str, int] = {}
    clicks: dict[str, list[float]] = {}
    if not args.no_browser:
        wall, in_page, map_times, sizes = browser_runs(app, index, browser_n, clicks)
        print(f"first render: median {statistics.median(wall):.2f} s (runs {', '.join(f'{w:.2f}' for w in wall)})", file=sys.stderr)
        for what, times in clicks.items():
            print(f"click -> {what}: median {statistics.median(times):.2f} s (runs {', '.join(f'{t:.2f}' for t in times)})", file=sys.stderr)

    lines = report_header("Dash explorer benchmark", argv)
    lines += [
        "## Data",
        "",
        f"- synthetic tree (`topicmap.viz.synthetic.synthetic_tree`, schedule {args.schedule}, seed 0): {len(tree):,} nodes, "
        f"depth {tree.depth}, {len(tree.documents):,} documents; built in {t_tree:.1f} s",
        f"- `create_app` (index + layout with first-view figures): {t_app:.2f} s; first view shows {default_depth(index)} rings "
        f"({len(index.window(ROOT_ID, default_depth(index))):,} nodes)",
        "",
        f"## Callback server time (median of {runs} runs, target <= {CALLBACK_TARGET_MS:.0f} ms each)",
        "",
        "Posted to `/_dash-update-component` through the Flask test client, shaped like the browser's requests: "
        "includes routing, JSON decoding, the callback and JSON encoding of the response. Every search run uses a "
        "query not seen before (no cache hit in the first callback; the later callbacks of the same interaction "
        "reuse the search, as they do in the app). *median CPU ms* is the CPU time of the thread that ran the request "
        "(the wall-clock columns also count waiting for a core when the machine is shared). Map names: a click on a "
        "name, then the names placed again for the whole map and for zooms x4 and x16 around a top-level topic "
        "(deeper levels). Drill-down goes into a different top-level topic each run; "
        "the lasso selects half of one top-level topic's points "
        f"({min(lasso_sizes or [0]):,}–{max(lasso_sizes or [0]):,} points, all sent by the browser in selectedData).",
        "",
        "| interaction | callback | median ms | max ms | response bytes | within target | median CPU ms |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for interaction, name, med, worst, size, cpu_ms in callbacks:
        lines.append(f"| {interaction} | {name} | {med:.1f} | {worst:.1f} | {size:,} | {'yes' if med <= CALLBACK_TARGET_MS else 'NO'} | {cpu_ms:.1f} |")
    lines += [""] + search_lines(*time_search(app, index, runs), runs, index.n_docs)
    if wall:
        lines += [
            "",
            f"## First render in headless Chromium (median of {browser_n} cold runs, after one warm-up; target <= {RENDER_TARGET_S:.0f} s)",
            "",
            "First render: from `page.goto` until the sunburst has segments and the details panel is filled. The "
            "document map is sent after the chart has drawn (its WebGL context is slow to start without a GPU), so "
            "it is timed separately. Each run in a new browser context (empty HTTP cache), Chromium with "
            "`--disable-gpu` (software WebGL).",
            "",
            f"- first render, wall clock: median {statistics.median(wall):.2f} s (runs: {', '.join(f'{w:.2f}' for w in wall)})",
            f"- first render, in page (performance.now at ready): median {statistics.median(in_page):.2f} s",
            f"- document map drawn, in page: median {statistics.median(map_times):.2f} s (runs: {', '.join(f'{w:.2f}' for w in map_times)})",
        ]
        if clicks:
            lines += [
                "- click on the largest top-level topic, until the chart is recentred and the details follow: median "
                f"{statistics.median(clicks['chart']):.2f} s (runs: {', '.join(f'{t:.2f}' for t in clicks['chart'])})",
                "- same click, until the map is redrawn with that topic's subtopics in its legend: median "
                f"{statistics.median(clicks['map']):.2f} s (runs: {', '.join(f'{t:.2f}' for t in clicks['map'])})",
            ]
        lines += [
            "",
            "## Page payload (first view, one cold load)",
            "",
        ]
        lines += [f"- {kind}: {size / 1e6:.2f} MB" for kind, size in sorted(sizes.items())]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
