"""Summary-grouped upper levels ("the hybrid"): the levels above the leaves formed from what the labels say.

A built tree groups its leaves by where their centroids lie. Science Hierarchography groups them by
text instead, bottom-up: name and summarise each cluster, embed those summaries, cluster them into the
next level, name those clusters, and so on (276 -> 40 -> 6 for 10k papers). :func:`regroup_tree` does
that on an existing tree:

1. the upper levels are set aside: the root's children become the leaves themselves, which keep their
   ids' order, labels, keywords, representatives, centroids and documents;
2. for each upper level, lowest first: the names + summaries of the root's current children (a keyword
   label's keywords stand in for its summary) are embedded with the tree's embedder, unit length, and
   grouped by Ward linkage (:mod:`topicmap.hierarchy.builder.ward`) cut at the level's count
   (:func:`topicmap.hierarchy.builder.cluster.cut_dendrogram`); every group of two or more becomes a new node between
   them and the root (a group of one stays where it is, as a build never makes an only child); the new
   nodes are described like a build describes its nodes (size-weighted centroid = the mean of their
   documents, c-TF-IDF keywords against the other nodes of the new level, a keyword label,
   representatives taken in turn from their children) and then named by the caller's ``namer``: an LLM
   (``topicmap regroup``), or nothing, which keeps the keyword labels;
3. the root is named last; node ids are renumbered by decreasing size, documents follow their leaves,
   the document map is redrawn as nested discs of the new tree (each leaf's documents keep their
   arrangement), and the manifest's ``grouping`` records how the upper levels were formed.

Level counts default to the tree's own (the map preset's coarse topics and top groups), so a regrouped
tree has as many nodes per level as the tree it came from and the two compare like for like.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from topicmap.hierarchy.builder.cluster import cut_dendrogram
from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.inputs.documents import embedding_text
from topicmap.hierarchy.builder.keywords import NodeKeywords, ctfidf_keywords, keyword_label
from topicmap.hierarchy.builder.term_counts import count_terms
from topicmap.hierarchy.builder.map_layout import nested_discs
from topicmap.hierarchy.tree.provenance import NodeProvenance
from topicmap.hierarchy.tree.topic_tree import ROOT_ID, LabelMeta, Node, TopicTree, child_id
from topicmap.hierarchy.builder.ward import weighted_linkage

WEIGHTINGS = ("equal", "size")
NAMES = ("llm", "keywords")
N_KEYWORDS = 30  # as many as a build keeps (BuildConfig.n_keywords)
N_REPRESENTATIVES = 8  # as many as a build keeps (BuildConfig.n_representatives)
DOC_SPREAD = 0.6  # a leaf's documents fill this share of its disc, as the build's layout does

Embed = Callable[[list[str]], np.ndarray]  # texts -> one row per text, in the tree's embedding space
Namer = Callable[[TopicTree, list[str]], None]  # names the given (new) nodes of the tree in place


@dataclass(frozen=True)
class RegroupOptions:
    """How to regroup. ``levels``: nodes per upper level, top first (``[6, 40]`` over 276 leaves);
    None takes the tree's own counts. ``weighting``: ``equal`` groups topics as items (each name counts
    once), ``size`` weights each by its documents as the centroid linkage does."""

    levels: list[int] | None = None
    weighting: str = "equal"
    names: str = "llm"  # who names the new nodes: recorded in the manifest (the namer does the naming)


@dataclass
class RegroupReport:
    levels: list[int]  # asked, top first
    nodes_per_level: list[int] = field(default_factory=list)  # found, top first (groups of one make no node)
    leaves: int = 0
    texts_embedded: int = 0


def grouping_text(node: Node) -> str:
    """What is embedded for a node: its name and summary; a keyword label's keywords are its summary."""
    summary = node.summary.strip() or ", ".join(node.keywords)
    return f"{node.label}: {summary}" if summary else node.label


