"""Topic names drawn on the document map, the way DataMapPlot labels a data map: pure functions.

Which names: the children of the map's view (the level the sunburst is centred on); each doubling of
zoom shows one level deeper, for the topics whose centre is on screen. Where: at the topic's centre,
the document nearest the mean position of its documents (a topic split in two islands is labelled on
one of them, never in the empty space between). How big: font size grows with the square root of the
topic's share of the labelled documents. Overlaps: labels are placed largest first; a label whose
box (estimated from its characters and font size) would overlap one already placed is tried just
next to the boxes it collides with (above, below, left, right; never far from its centre), and left
out if none is free (hover and the sunburst still name it; zooming in gives it room).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from topicmap.viz.index import TreeIndex, plotly_text, shorten

MIN_FONT_PX = 10.0
MAX_FONT_PX = 19.0
LABEL_CHARS = 32  # a longer name is cut with an ellipsis (hover and the details panel show it whole)
LINE_CHARS = 18  # a longer name is wrapped onto two lines
CHAR_WIDTH_EM = 0.6  # average advance of a character in the app's sans-serif fonts, in ems (a little generous)
LINE_HEIGHT_EM = 1.3
PAD_PX = 3.0  # the annotation's border padding, on every side
GAP_PX = 2.0  # free space kept between two labels
MAX_LABELS = 60  # most names drawn at once
DEFAULT_PLOT_PX = (640.0, 430.0)  # the map's plot area before the browser has reported its size
LABEL_BG = "rgba(255,255,255,0.72)"


@dataclass(frozen=True)
class LabelSpec:
    """One name to draw: its node, escaped text (lines joined by ``<br>``), anchor in map units, font px."""

    node: str
    text: str
    x: float
    y: float
    font_px: float
    color: str
    lines: int
    chars: int  # characters of the longest line


@dataclass(frozen=True)
class Frame:
    """What the browser shows of the map: axis ranges (map units) and the plot area's size in px."""

    x0: float
    x1: float
    y0: float
    y1: float
    width_px: float = DEFAULT_PLOT_PX[0]
    height_px: float = DEFAULT_PLOT_PX[1]

    def px_per_unit(self) -> float:
        """Pixels per map unit. The map keeps its aspect (``scaleanchor``), so plotly widens one range
        until both axes have the same scale: the smaller of the two ratios."""
        return min(self.width_px / max(self.x1 - self.x0, 1e-9), self.height_px / max(self.y1 - self.y0, 1e-9))

    def contains_all(self, points: np.ndarray) -> np.ndarray:
        """:meth:`contains` for an (n, 2) array of points."""
        scale = self.px_per_unit()
        cx, cy = (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2
        return (np.abs(points[:, 0] - cx) <= self.width_px / scale / 2) & (np.abs(points[:, 1] - cy) <= self.height_px / scale / 2)

    def contains(self, x: float, y: float) -> bool:
        """True if (x, y) is on screen (the shorter axis is widened to keep the aspect, as plotly does)."""
        scale = self.px_per_unit()
        cx, cy = (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2
        half_w, half_h = self.width_px / scale / 2, self.height_px / scale / 2
        return abs(x - cx) <= half_w and abs(y - cy) <= half_h


def font_px(share: float) -> float:
    """Font size for a topic holding ``share`` (0-1) of the labelled documents."""
    return min(MIN_FONT_PX + (MAX_FONT_PX - MIN_FONT_PX) * math.sqrt(max(share, 0.0)) * 1.4, MAX_FONT_PX)


def wrap_label(label: str, width: int = LINE_CHARS, limit: int = LABEL_CHARS) -> list[str]:
    """A name on one line, or on two lines broken at the space that makes the longer line shortest."""
    text = shorten(label, limit)
    words = text.split(" ")
    if len(text) <= width or len(words) == 1:
        return [text]
    best = min(range(1, len(words)), key=lambda k: max(len(" ".join(words[:k])), len(" ".join(words[k:]))))
    return [" ".join(words[:best]), " ".join(words[best:])]


def box_px(spec: LabelSpec) -> tuple[float, float]:
    """Estimated (width, height) of a label's drawn box in pixels, padding included."""
    width = spec.chars * CHAR_WIDTH_EM * spec.font_px + 2 * PAD_PX
    height = spec.lines * LINE_HEIGHT_EM * spec.font_px + 2 * PAD_PX
    return width, height


def place_labels(specs: Sequence[LabelSpec], px_per_unit: float, frame: Frame | None = None) -> list[LabelSpec]:
    """The labels that fit without overlapping, largest font first, each possibly nudged off its anchor.

    Boxes are compared in pixels at ``px_per_unit``; at any closer zoom they are further apart, so a
    placement stays free of overlaps when the user zooms in. A label is tried at its anchor; if that
    collides, just above, below, left or right of each box it collides with (nearest spot first, at
    most about one box away from the anchor, so the name stays on its topic). With a ``frame``, a label
    must also lie fully inside it.
    """
    placed = np.zeros((MAX_LABELS, 4))  # x0, y0, x1, y1 in px (y up) of the names placed so far
    out: list[LabelSpec] = []
    for spec in sorted(specs, key=lambda s: -s.font_px):
        if len(out) >= MAX_LABELS:
            break
        w, h = box_px(spec)
        spot = _free_spot(spec.x * px_per_unit, spec.y * px_per_unit, w, h, placed[: len(out)], frame, px_per_unit)
        if spot is not None:
            cx, cy = spot
            placed[len(out)] = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            out.append(LabelSpec(spec.node, spec.text, cx / px_per_unit, cy / px_per_unit, spec.font_px, spec.color, spec.lines, spec.chars))
    return out


def _hits(box: tuple[float, float, float, float], placed: np.ndarray) -> np.ndarray:
    """Which placed boxes ``box`` overlaps (or comes within GAP_PX of)."""
    return (
        (box[0] < placed[:, 2] + GAP_PX) & (placed[:, 0] < box[2] + GAP_PX)
        & (box[1] < placed[:, 3] + GAP_PX) & (placed[:, 1] < box[3] + GAP_PX)
    )


def _free_spot(ax: float, ay: float, w: float, h: float, placed: np.ndarray, frame: Frame | None, scale: float) -> tuple[float, float] | None:
    """Centre (px) of the nearest free spot for a w x h box anchored at (ax, ay), or None."""
    anchor = (ax - w / 2, ay - h / 2, ax + w / 2, ay + h / 2)
    hit = _hits(anchor, placed)
    inside = frame is None or _inside(anchor, frame, scale)
    if inside and not hit.any():
        return ax, ay
    candidates = []
    if frame is not None and not inside:  # sticking out of the map: moved in, as little as needed
        cx, cy = (frame.x0 + frame.x1) / 2 * scale, (frame.y0 + frame.y1) / 2 * scale
        half_w, half_h = max(frame.width_px / 2 - w / 2, 0.0), max(frame.height_px / 2 - h / 2, 0.0)
        candidates.append((min(max(ax, cx - half_w), cx + half_w), min(max(ay, cy - half_h), cy + half_h)))
    for other in placed[hit]:
        candidates += [
            (ax, other[3] + GAP_PX + h / 2 + 0.01), (ax, other[1] - GAP_PX - h / 2 - 0.01),  # above, below
            (other[0] - GAP_PX - w / 2 - 0.01, ay), (other[2] + GAP_PX + w / 2 + 0.01, ay),  # left, right
        ]
    if not candidates:
        return None
    spots = np.array(candidates)
    reach = max(w, 2 * h)  # further than this from its anchor, a name no longer marks its topic
    spots = spots[(np.abs(spots[:, 0] - ax) <= reach) & (np.abs(spots[:, 1] - ay) <= reach)]
    boxes = np.column_stack([spots[:, 0] - w / 2, spots[:, 1] - h / 2, spots[:, 0] + w / 2, spots[:, 1] + h / 2])
    free = ~(
        (boxes[:, None, 0] < placed[None, :, 2] + GAP_PX) & (placed[None, :, 0] < boxes[:, None, 2] + GAP_PX)
        & (boxes[:, None, 1] < placed[None, :, 3] + GAP_PX) & (placed[None, :, 1] < boxes[:, None, 3] + GAP_PX)
    ).any(axis=1)
    if frame is not None:
        cx, cy = (frame.x0 + frame.x1) / 2 * scale, (frame.y0 + frame.y1) / 2 * scale
        free &= (boxes[:, 0] >= cx - frame.width_px / 2) & (boxes[:, 2] <= cx + frame.width_px / 2)
        free &= (boxes[:, 1] >= cy - frame.height_px / 2) & (boxes[:, 3] <= cy + frame.height_px / 2)
    if not free.any():
        return None
    distance = (spots[:, 0] - ax) ** 2 + (spots[:, 1] - ay) ** 2
    best = int(np.argmin(np.where(free, distance, np.inf)))
    return float(spots[best, 0]), float(spots[best, 1])


def _inside(box: tuple[float, float, float, float], frame: Frame, scale: float) -> bool:
    cx, cy = (frame.x0 + frame.x1) / 2 * scale, (frame.y0 + frame.y1) / 2 * scale
    half_w, half_h = frame.width_px / 2, frame.height_px / 2
    return box[0] >= cx - half_w and box[2] <= cx + half_w and box[1] >= cy - half_h and box[3] <= cy + half_h


# -- which topics, where ------------------------------------------------------------------------------
_CENTRES: weakref.WeakKeyDictionary[TreeIndex, np.ndarray] = weakref.WeakKeyDictionary()
MAX_CANDIDATES = 4 * MAX_LABELS  # the largest topics on screen that placement considers


def topic_centres(index: TreeIndex) -> np.ndarray:
    """(n_nodes, 2) map positions: for each node, its document nearest the mean of its documents.

    Computed for every node at once (memoised per index): a node's documents are one run of
    ``doc_order``, so means come from cumulative sums and, level by level, the nearest document of
    every node from one pass over the documents.
    """
    cached = _CENTRES.get(index)
    if cached is not None:
        return cached
    out = np.zeros((index.n_nodes, 2), dtype=np.float64)
    if len(index.map_order):
        x = index.map_x[index.map_order].astype(np.float64)
        y = index.map_y[index.map_order].astype(np.float64)
        cx, cy = np.concatenate([[0.0], np.cumsum(x)]), np.concatenate([[0.0], np.cumsum(y)])
        lo, hi = index.map_lo, index.map_hi  # the drawn points (all, or the sample of a big tree)
        count = np.maximum(hi - lo, 1)
        mean_x, mean_y = (cx[hi] - cx[lo]) / count, (cy[hi] - cy[lo]) / count
        for depth in range(index.max_depth + 1):
            nodes = np.flatnonzero((index.depth == depth) & (hi > lo))
            if nodes.size == 0:
                continue
            nodes = nodes[np.argsort(lo[nodes])]  # disjoint runs of doc_order, in order
            slot = np.searchsorted(lo[nodes], np.arange(len(index.map_order)), side="right") - 1
            docs = np.flatnonzero((slot >= 0) & (np.arange(len(index.map_order)) < hi[nodes[np.maximum(slot, 0)]]))
            owner = slot[docs]
            dist = (x[docs] - mean_x[nodes[owner]]) ** 2 + (y[docs] - mean_y[nodes[owner]]) ** 2
            order = np.lexsort((dist, owner))  # by node, nearest first
            first = np.unique(owner[order], return_index=True)[1]
            best = docs[order[first]]
            out[nodes[owner[order[first]]], 0], out[nodes[owner[order[first]]], 1] = x[best], y[best]
    _CENTRES[index] = out
    return out


def topic_centre(index: TreeIndex, pos: int) -> tuple[float, float]:
    """Map position (map units) of the document nearest the mean of node ``pos``'s documents."""
    x, y = topic_centres(index)[pos]
    return float(x), float(y)


def full_frame(index: TreeIndex, view_pos: int = 0, size_px: tuple[float, float] = DEFAULT_PLOT_PX) -> Frame:
    """The frame that shows every document under ``view_pos`` (what the map opens on), with a margin."""
    rows = index.map_order[index.map_lo[view_pos] : index.map_hi[view_pos]]
    if len(rows) == 0:
        return Frame(0.0, 1.0, 0.0, 1.0, *size_px)
    x, y = index.map_x[rows], index.map_y[rows]
    lo_x, hi_x, lo_y, hi_y = float(x.min()), float(x.max()), float(y.min()), float(y.max())
    pad_x, pad_y = max((hi_x - lo_x) * 0.08, 200.0), max((hi_y - lo_y) * 0.08, 200.0)
    return Frame(lo_x - pad_x, hi_x + pad_x, lo_y - pad_y, hi_y + pad_y, *size_px)


def label_level(index: TreeIndex, view_pos: int, frame: Frame) -> int:
    """Depth of the names to show: the view's children, one level deeper per doubling of zoom."""
    whole = full_frame(index, view_pos, (frame.width_px, frame.height_px))
    zoom = frame.px_per_unit() / max(whole.px_per_unit(), 1e-12)
    extra = int(math.floor(math.log2(zoom) + 1e-9)) if zoom >= 2.0 else 0
    deepest = int(index.depth[index.preorder[index.pre_rank[view_pos] : index.pre_end[view_pos]]].max())
    return min(int(index.depth[view_pos]) + 1 + extra, deepest)


def map_labels(index: TreeIndex, view_pos: int = 0, frame: Frame | None = None) -> list[LabelSpec]:
    """The placed labels for the map of ``view_pos`` as shown in ``frame`` (default: the whole view)."""
    frame = frame or full_frame(index, view_pos)
    if int(index.pre_end[view_pos] - index.pre_rank[view_pos]) <= 1:  # a leaf: nothing below to name
        return []
    return place_labels(_level_specs(index, view_pos, label_level(index, view_pos, frame), frame), frame.px_per_unit(), frame)


def zoom_label_sets(index: TreeIndex, frame: Frame, levels: int = 3) -> list[list[LabelSpec]]:
    """For a page with no server (the HTML export): the names of depth 1, 2, ... placed for the whole map
    at zoom 1, 2, 4, ... (each set stays free of overlaps at any closer zoom), for the page to swap in."""
    deepest = min(index.max_depth, levels)
    return [
        place_labels(_level_specs(index, 0, depth, frame, everywhere=True), frame.px_per_unit() * 2 ** (depth - 1))
        for depth in range(1, deepest + 1)
    ] if index.n_nodes > 1 else []


def _level_specs(index: TreeIndex, view_pos: int, level: int, frame: Frame, everywhere: bool = False) -> list[LabelSpec]:
    """Unplaced labels of the (at most :data:`MAX_CANDIDATES` largest) nodes at ``level`` below
    ``view_pos`` whose centre ``frame`` shows (all of them with ``everywhere``)."""
    subtree = index.preorder[index.pre_rank[view_pos] : index.pre_end[view_pos]]
    depth = index.depth[subtree]
    is_leaf = (index.pre_end[subtree] - index.pre_rank[subtree]) == 1
    # nodes at that level, plus leaves above it (a shallow branch keeps its name when zooming deeper)
    chosen = subtree[(depth == level) | ((depth > index.depth[view_pos]) & (depth < level) & is_leaf)]
    total = float(index.size[chosen].sum()) or 1.0  # shares of the whole level: panning never resizes a name
    centres = topic_centres(index)[chosen]
    if not everywhere:
        chosen, centres = chosen[frame.contains_all(centres)], centres[frame.contains_all(centres)]
    largest = np.argsort(-index.size[chosen], kind="stable")[:MAX_CANDIDATES]
    specs = []
    for k in largest.tolist():
        p = int(chosen[k])
        lines = wrap_label(index.labels[p])
        specs.append(LabelSpec(
            node=index.ids[p], text="<br>".join(plotly_text(line) for line in lines), x=float(centres[k, 0]), y=float(centres[k, 1]),
            font_px=font_px(int(index.size[p]) / total), color=darken(index.colors[p], 0.45),
            lines=len(lines), chars=max(len(line) for line in lines),
        ))
    return specs


def darken(hex_color: str, amount: float) -> str:
    """Mix a colour with black: a topic's label in a deep shade of its points' colour, legible on white."""
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c * (1 - amount)):02x}" for c in (r, g, b))


