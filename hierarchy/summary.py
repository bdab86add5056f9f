"""Plain-text views of a tree for the terminal (``topicmap info`` and the demo)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from hierarchy.tree import TopicTree


def shape_report(tree: TopicTree) -> list[str]:
    """Counts per level: nodes, leaves, size spread."""
    lines = []
    leaves = tree.leaves()
    leaf_sizes = np.array([n.size for n in leaves])
    lines.append(
        f"{len(tree.documents):,} documents · {len(tree):,} nodes · {len(leaves):,} leaves · depth {tree.depth} · "
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


def outline(tree: TopicTree, max_depth: int = 2, max_children: int = 12) -> list[str]:
    """An indented outline of the top levels: id, size, label."""
    lines: list[str] = []

    def walk(node_id: str) -> None:
        node = tree.node(node_id)
        indent = "  " * node.depth
        lines.append(f"{indent}{node.id:<8} {node.size:>7,}  {node.label}")
        if node.depth >= max_depth:
            return
        children = tree.children(node_id)
        for child in children[:max_children]:
            walk(child.id)
        if len(children) > max_children:
            lines.append(f"{indent}  ... {len(children) - max_children} more")

    walk(tree.root.id)
    return lines


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
    timings = manifest.get("timings_s", {})
    if timings:
        out.append("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    return out


def _leaves(clustering: dict) -> str:
    found = clustering.get("leaf_clusters_found")
    coarse = clustering.get("coarse_clusters_found")
    inside = f" inside {coarse} coarse topics" if coarse else ""
    return f"{found} leaf clusters{inside}, " if found else ""


def full_report(tree: TopicTree, max_depth: int = 2) -> str:
    return "\n".join([*shape_report(tree), labels_report(tree), *manifest_report(tree), "", *outline(tree, max_depth)])
