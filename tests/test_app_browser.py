"""End to end in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Loads the running app, checks the sunburst rendered, clicks a segment and sees the details panel
follow, searches and sees the highlight, opens the untrusted label and checks it stays text, and
opens the standalone HTML export from disk with no server. Screenshots go to ``test-artifacts/``.
Fails (does not skip) when Chromium is missing, unless TOPICMAP_SKIP_BROWSER=1.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.viz_fixtures import EVIL_LABEL, small_tree

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CHROMIUM = os.environ.get("TOPICMAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WAIT_MS = 15_000

if os.environ.get("TOPICMAP_SKIP_BROWSER") == "1":
    pytest.skip("TOPICMAP_SKIP_BROWSER=1", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's `chromium` or set TOPICMAP_SKIP_BROWSER=1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The app on 127.0.0.1 with a free port, in a thread (werkzeug, threaded like `app.run`)."""
    from werkzeug.serving import make_server

    from viz import create_app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    httpd = make_server("127.0.0.1", 0, create_app(small_tree()).server, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(timeout=10)


def _wait(page: Any, js: str) -> None:
    """Poll a JS predicate on a timer (not requestAnimationFrame, which WebGL pages can starve)."""
    page.wait_for_function(js, polling=100, timeout=WAIT_MS)


def _click_segment(page: Any, label: str) -> None:
    """Click where a segment's label is drawn: always inside the segment (a segment's bounding-box
    centre is not, for wide ring segments)."""
    text = page.locator("#chart g.slice text").filter(has_text=label).first
    box = text.bounding_box()
    assert box is not None, f"no segment labelled {label!r}"
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def _highlighted_segments(page: Any) -> list[str]:
    """Labels of chart segments currently outlined as search matches (red stroke)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('#chart g.slice')).filter(g => {
               const p = g.querySelector('path.surface');
               return p && (p.style.stroke || '').replace(/\\s/g, '') === 'rgb(214,39,40)';
           }).map(g => (g.querySelector('text') || {}).textContent || '')"""
    )


