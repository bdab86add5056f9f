"""Figures are pure functions of the tree: structure, sizes, depth window, highlight, escaping."""

from __future__ import annotations

import base64
import colorsys
import json
import re

import numpy as np
import plotly.graph_objects as go
import pytest

from topicmap.hierarchy.tree.topic_tree import ROOT_ID
from tests.viz_fixtures import small_tree
from topicmap.viz.figures import (
    LEGEND_ENTRIES,
    MIN_TEXT_PX,
    MORE_COLOR,
    default_depth,
    group_rows,
    map_groups,
    document_map_figure,
    hierarchy_figure,
    hierarchy_spec,
    map_point_rows,
    map_spec,
    overlay_positions,
    standalone_html,
    sunburst_figure,
    typed_array,
    whole_tree_figure,
)
from topicmap.viz.index import TreeIndex, display_label, plotly_text, segment_label, shades
from topicmap.viz.synthetic import synthetic_tree


@pytest.fixture(scope="module")
def index() -> TreeIndex:
    return TreeIndex(small_tree())


def _decode(array: dict | list) -> np.ndarray:
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array)


def test_sunburst_maps_nodes_one_to_one(index: TreeIndex) -> None:
    fig = hierarchy_figure(index.tree, depth=5)
    assert isinstance(fig, go.Figure)
    trace = fig.data[0]
    assert trace.type == "sunburst" and trace.branchvalues == "total"
    assert list(trace.ids) == [n.id for n in sorted(index.tree.iter_nodes(), key=lambda n: index.pre_rank[index.pos[n.id]])]
    by_id = dict(zip(trace.ids, zip(trace.parents, trace.values)))
    assert by_id[ROOT_ID] == ("", 36)
    for node in index.tree.iter_nodes():
        parent, value = by_id[node.id]
        assert value == node.size
        assert parent == (node.parent or "")
        kids = [by_id[c.id][1] for c in index.tree.children(node.id)]
        assert not kids or sum(kids) == value  # branchvalues="total" needs exact sums


def test_depth_limits_rings_and_view_recentres(index: TreeIndex) -> None:
    one = hierarchy_spec(index, ROOT_ID, depth=1)["data"][0]
    assert one["ids"] == [ROOT_ID, "0", "1", "2"]
    sub = hierarchy_spec(index, "1", depth=3)["data"][0]
    assert sub["ids"] == ["1", "1.0", "1.1"]
    assert sub["parents"] == ["", "1", "1"] and sub["level"] == "1"
    assert hierarchy_spec(index, "no-such-node", depth=1)["data"][0]["ids"][0] == ROOT_ID


def test_sunburst_figure_is_the_notebook_shortcut(index: TreeIndex) -> None:
    fig = sunburst_figure(index.tree, view="2", depth=1)
    assert fig.data[0].type == "sunburst" and list(fig.data[0].ids) == ["2", "2.0", "2.1"]


@pytest.mark.parametrize("kind", ["sunburst", "treemap", "icicle"])
def test_chart_kinds_validate_in_plotly(index: TreeIndex, kind: str) -> None:
    fig = hierarchy_figure(index, depth=2, kind=kind)  # go.Figure validates every attribute
    assert fig.data[0].type == kind
    with pytest.raises(ValueError):
        hierarchy_spec(index, kind="pie")


def test_highlight_fades_others_and_outlines_selected(index: TreeIndex) -> None:
    plain = hierarchy_spec(index, depth=2)["data"][0]
    spec = hierarchy_spec(index, depth=2, highlight={"root": 3, "1": 3, "1.1": 3}, selected="2.0")["data"][0]
    ids = spec["ids"]
    widths = spec["marker"]["line"]["width"]
    assert widths[ids.index("1.1")] > 1 and widths[ids.index("0")] == 1
    assert spec["marker"]["colors"][ids.index("0")] != plain["marker"]["colors"][ids.index("0")]
    assert spec["marker"]["colors"][ids.index("1.1")] == plain["marker"]["colors"][ids.index("1.1")]
    assert "3 matching documents" in spec["hovertext"][ids.index("1.1")]
    assert spec["marker"]["line"]["color"][ids.index("2.0")] == "#111111"


