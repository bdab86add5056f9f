"""Lookups precomputed once per tree, so every callback is an array slice instead of a tree walk.

Nodes get a position in breadth-first order (``pos``) and a preorder (depth-first) rank. In preorder
every subtree is one contiguous run, and documents sorted by their leaf's preorder rank make every
node's documents one contiguous run too: "documents of node" is ``doc_order[lo:hi]`` and "how many
matching documents fall under each node" is two ``searchsorted`` calls. Built by :func:`build_index`
inside ``create_app`` (never at import).
"""

from __future__ import annotations

import colorsys
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from topicmap.hierarchy.tree.arrays import TreeArrays
from topicmap.hierarchy.tree.topic_tree import ROOT_ID, Document, Node, TopicTree
from topicmap.viz.search import CACHE_BYTES, CACHE_ENTRIES, SCAN_CPU_BUDGET_S, SearchCache, SearchResult, match_rows, parse_query

if TYPE_CHECKING:
    from topicmap.viz.search_index import SearchIndex

# 20 distinguishable colours (Tableau 10 + their lighter partners, reordered to alternate).
PALETTE: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
ROOT_COLOR = "#f4f4f4"
LABEL_CHARS = 40  # longest label drawn inside a segment; the hover and details show it whole
SEGMENT_LINE_CHARS = 20  # a longer segment label is wrapped onto a second line
SNIPPET_CHARS = 200
MAP_SAMPLE_MAX = 200_000  # points the map draws at most; a bigger tree's map draws a sample (and says so)


def display_label(node: Node) -> str:
    """A node's name for people: its label, else its top keywords, else its id."""
    if node.label.strip():
        return node.label.strip()
    if node.id == ROOT_ID:
        return "All documents"
    if node.keywords:
        return ", ".join(node.keywords[:3])
    return f"Topic {node.id}"


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def segment_label(label: str, width: int = SEGMENT_LINE_CHARS, limit: int = LABEL_CHARS) -> str:
    """A label for inside a segment, escaped, on at most two lines of about ``width`` characters.

    Two short lines fit a ring segment at a readable size where one long line would not (plotly
    scales text to fit, and hides it below the chart's minimum text size). Words are not split; the
    break that makes the longer line shortest wins, and what does not fit ends in an ellipsis.
    """
    text = shorten(label, limit)
    words = text.split(" ")
    if len(text) <= width or len(words) == 1:
        return plotly_text(text if len(text) <= width + 5 else shorten(text, width + 5))
    best: tuple[int, str, str] | None = None
    for k in range(1, len(words)):
        first, rest = " ".join(words[:k]), " ".join(words[k:])
        longest = max(len(first), len(rest))
        if best is None or longest < best[0]:
            best = (longest, first, rest)
    assert best is not None
    _, first, rest = best
    first = shorten(first, width + 5)
    return plotly_text(first) + "<br>" + plotly_text(shorten(rest, width + 5))


# plotly.js reads its strings as a small subset of HTML: it makes markup of tags (<b>, <br>, <a href>)
# and decodes only &amp; &lt; &gt; &nbsp; &mu; &times; &plusmn; &deg; and numeric entities. So text is
# escaped once, for that reader: "&", "<" and ">" only. Without a "<" no tag can begin, and quotes are
# plain characters there (escaping them, as for an HTML attribute, would show "&quot;" on screen).
_PLOTLY_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def plotly_text(text: str) -> str:
    """Untrusted text made literal for a plotly string (labels, legend names, hovers, titles)."""
    return text.translate(_PLOTLY_ESCAPES)


def lighten(hex_color: str, amount: float) -> str:
    """Mix a colour with white (how the chart fades segments that do not match a search)."""
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    mix = lambda c: round(c + (255 - c) * amount)  # noqa: E731
    return f"#{mix(r):02x}{mix(g):02x}{mix(b):02x}"


SHADE_LIGHTNESS = (0.30, 0.74)  # children's shades run from dark to light within this range
SHADE_HUE_SPREAD = 0.05  # and turn the hue by up to +-9 degrees, so neighbours differ in two ways


