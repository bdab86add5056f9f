"""The topic tree: typed nodes and documents, with its structure kept as arrays (:mod:`topicmap.hierarchy.tree.arrays`).

Node ids are paths: the root is ``"root"``, its children ``"0"``, ``"1"``, theirs ``"0.3"``,
``"0.3.1"``. Children are numbered by decreasing size when the tree is built, and ids never change
afterwards (relabelling only touches ``label``, ``summary`` and ``label_meta``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from topicmap.hierarchy.base.errors import TreeFileError
from topicmap.hierarchy.tree.arrays import NotATreeError, TreeArrays, preorder
from topicmap.hierarchy.tree.provenance import LabelProvenance, NodeProvenance

if TYPE_CHECKING:
    import networkx as nx

    from topicmap.hierarchy.tree.documents_store import DocumentStore

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
    extra: NodeProvenance = field(default_factory=NodeProvenance)  # a dict given here becomes one

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "extra" and not isinstance(value, NodeProvenance):
            value = NodeProvenance.from_mapping(value)
        super().__setattr__(name, value)


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
    Structural questions are answered from :attr:`arrays` (:class:`TreeArrays`, built once).

    The documents are a list, or a :class:`~topicmap.hierarchy.tree.documents_store.DocumentStore`
    (a tree file's Parquet sidecar) read lazily: :attr:`store` pages, columns and counts without
    reading them all; :attr:`documents` reads them all into a list on first use, which from then on
    is the tree's documents.
    """

    def __init__(
        self,
        nodes: list[Node],
        documents: list[Document] | DocumentStore,
        manifest: dict[str, Any] | None = None,
    ) -> None:
        self.manifest: dict[str, Any] = dict(manifest or {})
        self._nodes: dict[str, Node] = {}
        for node in nodes:
            if node.id in self._nodes:
                raise TreeFileError(f"node id {node.id!r} appears twice")
            self._nodes[node.id] = node
        for node in nodes:
            if node.parent is not None and node.parent not in self._nodes:
                raise TreeFileError(f"node {node.id!r} names parent {node.parent!r}, which does not exist")
        self._documents: list[Document] | None
        self._store: DocumentStore | None
        self._documents, self._store = _documents_or_store(documents)
        self._arrays: tuple[int, TreeArrays, list[Node]] | None = None
        self.validate()

    @property
    def documents(self) -> list[Document]:
        """Every document in a list (read from the sidecar on first use: ask :attr:`store` for less)."""
        if self._documents is None:
            assert self._store is not None
            self._documents = self._store.materialise()
            self._store = None
        return self._documents

    @documents.setter
    def documents(self, documents: list[Document]) -> None:
        self._documents, self._store = documents if isinstance(documents, list) else list(documents), None
        self._arrays = None

    @property
    def store(self) -> DocumentStore:
        """The documents behind one interface (count, pages, columns), whether in memory or in a sidecar."""
        if self._store is not None:
            return self._store
        from topicmap.hierarchy.tree.documents_store import InlineStore

        assert self._documents is not None
        return InlineStore(self._documents)

    @property
    def n_documents(self) -> int:
        return len(self._documents) if self._documents is not None else len(self._store or ())

    # -- arrays ------------------------------------------------------------------------------
    @property
    def arrays(self) -> TreeArrays:
        """The tree as arrays in pre-order, built on first use and kept (rebuilt when documents are added or replaced)."""
        return self._cached()[1]

    def _cached(self) -> tuple[int, TreeArrays, list[Node]]:
        if self._arrays is None or self._arrays[0] != self.n_documents:
            nodes, index, parents = self._structure()
            store = self.store
            doc_leaf = store.leaf_codes(index)
            unknown = np.flatnonzero(doc_leaf < 0)
            if unknown.size:
                doc = store.document(int(unknown[0]))
                raise TreeFileError(f"document {doc.id!r} (row {int(unknown[0])}) is assigned to unknown node {doc.leaf!r}")
            self._keep(nodes, parents, doc_leaf)
        assert self._arrays is not None
        return self._arrays

    def _structure(self) -> tuple[list[Node], dict[str, int], np.ndarray]:
        """Nodes sorted so that siblings come in display order, their numbers, and the parent array over them."""
        nodes = sorted(self._nodes.values(), key=lambda n: _id_sort_key(n.id))
        index = {n.id: i for i, n in enumerate(nodes)}
        parents = np.fromiter((-1 if n.parent is None else index[n.parent] for n in nodes), dtype=np.int64, count=len(nodes))
        return nodes, index, parents

    def _keep(self, nodes: list[Node], parents: np.ndarray, doc_leaf: np.ndarray) -> TreeArrays:
        try:
            arrays = TreeArrays.from_parents(parents, doc_leaf, [n.id for n in nodes], [n.size for n in nodes])
        except NotATreeError:
            raise TreeFileError("the nodes do not form a tree (a cycle or a node with two parents)") from None
        self._arrays = (self.n_documents, arrays, [self._nodes[i] for i in arrays.node_ids])
        return arrays

    def _number(self, node_id: str) -> int:
        try:
            return self._cached()[1].index[node_id]
        except KeyError:
            raise KeyError(f"no node {node_id!r} in the tree") from None

    def _of(self, numbers: np.ndarray) -> list[Node]:
        by_number = self._cached()[2]
        return [by_number[i] for i in numbers.tolist()]

    # -- structure -------------------------------------------------------------------------
    @property
    def root(self) -> Node:
        return self.node(ROOT_ID)

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise KeyError(f"no node {node_id!r} in the tree") from None

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def children(self, node_id: str) -> list[Node]:
        """Children in id order (which is decreasing size at build time)."""
        return self._of(self.arrays.children(self._number(node_id)))

    def parent(self, node_id: str) -> Node | None:
        parent_id = self.node(node_id).parent
        return None if parent_id is None else self.node(parent_id)

    def siblings(self, node_id: str) -> list[Node]:
        parent = self.parent(node_id)
        if parent is None:
            return []
        return [n for n in self.children(parent.id) if n.id != node_id]

    def is_leaf(self, node_id: str) -> bool:
        return bool(self.arrays.is_leaf[self._number(node_id)])

    def path(self, node_id: str) -> list[Node]:
        """Nodes from the root down to ``node_id`` inclusive."""
        out = [self.node(node_id)]
        while out[-1].parent is not None:
            out.append(self.node(out[-1].parent))
        return out[::-1]

    def iter_nodes(self) -> Iterator[Node]:
        """Breadth-first, children in id order: parents always come before their children."""
        return iter(self._of(self.arrays.breadth_first()))

    def iter_bottom_up(self) -> Iterator[Node]:
        """Children always before their parents (deepest level first)."""
        return iter(self._of(self.arrays.bottom_up()))

    def leaves(self) -> list[Node]:
        arrays = self.arrays
        order = arrays.breadth_first()
        return self._of(order[arrays.is_leaf[order]])

    def subtree(self, node_id: str) -> list[Node]:
        """``node_id`` and all its descendants, parents first."""
        i = self._number(node_id)
        nodes = self._of(np.arange(i, self.arrays.subtree_end[i]))
        return sorted(nodes, key=lambda n: (n.depth, _id_sort_key(n.id)))

    @property
    def depth(self) -> int:
        return self.arrays.max_depth

    def level(self, depth: int) -> list[Node]:
        return self._of(np.flatnonzero(self.arrays.depth == depth))

    # -- documents -------------------------------------------------------------------------
    def document_rows(self, node_id: str) -> list[int]:
        """Row numbers (into :attr:`documents`) of every document under ``node_id``, in row order."""
        return np.sort(self.arrays.doc_rows(self._number(node_id))).tolist()

    def documents_of(self, node_id: str) -> list[Document]:
        return self.store.rows(self.document_rows(node_id))

    def document_path(self, row: int) -> list[str]:
        """Node ids from the root to the leaf of document ``row``."""
        arrays = self.arrays
        return [n.id for n in self.path(arrays.node_ids[int(arrays.doc_leaf[row])])]

    # -- adapters --------------------------------------------------------------------------
    def to_networkx(self) -> nx.DiGraph:
        """The tree as a new networkx graph of parent -> child edges; node attribute ``node`` holds the :class:`Node`."""
        import networkx as nx

        graph = nx.DiGraph()
        for node in self._nodes.values():
            graph.add_node(node.id, node=node)
        for node in self._nodes.values():
            if node.parent is not None:
                graph.add_edge(node.parent, node.id)
        return graph

    # -- invariants ------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`TreeFileError` naming the first broken invariant (and build :attr:`arrays` afresh)."""
        if ROOT_ID not in self._nodes:
            raise TreeFileError(f"the tree has no root node (id {ROOT_ID!r})")
        roots = sorted(n.id for n in self._nodes.values() if n.parent is None)
        if roots != [ROOT_ID]:
            raise TreeFileError(f"the tree must have exactly one root, found {roots!r}")
        nodes, index, parents = self._structure()
        try:
            preorder(parents)
        except NotATreeError:
            raise TreeFileError("the nodes do not form a tree (a cycle or a node with two parents)") from None
        for node in self._nodes.values():
            expected_depth = 0 if node.parent is None else self._nodes[node.parent].depth + 1
            if node.depth != expected_depth:
                raise TreeFileError(f"node {node.id!r} has depth {node.depth}, expected {expected_depth}")
        store = self.store
        doc_leaf = store.leaf_codes(index)
        inner = np.zeros(len(nodes) + 1, dtype=bool)  # the extra last entry answers for doc_leaf -1
        inner[parents[parents >= 0]] = True
        wrong = np.flatnonzero((doc_leaf < 0) | inner[doc_leaf])
        if wrong.size:
            row = int(wrong[0])
            doc = store.document(row)
            if doc_leaf[row] < 0:
                raise TreeFileError(f"document {doc.id!r} (row {row}) is assigned to unknown node {doc.leaf!r}")
            raise TreeFileError(f"document {doc.id!r} (row {row}) is assigned to {doc.leaf!r}, which is not a leaf")
        twice = store.first_duplicate_id()
        if twice is not None:
            raise TreeFileError(f"document id {store.document(twice).id!r} appears twice (row {twice})")
        arrays = self._keep(nodes, parents, doc_leaf)
        if len(store):
            stored = np.fromiter((n.size for n in self._of(np.arange(arrays.n_nodes))), dtype=np.int64, count=arrays.n_nodes)
            on_leaf = np.bincount(arrays.doc_leaf, minlength=arrays.n_nodes)
            from_children = np.zeros(arrays.n_nodes, dtype=np.int64)
            np.add.at(from_children, arrays.parents[1:], stored[1:])
            expected = np.where(arrays.is_leaf, on_leaf, from_children)
            order = arrays.bottom_up()  # children first, as the sizes add up
            wrong = order[stored[order] != expected[order]]
            if wrong.size:
                i = int(wrong[0])
                raise TreeFileError(f"node {arrays.node_ids[i]!r} has size {int(stored[i])}, but {int(expected[i])} documents lie under it")


def _id_sort_key(node_id: str) -> tuple[tuple[int, int | str], ...]:
    """Ids as paths of numbers (``"0.10"`` after ``"0.9"``); a part that is not a number sorts after the numbers."""
    if node_id == ROOT_ID:
        return ()
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in node_id.split("."))


def _documents_or_store(documents: Any) -> tuple[list[Document] | None, DocumentStore | None]:
    """A list stays a list (an in-memory store is unwrapped to its list); a sidecar store stays lazy."""
    from topicmap.hierarchy.tree.documents_store import DocumentStore, InlineStore

    if isinstance(documents, InlineStore):
        return documents.documents, None
    if isinstance(documents, DocumentStore):
        return None, documents
    return documents if isinstance(documents, list) else list(documents), None
