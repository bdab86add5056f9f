"""The dashboard's time panel and colour by growth, as plain functions and through the real Dash app
(its layout and callback endpoints); a tree without times, or an old file, gets neither."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from topicmap.hierarchy.tree.topic_tree import ROOT_ID, TopicTree
from topicmap.hierarchy.tree.treefile import load_tree
from tests.test_trends import V1_FILE
from tests.trend_fixtures import FALLING, RISING, dated_rows, node_of_top
from tests.viz_fixtures import small_tree
from topicmap.viz import callbacks as cb
from topicmap.viz import trend_callbacks as tcb
from topicmap.viz.index import TreeIndex
from topicmap.viz.ids import Ids
from topicmap.viz.layout import build_layout
from topicmap.viz.trend_figures import GROWTH_CLIP_LOG2, index_trends
from topicmap.viz.trend_layout import TrendIds


@pytest.fixture(scope="module")
def dated() -> TopicTree:
    from topicmap import TopicMap

    rows, vectors = dated_rows(months=24, per_month=40)  # exact shares: 6, 10, 24 of 40 in the first month
    return TopicMap(time_column="date", seed=0).fit(rows, vectors).tree_


def _ids(component: Any) -> set[str]:
    """Every string id in a Dash component tree."""
    found: set[str] = set()
    stack = [component]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
            continue
        if isinstance(getattr(item, "id", None), str):
            found.add(item.id)
        children = getattr(item, "children", None)
        if children is not None:
            stack.append(children)
    return found


def test_the_time_panel_and_growth_switch_exist_only_for_dated_trees(dated: TopicTree) -> None:
    ids = _ids(build_layout(TreeIndex(dated)))
    assert {TrendIds.PANEL, TrendIds.CHART, TrendIds.COLOR_CHOICE, TrendIds.RISING, TrendIds.FALLING, Ids.CHART_COLOR} <= ids
    for undated in (small_tree(), load_tree(V1_FILE)):
        ids = _ids(build_layout(TreeIndex(undated)))
        assert Ids.CHART_COLOR in ids  # the chart callback's input is always there
        assert not ids & {TrendIds.PANEL, TrendIds.CHART, TrendIds.COLOR_CHOICE}


def test_rising_and_falling_lists_name_the_known_topics(dated: TopicTree) -> None:
    index = TreeIndex(dated)
    layout = build_layout(index)
    lists = {}
    stack: list[Any] = [layout]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
            continue
        if getattr(item, "id", None) in (TrendIds.RISING, TrendIds.FALLING):
            lists[item.id] = [li.children[0].id["node"] for li in item.children]
        if getattr(item, "children", None) is not None:
            stack.append(item.children)
    assert lists[TrendIds.RISING][0] == node_of_top(dated, RISING)
    assert lists[TrendIds.FALLING][0] == node_of_top(dated, FALLING)
    # each is a goto button: the navigation callback selects its node
    assert cb.goto(index, lists[TrendIds.RISING][0])["selected"] == lists[TrendIds.RISING][0]


def test_trend_lines_follow_the_selected_node(dated: TopicTree) -> None:
    index = TreeIndex(dated)
    figure, summary = tcb.trend_view(index, {"view": ROOT_ID, "selected": ROOT_ID})
    lines = [t for t in figure["data"] if t["type"] == "scatter"]
    assert len(lines) == len(index.children_pos[0])  # the root's own line would be 100% everywhere
    assert figure["data"][0]["type"] == "bar" and sum(figure["data"][0]["y"]) == len(dated.documents)
    rising = node_of_top(dated, RISING)
    figure, summary = tcb.trend_view(index, {"view": ROOT_ID, "selected": rising})
    lines = [t for t in figure["data"] if t["type"] == "scatter"]
    assert len(lines) == 1 + len(index.children_pos[index.pos[rising]])
    assert lines[0]["line"]["width"] > lines[1]["line"]["width"]
    assert lines[0]["y"][0] == pytest.approx(15.0) and lines[0]["y"][-1] == pytest.approx(60.0)
    assert "×" in summary[1].children and "95% interval" in summary[1].children
    fallback, _ = tcb.trend_view(index, {"selected": "no-such-node"})
    assert len([t for t in fallback["data"] if t["type"] == "scatter"]) == len(index.children_pos[0])


def test_colour_by_growth_is_a_diverging_scale_with_a_colorbar_that_says_what_it_means(dated: TopicTree) -> None:
    index = TreeIndex(dated)
    topic = cb.chart_figure(index, None, 2, "sunburst", None, None, "topic")["data"][0]
    assert all(isinstance(c, str) for c in topic["marker"]["colors"]) and "colorbar" not in topic["marker"]
    growth = cb.chart_figure(index, None, 2, "sunburst", "orbit", None, "growth")["data"][0]
    marker = growth["marker"]
    values = dict(zip(growth["ids"], marker["colors"]))
    assert values[node_of_top(dated, RISING)] > 1.0 and values[node_of_top(dated, FALLING)] < -1.0
    assert values[ROOT_ID] == 0.0 and max(abs(v) for v in values.values()) <= GROWTH_CLIP_LOG2
    assert marker["cmid"] == 0 and marker["showscale"] is True
    bar = marker["colorbar"]
    assert "×8" in bar["ticktext"] and "×1/8" in bar["ticktext"] and "×1" in bar["ticktext"]
    assert "share of documents" in bar["title"]["text"] and "2023-12" in bar["title"]["text"]
    assert "growth of its share: ×" in growth["hovertext"][1]
    assert "#d62728" in marker["line"]["color"]  # the search highlight outline is kept
    assert tcb.chart_color("growth") == "growth" and tcb.chart_color("<script>") == "topic"
    # an undated tree ignores the request
    plain = TreeIndex(small_tree())
    assert cb.chart_figure(plain, None, 2, "sunburst", None, None, "growth") == cb.chart_figure(plain, None, 2, "sunburst", None, None)


def test_an_old_tree_file_serves_without_a_time_panel() -> None:
    from topicmap.viz import create_app

    client = create_app(load_tree(V1_FILE)).server.test_client()
    page = client.get("/")
    assert page.status_code == 200
    layout = client.get("/_dash-layout").get_data(as_text=True)
    assert TrendIds.PANEL not in layout and TrendIds.COLOR_CHOICE not in layout and "Exoplanets" not in layout
    outputs = [d["output"] for d in json.loads(client.get("/_dash-dependencies").get_data(as_text=True))]
    assert not any(TrendIds.CHART in o for o in outputs)
    # the chart callback still answers, with the colour store's value as its last input
    body = {
        "output": "chart.figure",
        "outputs": {"id": "chart", "property": "figure"},
        "inputs": [
            {"id": Ids.NAV, "property": "data", "value": {"view": "root", "selected": "root"}},
            {"id": Ids.DEPTH, "property": "value", "value": 2},
            {"id": Ids.CHART_KIND, "property": "value", "value": "sunburst"},
            {"id": Ids.SEARCH, "property": "value", "value": ""},
            {"id": Ids.MAP_PICK, "property": "data", "value": None},
            {"id": Ids.CHART_COLOR, "property": "data", "value": "topic"},
        ],
        "changedPropIds": [f"{Ids.CHART_COLOR}.data"],
        "state": [],
    }
    reply = client.post("/_dash-update-component", json=body)
    assert reply.status_code == 200
    assert reply.get_json()["response"]["chart"]["figure"]["data"][0]["type"] == "sunburst"


def test_a_dated_app_registers_the_time_callbacks_and_computes_trends_once(dated: TopicTree) -> None:
    from topicmap.viz import create_app

    app = create_app(dated)
    client = app.server.test_client()
    outputs = [d["output"] for d in json.loads(client.get("/_dash-dependencies").get_data(as_text=True))]
    assert any(TrendIds.CHART in o for o in outputs) and any(Ids.CHART_COLOR in o for o in outputs)
    index = TreeIndex(dated)
    first = index_trends(index)
    assert first is index_trends(index) and first is not None
    assert np.array_equal(first.totals, first.counts[0])
