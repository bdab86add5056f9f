"""Topic names on the document map (topicmap.viz.map_labels) and the colours the map shares with the sunburst."""

from __future__ import annotations

import colorsys
import itertools

import numpy as np
import pytest

from tests.viz_fixtures import EVIL_LABEL, small_tree
from topicmap.viz.figures import hierarchy_spec, map_spec, standalone_html
from topicmap.viz.index import TreeIndex
from topicmap.viz.map_labels import (
    MAX_FONT_PX,
    MIN_FONT_PX,
    Frame,
    LabelSpec,
    box_px,
    darken,
    font_px,
    frame_from_browser,
    full_frame,
    label_level,
    map_labels,
    place_labels,
    wrap_label,
    zoom_label_sets,
)
from topicmap.viz.synthetic import synthetic_tree


def _spec(node: str, x: float, y: float, chars: int = 10, font: float = 12.0, lines: int = 1) -> LabelSpec:
    return LabelSpec(node, "x" * chars, x, y, font, "#000000", lines, chars)


def _boxes_px(labels: list[LabelSpec], scale: float) -> list[tuple[float, float, float, float]]:
    out = []
    for label in labels:
        w, h = box_px(label)
        out.append((label.x * scale - w / 2, label.y * scale - h / 2, label.x * scale + w / 2, label.y * scale + h / 2))
    return out


def _overlapping(boxes: list[tuple[float, float, float, float]]) -> list[tuple[int, int]]:
    return [(i, j) for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2)
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]


def test_placement_never_overlaps_and_keeps_the_largest_names() -> None:
    rng = np.random.default_rng(0)
    specs = [_spec(f"n{k}", float(x), float(y), chars=int(rng.integers(4, 30)), font=float(rng.uniform(10, 19)))
             for k, (x, y) in enumerate(rng.uniform(0, 100, size=(50, 2)))]
    for scale in (2.0, 5.0, 20.0):
        placed = place_labels(specs, scale)
        assert placed and not _overlapping(_boxes_px(placed, scale))
        biggest = max(specs, key=lambda s: s.font_px)
        assert placed[0].node == biggest.node and (placed[0].x, placed[0].y) == (biggest.x, biggest.y)  # first placed, not moved
        assert _overlapping(_boxes_px(placed, scale * 3)) == []  # zooming in keeps them apart
    # with room to spare, every name is drawn (up to MAX_LABELS); crowded, some are left out rather than overlapped
    assert len(place_labels(specs, 50.0)) == len(specs)
    assert len(place_labels(specs, 1.0)) < len(specs)


def test_a_name_that_collides_is_nudged_next_to_its_anchor() -> None:
    big, small = _spec("a", 0.0, 0.0, chars=10, font=18.0), _spec("b", 0.0, 0.0, chars=6, font=11.0)
    placed = {label.node: label for label in place_labels([small, big], 1.0)}
    assert (placed["a"].x, placed["a"].y) == (0.0, 0.0)
    moved = placed["b"]  # right next to the big name: above, below, left or right of it
    assert (moved.x == 0.0) != (moved.y == 0.0) and max(abs(moved.x), abs(moved.y)) <= max(box_px(moved)[0], 2 * box_px(moved)[1])
    assert not _overlapping(_boxes_px(list(placed.values()), 1.0))
    # inside a frame, a name that would stick out is moved in or left out
    frame = Frame(-30.0, 30.0, -30.0, 30.0, 60.0, 60.0)
    for label in place_labels([_spec("edge", 29.0, 0.0, chars=8)], 1.0, frame):
        left, bottom, right, top = _boxes_px([label], 1.0)[0]
        assert -30 <= left and right <= 30 and -30 <= bottom and top <= 30


def test_font_grows_with_share_and_long_names_wrap() -> None:
    sizes = [font_px(s) for s in (0.0, 0.01, 0.1, 0.3, 1.0)]
    assert sizes == sorted(sizes) and sizes[0] == MIN_FONT_PX and sizes[-1] == MAX_FONT_PX
    assert wrap_label("Film") == ["Film"]
    lines = wrap_label("Elections and party leadership contests")
    assert len(lines) == 2 and all(len(line) <= 20 for line in lines)
    assert wrap_label("x" * 80)[0].endswith("…")


