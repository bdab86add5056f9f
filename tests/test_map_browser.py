"""The document map's topic names in a real headless Chromium (same setup as ``test_app_browser``).

Names are drawn for the level in view without overlapping, a click on one selects that topic in the
sunburst and the details panel, zooming in shows the next level's names, a point's hover shows its
title and topic path, and the standalone HTML export carries the same labelled map with no network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_app_browser import ARTIFACTS, WAIT_MS, _serving, _wait, browser  # noqa: F401  (browser: fixture)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

OVERLAP_TOLERANCE_PX = 2.0  # drawn boxes may touch by this much (font metrics vs the estimate)

# Boxes of the map's topic names as drawn: [name (node id), left, top, right, bottom] in page pixels.
_LABEL_BOXES = """(root) => {
    const gd = document.querySelector(root + ' .js-plotly-plot') || document.querySelector('.js-plotly-plot.tm-export-map');
    const anns = (gd && gd.layout && gd.layout.annotations) || [];
    return Array.from(document.querySelectorAll(root + ' g.annotation')).map((g, k) => {
        const r = (g.querySelector('rect.bg') || g).getBoundingClientRect();
        return [(anns[k] || {}).name || '', (g.textContent || ''), r.left, r.top, r.right, r.bottom];
    }); }"""


def _boxes(page: Any, root: str = "#doc-map") -> list[list[Any]]:
    return page.evaluate(_LABEL_BOXES, root)


def _worst_overlap(boxes: list[list[Any]]) -> float:
    """The largest overlap (px, the smaller of the two extents) between any two drawn names."""
    worst = 0.0
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            dx = min(a[4], b[4]) - max(a[2], b[2])
            dy = min(a[5], b[5]) - max(a[3], b[3])
            if dx > 0 and dy > 0:
                worst = max(worst, min(dx, dy))
    return worst


def _names_at(page: Any) -> list[str]:
    return sorted(b[0] for b in _boxes(page))


def test_map_names_are_drawn_apart_and_select_their_topic(browser: Any) -> None:  # noqa: F811
    from topicmap.viz.index import TreeIndex
    from topicmap.viz.synthetic import synthetic_tree

    tree = synthetic_tree(n_docs=4000, schedule=(8, 6), seed=1)
    index = TreeIndex(tree)
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with _serving(tree) as url:
        page = browser.new_page(viewport={"width": 1500, "height": 950})
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(url + "/")
            _wait(page, "document.querySelectorAll('#doc-map g.annotation').length > 0")
            page.locator("#doc-map").scroll_into_view_if_needed()  # below the fold at this window size
            page.wait_for_timeout(600)  # the page reports the map's real size; names are placed again for it
            tops = {index.ids[t] for t in index.top_level}
            boxes = _boxes(page)
            names = {b[0] for b in boxes}
            assert names <= tops and len(names) >= 6, names  # the top level's names, nearly all of them
            for box in boxes:  # drawn as text: the label, as the sunburst shows it
                assert box[1].replace(" ", "") == index.labels[index.pos[box[0]]].replace(" ", "")
            assert _worst_overlap(boxes) <= OVERLAP_TOLERANCE_PX, boxes
            # larger topics get larger names
            fonts = page.evaluate("document.querySelector('#doc-map .js-plotly-plot').layout.annotations.map(a => [a.name, a.font.size])")
            by_size = sorted(fonts, key=lambda f: -int(index.size[index.pos[f[0]]]))
            assert by_size[0][1] >= by_size[-1][1]
            # the map and the sunburst share colours: each topic's points are its segment's colour
            colors = dict(page.evaluate("document.querySelector('#doc-map .js-plotly-plot').data.filter(t => t.showlegend !== false).map(t => [t.name, t.marker.color])"))
            assert colors == {index.labels[t]: index.colors[t] for t in index.top_level}
            page.mouse.move(2, 2)
            page.screenshot(path=str(ARTIFACTS / "browser-map-labels.png"), full_page=True)

            # hovering a point shows its title and its topic path
            gd_point = page.evaluate(  # a point of the first topic that no name covers
                """() => { const gd = document.querySelector('#doc-map .js-plotly-plot');
                           const t = gd._fullData.findIndex(d => d.showlegend !== false);
                           const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
                           const fd = gd._fullData[t];
                           for (let k = 0; k < fd.x.length; k += 7) {
                               const px = r.left + gd._fullLayout._size.l + xa.l2p(fd.x[k]), py = r.top + gd._fullLayout._size.t + ya.l2p(fd.y[k]);
                               const hit = document.elementFromPoint(px, py);
                               if (hit && !hit.closest('g.annotation') && !hit.closest('.legend') && !hit.closest('.modebar')) return [px, py];
                           }
                           return null; }"""
            )
            assert gd_point is not None
            page.mouse.move(gd_point[0] - 15, gd_point[1] - 15)
            page.mouse.move(gd_point[0], gd_point[1], steps=4)
            _wait(page, "(document.querySelector('#doc-map .hoverlayer')?.textContent || '').includes('›')")
            hover = page.evaluate("document.querySelector('#doc-map .hoverlayer').textContent")
            assert any(index.labels[t] in hover for t in index.top_level), hover

            # a click on a name selects that topic everywhere: details panel, sunburst, map
            name, _, left, top, right, bottom = max(boxes, key=lambda b: (b[4] - b[2]) * (b[5] - b[3]))
            label = index.labels[index.pos[name]]
            page.mouse.click((left + right) / 2, (top + bottom) / 2)
            _wait(page, f"document.querySelector('#node-label')?.innerText === {label!r}")
            _wait(page, f"document.querySelectorAll('#chart g.slice path.surface').length === {len(index.window(name, 2))}")
            _wait(page, f"document.querySelector('#doc-map .legendtitletext')?.textContent === {'Topics in ' + label!r}")
            kids = {index.ids[c] for c in index.children_pos[index.pos[name]]}
            _wait(page, f"""(() => {{ const names = (document.querySelector('#doc-map .js-plotly-plot').layout.annotations || []).map(a => a.name);
                                return names.length > 0 && names.every(n => {sorted(kids)!r}.includes(n)); }})()""")
            page.wait_for_timeout(500)
            assert _worst_overlap(_boxes(page)) <= OVERLAP_TOLERANCE_PX

            # back to the whole map, then zoom into one topic: its subtopics' names appear
            page.locator("#crumbs button").first.click()
            _wait(page, "document.querySelector('#doc-map .legendtitletext')?.textContent === 'Topics'")
            page.locator("#doc-map").scroll_into_view_if_needed()
            _wait(page, f"(document.querySelector('#doc-map .js-plotly-plot').layout.annotations || []).some(a => {sorted(tops)!r}.includes(a.name))")
            first = index.top_level[0]
            rows = index.node_doc_rows(index.ids[first])
            cx, cy = float(index.map_x[rows].mean()), float(index.map_y[rows].mean())
            span = 0.12 * 65535
            page.evaluate(f"Plotly.relayout(document.querySelector('#doc-map .js-plotly-plot'), {{'xaxis.range': [{cx - span}, {cx + span}], 'yaxis.range': [{cy - span}, {cy + span}]}})")
            deeper = {index.ids[c] for t in index.top_level for c in index.children_pos[t]}
            _wait(page, f"""(() => {{ const names = (document.querySelector('#doc-map .js-plotly-plot').layout.annotations || []).map(a => a.name);
                                return names.length > 0 && names.every(n => {sorted(deeper)!r}.includes(n)); }})()""")
            page.wait_for_timeout(500)
            zoomed = _boxes(page)
            assert any(b[0].startswith(index.ids[first] + ".") for b in zoomed), zoomed
            assert _worst_overlap(zoomed) <= OVERLAP_TOLERANCE_PX, zoomed
            page.mouse.move(2, 2)
            page.screenshot(path=str(ARTIFACTS / "browser-map-zoomed.png"), full_page=True)
        finally:
            page.close()
    assert errors == [], errors


def test_standalone_export_carries_the_labelled_map(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    from tests.viz_fixtures import small_tree
    from topicmap.viz.figures import standalone_html

    path = tmp_path / "export.html"
    path.write_text(standalone_html(small_tree()), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(WAIT_MS)
    fetched: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(("file:", "data:", "blob:")) else fetched.append(req.url))
    try:
        page.goto(path.as_uri())
        _wait(page, "document.querySelectorAll('g.slice path.surface').length >= 4")  # the sunburst
        _wait(page, "document.querySelectorAll('.tm-export-map g.annotation').length === 3")  # the map's names
        texts = sorted(page.evaluate("Array.from(document.querySelectorAll('.tm-export-map g.annotation')).map(g => g.textContent)"))
        assert texts == ["Astronomy", "Cooking", "Programming"]
        assert _worst_overlap(_boxes(page, ".tm-export-map")) <= OVERLAP_TOLERANCE_PX
        assert page.evaluate("window.__pwned") is None
        page.screenshot(path=str(ARTIFACTS / "standalone-export-map.png"), full_page=True)
    finally:
        page.close()
    assert fetched == []