def annotations(labels: Sequence[LabelSpec]) -> list[dict[str, Any]]:
    """plotly annotations for placed labels: clickable (``captureevents``), named by node id."""
    return [
        {
            "x": spec.x, "y": spec.y, "xref": "x", "yref": "y", "text": spec.text, "showarrow": False,
            "font": {"size": round(spec.font_px, 1), "color": spec.color}, "bgcolor": LABEL_BG, "borderpad": PAD_PX,
            "captureevents": True, "name": spec.node, "align": "center",
        }
        for spec in labels
    ]


def frame_from_browser(data: Any) -> Frame | None:
    """A :class:`Frame` from what the page reports ({"x": [x0, x1], "y": [y0, y1], "w": px, "h": px}); None if malformed."""
    if not isinstance(data, dict):
        return None
    try:
        x0, x1 = (float(v) for v in data["x"])
        y0, y1 = (float(v) for v in data["y"])
        w, h = float(data["w"]), float(data["h"])
    except (KeyError, TypeError, ValueError):
        return None
    values = (x0, x1, y0, y1, w, h)
    if not all(math.isfinite(v) for v in values) or x1 <= x0 or y1 <= y0 or not (10 <= w <= 20000 and 10 <= h <= 20000):
        return None
    return Frame(x0, x1, y0, y1, w, h)
