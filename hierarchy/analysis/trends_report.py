"""Trends for people and spreadsheets: the ``topicmap trends`` CSV and its terminal summary."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from topicmap.hierarchy.base.safe_text import clip, printable
from topicmap.hierarchy.files.spreadsheet import csv_text
from topicmap.hierarchy.tree.summary import LABEL_PRINT_CHARS
from topicmap.hierarchy.tree.topic_tree import TopicTree
from topicmap.hierarchy.analysis.trends import MIN_FILLED_PERIODS, Trends, format_ratio, growth_text

CSV_HEADER = ("node", "label", "period", "count", "share")
SHARE_DECIMALS = 6


def trends_csv(tree: TopicTree, trends: Trends, max_depth: int) -> str:
    """One row per node (depth 0..``max_depth``, parents first) and period: its dated documents in that
    period and their share of all dated documents of the period (empty in a period without any).
    Spreadsheet-safe (:mod:`topicmap.hierarchy.files.spreadsheet`)."""

    def rows() -> Iterator[list[object]]:
        for k, node_id in enumerate(trends.node_ids):
            if trends.depth[k] > max_depth:
                continue
            label = tree.node(node_id).label
            for p, period in enumerate(trends.labels):
                total = int(trends.totals[p])
                count = int(trends.counts[k, p])
                yield [node_id, label, period, count, round(count / total, SHARE_DECIMALS) if total else ""]

    return csv_text(CSV_HEADER, rows())


def trends_summary(tree: TopicTree, trends: Trends, max_depth: int, top: int = 5) -> str:
    """The fastest rising and falling topics down to ``max_depth``, with their growth and interval."""
    first, last = trends.labels[0], trends.labels[-1]
    periods = f"{len(trends.labels)} {trends.period}" + ("s" if len(trends.labels) != 1 else "")
    lines = [
        f"{trends.dated:,} dated documents ({trends.undated:,} undated) in {periods}, {first} to {last}",
        f"growth = the topic's share of dated documents in {last} against {first}, fitted over every {trends.period} (95% interval)",
    ]
    if not np.isfinite(trends.growth.slope).any():
        lines.append(f"no growth figures: fewer than {MIN_FILLED_PERIODS} {trends.period}s hold dated documents (a finer --period may help)")
        return "\n".join(lines)
    rising, falling = trends.movers(max_depth, top)
    shares = trends.shares()
    for title, rows in (("fastest rising", rising), ("fastest falling", falling)):
        lines.append(f"{title}:")
        if not rows:
            lines.append("  none: no topic's interval lies clear of 'no change'")
        for k in rows:
            node = tree.node(trends.node_ids[k])
            start, end = _edge_share(shares[k], trends.totals), _edge_share(shares[k, ::-1], trends.totals[::-1])
            lines.append(
                f"  {node.id:<8} {growth_text(trends.growth, k):<36} {start:5.1%} -> {end:5.1%}  "
                f"{printable(clip(node.label, LABEL_PRINT_CHARS))}"
            )
    lines.append(f"({format_ratio(1.0)} means no change; the shares are those of the first and the last {trends.period} with documents)")
    return "\n".join(lines)


def _edge_share(shares: object, totals: object) -> float:
    """The share in the first period that has dated documents (pass reversed arrays for the last)."""
    for share, total in zip(shares, totals):  # type: ignore[call-overload]
        if total:
            return float(share)
    return 0.0
