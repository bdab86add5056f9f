"""The topic tree: a typed API over a networkx DiGraph of parent -> child edges.

Node ids are paths: the root is ``"root"``, its children ``"0"``, ``"1"``, theirs ``"0.3"``,
``"0.3.1"``. Children are numbered by decreasing size when the tree is built, and ids never change
afterwards (relabelling only touches ``label``, ``summary`` and ``label_meta``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import networkx as nx
import numpy as np

from topicmap.hierarchy.base.errors import TreeFileError
from topicmap.hierarchy.tree.provenance import LabelProvenance

ROOT_ID = "root"


@dataclass
class LabelMeta:
    """How a node's label was made: by keywords, or by which model with which prompt version."""

    labeler: str = "keywords"
    model: str | None = None
    prompt: str | None = None  # "name@version"
    prompt_hash: str | None = None
    created_at: str | None = None
    status: str = "ok"  # "ok" or "failed" (failed: the keyword label was kept)
    error: str | None = None
    extra: LabelProvenance = field(default_factory=LabelProvenance)  # a dict given here becomes one

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "extra" and not isinstance(value, LabelProvenance):
            value = LabelProvenance.from_mapping(value)
        super().__setattr__(name, value)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"labeler": self.labeler, "status": self.status}
        for key in ("model", "prompt", "prompt_hash", "created_at", "error"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.extra:
            out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelMeta:
        return cls(
            labeler=data.get("labeler", "keywords"),
            model=data.get("model"),
            prompt=data.get("prompt"),
            prompt_hash=data.get("prompt_hash"),
            created_at=data.get("created_at"),
            status=data.get("status", "ok"),
            error=data.get("error"),
            extra=dict(data.get("extra", {})),
        )


@dataclass
class Node:
    """One topic. ``size`` counts the documents in its whole subtree."""

    id: str
    parent: str | None
    depth: int
    size: int
    label: str = ""
    summary: str = ""
    keywords: list[str] = field(default_factory=list)
    keyword_scores: list[float] = field(default_factory=list)
    representative_ids: list[str] = field(default_factory=list)
    centroid: np.ndarray | None = None  # in the embedder's space (not the reduced one)
    label_meta: LabelMeta = field(default_factory=LabelMeta)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Document:
    """A document as the tree keeps it: enough to show it and to place it on the map."""

    id: str
    leaf: str
    text: str = ""
    title: str = ""
    x: float = 0.0
    y: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)
    time: float | None = None  # seconds since 1970-01-01 UTC (build --time-column); None: undated


def child_id(parent_id: str, index: int) -> str:
    return str(index) if parent_id == ROOT_ID else f"{parent_id}.{index}"