def tree_level_counts(tree: TopicTree) -> list[int]:
    """The tree's own nodes per upper level, top first: the leaves' parents, their parents, and so on.

    A node directly under the root counts at every level above it (it is its own group there), so
    a map tree gives [top groups, coarse topics] whatever depth its leaves sit at. A tree regrouped
    before gives the levels it was asked for.
    """
    recorded = (tree.manifest.get("grouping") or {}).get("levels")
    if recorded:
        return [int(k) for k in recorded]
    arrays = tree.arrays
    frontier = np.flatnonzero(arrays.is_leaf)
    counts: list[int] = []
    while True:
        parents = arrays.parents[frontier]
        above = np.unique(np.where(parents > 0, parents, frontier))  # a node under the root (number 0) stays itself
        if np.array_equal(above, frontier):
            break
        counts.append(int(above.size))
        frontier = above
    return counts[::-1]


def check_levels(levels: Sequence[int], leaves: int, where: str = "--levels") -> list[int]:
    """Increasing counts from 2 to fewer than the leaves, or an error naming the option."""
    out = [int(k) for k in levels]
    if not out:
        raise InputError(f"{where}: give at least one count, e.g. {max(2, round(leaves ** 0.5))}")
    if any(k < 2 for k in out) or any(b <= a for a, b in zip(out, out[1:])):
        raise InputError(f"{where} {','.join(map(str, out))}: counts must increase from the top level down, each at least 2")
    if out[-1] >= leaves:
        raise InputError(f"{where} {','.join(map(str, out))}: the lowest level must have fewer nodes than the tree's {leaves} leaves")
    return out


