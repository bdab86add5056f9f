"""Facet trees served together, in a real headless Chromium (set-up shared in tests/browser_fixtures.py).

Three facet trees are built by the CLI from a made-up corpus; the page shows the switcher, the main
facet's sunburst and the compared facet's sunburst coloured by share with the node x node table. A
click on a problem recolours the method sunburst as the selection's documents say and cuts the table
to that problem; switching the facet and clicking in the compared sunburst swap the roles; the table
downloads as `topicmap crosstab` writes it; each facet's full explorer opens under /facet/<k>/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from topicmap.hierarchy.analysis.facet_trees import load_facet_trees
from topicmap.hierarchy.tree.topic_tree import ROOT_ID
from tests.browser_fixtures import ARTIFACTS, WAIT_MS, _wait, browser, serving_app  # noqa: F401 - browser is a fixture
from tests.cli_helpers import invoke_cli
from tests.facet_fixtures import FACETS, build_facet_trees

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

# per slice of a sunburst: [node id, fill colour as drawn, centre of its label in page pixels]
_SLICES = """(root) => Array.from(document.querySelectorAll(root + ' g.slice')).map(g => {
    const d = g.__data__, t = g.querySelector('text'), r = t ? t.getBoundingClientRect() : null;
    return [d && d.data && d.data.data ? d.data.data.id : null, g.querySelector('path.surface').style.fill,
            r && r.width > 0 ? [r.left + r.width / 2, r.top + r.height / 2] : null];
})"""


def _slices(page: Any, root: str) -> dict[str, tuple[str, Any]]:
    return {node: (fill, centre) for node, fill, centre in page.evaluate(_SLICES, root)}


def _click_node(page: Any, root: str, node_id: str) -> None:
    centre = _slices(page, root)[node_id][1]
    assert centre is not None, f"no label drawn for {node_id} in {root}"
    page.mouse.click(*centre)


def _lightness(fill: str) -> float:
    r, g, b = (int(v) for v in fill[fill.index("(") + 1 : fill.index(")")].split(","))
    return (0.299 * r + 0.587 * g + 0.114 * b) / 255


def test_facet_trees_cross_linked_in_chromium(browser: Any, tmp_path: Path) -> None:  # noqa: F811 - the imported fixture
    from topicmap.viz.facet_app import create_facet_app
    from topicmap.viz.facet_index import FacetIndex

    paths = build_facet_trees(tmp_path)
    facets = FacetIndex(load_facet_trees([paths[f] for f in FACETS]))
    problem, method = facets.index("problem"), facets.index("method")
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with serving_app(lambda: create_facet_app(facets)) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1300}, accept_downloads=True)
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(url + "/")
            _wait(page, f"document.querySelectorAll('#facet-chart g.slice').length === {len(problem.window(ROOT_ID, 2))}")
            _wait(page, "document.querySelector('#facet-cross .colorbar') !== null")
            assert page.locator("#facet-choice label").all_inner_texts() == ["problem", "method", "finding"]
            assert page.locator("#facet-other label").all_inner_texts() == ["method", "finding"]
            assert "72 documents" in page.locator("#facet-selection").inner_text()
            _wait(page, "document.querySelectorAll('#facet-table tbody tr').length === 3")

            # select the first problem: the method sunburst is recoloured by where its documents sit
            top = problem.ids[problem.top_level[0]]
            _click_node(page, "#facet-chart", top)
            label = problem.labels[problem.pos[top]]
            _wait(page, f"document.querySelector('#facet-selected-label')?.innerText === {label!r}")
            cross = facets.cross_counts("problem", top, "method")
            _wait(page, f"document.querySelector('#facet-cross .js-plotly-plot').data[0].hovertext[1].includes('of the {cross.n_selected} selected')")
            drawn = page.evaluate("(() => { const t = document.querySelector('#facet-cross .js-plotly-plot').data[0]; return [t.ids, t.marker.colors]; })()")
            for node_id, value in zip(*drawn):
                if node_id != ROOT_ID:
                    assert value == pytest.approx(cross.counts[method.pos[node_id]] / cross.n_selected, abs=1e-4)
            # as drawn: the method holding most of the problem's documents is the darkest top-level slice
            fills = _slices(page, "#facet-cross")
            tops = [method.ids[k] for k in method.top_level]
            most = max(tops, key=lambda n: cross.counts[method.pos[n]])
            assert min(tops, key=lambda n: _lightness(fills[n][0])) == most
            # the table is cut to that problem: one row, its counts those of `topicmap crosstab`
            _wait(page, "document.querySelectorAll('#facet-table tbody tr').length === 1")
            row = page.locator("#facet-table tbody tr").first.locator("td").all_inner_texts()
            table = facets.table("problem", "method", 1, 1)
            i = table.rows.index(top)
            assert int(row[0].replace(",", "")) == int(table.row_totals[i])
            assert [int(c.split()[0]) if c.strip() != "·" else 0 for c in row[1:]] == table.counts[i].tolist()
            page.mouse.move(2, 2)  # no hover box left over from the click in the picture
            page.screenshot(path=str(ARTIFACTS / "facets.png"), full_page=True)

            # the CSV export is the CLI's table
            with page.expect_download() as info:
                page.click("#facet-export")
            saved = tmp_path / "download.csv"
            info.value.save_as(saved)
            cli = invoke_cli("crosstab", str(paths["problem"]), str(paths["method"]), "--depth", "1", "-o", str(tmp_path / "cli.csv"), cwd=tmp_path)
            assert cli.returncode == 0 and saved.read_bytes() == (tmp_path / "cli.csv").read_bytes()

            # switch the main facet: finding opens at its root, compared with problem (the facet left)
            page.click("#facet-choice input[value=finding]")
            finding = facets.index("finding")
            _wait(page, f"document.querySelectorAll('#facet-chart g.slice').length === {len(finding.window(ROOT_ID, 2))}")
            _wait(page, "document.querySelector('#facet-other input:checked')?.value === 'problem'")
            assert "finding: all documents" in page.locator("#facet-selection").inner_text()
            assert page.locator("#facet-other label").all_inner_texts() == ["problem", "method"]

            # a click in the compared (problem) sunburst swaps the roles, with that topic selected
            _wait(page, f"document.querySelectorAll('#facet-cross g.slice').length === {len(problem.window(ROOT_ID, 2))}")
            sub = problem.ids[problem.children_pos[problem.top_level[1]][0]]
            _click_node(page, "#facet-cross", sub)
            _wait(page, "document.querySelector('#facet-choice input:checked')?.value === 'problem'")
            _wait(page, "document.querySelector('#facet-other input:checked')?.value === 'finding'")
            _wait(page, f"document.querySelector('#facet-selected-label')?.innerText === {problem.labels[problem.pos[sub]]!r}")
            page.mouse.move(2, 2)
            page.screenshot(path=str(ARTIFACTS / "facets-pivot.png"), full_page=True)

            # each facet's full explorer, on the same server
            page.goto(url + "/facet/2/")
            _wait(page, f"document.querySelectorAll('#chart g.slice path.surface').length === {len(method.window(ROOT_ID, 2))}")
            _wait(page, f"document.querySelector('#node-label')?.innerText === {method.labels[0]!r}")
        finally:
            page.close()
    assert errors == []
