"""Plain-text views of a tree for the terminal (``topicmap info`` and the demo)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from topicmap.hierarchy.base.safe_text import clip, printable

if TYPE_CHECKING:  # the CLI reads this module's constants for --help, which must not load NumPy or networkx
    from topicmap.hierarchy.tree.topic_tree import Node, TopicTree

LABEL_PRINT_CHARS = 120  # a label longer than a line is cut with an ellipsis in terminal output


def shape_report(tree: TopicTree) -> list[str]:
    """Counts per level: nodes, leaves, size spread."""
    import numpy as np

    lines = []
    leaves = tree.leaves()
    leaf_sizes = np.array([n.size for n in leaves])
    lines.append(
        f"{tree.n_documents:,} documents · {len(tree):,} nodes · {len(leaves):,} leaves · depth {tree.depth} · "
        f"leaf size median {int(np.median(leaf_sizes))} (min {leaf_sizes.min()}, max {leaf_sizes.max()})"
    )
    if tree.depth == 0:
        lines.append("the root is the only node: the corpus was too small to split (see --min-leaf-size)")
        return lines
    lines.append("level  nodes  leaves  children/node  size median (min-max)")
    for depth in range(1, tree.depth + 1):
        level = tree.level(depth)
        sizes = np.array([n.size for n in level])
        parents = {n.parent for n in level}
        lines.append(
            f"{depth:>5}  {len(level):>5}  {sum(tree.is_leaf(n.id) for n in level):>6}  "
            f"{len(level) / max(len(parents), 1):>13.1f}  {int(np.median(sizes)):>6} ({sizes.min()}-{sizes.max()})"
        )
    return lines


def labels_report(tree: TopicTree) -> str:
    kinds = Counter(
        (n.label_meta.labeler if n.label_meta.status == "ok" else f"{n.label_meta.labeler} (failed)") for n in tree.iter_nodes()
    )
    return "labels: " + ", ".join(f"{count} by {kind}" for kind, count in sorted(kinds.items()))


OUTLINE_LINES = 40  # an outline longer than a screen is a listing, not a summary


def outline(tree: TopicTree, max_depth: int = 2, max_children: int = 12, max_lines: int = OUTLINE_LINES) -> list[str]:
    """An indented outline of the top levels (id, size, label) in at most about ``max_lines`` lines.

    Why a line budget: with thousands of leaves even two levels are hundreds of lines. Lines are
    handed out level by level, round-robin over the shown parents (largest child first), so every
    shown topic gets its biggest subtopics before any gets its tenth; a level is skipped when the
    budget cannot show at least one more child per parent. What is left out is counted on a
    "... N more (M documents)" line under its parent.
    """
    root = tree.root
    kids_of: dict[str, list[Node]] = {}  # parent id -> the children it may show, largest first
    shown: dict[str, list[Node]] = {root.id: []}  # node id -> its shown children, largest first
    lines = 1
    level = [root]
    for depth in range(1, max_depth + 1):
        parents = [p for p in level if not tree.is_leaf(p.id)]
        if not parents:
            break
        # one reserved line per parent for its "... more", plus room for one child each
        if lines + 2 * len(parents) > max_lines and depth > 1:
            break
        lines += len(parents)
        for p in parents:
            kids_of[p.id] = sorted(tree.children(p.id), key=lambda n: -n.size)[:max_children]
        next_level = []
        for rank in range(max_children):
            added = False
            for p in parents:
                if rank < len(kids_of[p.id]) and lines < max_lines:
                    child = kids_of[p.id][rank]
                    shown[p.id].append(child)
                    shown[child.id] = []
                    next_level.append(child)
                    lines += 1
                    added = True
            if not added:
                break
        level = next_level

    out: list[str] = []

    def walk(node_id: str) -> None:
        node = tree.node(node_id)
        indent = "  " * node.depth
        out.append(f"{indent}{node.id:<8} {node.size:>7,}  {printable(clip(node.label, LABEL_PRINT_CHARS))}")
        children = shown.get(node_id, [])
        for child in children:
            walk(child.id)
        if node_id in kids_of:
            everything = tree.children(node_id)
            hidden = len(everything) - len(children)
            if hidden:
                docs = sum(n.size for n in everything) - sum(n.size for n in children)
                out.append(f"{indent}  ... {hidden} more ({docs:,} documents)" if children else f"{indent}  ... {hidden} subtopics ({docs:,} documents)")

    walk(root.id)
    return out


def manifest_report(tree: TopicTree) -> list[str]:
    manifest = tree.manifest
    out = []
    source = manifest.get("input", {}).get("source")
    if source:
        out.append(f"input: {source} (sha256 {manifest['input'].get('sha256', '')[:12]})")
    embedder = manifest.get("embedder", {})
    if embedder:
        out.append(f"embedder: {embedder.get('name', '?')} ({embedder.get('dimensions', '?')} dimensions)")
    clustering = manifest.get("clustering", {})
    if clustering:
        shape = f"levels {clustering['levels']}" if clustering.get("levels") else (
            f"auto ({_leaves(clustering)}max depth {clustering.get('max_depth')}, max children {clustering.get('max_children')}, "
            f"min leaf size {clustering.get('min_leaf_size')})"
        )
        smoothing = clustering.get("smoothing_neighbors_used")
        if smoothing:
            shape += f", k-means on vectors smoothed over {smoothing} neighbours"
        preset = f"preset {clustering['preset']}, " if clustering.get("preset") else ""
        moved = clustering.get("descent_moved") or []
        descent = f", {len(moved)} descent rounds (moved {', '.join(f'{m:.0%}' for m in moved)})" if moved else ""
        out.append(f"clustering: {preset}{shape}, reducer {clustering.get('reducer')}, seed {manifest.get('seed')}{descent}")
    grouping = manifest.get("grouping") or {}
    if grouping.get("upper_levels") == "summaries":
        names = "LLM names" if grouping.get("names") == "llm" else "labels"
        out.append(
            f"upper levels: grouped by their {names} and summaries (topicmap regroup; {grouping.get('linkage')} linkage, "
            f"levels {grouping.get('levels')}, embedded with {grouping.get('embedder')}); the leaves are the clustering's"
        )
    time = manifest.get("time")
    if isinstance(time, dict):
        out.append(
            f"times: column {time.get('column')!r} ({time.get('format')}), {time.get('dated', 0):,} dated, "
            f"{time.get('undated', 0):,} undated; see them with: topicmap trends"
        )
    timings = manifest.get("timings_s", {})
    if timings:
        out.append("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    return out


def _leaves(clustering: dict) -> str:
    found = clustering.get("leaf_clusters_found")
    coarse = clustering.get("coarse_clusters_found")
    inside = f" inside {coarse} coarse topics" if coarse else ""
    return f"{found} leaf clusters{inside}, " if found else ""


def full_report(tree: TopicTree, max_depth: int = 2, max_lines: int = OUTLINE_LINES) -> str:
    """Shape per level, labels, manifest, then an outline of the largest topics (about ``max_lines`` lines).

    For a terminal: labels are cut to LABEL_PRINT_CHARS, and control characters from the tree file
    (labels, manifest) are shown as escapes, never sent to the terminal as they are.
    """
    lines = [*shape_report(tree), labels_report(tree), *manifest_report(tree), "", *outline(tree, max_depth, max_lines=max_lines)]
    return printable("\n".join(lines), keep_newlines=True)
