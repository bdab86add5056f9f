"""Topics over time: documents per period for every node, and how fast each node's share grows.

Pure functions over arrays (times in seconds since the epoch, nodes in parents-first order), and one
adapter, :func:`tree_trends`, that reads them off a :class:`TopicTree` whose documents carry times.

**Period**: see :mod:`topicmap.hierarchy.inputs.periods` (``auto`` chooses one the dated documents can fill).

**Growth** of a node is the change of its *share* of the dated documents over the whole span, from
a binomial regression of the node's count in each period on time (logistic link; each period
weighs by its number of documents, so busy and quiet periods count as they should, and empty
periods not at all). Time is scaled so the first period's centre is -1/2 and the last one's +1/2:
the slope ``b`` is then the change in log-odds of the share from the first period with documents
to the last. What is shown (×2.3) is the fitted share in the last period divided by the fitted
share in the first; its interval comes from the slope's (the fitted level held at its estimate,
which with time centred hardly moves with the slope). The slope's 95% interval is Wald's, widened
by the quasi-binomial dispersion (Pearson chi-square / degrees of freedom, when above 1), because
documents arrive in bursts (a news event, a conference) and counts vary more than a binomial's.
On simulated bursty series the widening takes a steady topic's false "moving" rate from 23% to 6%
(``bench/bench_trends.py``). A weak normal prior on the slope (sd 5: a 150-fold change is one sd) keeps the estimate finite
for a topic absent in early periods. Nodes with fewer than 3 periods holding documents, no dated
document, or every dated document (the root) have no growth (NaN).

Why not the last period against the rest: it depends on where the window is cut and throws away
the shape of the series; why not a least-squares slope of shares: it weighs a period of 5
documents as much as one of 5,000 and gives no honest interval for shares near 0.

The fastest rising topics are ranked by the lower end of their interval (a topic surely rising
fast beats one that might rise faster but might also be flat), the fastest falling by the upper end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from topicmap.hierarchy.inputs.periods import period_label, period_ordinals, period_start, resolve_period
from topicmap.hierarchy.tree.topic_tree import TopicTree

MIN_FILLED_PERIODS = 3
PRIOR_SD = 5.0
Z95 = 1.959964
NEWTON_STEPS = 40


# -- counts and growth ------------------------------------------------------------------------------
def node_period_counts(doc_node: np.ndarray, doc_period: np.ndarray, parent: np.ndarray, depth: np.ndarray, n_periods: int) -> np.ndarray:
    """(nodes, periods) document counts: each document counted at its leaf and every ancestor.

    ``doc_node`` is each dated document's leaf position, ``doc_period`` its period (0-based),
    ``parent`` every node's parent position (-1 for the root), ``depth`` its depth.
    """
    n_nodes = parent.size
    flat = np.bincount(np.asarray(doc_node, np.int64) * n_periods + np.asarray(doc_period, np.int64), minlength=n_nodes * n_periods)
    counts = flat.reshape(n_nodes, n_periods).astype(np.int64)
    for d in range(int(depth.max()) if n_nodes else 0, 0, -1):
        nodes = np.flatnonzero(depth == d)
        np.add.at(counts, parent[nodes], counts[nodes])
    return counts


@dataclass(frozen=True)
class Growth:
    """Per node: ``slope`` = change in log-odds of its share from the first period to the last (NaN: none),
    with its 95% interval ``low``..``high``, the fitted log-odds ``level`` midway, and the quasi-binomial
    ``dispersion`` used to widen the interval."""

    slope: np.ndarray
    low: np.ndarray
    high: np.ndarray
    dispersion: np.ndarray
    level: np.ndarray

    def share_ratios(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fitted share in the last period over fitted share in the first, per node, with its interval
        (from the slope's interval, the level held at its estimate: the ratio grows with the slope)."""
        return _share_ratio(self.level, self.slope), _share_ratio(self.level, self.low), _share_ratio(self.level, self.high)

    def ratio(self, k: int) -> tuple[float, float, float]:
        """Node ``k``'s growth as a multiplier of its share, with its interval."""
        return (float(_share_ratio(self.level[k], self.slope[k])), float(_share_ratio(self.level[k], self.low[k])),
                float(_share_ratio(self.level[k], self.high[k])))