def test_untrusted_label_is_escaped_for_plotly(index: TreeIndex) -> None:
    spec = hierarchy_spec(index, depth=2)
    text = json.dumps(spec)
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;" in text
    html_page = standalone_html(index)
    assert "<script>window.__pwned" not in html_page
    # no tag can begin without "<": the attribute stays inert text (quotes are not escaped: plotly would show "&quot;")
    assert "<img src=x" not in html_page and "&lt;img src=x onerror=" in html_page


def test_plotly_text_is_escaped_once_for_plotly() -> None:
    # plotly.js decodes &amp; &lt; &gt; but not &quot;: quotes stay plain, "&" and "<" ">" are escaped once
    assert plotly_text('The "Brexit" Debate & <b>x</b> \'s') == 'The "Brexit" Debate &amp; &lt;b&gt;x&lt;/b&gt; \'s'
    assert plotly_text("&amp;") == "&amp;amp;"  # a literal entity in a label stays literal
    assert segment_label('The "Brexit" Debate') == 'The "Brexit" Debate'


def test_display_label_falls_back(index: TreeIndex) -> None:
    assert display_label(index.node(ROOT_ID)) == "All documents"
    node = index.node("0.0")
    node_copy = type(node)(id="0.0", parent="0", depth=1, size=1, keywords=["a", "b", "c", "d"])
    assert display_label(node_copy) == "a, b, c"


def test_map_has_one_trace_per_top_topic_and_points_map_back(index: TreeIndex) -> None:
    spec = map_spec(index)
    sel_pos, search_pos = overlay_positions(index)
    assert len(spec["data"]) == 3 + 2 and (sel_pos, search_pos) == (3, 4)
    counts = [len(_decode(t["x"])) for t in spec["data"][:3]]
    assert counts == [12, 11, 13]
    # point 2 of trace 1 (Cooking) is the third Cooking document in tree order
    rows = map_point_rows(index, [{"curveNumber": 1, "pointIndex": 2}, {"curveNumber": 4, "pointIndex": 0}, {"x": 1}])
    assert len(rows) == 1 and index.tree.documents[int(rows[0])].leaf.startswith("1.")
    x = _decode(spec["data"][1]["x"])
    assert x[2] == index.map_x[int(rows[0])]
    # quantised map coordinates keep the order and the aspect ratio of the originals
    xs = np.array([d.x for d in index.tree.documents])
    ys = np.array([d.y for d in index.tree.documents])
    span = max(np.ptp(xs), np.ptp(ys))
    assert np.allclose(index.map_x / 65535 * span + xs.min(), xs, atol=span / 30000)
    assert np.allclose(index.map_y / 65535 * span + ys.min(), ys, atol=span / 30000)
    assert "<script" not in json.dumps(spec)


def _hue(color: str) -> float:
    return colorsys.rgb_to_hls(*(int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)))[0]


def test_children_are_distinct_shades_of_their_parents_hue() -> None:
    index = TreeIndex(synthetic_tree(n_docs=4000, schedule=(4, 9, 3), seed=2))
    for parent in ["0", "2", "1.4"]:
        kids = [index.colors[c] for c in index.children_pos[index.pos[parent]]]
        assert len(set(kids)) == len(kids)  # siblings never share a colour
        for color in kids:  # the parent's hue family: within 10 degrees
            turn = abs(_hue(color) - _hue(index.colors[index.pos[parent]]))
            assert min(turn, 1 - turn) < 10 / 360
    tops = [index.colors[t] for t in index.top_level]
    assert len(set(tops)) == 4 and index.colors[0] != tops[0]
    assert shades("#4e79a7", 0) == [] and len(shades("#4e79a7", 1)) == 1


