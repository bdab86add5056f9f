"""A sidecar tree (schema version 3) served to headless Chromium: pages, search and the sampled map.

The tree is the hand-made 36-document tree written with its documents in a Parquet sidecar and read
back lazily; the map's sample limit is set below 36 so the sampling notice shows. Fails (does not
skip) when Chromium is missing, unless TOPICMAP_SKIP_BROWSER=1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser_fixtures import ARTIFACTS, WAIT_MS, _wait, browser, serving_app  # noqa: F401 - browser is a fixture
from tests.viz_fixtures import small_tree

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_a_sidecar_tree_explored_in_chromium(browser: Any, tmp_path: Path) -> None:
    from topicmap.hierarchy.tree.treefile import load_tree, save_tree
    from topicmap.viz import create_app
    from topicmap.viz.index import TreeIndex

    tree = load_tree(save_tree(small_tree(), tmp_path / "t.json", sidecar=True))
    index = TreeIndex(tree, map_sample_max=20)
    ARTIFACTS.mkdir(exist_ok=True)
    with serving_app(lambda: create_app(index)) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(WAIT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url + "/")
        _wait(page, "document.querySelectorAll('#chart g.slice path.surface').length === 10")
        _wait(page, "document.querySelector('#page-info')?.innerText === 'page 1 of 5 · 36 documents'")
        page.click("#page-next")
        _wait(page, "document.querySelector('#page-info')?.innerText === 'page 2 of 5 · 36 documents'")
        # the map is a sample and its legend says so
        _wait(page, "document.querySelector('#doc-map .js-plotly-plot')?.data?.length === 5")
        assert "a sample of" in page.locator("#doc-map").inner_text()

        # click a topic: its documents are read from the sidecar page by page
        text = page.locator("#chart g.slice text").filter(has_text="Programming").first
        box = text.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        _wait(page, "document.querySelector('#node-label')?.innerText === 'Programming'")
        _wait(page, "document.querySelector('#page-info')?.innerText === 'page 1 of 2 · 13 documents'")
        first = page.locator("#doc-list details").first
        first.locator("summary").click()
        assert "More words follow here" in first.locator(".tm-doc-text").inner_text()

        # search goes through the full-text index: whole words, and a prefix with *
        page.fill("#search", "brine")
        page.press("#search", "Enter")
        _wait(page, "document.querySelector('#search-summary')?.innerText.startsWith('3 documents')")
        page.fill("#search", "cucumb*")
        page.press("#search", "Enter")
        _wait(page, "document.querySelector('#search-summary')?.innerText.startsWith('1 documents')")
        page.screenshot(path=str(ARTIFACTS / "browser-sidecar.png"), full_page=True)
        assert errors == []
        assert tree._documents is None  # serving never read every document