def shades(base: str, n: int) -> list[str]:
    """``n`` colours of ``base``'s hue for its children, in child order.

    Why: a node's children should read as one family (its hue) yet stay apart on the map and in the
    ring. Lightness is spread over a fixed range and handed out alternately from the dark and the
    light half, so neighbouring children (the largest first) never get adjacent shades.
    """
    if n <= 0:
        return []
    r, g, b = (int(base[i : i + 2], 16) / 255 for i in (1, 3, 5))
    hue, _, sat = colorsys.rgb_to_hls(r, g, b)
    sat = max(sat, 0.35)
    lo, hi = SHADE_LIGHTNESS
    half = (n + 1) // 2
    order = [k // 2 if k % 2 == 0 else half + k // 2 for k in range(n)]  # 0, half, 1, half+1, ...
    out = []
    for level in order:
        t = level / (n - 1) if n > 1 else 0.5
        rgb = colorsys.hls_to_rgb((hue + SHADE_HUE_SPREAD * (t - 0.5)) % 1.0, lo + (hi - lo) * t, sat)
        out.append("#" + "".join(f"{round(c * 255):02x}" for c in rgb))
    return out


class TreeIndex:
    """Array views of a :class:`TopicTree` for fast figure building, paging and search."""

    def __init__(
        self,
        tree: TopicTree,
        search_cache_size: int = CACHE_ENTRIES,
        search_cache_bytes: int = CACHE_BYTES,
        search_budget_s: float | None = SCAN_CPU_BUDGET_S,
        search_index: SearchIndex | None = None,
        map_sample_max: int = MAP_SAMPLE_MAX,
    ) -> None:
        self.tree = tree
        self.store = tree.store
        if search_index is None and self.store.lazy:  # a sidecar tree: its full-text index, built on first serve
            from topicmap.viz.search_index import SearchIndex

            search_index = SearchIndex.for_store(self.store)  # type: ignore[arg-type]
        self.search_index = search_index
        arrays = tree.arrays
        self._build_structure(arrays)
        self._build_documents(arrays, map_sample_max)
        self._build_labels()
        self.search_cache = SearchCache(search_cache_size, search_cache_bytes)
        self.search_budget_s = search_budget_s

    # -- construction ----------------------------------------------------------------------
    def _build_structure(self, arrays: TreeArrays) -> None:
        """Positions are breadth-first; everything else is the tree's arrays (pre-order) renumbered."""
        bfs = arrays.breadth_first()  # position -> pre-order number
        self.nodes: list[Node] = list(self.tree.iter_nodes())  # the same breadth-first order
        self.n_nodes = len(self.nodes)
        self.ids: list[str] = [arrays.node_ids[i] for i in bfs.tolist()]
        self.pos: dict[str, int] = {node_id: i for i, node_id in enumerate(self.ids)}
        self._position = np.empty(self.n_nodes, dtype=np.int64)  # pre-order number -> position
        self._position[bfs] = np.arange(self.n_nodes)
        parents = arrays.parents[bfs]
        self.parent_pos = np.where(parents >= 0, self._position[np.maximum(parents, 0)], -1)
        self.depth = arrays.depth[bfs]
        self.max_depth = int(self.depth.max()) if self.n_nodes else 0
        kids = np.split(self._position[arrays.child_indices], arrays.child_indptr[1:-1])
        self.children_pos: list[list[int]] = [kids[i].tolist() for i in bfs.tolist()]
        # preorder[k]: the position of the k-th node in pre-order; node i's subtree is preorder[pre_rank[i] : pre_end[i]]
        self.preorder = self._position.copy()
        self.pre_rank = bfs
        self.pre_end = arrays.subtree_end[bfs]
        top = arrays.node_ancestors(1)[bfs]
        self.top_pos = np.where(top >= 0, self._position[np.maximum(top, 0)], -1)
        self.top_level: list[int] = list(self.children_pos[0]) if self.n_nodes else []
        self._top_rank: dict[int, int] = {p: k for k, p in enumerate(self.top_level)}

    def _build_documents(self, arrays: TreeArrays, map_sample_max: int) -> None:
        """Per-document arrays from columns of the store (no text is read for a sidecar tree)."""
        store = self.store
        self.n_docs = len(store)
        self.doc_leaf_pos = self._position[arrays.doc_leaf]
        # documents sorted by their leaf's preorder rank (stable: row order within a leaf)
        self.doc_order = arrays.doc_order
        self.doc_rank = np.empty(self.n_docs, dtype=np.int64)
        self.doc_rank[self.doc_order] = np.arange(self.n_docs)
        # node i's documents = doc_order[doc_lo[i] : doc_hi[i]]
        self.doc_lo = arrays.doc_lo[self.pre_rank]
        self.doc_hi = arrays.doc_hi[self.pre_rank]
        x, y = store.xy()
        self.doc_x = x.astype(np.float32)
        self.doc_y = y.astype(np.float32)
        self.map_x, self.map_y = quantize_xy(self.doc_x, self.doc_y)
        self._build_map_sample(map_sample_max)
        reps = [doc_id for n in self.nodes for doc_id in n.representative_ids]
        self._rep_rows: dict[str, int] = store.find_ids(reps)
        # small trees: a substring scan over lowered texts; a sidecar tree: its full-text index
        self.doc_search_text: list[str] = [] if store.lazy else [f"{d.title}\n{d.text}".lower() for d in store.iter_documents()]

    def _build_map_sample(self, limit: int) -> None:
        """The points the map draws: all, or beyond ``limit`` a deterministic sample stratified by leaf.

        Every ``n / limit``-th document in ``doc_order`` (documents grouped by leaf in tree order),
        plus each leaf's first, so every topic keeps its share of points and none vanishes. As a
        sample of ``doc_order`` it keeps its property: node i's points are ``map_order[map_lo[i]:map_hi[i]]``.
        """
        n = self.n_docs
        self.map_sampled = n > limit > 0
        if not self.map_sampled:
            self.map_order, self.map_lo, self.map_hi = self.doc_order, self.doc_lo, self.doc_hi
            self._drawn = None
            return
        steps = (np.arange(limit, dtype=np.int64) * n) // limit
        leaf_starts = self.doc_lo[np.asarray([not kids for kids in self.children_pos], dtype=bool) & (self.doc_hi > self.doc_lo)]
        keep = np.unique(np.concatenate([steps, leaf_starts]))
        self.map_order = self.doc_order[keep]
        self.map_lo = np.searchsorted(keep, self.doc_lo, side="left")
        self.map_hi = np.searchsorted(keep, self.doc_hi, side="left")
        self._drawn = np.zeros(n, dtype=bool)
        self._drawn[self.map_order] = True

    def drawn_rows(self, rows: np.ndarray) -> np.ndarray:
        """Those of ``rows`` the map draws (all of them unless the map is a sample)."""
        rows = np.asarray(rows, dtype=np.int64)
        return rows if self._drawn is None else rows[self._drawn[rows]]

    @cached_property
    def doc_row_by_id(self) -> dict[str, int]:
        """Row of every document id (built on first use: facet trees align their documents with it)."""
        return {doc_id: row for row, doc_id in enumerate(self.store.strings("id"))}

    def documents(self, rows: np.ndarray | list[int]) -> list[Document]:
        """The documents at ``rows`` (a page, search results): read from the store, only these."""
        return self.store.rows(rows)

    def document(self, row: int) -> Document:
        return self.store.document(int(row))

    def _build_labels(self) -> None:
        self.labels: list[str] = [display_label(n) for n in self.nodes]
        self.size = self.tree.arrays.sizes[self.pre_rank]
        total = max(int(self.size[0]), 1) if self.n_nodes else 1
        self.segment_text: list[str] = [segment_label(label) for label in self.labels]
        self.hover_text: list[str] = []
        for i, node in enumerate(self.nodes):
            keywords = ", ".join(node.keywords[:6])
            share = 100.0 * node.size / total
            parts = [f"<b>{plotly_text(shorten(self.labels[i], 120))}</b>", f"{node.size:,} documents ({share:.1f}%)"]
            if keywords:
                parts.append(plotly_text(shorten(keywords, 120)))
            self.hover_text.append("<br>".join(parts))
        self.colors: list[str] = self._family_colors()
        self.node_search_text: list[str] = [
            f"{n.label}\n{' '.join(n.keywords)}\n{n.summary}".lower() for n in self.nodes
        ]

    def _family_colors(self) -> list[str]:
        """Top-level topics take the palette; every other node is a shade of its parent's colour.

        The same colour for a node in every view (sunburst ring, map legend at any level), and a
        branch reads as one hue family however deep it is drawn.
        """
        colors = [ROOT_COLOR] * self.n_nodes
        for k, top in enumerate(self.top_level):
            colors[top] = PALETTE[k % len(PALETTE)]
        for i in range(self.n_nodes):  # BFS order: a parent's colour is set before its children's
            kids = self.children_pos[i]
            if i != 0 and kids:
                for child, color in zip(kids, shades(colors[i], len(kids))):
                    colors[child] = color
        return colors

    def _top_color(self, top: int) -> str:
        return PALETTE[self._top_rank[top] % len(PALETTE)]

    # -- queries ---------------------------------------------------------------------------
    def node(self, node_id: str) -> Node:
        return self.nodes[self.pos[node_id]]

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.pos

    def window(self, view_id: str, depth: int) -> np.ndarray:
        """Positions of ``view_id`` and its descendants at most ``depth`` levels below it (preorder)."""
        i = self.pos[view_id]
        sub = self.preorder[self.pre_rank[i] : self.pre_end[i]]
        return sub[self.depth[sub] <= self.depth[i] + max(int(depth), 1)]

    def node_doc_rows(self, node_id: str) -> np.ndarray:
        """Document rows under a node, grouped by leaf in tree order."""
        i = self.pos[node_id]
        return self.doc_order[self.doc_lo[i] : self.doc_hi[i]]

    def doc_count(self, node_id: str) -> int:
        i = self.pos[node_id]
        return int(self.doc_hi[i] - self.doc_lo[i])

    def counts_per_node(self, doc_rows: np.ndarray) -> np.ndarray:
        """For every node, how many of ``doc_rows`` lie under it (vectorised over all nodes)."""
        if len(doc_rows) == 0:
            return np.zeros(self.n_nodes, dtype=np.int64)
        ranks = np.sort(self.doc_rank[np.asarray(doc_rows, dtype=np.int64)])
        return np.searchsorted(ranks, self.doc_hi, side="left") - np.searchsorted(ranks, self.doc_lo, side="left")

    def path_ids(self, node_id: str) -> list[str]:
        out = [self.pos[node_id]]
        while self.parent_pos[out[-1]] >= 0:
            out.append(int(self.parent_pos[out[-1]]))
        return [self.ids[i] for i in reversed(out)]

    def search(self, query: str) -> SearchResult:
        """Documents (title + text) and nodes (label, keywords, summary) containing every query term.

        Case-insensitive substring match over strings lowered once at start, bounded as
        :mod:`topicmap.viz.search` describes; results are cached because several callbacks ask for the
        same query in one interaction.
        """
        parsed = parse_query(query)
        if not parsed.terms:
            empty = np.zeros(0, np.int64)
            return SearchResult("", empty, (), shortened=parsed.shortened, docs_scanned=self.n_docs, docs_total=self.n_docs)
        result = self.search_cache.get_or_compute(parsed.key, lambda: self._run_search(parsed.terms))
        return result if result.shortened == parsed.shortened else replace(result, shortened=parsed.shortened)

    def _run_search(self, terms: tuple[str, ...]) -> SearchResult:
        limited = 0
        if self.search_index is not None:
            rows, limited = self.search_index.match(terms)
            scanned = self.n_docs
        elif self.store.lazy:
            rows, scanned = np.zeros(0, np.int64), 0  # a sidecar tree served without its index: documents are not searched
        else:
            rows, scanned = match_rows(self.doc_search_text, terms, self.search_budget_s)
        label_rows, _ = match_rows(self.node_search_text, terms)
        label_matches = tuple(self.ids[i] for i in label_rows.tolist())
        counts = self.counts_per_node(rows)
        hits = {self.ids[i]: int(counts[i]) for i in np.flatnonzero(counts).tolist()}
        for node_id in label_matches:  # a matching label lights its ancestors too
            for anc in self.path_ids(node_id):
                hits.setdefault(anc, 0)
        return SearchResult(" ".join(terms), rows, label_matches, hits, docs_scanned=scanned, docs_total=self.n_docs, limited=limited)

    def nodes_of_rows(self, doc_rows: np.ndarray) -> dict[str, int]:
        """Node id -> count for every node holding at least one of ``doc_rows``."""
        counts = self.counts_per_node(doc_rows)
        return {self.ids[i]: int(counts[i]) for i in np.flatnonzero(counts).tolist()}

    def representative_rows(self, node_id: str) -> list[int]:
        """Rows of the node's representative documents that lie under it, in the node's order."""
        i = self.pos[node_id]
        out: list[int] = []
        for doc_id in self.nodes[i].representative_ids:
            row = self._rep_rows.get(doc_id)
            if row is not None and self.doc_lo[i] <= self.doc_rank[row] < self.doc_hi[i] and row not in out:
                out.append(row)
        return out

    def snippet(self, row: int, doc: Document | None = None) -> str:
        return shorten((doc or self.document(row)).text, SNIPPET_CHARS)


def quantize_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map coordinates as uint16 on one common scale (aspect kept): half the bytes of float32,
    and 1/65535 of the map's extent is far finer than a screen pixel."""
    if len(x) == 0:
        return np.zeros(0, np.uint16), np.zeros(0, np.uint16)
    x = np.where(np.isfinite(x), x, 0.0)
    y = np.where(np.isfinite(y), y, 0.0)
    x0, y0 = float(x.min()), float(y.min())
    span = max(float(x.max()) - x0, float(y.max()) - y0) or 1.0
    scale = 65535.0 / span
    return (
        np.round((x - x0) * scale).astype(np.uint16),
        np.round((y - y0) * scale).astype(np.uint16),
    )


def build_index(tree: TopicTree, search_index: SearchIndex | None = None) -> TreeIndex:
    return TreeIndex(tree, search_index=search_index)