def test_map_legend_and_colours_follow_the_view(index: TreeIndex) -> None:
    top = map_spec(index)
    assert [t["name"] for t in top["data"][:3]] == ["Astronomy", "Cooking", "Programming"]
    assert top["layout"]["legend"]["title"]["text"] == "Topics"
    x0, x1 = top["layout"]["xaxis"]["range"]  # the whole map, with a margin: the frame its labels were placed for
    assert x0 < index.map_x.min() and x1 > index.map_x.max()
    spec = map_spec(index, "1")
    names = [t["name"] for t in spec["data"]]
    assert names[:2] == ["other documents", "Bread baking"] and names[2].startswith("&lt;script&gt;")
    assert len(names) == 3 + 2 and spec["layout"]["legend"]["title"]["text"] == "Topics in Cooking"
    assert [len(_decode(t["x"])) for t in spec["data"][:3]] == [25, 6, 5]
    assert spec["data"][1]["marker"]["color"] == index.colors[index.pos["1.0"]]
    assert spec["layout"]["uirevision"] != top["layout"]["uirevision"]
    # the axes frame Cooking's documents
    rows = index.node_doc_rows("1")
    x0, x1 = spec["layout"]["xaxis"]["range"]
    assert x0 < index.map_x[rows].min() and x1 > index.map_x[rows].max() and x1 - x0 < 65535
    # point 4 of trace 2 is the fifth pickles document; the outside trace maps back too
    rows = map_point_rows(index, [{"curveNumber": 2, "pointIndex": 4}, {"curveNumber": 0, "pointIndex": 0}], "1")
    assert sorted(index.tree.documents[int(r)].leaf for r in rows) == ["0.0", "1.1"]


def test_map_legend_is_capped_with_n_more() -> None:
    wide = TreeIndex(synthetic_tree(n_docs=6000, schedule=(30, 2), seed=4))
    groups = map_groups(wide)
    assert len(groups) == LEGEND_ENTRIES and groups[-1].name == f"+{30 - LEGEND_ENTRIES + 1} more"
    shown = [g.node for g in groups[:-1]]
    largest = sorted(wide.top_level, key=lambda c: -wide.size[c])[: LEGEND_ENTRIES - 1]
    assert set(shown) == {wide.ids[c] for c in largest}
    rows = np.concatenate([group_rows(wide, g) for g in groups])
    assert sorted(rows.tolist()) == list(range(6000))  # every document in exactly one trace
    spec = map_spec(wide)
    assert len(spec["data"]) == LEGEND_ENTRIES + 2 and spec["data"][-3]["marker"]["color"] == MORE_COLOR
    ranks = [t["legendrank"] for t in spec["data"][:-2]]
    assert ranks[-1] > max(ranks[:-1])  # "+N more" is listed after the topics
    below = map_spec(wide, "3")["data"]
    assert below[0]["name"] == "other documents" and below[0]["legendrank"] > max(t["legendrank"] for t in below[1:-2])
    more = map_point_rows(wide, [{"curveNumber": LEGEND_ENTRIES - 1, "pointIndex": 0}])
    assert wide.ids[wide.top_pos[wide.doc_leaf_pos[more[0]]]] not in shown


def test_document_map_figure_overlays_selection_and_search(index: TreeIndex) -> None:
    fig = document_map_figure(index.tree, selected="2.1", search="brine")
    sel_pos, search_pos = overlay_positions(index)
    assert len(_decode(fig.data[sel_pos].x)) == 7
    assert len(_decode(fig.data[search_pos].x)) == 3


@pytest.mark.parametrize("kind", ["sunburst", "treemap", "icicle"])
def test_whole_tree_figure_holds_every_node_and_shows_a_few_rings(kind: str) -> None:
    tree = synthetic_tree(n_docs=3000, schedule=(8, 7, 7, 5), seed=0)  # 4 levels: deeper than the first view
    fig = whole_tree_figure(tree, kind=kind)
    trace = fig.data[0]
    assert trace.type == kind and len(trace.ids) == len(tree) == len(set(trace.ids))
    sizes = {n.id: n.size for n in tree.iter_nodes()}
    assert [sizes[i] for i in trace.ids] == list(trace.values)
    assert trace.maxdepth == default_depth(tree) + 1 == 3  # centre + 2 rings; the rest on click
    assert whole_tree_figure(tree, kind=kind, rings=4).data[0].maxdepth == 5
    assert (trace.pathbar.visible is True) if kind == "treemap" else fig.layout.title.text is None
    assert whole_tree_figure(tree, kind=kind, title="<b>x</b>").layout.title.text == "&lt;b&gt;x&lt;/b&gt;"


