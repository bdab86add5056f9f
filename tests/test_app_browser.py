"""End to end in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Loads the running app, checks the sunburst rendered, clicks a segment and sees the details panel
follow, searches and sees the highlight, opens the untrusted label and checks it stays text, and
opens the standalone HTML export from disk with no server. A second app serves a tree of ~2,000
leaves: it must open at a readable depth with legible labels, and the map legend must follow the
level the user drills into. Screenshots go to ``test-artifacts/``.
Fails (does not skip) when Chromium is missing, unless TOPICMAP_SKIP_BROWSER=1.
"""

from __future__ import annotations

import colorsys
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from topicmap.hierarchy.tree.topic_tree import ROOT_ID
from topicmap.viz.app import PLOTLY_BUNDLE, PLOTLY_TRACES
from tests.browser_fixtures import ARTIFACTS, WAIT_MS, _serving, _wait, browser  # noqa: F401 - browser is a fixture (test_map_browser and test_trends_browser import these from here)
from tests.viz_fixtures import EVIL_LABEL, QUOTED_LABEL, quoted_tree, small_tree

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with _serving(small_tree()) as url:
        yield url


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
    page.on("request", lambda req: plotly_loads.append(req.url) if "plotly" in req.url and req.url.endswith(".js") else None)
    updates: list[str] = []  # the outputs of every callback request, in order
    page.on("request", lambda req: updates.append(json.loads(req.post_data or "{}").get("output", "")) if "_dash-update-component" in req.url else None)
    try:
        page.goto(server + "/")
        # the sunburst rendered: centre + 3 topics + 6 subtopics
        _wait(page, "document.querySelectorAll('#chart g.slice path.surface').length === 10")
        _wait(page, "document.querySelector('#node-label')?.innerText === 'All documents'")
        # the map arrives after the chart has drawn: 3 topic traces + 2 overlays, on a WebGL canvas
        _wait(page, "document.querySelector('#doc-map .js-plotly-plot')?.data?.length === 5")
        assert page.locator("#doc-map canvas").count() > 0
        assert set(PLOTLY_TRACES) <= set(page.evaluate("Object.keys(Plotly.PlotSchema.get().traces)"))
        # the page opened without a callback: chart, details and documents came with the layout; the map alone loads after
        assert all("doc-map.figure" in output for output in updates), updates
        assert page.locator("#doc-list details").count() > 0 and "36 documents" in page.locator("#node-details").inner_text()

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
    # topicmap's partial plotly.js, preloaded by the page; dcc.Graph does not fetch its full bundle
    assert [url.rsplit("/", 1)[-1] for url in plotly_loads] == [PLOTLY_BUNDLE.rsplit("/", 1)[-1]], plotly_loads


def test_standalone_html_opens_without_server(browser: Any, tmp_path: Path) -> None:
    from topicmap.viz.figures import standalone_html

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


# -- labels with quotes, ampersands and tags ---------------------------------------------------------
# Every piece of plotly text, read as drawn: a wrapped segment label is one <tspan class="line"> per line.
_CHART_TEXTS = """(root) => Array.from(document.querySelectorAll(root + ' g.slice text')).map(t => {
    const lines = Array.from(t.querySelectorAll('tspan.line')).map(s => s.textContent);
    return lines.length ? lines.join(' ') : t.textContent; })"""
_ENTITIES = ("&quot;", "&amp;", "&lt;", "&gt;", "&#")


def _assert_literal(texts: list[str]) -> None:
    assert QUOTED_LABEL in texts, texts
    assert not any(e in t for t in texts for e in _ENTITIES), texts