def group_rows(vectors: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Labels 0..k-1 for unit-length rows: Ward linkage (weighted) cut at ``k`` groups."""
    dendrogram = weighted_linkage(np.asarray(vectors, dtype=np.float64), np.asarray(weights, dtype=np.float64), None, "ward")
    return cut_dendrogram(dendrogram, k)


def regroup_tree(
    tree: TopicTree,
    embed: Embed,
    namer: Namer | None = None,
    options: RegroupOptions | None = None,
    embedder_name: str = "",
    on_level: Callable[[int, int], None] | None = None,
) -> tuple[TopicTree, RegroupReport]:
    """A new tree: the same leaves and documents, upper levels formed from the leaves' names and summaries.

    ``embed`` maps texts to vectors in the tree's space; ``namer(tree, ids)`` names new nodes in place
    (None keeps their keyword labels). ``on_level(done, total)`` reports progress. The input tree is
    not changed.
    """
    options = options or RegroupOptions()
    if options.weighting not in WEIGHTINGS:
        raise InputError(f"--weighting {options.weighting!r}: choose one of {', '.join(WEIGHTINGS)}")
    leaves = tree.leaves()
    if len(leaves) < 3:
        raise InputError(f"the tree has {len(leaves)} leaves; regrouping needs at least 3")
    levels = check_levels(options.levels if options.levels is not None else tree_level_counts(tree) or [max(2, round(len(leaves) ** 0.5))], len(leaves))
    report = RegroupReport(levels=levels, leaves=len(leaves))
    describer = _Describer(tree)
    work = _flatten(tree)
    steps = len(levels) + 1
    for step, k in enumerate(reversed(levels)):
        top = work.children(ROOT_ID)
        if len(top) > k:
            texts = [grouping_text(n) for n in top]
            vectors = np.asarray(embed(texts), dtype=np.float64)
            report.texts_embedded += len(texts)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            weights = np.array([n.size for n in top], dtype=np.float64) if options.weighting == "size" else np.ones(len(top))
            work, new_ids = _insert_level(work, group_rows(vectors, weights, k), describer)
            if namer is not None and new_ids:
                namer(work, new_ids)
        if on_level is not None:
            on_level(step + 1, steps)
    if namer is not None:
        namer(work, [ROOT_ID])
    if on_level is not None:
        on_level(steps, steps)
    inner = work.arrays.depth[~work.arrays.is_leaf]
    report.nodes_per_level = np.bincount(inner, minlength=work.depth)[1 : work.depth].tolist()
    moved = _relayout(work)
    previous = tree.manifest.get("grouping") or {"upper_levels": "centroids"}
    moved.manifest["grouping"] = {
        "upper_levels": "summaries",
        "names": options.names,
        "texts": "label and summary (keywords when a node has no summary)",
        "embedder": embedder_name,
        "linkage": "ward",
        "weighting": options.weighting,
        "levels": levels,
        "nodes_per_level": report.nodes_per_level,
        "leaves": len(leaves),
        "leaf_labels": _labeler_counts(leaves),
        "regrouped_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "previous": {k: v for k, v in previous.items() if k != "previous"},
    }
    return moved, report


# -- building blocks ---------------------------------------------------------------------------
def _labeler_counts(nodes: Sequence[Node]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in nodes:
        kind = "llm" if node.label_meta.labeler == "llm" else "keywords"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _flatten(tree: TopicTree) -> TopicTree:
    """Root -> leaves: the upper levels set aside, the leaves (and their documents) kept, numbered as before."""
    root = tree.root
    leaves = tree.leaves()  # breadth-first, id order
    nodes: dict[str, Node] = {ROOT_ID: replace(root, label_meta=replace(root.label_meta, extra=root.label_meta.extra.copy()))}
    for leaf in leaves:
        meta = replace(leaf.label_meta, extra=leaf.label_meta.extra.copy())  # naming may rename a leaf: never the input's
        extra = leaf.extra.copy()
        if extra.get("regrouped_from") is None:  # regrouped before: it keeps the id of the tree it first came from
            extra.regrouped_from = leaf.id
        nodes[leaf.id] = replace(leaf, label_meta=meta, extra=extra)
    return _renumber(nodes, {ROOT_ID: [leaf.id for leaf in leaves]}, tree.documents, tree.manifest)[0]


def _insert_level(work: TopicTree, labels: np.ndarray, describer: _Describer) -> tuple[TopicTree, list[str]]:
    """Put a node between the root and each group of two or more of its children; returns the new ids."""
    top = work.children(ROOT_ID)
    nodes: dict[str, Node] = {n.id: n for n in work.iter_nodes()}
    children: dict[str, list[str]] = {n.id: [c.id for c in work.children(n.id)] for n in work.iter_nodes()}
    groups: dict[int, list[Node]] = {}
    for node, label in zip(top, labels.tolist()):
        groups.setdefault(int(label), []).append(node)
    children[ROOT_ID] = []
    new_keys: list[str] = []
    for label in sorted(groups):
        members = groups[label]
        if len(members) == 1:
            children[ROOT_ID].append(members[0].id)
            continue
        key = f"new-{label}"
        nodes[key] = describer.group_node(key, members)
        children[key] = [m.id for m in members]
        children[ROOT_ID].append(key)
        new_keys.append(key)
    renumbered, new_id = _renumber(nodes, children, work.documents, work.manifest)
    describer.keywords_for(renumbered, [new_id[k] for k in new_keys])
    return renumbered, [new_id[k] for k in new_keys]


def _renumber(nodes: dict[str, Node], children: dict[str, list[str]], documents: list, manifest: dict[str, Any]) -> tuple[TopicTree, dict[str, str]]:
    """A TopicTree from nodes keyed by any name: ids are paths again, children by decreasing size."""
    new_id = {ROOT_ID: ROOT_ID}
    out: list[Node] = []
    queue: list[tuple[str, str | None, int]] = [(ROOT_ID, None, 0)]
    while queue:
        key, parent, depth = queue.pop(0)
        node = nodes[key]
        out.append(replace(node, id=new_id[key], parent=parent, depth=depth))
        kids = sorted(children.get(key, []), key=lambda c: -nodes[c].size)  # stable: ties keep their order
        for index, kid in enumerate(kids):
            new_id[kid] = child_id(new_id[key], index)
            queue.append((kid, new_id[key], depth + 1))
    moved = [replace(doc, leaf=new_id[doc.leaf]) for doc in documents]
    return TopicTree(out, moved, dict(manifest)), new_id


class _Describer:
    """What a build writes for a node, for the new upper nodes: centroid, keywords, keyword label, representatives."""

    def __init__(self, tree: TopicTree) -> None:
        texts = [embedding_text(d.title, d.text) for d in tree.documents]
        self.has_text = any(t.strip() for t in texts)
        self.counts, self.vocabulary = count_terms(texts) if self.has_text else (None, None)
        self.created = datetime.now(UTC).isoformat(timespec="seconds")

    def group_node(self, key: str, members: list[Node]) -> Node:
        size = sum(m.size for m in members)
        centroid = None
        if all(m.centroid is not None for m in members) and size > 0:
            centroid = (sum(m.centroid.astype(np.float64) * m.size for m in members) / size).astype(np.float32)
        by_size = sorted(members, key=lambda m: -m.size)
        reps: list[str] = []
        for turn in range(max((len(m.representative_ids) for m in by_size), default=0)):
            reps += [m.representative_ids[turn] for m in by_size if turn < len(m.representative_ids)]
        return Node(
            id=key, parent=ROOT_ID, depth=1, size=size, centroid=centroid, representative_ids=reps[:N_REPRESENTATIVES],
            label_meta=LabelMeta(labeler="keywords", created_at=self.created), extra=NodeProvenance(grouped_by="summaries"),
        )

    def keywords_for(self, tree: TopicTree, new_ids: list[str]) -> None:
        """c-TF-IDF keywords of the new nodes against every node of their level (as a build scores a depth)."""
        if not new_ids:
            return
        if self.counts is None:
            for node_id in new_ids:  # no document text stored: the children's keywords, weighted by size
                self._set(tree.node(node_id), _merged_keywords(tree.children(node_id)))
            return
        level = tree.children(ROOT_ID)
        arrays = tree.arrays
        top_of = np.full(arrays.n_nodes, -1, dtype=np.int64)
        top_of[arrays.children(0)] = np.arange(len(level))  # the root's children, in display order as ``level``
        members = top_of[arrays.doc_ancestors(1)]
        words = ctfidf_keywords(self.counts, self.vocabulary, [members], [[n.id for n in level]], top_n=N_KEYWORDS)
        for node_id in new_ids:
            self._set(tree.node(node_id), words[node_id])

    @staticmethod
    def _set(node: Node, words: NodeKeywords) -> None:
        node.keywords, node.keyword_scores = list(words.words), list(words.scores)
        node.label = keyword_label(node.keywords)


def _merged_keywords(children: list[Node]) -> NodeKeywords:
    scores: dict[str, float] = {}
    for child in children:
        for rank, word in enumerate(child.keywords):
            score = child.keyword_scores[rank] if rank < len(child.keyword_scores) else 1.0 / (rank + 1)
            scores[word] = scores.get(word, 0.0) + score * child.size
    top = sorted(scores, key=lambda w: -scores[w])[:N_KEYWORDS]
    return NodeKeywords(top, [round(scores[w], 6) for w in top])


def _relayout(new: TopicTree) -> TopicTree:
    """Redraw a tree-shaped document map for the new tree: nested discs, each leaf's documents kept in their arrangement.

    A map of the documents themselves (UMAP, PCA) does not depend on the tree's upper levels: it is kept as it is.
    """
    arrays = new.arrays
    nodes = [new.node(node_id) for node_id in arrays.node_ids]  # pre-order: parents before children, as nested_discs needs
    if not new.documents or any(n.centroid is None for n in nodes):
        return new
    if (new.manifest.get("clustering") or {}).get("layout_used") in ("umap", "pca"):
        return new
    centres = np.vstack([n.centroid for n in nodes]).astype(np.float64)
    anchors, radii = nested_discs(arrays.parents, centres, arrays.sizes.astype(np.float64))
    xy = np.array([[d.x, d.y] for d in new.documents], dtype=np.float64)
    leaf = arrays.doc_leaf
    counts = np.bincount(leaf, minlength=len(nodes)).astype(np.float64)
    means = np.stack([np.bincount(leaf, weights=xy[:, i], minlength=len(nodes)) for i in (0, 1)], axis=1) / np.maximum(counts, 1.0)[:, None]
    offsets = xy - means[leaf]
    spread = np.sqrt(np.bincount(leaf, weights=(offsets**2).sum(1), minlength=len(nodes)) / np.maximum(counts, 1.0))
    placed = anchors[leaf] + offsets * (DOC_SPREAD * radii / np.maximum(spread, 1e-12))[leaf, None]
    placed -= placed.mean(axis=0)
    scale = float(np.abs(placed).max()) or 1.0
    placed /= scale
    documents = [replace(d, x=float(x), y=float(y)) for d, (x, y) in zip(new.documents, placed)]
    return TopicTree(list(new.iter_nodes()), documents, new.manifest)


__all__ = ["RegroupOptions", "RegroupReport", "check_levels", "group_rows", "grouping_text", "regroup_tree", "tree_level_counts"]