def _share_ratio(level: np.ndarray | float, slope: np.ndarray | float) -> np.ndarray:
    """sigmoid(level + slope/2) / sigmoid(level - slope/2), computed stably in logs."""
    level, slope = np.asarray(level, dtype=np.float64), np.asarray(slope, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # NaN in (no growth figure), NaN out
        return np.exp(-np.logaddexp(0.0, -(level + slope / 2)) + np.logaddexp(0.0, -(level - slope / 2)))


def share_growth(
    counts: np.ndarray, totals: np.ndarray, centres: np.ndarray, prior_sd: float = PRIOR_SD, z: float = Z95, overdispersion: bool = True
) -> Growth:
    """Binomial regression of ``counts`` (nodes x periods) out of ``totals`` on time, per node (module docstring).

    ``centres`` are the periods' mid-points on any linear time scale; they are rescaled to -1/2..+1/2.
    Newton's method on all nodes at once (a 2x2 system each). ``overdispersion`` False keeps the plain
    binomial interval (for the benchmark that shows why it is widened).
    """
    k = np.asarray(counts, dtype=np.float64)
    n = np.asarray(totals, dtype=np.float64)[None, :]
    c = np.asarray(centres, dtype=np.float64)
    filled = n[0] > 0
    n_nodes = k.shape[0]
    nan = np.full(n_nodes, np.nan)
    if filled.sum() < MIN_FILLED_PERIODS:
        return Growth(nan, nan.copy(), nan.copy(), nan.copy(), nan.copy())
    lo, hi = c[filled].min(), c[filled].max()
    x = ((c - lo) / (hi - lo) - 0.5)[None, :]
    x = np.where(filled[None, :], x, 0.0)
    dated_all = k.sum(axis=1)
    fit = (dated_all > 0) & (dated_all < n.sum())  # none, or every document (the root): no share to follow
    k, dated = k[fit], dated_all[fit]
    precision = 1.0 / prior_sd**2
    share = dated / n.sum()
    a = np.log(share / (1 - share))
    b = np.zeros(k.shape[0])
    for _ in range(NEWTON_STEPS):
        p = _sigmoid(a[:, None] + b[:, None] * x)
        w = n * p * (1 - p)
        r = k - n * p
        g_a, g_b = r.sum(axis=1), (r * x).sum(axis=1) - precision * b
        h_aa, h_ab, h_bb = w.sum(axis=1), (w * x).sum(axis=1), (w * x * x).sum(axis=1) + precision
        det = np.maximum(h_aa * h_bb - h_ab**2, 1e-12)
        step_a = np.clip((h_bb * g_a - h_ab * g_b) / det, -5, 5)
        step_b = np.clip((h_aa * g_b - h_ab * g_a) / det, -5, 5)
        a, b = a + step_a, b + step_b
        if k.shape[0] == 0 or max(np.abs(step_a).max(), np.abs(step_b).max()) < 1e-9:
            break
    p = _sigmoid(a[:, None] + b[:, None] * x)
    w = n * p * (1 - p)
    h_aa, h_ab, h_bb = w.sum(axis=1), (w * x).sum(axis=1), (w * x * x).sum(axis=1) + precision
    var_b = h_aa / np.maximum(h_aa * h_bb - h_ab**2, 1e-12)
    expected = np.maximum(n * p * (1 - p), 1e-12)
    pearson = np.where(filled[None, :], (k - n * p) ** 2 / expected, 0.0).sum(axis=1)
    dispersion = np.maximum(1.0, pearson / max(int(filled.sum()) - 2, 1)) if overdispersion else np.ones(k.shape[0])
    se = np.sqrt(var_b * dispersion)
    slope, low, high, spread, level = nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy()
    slope[fit], low[fit], high[fit], spread[fit], level[fit] = b, b - z * se, b + z * se, dispersion, a
    return Growth(slope, low, high, spread, level)


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(t, -50, 50)))