def test_quotes_and_tags_in_labels_show_literally(browser: Any, tmp_path: Path) -> None:
    errors: list[str] = []
    with _serving(quoted_tree()) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1150})
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(url + "/")
            _wait(page, "document.querySelectorAll('#chart g.slice path.surface').length === 10")
            _assert_literal(page.evaluate(_CHART_TEXTS, "#chart"))  # the sunburst segment
            _wait(page, "document.querySelector('#doc-map .js-plotly-plot')?.data?.length === 5")
            _wait(page, "document.querySelectorAll('#doc-map .legend .traces').length === 3")
            _assert_literal(page.locator("#doc-map .legend .traces").all_text_contents())  # the map legend
            # drill in: the label is the centre of the chart and the title of the legend
            _click_segment(page, '"Brexit"')
            _wait(page, f"document.querySelector('#node-label')?.innerText === {QUOTED_LABEL!r}")
            _wait(page, "document.querySelectorAll('#chart g.slice path.surface').length === 3")
            centre = page.evaluate(_CHART_TEXTS, "#chart")
            _assert_literal(centre)
            _wait_legend(page, f"Topics in {QUOTED_LABEL}")
            # no tag was interpreted: the label's "<b>x</b>" made no bold text (the hover's own bold title may)
            assert page.locator("#chart tspan[style*='bold'], #doc-map tspan[style*='bold']").filter(has_text=re.compile("^x$")).count() == 0
            assert page.evaluate("window.__pwned") is None
            page.mouse.move(2, 2)
            page.wait_for_timeout(800)
            page.screenshot(path=str(ARTIFACTS / "browser-quoted-label.png"), full_page=True)
        finally:
            page.close()
    assert errors == [], errors

    from topicmap.viz.figures import standalone_html

    path = tmp_path / "quoted.html"
    path.write_text(standalone_html(quoted_tree(), title='Map of "Brexit" & <i>co</i>'), encoding="utf-8")
    page = browser.new_page(viewport={"width": 900, "height": 800})
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(path.as_uri())
        _wait(page, "document.querySelectorAll('g.slice path.surface').length >= 4")
        _assert_literal(page.evaluate(_CHART_TEXTS, ""))
        title = page.evaluate("document.querySelector('.gtitle')?.textContent || ''")
        assert title == 'Map of "Brexit" & <i>co</i>', title
        assert page.locator("tspan[style*='bold'], tspan[style*='italic']").count() == 0
        assert page.evaluate("window.__pwned") is None
    finally:
        page.close()


# -- a tree with ~2,000 leaves ------------------------------------------------------------------------
MANY_SCHEDULE = (8, 7, 7, 5)  # 8 / 56 / 392 / 1,960 nodes per level, 20,000 documents: built in ~1 s


def _slice_count(page: Any) -> int:
    return int(page.evaluate("document.querySelectorAll('#chart g.slice path.surface').length"))


def _smallest_drawn_label_px(page: Any) -> tuple[float, int]:
    """(smallest effective font size among the chart labels on screen, how many are on screen).

    Plotly hides a label by scaling it to 0 (display none) and shrinks one by ``scale(s)``."""
    sizes: list[tuple[str, str]] = page.evaluate(
        """() => Array.from(document.querySelectorAll('#chart g.slice text'))
               .filter(t => getComputedStyle(t).display !== 'none' && (t.textContent || '').trim())
               .map(t => [t.style.fontSize || getComputedStyle(t).fontSize, t.getAttribute('transform') || ''])"""
    )
    effective = []
    for font, transform in sizes:
        scale = re.search(r"scale\(([-\d.e]+)", transform)
        effective.append(float(font.rstrip("px")) * (float(scale.group(1)) if scale else 1.0))
    return (min(effective) if effective else 0.0), len(effective)


def _legend(page: Any) -> tuple[str, list[str]]:
    """The map legend's title and entries, as drawn."""
    title = page.evaluate("document.querySelector('#doc-map .legendtitletext')?.textContent || ''")
    return title, page.locator("#doc-map .legend .traces").all_text_contents()


