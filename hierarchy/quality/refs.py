"""Agreement of a tree with reference categories: dendrogram purity, NMI/ARI per level, mixed nodes.

Scores come from :mod:`topicmap.hierarchy.quality.metrics` on the tree's arrays (:class:`TreeArrays`:
``TopicTree.arrays``, or ``TreeArrays.from_parents`` for a baseline such as Ward's dendrogram, flat
k-means or BERTopic), so every tree is scored by the same code. References come
from the documents' own columns or from a file matched by id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.quality.metrics import dendrogram_purity
from topicmap.hierarchy.tree.arrays import TreeArrays
from topicmap.hierarchy.tree.topic_tree import TopicTree


# -- reference categories -------------------------------------------------------------------
@dataclass
class LevelAgreement:
    depth: int
    clusters: int
    nmi: float
    ari: float
    mixed_nodes: int  # nodes of this level whose largest category holds less than mix_threshold


@dataclass
class ReferenceScores:
    name: str
    categories: int
    dendrogram_purity: float
    best_depth: int  # the tree level with the highest NMI
    best_clusters: int
    nmi: float
    ari: float
    mixed_nodes: int  # over all non-root nodes
    mix_threshold: float
    levels: list[LevelAgreement] = field(default_factory=list)


def reference_scores(arrays: TreeArrays, name: str, classes: np.ndarray, mix_threshold: float = 0.8) -> ReferenceScores:
    """Dendrogram purity, per-level NMI/ARI (best level by NMI) and mixed nodes for one reference level."""
    classes = np.asarray(classes)
    if classes.shape[0] != arrays.n_docs:
        raise InputError(f"reference {name!r} has {classes.shape[0]} values for {arrays.n_docs} documents")
    _, class_index = np.unique(classes, return_inverse=True)
    n_classes = int(class_index.max()) + 1
    levels = []
    mixed_ids: set[int] = set()  # each node once, though a shallow leaf is listed again at deeper levels
    for depth, labels in enumerate(arrays.doc_levels(), start=1):
        table = np.zeros((arrays.n_nodes, n_classes), dtype=np.int64)
        np.add.at(table, (labels, class_index), 1)
        present = np.flatnonzero(table.sum(axis=1))
        mixed = present[table[present].max(axis=1) < mix_threshold * table[present].sum(axis=1)]
        mixed_ids.update(mixed.tolist())
        levels.append(
            LevelAgreement(
                depth=depth,
                clusters=int(present.size),
                nmi=round(float(normalized_mutual_info_score(class_index, labels)), 4),
                ari=round(float(adjusted_rand_score(class_index, labels)), 4),
                mixed_nodes=int(mixed.size),
            )
        )
    best = max(levels, key=lambda lv: (lv.nmi, -lv.depth))
    return ReferenceScores(
        name=name,
        categories=n_classes,
        dendrogram_purity=round(dendrogram_purity(arrays.parents, arrays.doc_leaf, class_index), 4),
        best_depth=best.depth,
        best_clusters=best.clusters,
        nmi=best.nmi,
        ari=best.ari,
        mixed_nodes=len(mixed_ids),
        mix_threshold=mix_threshold,
        levels=levels,
    )


def references_from_metadata(tree: TopicTree, columns: list[str]) -> dict[str, np.ndarray]:
    """Reference categories stored with the documents (the corpus's extra columns)."""
    out: dict[str, np.ndarray] = {}
    store = tree.store  # one metadata column at a time (a sidecar tree's texts are never read)
    for column in columns:
        values = []
        for row, value in enumerate(store.metadata_values(column)):
            if value is None or str(value).strip() == "":
                doc = store.document(row)
                available = sorted(doc.metadata)
                hint = f" (document columns: {', '.join(available[:10])})" if available else " (the documents have no extra columns)"
                raise InputError(f"reference column {column!r}: missing for document {doc.id!r} (row {row + 1}){hint}")
            values.append(str(value))
        out[column] = np.array(values, dtype=object)
    return out


def references_from_file(tree: TopicTree, path: str, columns: list[str] | None, id_column: str = "id") -> dict[str, np.ndarray]:
    """Reference categories from a CSV/JSONL file: matched to the tree's documents by id.

    Every tree document must have a row, and the file must hold no other documents: a silently
    partial reference would score a different corpus.
    """
    from topicmap.hierarchy.inputs.documents import iter_rows  # one reader for every supported format (CSV, JSONL, Parquet, .gz)

    file = Path(path)
    if not file.exists():
        raise InputError(f"{file}: no such references file")
    rows: dict[str, dict[str, Any]] = {}
    header: list[str] = []
    for where, row in iter_rows(file):
        if not header:
            header = list(row)
            if id_column not in row:
                raise InputError(f"{file}: no column {id_column!r} to match documents by (columns: {', '.join(header[:12])})")
        key = str(row.get(id_column, ""))
        if key in rows:
            raise InputError(f"{file}: {where}: duplicate id {key!r}")
        rows[key] = row
    if not rows:
        raise InputError(f"{file}: no rows")
    names = columns or [c for c in header if c != id_column]
    if not names:
        raise InputError(f"{file}: no category columns besides {id_column!r}")
    for name in names:
        if name not in header:
            raise InputError(f"{file}: no column {name!r} (columns: {', '.join(header[:12])})")
    n_docs = tree.n_documents
    if len(rows) != n_docs:
        raise InputError(f"{file}: {len(rows)} rows for {n_docs} documents in the tree; give one row per document")
    out: dict[str, np.ndarray] = {}
    ids = tree.store.strings("id")  # the id column only
    for name in names:
        values = []
        for doc_id in ids:
            row = rows.get(doc_id)
            if row is None:
                raise InputError(f"{file}: no row for document {doc_id!r}")
            value = row.get(name)
            if value is None or str(value).strip() == "":
                raise InputError(f"{file}: column {name!r} is empty for document {doc_id!r}")
            values.append(str(value))
        out[name] = np.array(values, dtype=object)
    return out
