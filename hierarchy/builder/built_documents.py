"""The documents of a tree just built, made from the corpus as they are read or written.

A built tree's documents are the corpus rows plus each row's leaf and map position. Making a
:class:`Document` for every row before saving held a second copy of a big corpus (a million
documents: ~1 GB of objects on top of the texts). :class:`BuiltDocuments` answers the store
interface from the corpus's columns and the build's arrays, and makes documents only a batch at a
time, for the sidecar writer or for a caller that asks for rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from topicmap.hierarchy.base.jsontext import dumps_compact
from topicmap.hierarchy.builder.streaming import row_ranges
from topicmap.hierarchy.inputs.documents import Corpus, CorpusRows
from topicmap.hierarchy.inputs.lazy_corpus import LazyCorpus
from topicmap.hierarchy.tree.documents_store import BATCH_ROWS, META_PREFIX, ROW_GROUP_ROWS, DocumentStore
from topicmap.hierarchy.tree.topic_tree import Document


class BuiltDocuments(DocumentStore):
    """``corpus`` row r hangs from ``node_ids[doc_leaf[r]]`` at ``coords[r]``; texts kept when ``store_text``.

    The corpus is a :class:`Corpus` (lists) or a :class:`LazyCorpus` (a scratch file): rows are asked
    of it a batch at a time, so neither is copied whole into documents."""

    def __init__(self, corpus: Corpus | LazyCorpus, node_ids: Sequence[str], doc_leaf: np.ndarray, coords: np.ndarray, store_text: bool) -> None:
        self.corpus = corpus
        self.node_ids = list(node_ids)
        self.doc_leaf = np.asarray(doc_leaf, dtype=np.int64)
        self.coords = np.asarray(coords, dtype=np.float64)
        self.store_text = store_text

    def __len__(self) -> int:
        return len(self.corpus)

    def _documents(self, rows: Sequence[int], columns: CorpusRows) -> list[Document]:
        corpus, node_ids, doc_leaf, coords = self.corpus, self.node_ids, self.doc_leaf, self.coords
        return [
            Document(
                id=columns.ids[k],
                leaf=node_ids[doc_leaf[row]],
                text=columns.texts[k] if self.store_text else "",
                title=columns.titles[k],
                x=float(coords[row, 0]),
                y=float(coords[row, 1]),
                metadata=columns.metadata[k],
                time=corpus.time_of(row),
            )
            for k, row in enumerate(rows)
        ]

    def rows(self, rows: Sequence[int] | np.ndarray) -> list[Document]:
        at = [int(r) for r in rows]
        return self._documents(at, self.corpus.rows_at(at))

    def iter_batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[list[Document]]:
        for piece in row_ranges(len(self), batch_rows):
            yield self._documents(piece, self.corpus.rows_between(piece.start, piece.stop))

    def _columns(self) -> Iterator[CorpusRows]:
        for piece in row_ranges(len(self), BATCH_ROWS):
            yield self.corpus.rows_between(piece.start, piece.stop)

    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        return self.coords[:, 0].copy(), self.coords[:, 1].copy()

    def times(self) -> np.ndarray:
        time = self.corpus.time
        return np.array(time.times, dtype=np.float64) if time is not None else np.full(len(self), np.nan)

    def strings(self, name: str) -> list[str]:
        if name == "id":
            return list(self.corpus.ids)
        if name == "leaf":
            return [self.node_ids[i] for i in self.doc_leaf.tolist()]
        if name == "title":
            return [t or "" for rows in self._columns() for t in rows.titles]
        if name == "text":
            return [t or "" for rows in self._columns() for t in rows.texts] if self.store_text else [""] * len(self)
        raise KeyError(f"no string column {name!r}")

    def metadata_values(self, key: str) -> list[Any]:
        return [m.get(key) for rows in self._columns() for m in rows.metadata]

    @property
    def metadata_keys(self) -> list[str]:
        return self.corpus.metadata_keys()

    def leaf_codes(self, index: Mapping[str, int]) -> np.ndarray:
        codes = np.array([index.get(node_id, -1) for node_id in self.node_ids], dtype=np.int64)
        return codes[self.doc_leaf]

    def find_ids(self, ids: Iterable[str]) -> dict[str, int]:
        wanted = set(ids)
        out: dict[str, int] = {}
        for row, doc_id in enumerate(self.corpus.ids):
            if doc_id in wanted and doc_id not in out:
                out[doc_id] = row
        return out

    def first_duplicate_id(self) -> int | None:
        return self.corpus.first_duplicate_row()

    def has_text(self) -> bool:
        return self.corpus.any_title() or (self.store_text and self.corpus.any_text())

    def column_batches(self, metadata_keys: Sequence[str]) -> Iterator[Mapping[str, Any]]:
        """The sidecar's columns straight from the corpus's (no Document objects: 1M synthetic documents
        wrote in 9.8 s instead of 21.3 s, bench/results/dask-parts.md)."""
        for piece in row_ranges(len(self), BATCH_ROWS):
            yield from part_batches(partition_rows(self, piece.start, piece.stop), self.node_ids, metadata_keys)


# -- a partition's documents, written where they are (build --engine dask) -----------------------------
def partition_rows(built: BuiltDocuments, start: int, stop: int) -> dict[str, Any]:
    """Rows ``start .. stop`` of a built tree's documents as plain columns: what the worker that writes
    their part needs (corpus slices, leaf numbers and map positions), no Document objects made here.

    From a lazy corpus the texts stay Arrow arrays and the metadata a map of JSON cells as its scratch
    file holds them: the sidecar stores the same, so no value becomes a Python object and back."""
    corpus = built.corpus
    time = corpus.time
    if isinstance(corpus, LazyCorpus):
        arrow = corpus.arrow_between(start, stop)
        ids, titles, texts, metadata = arrow["id"], arrow["title"], arrow["text"], arrow["metadata"]
    else:
        ids, texts, titles, metadata = corpus.rows_between(start, stop)
    return {
        "id": ids,
        "title": titles,
        "text": texts if built.store_text else None,
        "time": None if time is None else np.asarray(time.times[start:stop], dtype=np.float64),
        "metadata": metadata,
        "leaf": built.doc_leaf[start:stop].astype(np.int32),
        "x": built.coords[start:stop, 0].copy(),
        "y": built.coords[start:stop, 1].copy(),
    }


def part_batches(rows: Mapping[str, Any], node_ids: Sequence[str], metadata_keys: Sequence[str], batch_rows: int = ROW_GROUP_ROWS) -> Iterator[dict[str, list[Any]]]:
    """:func:`partition_rows`'s columns as the sidecar's, ``batch_rows`` at a time: the values
    :func:`topicmap.hierarchy.tree.documents_store.documents_batch` gives for the same documents. Text
    columns given as Arrow arrays (and metadata as a map of JSON cells) stay Arrow."""
    import math

    import pyarrow as pa
    import pyarrow.compute as pc

    def piece(column: Any, lo: int, hi: int) -> Any:
        return column.slice(lo, hi - lo) if isinstance(column, pa.Array) else list(column[lo:hi])

    leaf_names = pa.array(list(node_ids), pa.string())  # each row's leaf taken by Arrow, not made a Python list
    n = len(rows["id"])
    for lo in range(0, n, batch_rows):
        hi = min(n, lo + batch_rows)
        metadata = rows["metadata"]
        times = rows["time"]
        out: dict[str, Any] = {
            "id": piece(rows["id"], lo, hi),
            "leaf": leaf_names.take(pa.array(rows["leaf"][lo:hi])),
            "x": [round(v, 5) for v in rows["x"][lo:hi].tolist()],
            "y": [round(v, 5) for v in rows["y"][lo:hi].tolist()],
            "title": piece(rows["title"], lo, hi),
            "text": piece(rows["text"], lo, hi) if rows["text"] is not None else [""] * (hi - lo),
            "time": [None] * (hi - lo) if times is None else [v if math.isfinite(v) else None for v in times[lo:hi].tolist()],
        }
        if isinstance(metadata, pa.MapArray):  # a lazy corpus's cells: each key's column looked up, as stored
            cells = metadata.slice(lo, hi - lo)
            for key in metadata_keys:
                out[META_PREFIX + key] = pc.map_lookup(cells, pa.scalar(key, cells.type.key_type), "first")
        else:
            part = metadata[lo:hi]
            for key in metadata_keys:
                out[META_PREFIX + key] = [dumps_compact(m[key]) if key in m else None for m in part]
        yield out


__all__ = ["BuiltDocuments", "part_batches", "partition_rows"]