def test_explore_in_chromium(browser: Any, server: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1150})
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    foreign: list[str] = []
    plotly_loads: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: None if req.url.startswith(server) else foreign.append(req.url))
    page.on("request", lambda req: plotly_loads.append(req.url) if "plotly.min.js" in req.url else None)
    try:
        page.goto(server + "/")
        # the sunburst rendered: centre + 3 topics + 6 subtopics
        _wait(page, "document.querySelectorAll('#chart g.slice path.surface').length === 10")
        _wait(page, "document.querySelector('#node-label')?.innerText === 'All documents'")
        # the map arrives after the chart has drawn: 3 topic traces + 2 overlays, on a WebGL canvas
        _wait(page, "document.querySelector('#doc-map .js-plotly-plot')?.data?.length === 5")
        assert page.locator("#doc-map canvas").count() > 0

        # documents are paged on the server
        _wait(page, "document.querySelector('#page-info')?.innerText === 'page 1 of 5 · 36 documents'")
        page.click("#page-next")
        _wait(page, "document.querySelector('#page-info')?.innerText === 'page 2 of 5 · 36 documents'")

        # click a segment: the details panel shows that node, the chart recentres on it
        _click_segment(page, "Programming")
        _wait(page, "document.querySelector('#node-label')?.innerText === 'Programming'")
        _wait(page, "document.querySelectorAll('#chart g.slice path.surface').length === 3")
        assert page.locator("#crumbs button").all_inner_texts() == ["All documents", "Programming"]
        assert "13 documents" in page.locator("#node-details").inner_text()
        _wait(page, "document.querySelector('#page-info')?.innerText === 'page 1 of 2 · 13 documents'")
        assert page.locator("#doc-list details").count() == 8

        # a leaf is selected in place: the server keeps the view (plotly's own zoom is switched off)
        _click_segment(page, "Testing")
        _wait(page, "document.querySelector('#node-label')?.innerText === 'Testing'")
        page.wait_for_timeout(900)  # longer than plotly's 750 ms click animation
        assert page.locator("#chart g.slice path.surface").count() == 3
        _click_segment(page, "Concurrency")
        _wait(page, "document.querySelector('#node-label')?.innerText === 'Concurrency'")
        _wait(page, "document.querySelector('#page-info')?.innerText.endsWith(' 7 documents')")
        assert page.locator("#doc-list details").count() == 7

        # a document expands to its full text
        first = page.locator("#doc-list details").first
        first.locator("summary").click()
        assert "More words follow here" in first.locator(".tm-doc-text").inner_text()

        # the centre goes back up
        _click_segment(page, "Programming")
        _wait(page, "document.querySelector('#node-label')?.innerText === 'All documents'")
        _wait(page, "document.querySelectorAll('#chart g.slice path.surface').length === 10")
        _wait(page, "document.querySelector('#chart g.slice text')?.textContent === 'All documents'")

        # search: results listed, matching branch outlined in the sunburst, matches overlaid on the map
        page.fill("#search", "brine")
        page.press("#search", "Enter")
        page.wait_for_selector("#search-summary")
        assert page.locator("#search-summary").inner_text().startswith("3 documents")
        _wait(page, 
            """() => Array.from(document.querySelectorAll('#chart g.slice path.surface'))
                   .some(p => (p.style.stroke || '').replace(/\\s/g, '') === 'rgb(214,39,40)')"""
        )
        outlined = _highlighted_segments(page)
        assert "Cooking" in outlined and "Astronomy" not in outlined
        _wait(page, 
            """() => { const gd = document.querySelector('#doc-map .js-plotly-plot');
                       const t = gd && gd.data[gd.data.length - 1];
                       return t && t.x && (t.x.length === 3 || (t.x.bdata && t.x.bdata.length > 0)); }"""
        )
        page.mouse.move(2, 2)
        page.wait_for_timeout(1000)  # let plotly's zoom transition finish before the picture
        page.screenshot(path=str(ARTIFACTS / "browser-search.png"), full_page=True)

        # the untrusted label is shown as text: no script ran, no element was injected
        page.locator("#search-results button", has_text="<script>").first.click()
        _wait(page, "document.querySelector('#node-label')?.innerText.includes('Jars')")
        assert page.locator("#node-label").inner_text() == EVIL_LABEL
        assert page.locator("#node-details script, #node-details img, #crumbs img").count() == 0
        assert page.evaluate("window.__pwned") is None
        segment_texts = page.evaluate("Array.from(document.querySelectorAll('#chart g.slice text')).map(t => t.textContent)")
        assert any(t.startswith("<script>window.__pwned") for t in segment_texts)  # drawn as literal text
        assert page.locator("#chart script, #chart img").count() == 0
        page.mouse.move(2, 2)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / "browser-explorer.png"), full_page=True)

        # the breadcrumb is clickable: back to the parent topic
        page.locator("#crumbs button", has_text="Cooking").click()
        _wait(page, "document.querySelector('#node-label')?.innerText === 'Cooking'")

        # exports from the page: CSV of document -> path, and the tree JSON
        with page.expect_download() as download_info:
            page.click("#export-csv")
        csv_path = download_info.value.path()
        assert csv_path is not None
        lines = Path(csv_path).read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("doc_id,leaf,path") and len(lines) == 37
        with page.expect_download() as download_info:
            page.click("#export-json")
        assert download_info.value.suggested_filename.endswith(".json")

        # switch to a treemap: same tree, other chart
        page.locator("#chart-kind input[value='treemap']").check()
        page.wait_for_selector("#chart .treemap, #chart g.trace.treemap")
    finally:
        page.close()
    assert errors == [], errors
    assert foreign == [], f"the page fetched from outside the app: {foreign}"
    assert len(plotly_loads) == 1, plotly_loads  # preloaded by the page, not fetched again by dcc.Graph


def test_standalone_html_opens_without_server(browser: Any, tmp_path: Path) -> None:
    from viz.figures import standalone_html

    path = tmp_path / "topicmap.html"
    path.write_text(standalone_html(small_tree()), encoding="utf-8")
    page = browser.new_page(viewport={"width": 900, "height": 800})
    page.set_default_timeout(WAIT_MS)
    fetched: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(("file:", "data:", "blob:")) else fetched.append(req.url))
    try:
        page.goto(path.as_uri())
        _wait(page, "document.querySelectorAll('g.slice path.surface').length >= 4")
        assert page.evaluate("window.__pwned") is None
        page.screenshot(path=str(ARTIFACTS / "standalone-export.png"))
    finally:
        page.close()
    assert fetched == []
