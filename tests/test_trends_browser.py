"""The time panel in a real headless Chromium: a dated tree shows trend lines, colours the sunburst by
growth with a colorbar, and a rising topic clicked in the list is selected; an undated tree has no panel.
Same set-up as tests/test_app_browser.py (fails, does not skip, without Chromium unless TOPICMAP_SKIP_BROWSER=1).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_app_browser import ARTIFACTS, WAIT_MS, _serving, _wait, browser  # noqa: F401 - browser is a fixture
from tests.trend_fixtures import RISING, dated_rows, node_of_top
from tests.viz_fixtures import small_tree

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_trend_panel_in_chromium(browser: Any) -> None:  # noqa: F811 - the imported fixture
    from topicmap import TopicMap

    rows, vectors = dated_rows(months=24, per_month=40)
    tree = TopicMap(time_column="date", seed=0).fit(rows, vectors).tree_
    rising = node_of_top(tree, RISING)
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1150})
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        with _serving(tree) as url:
            page.goto(url + "/")
            # the root's panel: one share line per top-level topic over the bars of documents per month
            _wait(page, "document.querySelectorAll('#trend-chart .scatterlayer .trace').length === 3")
            _wait(page, "document.querySelectorAll('#trend-chart .barlayer .point').length === 24")
            assert page.locator("#trend-rising button").count() >= 1
            # colour by growth: a colorbar appears on the sunburst, saying what the colour is
            page.check("#chart-color-choice input[value=growth]")
            _wait(page, "document.querySelector('#chart .colorbar') !== null")
            assert "share of documents" in (page.locator("#chart .colorbar").text_content() or "")
            # the fastest rising topic, clicked in the list, is selected everywhere
            page.locator("#trend-rising button").first.click()
            label = tree.node(rising).label
            _wait(page, f"document.querySelector('#node-label')?.innerText === {label!r}")
            _wait(page, "document.querySelectorAll('#trend-chart .scatterlayer .trace').length === 3")  # it + 2 children
            # the root's panel also has 3 lines: wait for the summary to be the selected topic's (it follows the chart)
            _wait(page, "document.querySelector('#trend-summary')?.innerText.includes('95% interval')")
            assert "95% interval" in page.locator("#trend-summary").inner_text()
            page.screenshot(path=str(ARTIFACTS / "trends.png"), full_page=True)
        with _serving(small_tree()) as url:
            page.goto(url + "/")
            _wait(page, "document.querySelector('#node-label')?.innerText === 'All documents'")
            assert page.locator("#trend-panel").count() == 0 and page.locator("#chart-color-choice").count() == 0
        assert errors == []
    finally:
        page.close()