def _legend_colors(page: Any) -> dict[str, str]:
    """Trace name -> marker colour of the map's base traces (those shown in the legend)."""
    return dict(page.evaluate(
        """() => document.querySelector('#doc-map .js-plotly-plot').data
               .filter(t => t.showlegend !== false).map(t => [t.name, t.marker.color])"""
    ))


def _hue(color: str) -> float:
    return colorsys.rgb_to_hls(*(int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)))[0]


def _wait_legend(page: Any, title: str) -> None:
    _wait(page, f"document.querySelector('#doc-map .legendtitletext')?.textContent === {title!r}")


def test_many_leaves_open_readable_and_the_legend_follows_the_level(browser: Any) -> None:
    from topicmap.viz.figures import LEGEND_ENTRIES, MIN_TEXT_PX, RING_BUDGET, default_depth
    from topicmap.viz.index import TreeIndex
    from topicmap.viz.synthetic import synthetic_tree

    tree = synthetic_tree(n_docs=20_000, schedule=MANY_SCHEDULE, seed=0)
    index = TreeIndex(tree)
    assert len(tree.leaves()) == 1960
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with _serving(tree) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1150})
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(url + "/")
            # opens at 2 rings: 8 topics and their 56 subtopics, not the 392 slivers of ring 3
            rings = default_depth(index)
            assert rings == 2
            _wait(page, f"document.querySelectorAll('#chart g.slice path.surface').length === {len(index.window(ROOT_ID, rings))}")
            assert _slice_count(page) <= 1 + 8 + RING_BUDGET
            smallest, drawn = _smallest_drawn_label_px(page)
            assert drawn >= 8 + 5 and smallest >= MIN_TEXT_PX  # labels that would be smaller are hidden

            # the map legend lists the 8 top-level topics, in their chart colours
            _wait(page, "document.querySelector('#doc-map .js-plotly-plot')?.data?.length === 8 + 2")
            _wait_legend(page, "Topics")
            tops = [index.labels[t] for t in index.top_level]
            assert _legend(page)[1] == tops
            assert _legend_colors(page) == {index.labels[t]: index.colors[t] for t in index.top_level}
            page.screenshot(path=str(ARTIFACTS / "browser-2000-leaves-root.png"), full_page=True)

            # drill into the largest topic: the legend now lists its subtopics, as shades of its hue
            for node_id in ("0", "0.0"):
                label = index.labels[index.pos[node_id]]
                _click_segment(page, label)
                _wait(page, f"document.querySelector('#node-label')?.innerText === {label!r}")
                _wait_legend(page, f"Topics in {label}")
                kids = index.children_pos[index.pos[node_id]]
                title, entries = _legend(page)
                assert entries == [index.labels[c] for c in kids] + ["other documents"]
                assert len(entries) <= LEGEND_ENTRIES + 1
                colors = _legend_colors(page)
                parent_hue = _hue(index.colors[index.pos[node_id]])
                for c in kids:
                    turn = abs(_hue(colors[index.labels[c]]) - parent_hue)
                    assert min(turn, 1 - turn) < 10 / 360
                assert len({colors[index.labels[c]] for c in kids}) == len(kids)
                _wait(page, f"document.querySelectorAll('#chart g.slice path.surface').length === {len(index.window(node_id, rings))}")
                if node_id == "0":
                    page.mouse.move(2, 2)
                    page.wait_for_timeout(800)  # let plotly's transitions settle before the picture
                    page.screenshot(path=str(ARTIFACTS / "browser-2000-leaves.png"), full_page=True)
                assert _smallest_drawn_label_px(page)[0] >= MIN_TEXT_PX

            # the centre goes back up, and the legend with it
            _click_segment(page, index.labels[index.pos["0.0"]])
            _wait(page, f"document.querySelector('#node-label')?.innerText === {index.labels[index.pos['0']]!r}")
            _wait_legend(page, f"Topics in {index.labels[index.pos['0']]}")
        finally:
            page.close()
    assert errors == [], errors