def test_labels_follow_the_view_and_the_zoom() -> None:
    tree = synthetic_tree(n_docs=3000, schedule=(6, 5), seed=0)
    index = TreeIndex(tree)
    whole = full_frame(index)
    assert label_level(index, 0, whole) == 1
    names = {label.node for label in map_labels(index)}
    assert names <= {index.ids[t] for t in index.top_level} and len(names) >= 5
    # each topic's name is drawn on one of its own documents (or next to it, if nudged)
    for label in map_labels(index):
        rows = index.node_doc_rows(label.node)
        nearest = np.min(np.hypot(index.map_x[rows] - label.x, index.map_y[rows] - label.y))
        assert nearest <= 0.05 * 65535
    # zoomed 4x around the first topic: its subtopics' names, and only those on screen
    first = index.top_level[0]
    cx, cy = (float(v) for v in (index.map_x[index.node_doc_rows(index.ids[first])].mean(), index.map_y[index.node_doc_rows(index.ids[first])].mean()))
    half_x, half_y = (whole.x1 - whole.x0) / 8, (whole.y1 - whole.y0) / 8
    zoomed = Frame(cx - half_x, cx + half_x, cy - half_y, cy + half_y, whole.width_px, whole.height_px)
    assert label_level(index, 0, zoomed) == 2
    deeper = map_labels(index, 0, zoomed)
    assert deeper and all(index.depth[index.pos[label.node]] == 2 and zoomed.contains(label.x, label.y) for label in deeper)
    assert any(label.node.startswith(index.ids[first] + ".") for label in deeper)
    # drilled into a topic: its children are named; a leaf names nothing
    view = index.pos[index.ids[first]]
    assert {label.node for label in map_labels(index, view)} <= {index.ids[c] for c in index.children_pos[view]}
    assert map_labels(index, index.children_pos[view][0]) == []
    # the export's sets: depth 1, then depth 2 placed for twice the zoom
    sets = zoom_label_sets(index, whole)
    assert [{index.depth[index.pos[label.node]] for label in labels} for labels in sets] == [{1}, {2}]


def test_names_are_escaped_clickable_annotations() -> None:
    index = TreeIndex(small_tree())
    spec = map_spec(index, "1")
    by_node = {a["name"]: a for a in spec["layout"]["annotations"]}
    assert set(by_node) == {"1.0", "1.1"}
    evil = by_node["1.1"]["text"]
    assert "<script" not in evil and evil.startswith("&lt;script&gt;") and EVIL_LABEL[:5] not in evil
    assert all(a["captureevents"] and a["showarrow"] is False and a["xref"] == "x" for a in by_node.values())
    assert spec["layout"]["meta"] == {"view": "1"}
    html = standalone_html(small_tree())
    assert html.count('"captureevents"') >= 3 and "tm-export-map" in html and "<script>window.__pwned" not in html


@pytest.mark.parametrize("bad", [None, [], {"x": [0, 1]}, {"x": [1, 0], "y": [0, 1], "w": 100, "h": 100},
                                 {"x": [0, "a"], "y": [0, 1], "w": 100, "h": 100}, {"x": [0, 1], "y": [0, 1], "w": 1e9, "h": 100},
                                 {"x": [0, float("nan")], "y": [0, 1], "w": 100, "h": 100}])
def test_malformed_frames_from_the_page_are_ignored(bad: object) -> None:
    assert frame_from_browser(bad) is None


def test_map_and_sunburst_share_one_colour_per_node() -> None:
    index = TreeIndex(synthetic_tree(n_docs=2000, schedule=(5, 4, 3), seed=2))
    chart = hierarchy_spec(index, depth=3)["data"][0]
    chart_colors = dict(zip(chart["ids"], chart["marker"]["colors"]))
    for view in ("root", "0", "0.1"):
        spec = map_spec(index, view)
        for trace in spec["data"]:
            node = next((index.ids[c] for c in index.children_pos[index.pos[view]] if index.labels[c] == trace["name"]), None)
            if node is not None:
                assert trace["marker"]["color"] == chart_colors[node] == index.colors[index.pos[node]]
        for annotation in spec["layout"]["annotations"]:  # a name is a deep shade of its points' colour
            base = index.colors[index.pos[annotation["name"]]]
            assert annotation["font"]["color"] == darken(base, 0.45)
            hue = lambda c: colorsys.rgb_to_hls(*(int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)))[0]  # noqa: E731
            assert abs(hue(annotation["font"]["color"]) - hue(base)) < 0.02
    # children are shades of their parent's hue
    for parent in (index.pos["0"], index.pos["0.1"]):
        for child in index.children_pos[parent]:
            turn = abs(colorsys.rgb_to_hls(*(int(index.colors[child][i : i + 2], 16) / 255 for i in (1, 3, 5)))[0]
                       - colorsys.rgb_to_hls(*(int(index.colors[parent][i : i + 2], 16) / 255 for i in (1, 3, 5)))[0])
            assert min(turn, 1 - turn) < 10 / 360