def movers(growth: Growth, candidates: np.ndarray, top: int) -> tuple[list[int], list[int]]:
    """The ``top`` surest fastest rising and falling of ``candidates`` (node positions): rising ranked by
    the lower end of the interval (above 0 only), falling by the upper end (below 0 only)."""
    cand = np.asarray(candidates, dtype=np.int64)
    low, high = growth.low[cand], growth.high[cand]
    up = cand[np.nan_to_num(low, nan=-np.inf) > 0]
    down = cand[np.nan_to_num(high, nan=np.inf) < 0]
    rising = up[np.argsort(-growth.low[up], kind="stable")][:top]
    falling = down[np.argsort(growth.high[down], kind="stable")][:top]
    return rising.tolist(), falling.tolist()


# -- a tree ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trends:
    """A dated tree's counts per period: rows are nodes in ``tree.iter_nodes()`` order (parents first)."""

    period: str
    labels: list[str]  # one per period, sortable (period_label)
    starts: np.ndarray  # seconds since the epoch at which each period begins
    node_ids: list[str]
    depth: np.ndarray
    counts: np.ndarray  # (nodes, periods)
    totals: np.ndarray  # (periods,): dated documents per period (the root's row)
    growth: Growth
    dated: int
    undated: int

    def shares(self) -> np.ndarray:
        """(nodes, periods): each node's share of the dated documents of each period (0 in an empty period)."""
        return self.counts / np.maximum(self.totals, 1)[None, :]

    def movers(self, max_depth: int | None = None, top: int = 5) -> tuple[list[int], list[int]]:
        """Rows of the fastest rising and falling nodes at depth 1..``max_depth`` (all depths when None)."""
        deep = self.depth >= 1
        if max_depth is not None:
            deep &= self.depth <= max_depth
        return movers(self.growth, np.flatnonzero(deep), top)


def tree_has_times(tree: TopicTree) -> bool:
    return tree.store.has_times()


def tree_trends(tree: TopicTree, period: str | None = None) -> Trends | None:
    """Counts per period and growth for every node of ``tree`` (None when no document has a time).

    ``period`` None takes the one recorded at build time (``manifest.time.period``), else ``auto``.
    """
    times = np.array(tree.store.times(), dtype=np.float64)  # the time column only
    dated_rows = np.flatnonzero(np.isfinite(times))
    if dated_rows.size == 0:
        return None
    info = tree.manifest.get("time") if isinstance(tree.manifest.get("time"), dict) else {}
    chosen = resolve_period(period or info.get("period"), info.get("format"), times[dated_rows])
    arrays = tree.arrays
    rows = arrays.breadth_first()  # the rows' order: tree.iter_nodes()
    ordinals = period_ordinals(times[dated_rows], chosen)
    first, last = int(ordinals.min()), int(ordinals.max())
    counts = node_period_counts(arrays.doc_leaf[dated_rows], ordinals - first, arrays.parents, arrays.depth, last - first + 1)[rows]
    starts = np.array([period_start(o, chosen) for o in range(first, last + 2)])
    centres = (starts[:-1] + starts[1:]) / 2
    return Trends(
        period=chosen,
        labels=[period_label(o, chosen) for o in range(first, last + 1)],
        starts=starts[:-1],
        node_ids=[arrays.node_ids[i] for i in rows.tolist()],
        depth=arrays.depth[rows],
        counts=counts,
        totals=counts[0].copy(),
        growth=share_growth(counts, counts[0], centres),
        dated=int(dated_rows.size),
        undated=int(times.size - dated_rows.size),
    )


def format_ratio(value: float) -> str:
    """A share multiplier for people: ×2.3, ×0.41, ×150."""
    if not math.isfinite(value):
        return "n/a"
    if value >= 10:
        return f"×{value:.0f}"
    return f"×{value:.2g}" if value < 1 else f"×{value:.2f}".rstrip("0").rstrip(".")


def growth_text(growth: Growth, k: int) -> str:
    """"×2.3 (95% interval ×1.7–×3.1)" for node ``k``, or why there is none."""
    if not math.isfinite(growth.slope[k]):
        return "no growth figure (too few dated documents or periods)"
    mid, low, high = growth.ratio(k)
    return f"{format_ratio(mid)} (95% interval {format_ratio(low)}–{format_ratio(high)})"