class TopicTree:
    """A rooted tree of :class:`Node` plus the documents assigned to its leaves.

    Construct it from nodes listed parents-first and documents; :meth:`validate` checks every
    invariant (one root, sizes add up, each document sits on a leaf), so a tree that exists is whole.
    """

    def __init__(
        self,
        nodes: list[Node],
        documents: list[Document],
        manifest: dict[str, Any] | None = None,
    ) -> None:
        self.manifest: dict[str, Any] = dict(manifest or {})
        self.documents: list[Document] = documents
        self._graph = nx.DiGraph()
        for node in nodes:
            if node.id in self._graph:
                raise TreeFileError(f"node id {node.id!r} appears twice")
            self._graph.add_node(node.id, node=node)
        for node in nodes:
            if node.parent is not None:
                if node.parent not in self._graph:
                    raise TreeFileError(f"node {node.id!r} names parent {node.parent!r}, which does not exist")
                self._graph.add_edge(node.parent, node.id)
        self.validate()

    # -- structure -------------------------------------------------------------------------
    @property
    def root(self) -> Node:
        return self.node(ROOT_ID)

    def node(self, node_id: str) -> Node:
        try:
            return self._graph.nodes[node_id]["node"]
        except KeyError:
            raise KeyError(f"no node {node_id!r} in the tree") from None

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._graph

    def __len__(self) -> int:
        return self._graph.number_of_nodes()

    def children(self, node_id: str) -> list[Node]:
        """Children in id order (which is decreasing size at build time)."""
        ids = sorted(self._graph.successors(node_id), key=_id_sort_key)
        return [self.node(i) for i in ids]

    def parent(self, node_id: str) -> Node | None:
        parent_id = self.node(node_id).parent
        return None if parent_id is None else self.node(parent_id)

    def siblings(self, node_id: str) -> list[Node]:
        parent = self.parent(node_id)
        if parent is None:
            return []
        return [n for n in self.children(parent.id) if n.id != node_id]

    def is_leaf(self, node_id: str) -> bool:
        return self._graph.out_degree(node_id) == 0

    def path(self, node_id: str) -> list[Node]:
        """Nodes from the root down to ``node_id`` inclusive."""
        out = [self.node(node_id)]
        while out[-1].parent is not None:
            out.append(self.node(out[-1].parent))
        return out[::-1]

    def iter_nodes(self) -> Iterator[Node]:
        """Breadth-first, children in id order: parents always come before their children."""
        queue = [ROOT_ID]
        while queue:
            next_queue: list[str] = []
            for node_id in queue:
                yield self.node(node_id)
                next_queue.extend(c.id for c in self.children(node_id))
            queue = next_queue

    def iter_bottom_up(self) -> Iterator[Node]:
        """Children always before their parents (deepest level first)."""
        return iter(sorted(self.iter_nodes(), key=lambda n: -n.depth))

    def leaves(self) -> list[Node]:
        return [n for n in self.iter_nodes() if self.is_leaf(n.id)]

    def subtree(self, node_id: str) -> list[Node]:
        """``node_id`` and all its descendants, parents first."""
        ids = [node_id, *nx.descendants(self._graph, node_id)]
        return sorted((self.node(i) for i in ids), key=lambda n: (n.depth, _id_sort_key(n.id)))

    @property
    def depth(self) -> int:
        return max(n.depth for n in self.iter_nodes())

    def level(self, depth: int) -> list[Node]:
        return [n for n in self.iter_nodes() if n.depth == depth]

    # -- documents -------------------------------------------------------------------------
    @cached_property
    def _doc_rows_by_leaf(self) -> dict[str, list[int]]:
        rows: dict[str, list[int]] = {}
        for row, doc in enumerate(self.documents):
            rows.setdefault(doc.leaf, []).append(row)
        return rows

    def document_rows(self, node_id: str) -> list[int]:
        """Row numbers (into :attr:`documents`) of every document under ``node_id``, in row order."""
        if self.is_leaf(node_id):
            return list(self._doc_rows_by_leaf.get(node_id, []))
        rows: list[int] = []
        for leaf_id in nx.descendants(self._graph, node_id):
            if self.is_leaf(leaf_id):
                rows.extend(self._doc_rows_by_leaf.get(leaf_id, []))
        return sorted(rows)

    def documents_of(self, node_id: str) -> list[Document]:
        return [self.documents[r] for r in self.document_rows(node_id)]

    def document_path(self, row: int) -> list[str]:
        """Node ids from the root to the leaf of document ``row``."""
        return [n.id for n in self.path(self.documents[row].leaf)]

    # -- adapters --------------------------------------------------------------------------
    def to_networkx(self) -> nx.DiGraph:
        """A copy of the graph; node attribute ``node`` holds the :class:`Node`."""
        return self._graph.copy()

    # -- invariants ------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`TreeFileError` naming the first broken invariant."""
        graph = self._graph
        if ROOT_ID not in graph:
            raise TreeFileError(f"the tree has no root node (id {ROOT_ID!r})")
        roots = [n for n in graph.nodes if graph.in_degree(n) == 0]
        if roots != [ROOT_ID] and sorted(roots) != [ROOT_ID]:
            raise TreeFileError(f"the tree must have exactly one root, found {sorted(roots)!r}")
        if not nx.is_arborescence(graph):
            raise TreeFileError("the nodes do not form a tree (a cycle or a node with two parents)")
        for node_id in graph.nodes:
            node: Node = graph.nodes[node_id]["node"]
            expected_depth = 0 if node.parent is None else self.node(node.parent).depth + 1
            if node.depth != expected_depth:
                raise TreeFileError(f"node {node_id!r} has depth {node.depth}, expected {expected_depth}")
        leaf_counts: dict[str, int] = {}
        for row, doc in enumerate(self.documents):
            if doc.leaf not in graph:
                raise TreeFileError(f"document {doc.id!r} (row {row}) is assigned to unknown node {doc.leaf!r}")
            if graph.out_degree(doc.leaf) != 0:
                raise TreeFileError(f"document {doc.id!r} (row {row}) is assigned to {doc.leaf!r}, which is not a leaf")
            leaf_counts[doc.leaf] = leaf_counts.get(doc.leaf, 0) + 1
        seen: set[str] = set()
        for row, doc in enumerate(self.documents):
            if doc.id in seen:
                raise TreeFileError(f"document id {doc.id!r} appears twice (row {row})")
            seen.add(doc.id)
        if self.documents:
            for node_id in reversed(list(nx.topological_sort(graph))):
                node = graph.nodes[node_id]["node"]
                succ = list(graph.successors(node_id))
                expected = leaf_counts.get(node_id, 0) if not succ else sum(self.node(c).size for c in succ)
                if node.size != expected:
                    raise TreeFileError(f"node {node_id!r} has size {node.size}, but {expected} documents lie under it")


def _id_sort_key(node_id: str) -> tuple[int, ...]:
    if node_id == ROOT_ID:
        return ()
    return tuple(int(part) for part in node_id.split("."))