def test_typed_array_round_trips() -> None:
    values = np.array([1.5, -2.0, 3.25], dtype=np.float32)
    assert np.array_equal(_decode(typed_array(values)), values)


def test_standalone_html_is_offline(index: TreeIndex) -> None:
    page = standalone_html(index, title="My <map>")
    assert page.lstrip().lower().startswith("<html") or page.lstrip().lower().startswith("<!doctype")
    assert len(page) > 1_000_000  # plotly.js is inline
    assert not re.search(r"<script[^>]+src=[\"']https?://", page)
    assert '"maxdepth"' in page and "My &lt;map&gt;" in page


def test_default_depth_stops_before_a_ring_of_slivers() -> None:
    assert default_depth(small_tree()) == 2  # 3 + 6 segments: everything
    # 8 / 56 / 392 / 1,960 nodes per level: the third ring would be ~400 unlabelled slivers
    many = TreeIndex(synthetic_tree(n_docs=20_000, schedule=(8, 7, 7, 5), seed=0))
    assert default_depth(many) == 2 and len(many.window(ROOT_ID, 2)) == 1 + 8 + 56
    assert default_depth(TreeIndex(synthetic_tree(n_docs=3000, schedule=(3, 4, 5), seed=1))) == 3  # 60 leaves: all rings
    assert default_depth(TreeIndex(synthetic_tree(n_docs=3000, schedule=(150, 2), seed=1))) == 1  # a wide top still shows


def test_segment_labels_wrap_onto_two_short_lines_and_stay_escaped() -> None:
    assert segment_label("film · best · actor") == "film · best · actor"
    assert segment_label("Exoplanet atmospheres and transit photometry") == "Exoplanet atmospheres<br>and transit photo…"
    evil = segment_label("<b>bold</b> and a rather long tail of words")
    assert "<b>" not in evil and evil.count("<br>") == 1 and evil.startswith("&lt;b&gt;")
    assert all(len(line) <= 25 for line in segment_label("a" * 60).split("<br>"))


def test_chart_hides_labels_too_small_to_read(index: TreeIndex) -> None:
    layout = hierarchy_figure(index, depth=2).layout  # validated by plotly
    assert layout.uniformtext.mode == "hide" and layout.uniformtext.minsize == MIN_TEXT_PX >= 9


def test_synthetic_tree_shape() -> None:
    tree = synthetic_tree(n_docs=2000, schedule=(4, 5), seed=3)
    assert len(tree) == 1 + 4 + 20 and len(tree.documents) == 2000
    assert tree.root.size == 2000


def test_every_trace_type_the_dashboard_draws_is_in_its_plotly_bundle() -> None:
    """The dashboard loads a partial plotly.js (tools/plotly_bundle/); a figure with a trace type it
    lacks would draw nothing. Every trace type named in viz/ must be one the bundle was built with."""
    import ast
    from pathlib import Path

    from plotly.basedatatypes import BaseTraceType

    from topicmap.viz.app import ASSETS, PLOTLY_BUNDLE, PLOTLY_TRACES

    trace_types = {
        getattr(go, name)().type
        for name in dir(go)
        if name[0].isupper() and isinstance(getattr(go, name), type) and issubclass(getattr(go, name), BaseTraceType)
    }
    named: set[str] = set()
    viz = Path(ASSETS).parent
    for source in viz.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text("utf-8"))):
            if isinstance(node, ast.Constant) and node.value in trace_types:
                named.add(node.value)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "go" and node.attr.lower() in trace_types:
                named.add(node.attr.lower())
    assert {"sunburst", "scattergl"} <= named  # the scan sees the figures
    assert named <= set(PLOTLY_TRACES), f"not in the plotly.js bundle: {sorted(named - set(PLOTLY_TRACES))}"

    bundle_head = (Path(ASSETS) / PLOTLY_BUNDLE).read_text("utf-8")[:600]
    assert f"(traces: {', '.join(PLOTLY_TRACES)})" in bundle_head  # the shipped file was built from this list
    entry = (viz.parent / "tools" / "plotly_bundle" / "entry.js").read_text("utf-8")
    registered = set(re.findall(r"require\('plotly\.js/lib/(\w+)'\)", entry)) - {"core"}
    assert registered | {"scatter"} == set(PLOTLY_TRACES)
