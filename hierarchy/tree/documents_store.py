"""Where a tree's documents live: in memory (the single-file tree) or in a Parquet sidecar read lazily.

A tree of millions of documents cannot be one JSON document that every reader parses whole. Its
nodes and manifest stay in the small JSON tree file; the per-document data (id, leaf, x, y, title,
text, time and one ``metadata.KEY`` column per metadata key, each cell that key's value as JSON text)
goes to a Parquet file beside it, ``<name>.docs-<sha256 prefix>.parquet`` for ``<name>.json``
(``bbc.tree.json``: ``bbc.tree.docs-….parquet``; docs/tree-file.md).
The name is the content's hash, so rewriting a tree never leaves its JSON pointing at a half-written
file: the sidecar is written and renamed first, the JSON after it.

:class:`DocumentStore` is the one interface over both forms: a count, pages of rows, single columns
(the map's x / y, the trends' times) without the texts, ids looked up, and the whole list only when
something asks for it (:meth:`DocumentStore.materialise`). :func:`write_batches` writes a sidecar
from an iterator of batches, so a streaming build never holds all documents at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING, Any

import numpy as np

from topicmap.hierarchy.base.errors import TreeFileError
from topicmap.hierarchy.base.jsontext import dumps_compact
from topicmap.hierarchy.tree.topic_tree import Document

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

SIDECAR_THRESHOLD = 50_000  # documents from which a tree is written with a sidecar (or when its input was Parquet)
ROW_GROUP_ROWS = 16_384  # rows per Parquet row group: what one page read decompresses per column
CACHED_GROUPS = 8  # row groups kept decoded for the next page read
BATCH_ROWS = 65_536  # rows per batch when a store is streamed (writing, exporting)
META_PREFIX = "metadata."
BASE_COLUMNS = ("id", "leaf", "x", "y", "title", "text", "time")
SIDECAR_NAME = re.compile(r"[A-Za-z0-9._-]+\.docs-[0-9a-f]{16}(\.parquet)?")  # a file, or (no suffix) a directory of parts
PART_NAME = re.compile(r"part-[0-9]{5,}\.parquet")
PARTS_FORMAT = "parquet-parts"  # documents_file.format of a partitioned sidecar
HASH_CHARS = 16


@dataclass(frozen=True)
class PartFile:
    """One part of a partitioned sidecar as written: its file name in the directory, rows, bytes, sha256."""

    name: str
    rows: int
    bytes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.name, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256}


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def parts_digest(parts: Sequence[PartFile]) -> str:
    """A partitioned sidecar's hash: sha256 over its parts' hashes in order (hex, one per line).

    Any change to a part changes its hash and so the directory's name; parts are never rewritten."""
    return hashlib.sha256("".join(f"{p.sha256}\n" for p in parts).encode("ascii")).hexdigest()


def sidecar_stem(tree_path: str | os.PathLike[str]) -> str:
    """The tree file's name without ``.json`` (``bbc.tree.json``: ``bbc.tree``), made safe for a file name.

    Every tree file name gives its own stem, so two trees in one folder never share a sidecar name.
    """
    name = Path(tree_path).name
    if name.endswith(".json") and len(name) > len(".json"):
        name = name[: -len(".json")]
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "tree"


def sidecar_path(tree_path: str | os.PathLike[str], digest: str, partitioned: bool = False) -> Path:
    """``<stem>.docs-<hash>.parquet``, or for a directory of parts ``<stem>.docs-<hash>``."""
    return Path(tree_path).parent / f"{sidecar_stem(tree_path)}.docs-{digest[:HASH_CHARS]}{'' if partitioned else '.parquet'}"


def owns_sidecar(tree_path: str | os.PathLike[str], sidecar: Path) -> bool:
    """Is ``sidecar`` named for ``tree_path`` (so that rewriting the tree may remove it)? A copied tree
    file still names its original's sidecar, which is not its own to remove."""
    return sidecar.parent == Path(tree_path).parent and sidecar.name.startswith(sidecar_stem(tree_path) + ".docs-")


class DocumentStore(ABC):
    """A tree's documents, row by row in the tree's row order; read as little as each caller needs."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def rows(self, rows: Sequence[int] | np.ndarray) -> list[Document]:
        """The documents at ``rows`` (in the order asked)."""

    def document(self, row: int) -> Document:
        return self.rows([row])[0]

    @abstractmethod
    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates of every document (float64), without reading any text."""

    @abstractmethod
    def times(self) -> np.ndarray:
        """Every document's time in seconds (float64, NaN: undated)."""

    @abstractmethod
    def strings(self, name: str) -> list[str]:
        """One string column in full (``id``, ``leaf``, ``title``, ``text``; missing values as "")."""

    @abstractmethod
    def metadata_values(self, key: str) -> list[Any]:
        """One metadata key's value for every document (None where a document lacks it)."""

    @abstractmethod
    def leaf_codes(self, index: Mapping[str, int]) -> np.ndarray:
        """Each document's leaf as its number in ``index`` (-1: a leaf ``index`` does not know)."""

    @abstractmethod
    def find_ids(self, ids: Iterable[str]) -> dict[str, int]:
        """Row of each of ``ids`` that exists (the first, should an id repeat)."""

    @abstractmethod
    def first_duplicate_id(self) -> int | None:
        """The row of the first document whose id an earlier row already has, else None."""

    @abstractmethod
    def iter_batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[list[Document]]:
        """All documents, ``batch_rows`` at a time (exports and writing without holding them all)."""

    @abstractmethod
    def has_text(self) -> bool:
        """Does any document carry a title or text? (trees built ``--no-text`` have none)"""

    def has_times(self) -> bool:
        return bool(np.isfinite(self.times()).any()) if len(self) else False

    def materialise(self) -> list[Document]:
        """Every document in memory: for callers that really need them all."""
        out: list[Document] = []
        for batch in self.iter_batches():
            out.extend(batch)
        return out

    def iter_documents(self) -> Iterator[Document]:
        for batch in self.iter_batches():
            yield from batch

    def column_batches(self, metadata_keys: Sequence[str]) -> Iterator[Mapping[str, Any]]:
        """The documents as the sidecar's columns, a row group at a time (what :func:`write_batches` takes).
        A store that holds columns rather than documents gives them without making Document objects."""
        for batch in self.iter_batches(ROW_GROUP_ROWS):
            yield documents_batch(batch, metadata_keys)

    @property
    def lazy(self) -> bool:
        return False


class InlineStore(DocumentStore):
    """The documents of a single-file tree (or of one built in memory): the same interface over a list."""

    def __init__(self, documents: list[Document]) -> None:
        self.documents = documents

    def __len__(self) -> int:
        return len(self.documents)

    def rows(self, rows: Sequence[int] | np.ndarray) -> list[Document]:
        docs = self.documents
        return [docs[int(r)] for r in rows]

    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        docs = self.documents
        return (
            np.fromiter((d.x for d in docs), dtype=np.float64, count=len(docs)),
            np.fromiter((d.y for d in docs), dtype=np.float64, count=len(docs)),
        )

    def times(self) -> np.ndarray:
        return np.fromiter((np.nan if d.time is None else d.time for d in self.documents), dtype=np.float64, count=len(self.documents))

    def strings(self, name: str) -> list[str]:
        if name not in ("id", "leaf", "title", "text"):
            raise KeyError(f"no string column {name!r}")
        return [getattr(d, name) or "" for d in self.documents]

    def metadata_values(self, key: str) -> list[Any]:
        return [d.metadata.get(key) for d in self.documents]

    def leaf_codes(self, index: Mapping[str, int]) -> np.ndarray:
        return np.fromiter((index.get(d.leaf, -1) for d in self.documents), dtype=np.int64, count=len(self.documents))

    def find_ids(self, ids: Iterable[str]) -> dict[str, int]:
        wanted = set(ids)
        out: dict[str, int] = {}
        for row, doc in enumerate(self.documents):
            if doc.id in wanted and doc.id not in out:
                out[doc.id] = row
        return out

    def first_duplicate_id(self) -> int | None:
        seen: set[str] = set()
        for row, doc in enumerate(self.documents):
            if doc.id in seen:
                return row
            seen.add(doc.id)
        return None

    def iter_batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[list[Document]]:
        for lo in range(0, len(self.documents), batch_rows):
            yield self.documents[lo : lo + batch_rows]

    def has_text(self) -> bool:
        return any(d.text or d.title for d in self.documents)

    def materialise(self) -> list[Document]:
        return self.documents


class ParquetStore(DocumentStore):
    """Documents in a Parquet sidecar, read a column or a few row groups at a time.

    The sidecar is one file, or a directory of part files (``part-00000.parquet``, ... in row order, all
    with the same columns: a partitioned build writes one per partition). Either way it answers as one
    table: rows are numbered across the parts, columns are read part after part.

    Numeric columns read once are kept (x, y, time: 24 bytes a document); text is read per page,
    by the row groups holding the rows asked for, the last :data:`CACHED_GROUPS` of them kept decoded.
    """

    def __init__(
        self, path: str | os.PathLike[str], sha256: str | None = None, ids_checked: bool = False, parts: Sequence[PartFile] | None = None
    ) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        self.sha256 = sha256
        # A sidecar named by a tree file was written by save_tree after TopicTree checked its ids unique;
        # loading does not read the 10M ids again (5-11 s here). A store of fresh batches is checked.
        self.ids_checked = ids_checked
        self.partitioned = self.path.is_dir()
        self._parts = list(parts) if parts is not None else None
        if not self.partitioned:
            paths = [self.path]
        elif parts is not None:
            paths = [self.path / part.name for part in parts]
        else:
            paths = sorted(p for p in self.path.iterdir() if PART_NAME.fullmatch(p.name))
            if not paths:
                raise TreeFileError(f"{self.path}: the documents directory holds no part files (part-00000.parquet, ...)")
        self.paths = paths
        self._files: list[pq.ParquetFile] = []
        for file_path in paths:
            try:
                self._files.append(pq.ParquetFile(file_path, memory_map=True, read_dictionary=["leaf"]))
            except FileNotFoundError:
                what = "a part of the tree's documents" if self.partitioned else "the tree's documents file"
                raise TreeFileError(f"{file_path}: {what} is missing") from None
            except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a cut or foreign file
                raise TreeFileError(f"{file_path}: not a readable Parquet documents file ({_first_line(exc)})") from None
        names = self._files[0].schema_arrow.names
        for file_path, other in zip(paths[1:], self._files[1:]):
            if other.schema_arrow.names != names:
                raise TreeFileError(f"{file_path}: its columns differ from those of {paths[0].name} ({other.schema_arrow.names} vs {names})")
        missing = [c for c in ("id", "leaf") if c not in names]
        if missing:
            raise TreeFileError(f"{paths[0]}: the documents file has no {missing[0]!r} column")
        self.columns = tuple(names)
        self.metadata_keys = tuple(n[len(META_PREFIX) :] for n in names if n.startswith(META_PREFIX))
        self.part_rows = [int(f.metadata.num_rows) for f in self._files]
        self._n = sum(self.part_rows)
        self._where: list[tuple[int, int]] = []  # global row group -> (part, its row group)
        sizes: list[int] = []
        for k, f in enumerate(self._files):
            meta = f.metadata
            for g in range(meta.num_row_groups):
                self._where.append((k, g))
                sizes.append(meta.row_group(g).num_rows)
        self._group_start = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self._groups: OrderedDict[int, pa.Table] = OrderedDict()
        self._numeric: dict[str, np.ndarray] = {}
        self._lock = Lock()

    @property
    def lazy(self) -> bool:
        return True

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Bytes on disk: the file's, or all the parts' together."""
        return sum(p.stat().st_size for p in self.paths)

    def part_files(self) -> list[PartFile]:
        """Name, rows, bytes and hash of each part (hashed here when the store was opened without them)."""
        if self._parts is None:
            self._parts = [PartFile(p.name, rows, p.stat().st_size, file_sha256(p)) for p, rows in zip(self.paths, self.part_rows)]
        return list(self._parts)

    def _fail(self, where: Path, exc: BaseException) -> TreeFileError:
        return TreeFileError(f"{where}: cannot read the documents file ({_first_line(exc)})")

    def _read(self, columns: Sequence[str]) -> pa.Table:
        import pyarrow as pa

        wanted = [c for c in columns if c in self.columns]
        tables = []
        for file_path, f in zip(self.paths, self._files):
            try:
                tables.append(f.read(columns=wanted))
            except Exception as exc:
                raise self._fail(file_path, exc) from None
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    def _batches(self, batch_rows: int, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        """Record batches of at most ``batch_rows`` rows, part after part (a batch never spans two parts)."""
        for file_path, f in zip(self.paths, self._files):
            try:
                yield from f.iter_batches(batch_size=batch_rows, columns=None if columns is None else list(columns))
            except Exception as exc:
                raise self._fail(file_path, exc) from None

    def _float_column(self, name: str) -> np.ndarray:
        with self._lock:
            cached = self._numeric.get(name)
        if cached is not None:
            return cached
        if name in self.columns:
            column = self._read([name]).column(0)
            values = column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            values = np.where(np.asarray(column.is_null().to_numpy(zero_copy_only=False)), np.nan, values) if column.null_count else values
        else:
            values = np.full(self._n, np.nan if name == "time" else 0.0)
        values.setflags(write=False)
        with self._lock:
            self._numeric[name] = values
        return values

    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        return self._float_column("x"), self._float_column("y")

    def times(self) -> np.ndarray:
        return self._float_column("time")

    def strings(self, name: str) -> list[str]:
        if name not in self.columns:
            return [""] * self._n
        column = self._read([name]).column(0)
        if name == "leaf":
            column = column.cast("string") if hasattr(column.type, "value_type") else column
        return [v or "" for v in column.to_pylist()]

    def metadata_values(self, key: str) -> list[Any]:
        name = META_PREFIX + key
        if name not in self.columns:
            return [None] * self._n
        return [None if cell is None else json.loads(cell) for cell in self._read([name]).column(0).to_pylist()]

    def leaf_codes(self, index: Mapping[str, int]) -> np.ndarray:
        import pyarrow as pa

        import pyarrow.compute as pc

        column = self._read(["leaf"]).column(0)
        out = np.empty(self._n, dtype=np.int64)
        known = pa.array(list(index), pa.string())
        numbers = np.fromiter(index.values(), dtype=np.int64, count=len(index))
        at = 0
        for chunk in column.chunks:
            if not pa.types.is_dictionary(chunk.type):
                chunk = chunk.dictionary_encode()
            found = pc.index_in(chunk.dictionary.cast(pa.string()), value_set=known).fill_null(-1).to_numpy(zero_copy_only=False)
            codes = np.where(found >= 0, numbers[np.maximum(found, 0)], -1) if len(numbers) else np.full(len(found), -1, np.int64)
            idx = chunk.indices.to_numpy(zero_copy_only=False)
            mapped = codes[np.asarray(idx, dtype=np.int64)] if len(codes) else np.full(len(chunk), -1, np.int64)
            if chunk.null_count:
                mapped = np.where(chunk.is_null().to_numpy(zero_copy_only=False), -1, mapped)
            out[at : at + len(chunk)] = mapped
            at += len(chunk)
        return out

    def find_ids(self, ids: Iterable[str]) -> dict[str, int]:
        import pyarrow as pa
        import pyarrow.compute as pc

        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        column = self._read(["id"]).column(0)
        found = np.flatnonzero(pc.is_in(column, value_set=pa.array(wanted, pa.string())).to_numpy(zero_copy_only=False))
        out: dict[str, int] = {}
        if len(found):
            for row, doc_id in zip(found.tolist(), column.take(pa.array(found)).to_pylist()):
                out.setdefault(doc_id, row)
        return out

    def first_duplicate_id(self) -> int | None:
        import pyarrow.compute as pc

        if self.ids_checked:
            return None
        column = self._read(["id"]).column(0)
        if len(pc.unique(column)) == self._n and column.null_count == 0:  # pc.unique: 5 s for 10M ids here, count_distinct 11 s
            return None
        seen: set[str] = set()
        for row, doc_id in enumerate(column.to_pylist()):
            if doc_id in seen:
                return row
            seen.add(doc_id)
        return None

    def has_text(self) -> bool:
        import pyarrow.compute as pc

        for name in ("title", "text"):
            if name in self.columns:  # batch by batch, stopping at the first text: never the whole column
                for batch in self._batches(ROW_GROUP_ROWS, [name]):
                    if pc.any(pc.greater(pc.utf8_length(batch.column(0)), 0)).as_py():
                        return True
        return False

    def _group(self, g: int) -> pa.Table:
        """Row group ``g`` (numbered across the parts) as read (decompressed, still Arrow): a page takes its few rows from it."""
        with self._lock:
            hit = self._groups.get(g)
            if hit is not None:
                self._groups.move_to_end(g)
                return hit
        part, local = self._where[g]
        try:
            table = self._files[part].read_row_group(local)
        except Exception as exc:
            raise self._fail(self.paths[part], exc) from None
        with self._lock:
            self._groups[g] = table
            while len(self._groups) > CACHED_GROUPS:
                self._groups.popitem(last=False)
        return table

    def rows(self, rows: Sequence[int] | np.ndarray) -> list[Document]:
        import pyarrow as pa

        wanted = np.asarray(rows, dtype=np.int64).reshape(-1)
        if wanted.size and (wanted.min() < 0 or wanted.max() >= self._n):
            raise IndexError(f"document row out of range (the tree has {self._n:,})")
        groups = np.searchsorted(self._group_start, wanted, side="right") - 1
        out: list[Document | None] = [None] * len(wanted)
        for g in np.unique(groups).tolist():
            at = np.flatnonzero(groups == g)
            picked = self._group(g).take(pa.array(wanted[at] - int(self._group_start[g])))
            columns = {name: picked.column(name).to_pylist() for name in picked.column_names}
            for j, k in enumerate(at.tolist()):
                out[k] = _document(columns, j, self.metadata_keys)
        return out  # type: ignore[return-value]

    def iter_columns(self, names: Sequence[str], batch_rows: int = BATCH_ROWS) -> Iterator[dict[str, list[Any]]]:
        """Some columns, ``batch_rows`` rows at a time (a column the file lacks comes as empty strings)."""
        present = [n for n in names if n in self.columns]
        if not present:
            for lo in range(0, self._n, batch_rows):
                yield {n: [""] * min(batch_rows, self._n - lo) for n in names}
            return
        for batch in self._batches(batch_rows, present):
            out = {n: batch.column(n).to_pylist() for n in present}
            out.update({n: [""] * batch.num_rows for n in names if n not in out})
            yield out

    def iter_record_batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Every column, ``batch_rows`` rows at a time, as Arrow (copying a sidecar into another)."""
        yield from self._batches(batch_rows)

    def part_batches(self, part: int, batch_rows: int = ROW_GROUP_ROWS) -> Iterator[pa.RecordBatch]:
        """Every column of one part, ``batch_rows`` rows at a time."""
        try:
            yield from self._files[part].iter_batches(batch_size=batch_rows)
        except Exception as exc:
            raise self._fail(self.paths[part], exc) from None

    def iter_batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[list[Document]]:
        for batch in self._batches(batch_rows):
            columns = {name: batch.column(name).to_pylist() for name in batch.schema.names}
            yield [_document(columns, i, self.metadata_keys) for i in range(batch.num_rows)]


class AppendedStore(DocumentStore):
    """A sidecar's documents followed by new ones in memory (``assign``): nothing of the sidecar is read
    until asked, and writing streams its record batches and then the new rows into a new sidecar."""

    def __init__(self, base: ParquetStore, added: list[Document]) -> None:
        self.base = base
        self.added = added
        keys = dict.fromkeys(base.metadata_keys)
        for doc in added:
            keys.update(dict.fromkeys(doc.metadata))
        self.metadata_keys = tuple(keys)

    @property
    def lazy(self) -> bool:
        return True

    def __len__(self) -> int:
        return len(self.base) + len(self.added)

    def rows(self, rows: Sequence[int] | np.ndarray) -> list[Document]:
        wanted = np.asarray(rows, dtype=np.int64).reshape(-1)
        nb = len(self.base)
        if wanted.size and (wanted.min() < 0 or wanted.max() >= len(self)):
            raise IndexError(f"document row out of range (the tree has {len(self):,})")
        old = np.flatnonzero(wanted < nb)
        out: list[Document | None] = [None] * len(wanted)
        for k, doc in zip(old.tolist(), self.base.rows(wanted[old])):
            out[k] = doc
        for k in np.flatnonzero(wanted >= nb).tolist():
            out[k] = self.added[int(wanted[k]) - nb]
        return out  # type: ignore[return-value]

    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.base.xy()
        added = self.added
        return (
            np.concatenate([x, np.fromiter((d.x for d in added), dtype=np.float64, count=len(added))]),
            np.concatenate([y, np.fromiter((d.y for d in added), dtype=np.float64, count=len(added))]),
        )

    def times(self) -> np.ndarray:
        added = np.fromiter((np.nan if d.time is None else d.time for d in self.added), dtype=np.float64, count=len(self.added))
        return np.concatenate([self.base.times(), added])

    def strings(self, name: str) -> list[str]:
        if name not in ("id", "leaf", "title", "text"):
            raise KeyError(f"no string column {name!r}")
        return self.base.strings(name) + [getattr(d, name) or "" for d in self.added]

    def metadata_values(self, key: str) -> list[Any]:
        return self.base.metadata_values(key) + [d.metadata.get(key) for d in self.added]

    def leaf_codes(self, index: Mapping[str, int]) -> np.ndarray:
        added = np.fromiter((index.get(d.leaf, -1) for d in self.added), dtype=np.int64, count=len(self.added))
        return np.concatenate([self.base.leaf_codes(index), added])

    def find_ids(self, ids: Iterable[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(ids))
        out = self.base.find_ids(wanted)
        nb = len(self.base)
        rest = set(wanted) - set(out)
        for j, doc in enumerate(self.added):
            if doc.id in rest and doc.id not in out:
                out[doc.id] = nb + j
        return out

    def first_duplicate_id(self) -> int | None:
        """Duplicates within the sidecar (unless checked when it was written), then among and against the new rows."""
        twice = self.base.first_duplicate_id()
        if twice is not None:
            return twice
        nb = len(self.base)
        in_base = self.base.find_ids(d.id for d in self.added)
        seen: set[str] = set()
        for j, doc in enumerate(self.added):
            if doc.id in seen or doc.id in in_base:
                return nb + j
            seen.add(doc.id)
        return None

    def iter_batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[list[Document]]:
        yield from self.base.iter_batches(batch_rows)
        for lo in range(0, len(self.added), batch_rows):
            yield self.added[lo : lo + batch_rows]

    def has_text(self) -> bool:
        return self.base.has_text() or any(d.text or d.title for d in self.added)

    def column_batches(self, metadata_keys: Sequence[str]) -> Iterator[Mapping[str, Any]]:
        """The sidecar's record batches as they are stored, then the new rows, re-cut to whole row groups
        (what :func:`write_batches` takes; no document becomes a Python object on the way)."""
        import pyarrow as pa

        schema = sidecar_schema(metadata_keys)
        pending: list[pa.Table] = []
        held = 0

        def tables() -> Iterator[pa.Table]:
            for batch in self.base.iter_record_batches(ROW_GROUP_ROWS):
                yield _table(_columns(batch), schema)
            for columns in _row_group_batches(self.added, metadata_keys):
                yield _table(columns, schema)

        for table in tables():
            pending.append(table)
            held += table.num_rows
            while held >= ROW_GROUP_ROWS:
                whole = pa.concat_tables(pending)
                head, pending = whole.slice(0, ROW_GROUP_ROWS), [whole.slice(ROW_GROUP_ROWS)]
                held -= ROW_GROUP_ROWS
                yield {name: head.column(name) for name in head.column_names}
        if held:
            whole = pa.concat_tables(pending)
            yield {name: whole.column(name) for name in whole.column_names}


def _document(columns: Mapping[str, list[Any]], i: int, metadata_keys: Sequence[str]) -> Document:
    get = lambda name, default: columns[name][i] if name in columns and columns[name][i] is not None else default  # noqa: E731
    metadata: dict[str, Any] = {}
    for key in metadata_keys:
        cell = columns[META_PREFIX + key][i]
        if cell is not None:
            metadata[key] = json.loads(cell)
    time = get("time", None)
    return Document(
        id=get("id", ""),
        leaf=get("leaf", ""),
        text=get("text", ""),
        title=get("title", ""),
        x=float(get("x", 0.0)),
        y=float(get("y", 0.0)),
        metadata=metadata,
        time=None if time is None or not math.isfinite(time) else float(time),
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


# -- writing -------------------------------------------------------------------------------------
def documents_batch(documents: Sequence[Document], metadata_keys: Sequence[str]) -> dict[str, list[Any]]:
    """Documents as a dict of columns (what :func:`write_batches` takes)."""
    out: dict[str, list[Any]] = {
        "id": [d.id for d in documents],
        "leaf": [d.leaf for d in documents],
        "x": [round(float(d.x), 5) for d in documents],
        "y": [round(float(d.y), 5) for d in documents],
        "title": [d.title for d in documents],
        "text": [d.text for d in documents],
        "time": [d.time for d in documents],
    }
    for key in metadata_keys:
        out[META_PREFIX + key] = [
            dumps_compact(d.metadata[key]) if key in d.metadata else None for d in documents
        ]
    return out


def metadata_keys_of(store: DocumentStore) -> list[str]:
    known = getattr(store, "metadata_keys", None)  # a sidecar's columns, or a store that knows its keys without making documents
    if known is not None:
        return list(known)
    keys: dict[str, None] = {}
    for batch in store.iter_batches():
        for doc in batch:
            keys.update(dict.fromkeys(doc.metadata))
    return list(keys)


def sidecar_schema(metadata_keys: Sequence[str]) -> pa.Schema:
    import pyarrow as pa

    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("leaf", pa.string(), nullable=False),
        pa.field("x", pa.float64()),
        pa.field("y", pa.float64()),
        pa.field("title", pa.string()),
        pa.field("text", pa.string()),
        pa.field("time", pa.float64()),
    ]
    fields += [pa.field(META_PREFIX + key, pa.string()) for key in metadata_keys]
    return pa.schema(fields)


def write_batches(
    tree_path: str | os.PathLike[str],
    batches: Iterable[pa.RecordBatch | Mapping[str, Sequence[Any]]],
    metadata_keys: Sequence[str] | None = None,
) -> ParquetStore:
    """Write a sidecar for the tree file ``tree_path`` from ``batches``; return a store reading it.

    Each batch is a ``pyarrow.RecordBatch`` or a dict of equally long columns, with at least ``id``
    and ``leaf`` (strings), optionally ``x``, ``y``, ``title``, ``text``, ``time`` and
    ``metadata.KEY`` (each value JSON text); rows go to the file in the order given, which is the
    tree's row order. Only one batch is held at a time. The file is written to a temp name, hashed
    and renamed to its content-addressed name; nothing is left behind on failure. Then build the
    tree as ``TopicTree(nodes, store, manifest)`` and ``save_tree`` it at ``tree_path``: it writes
    only the JSON, pointing at this file.

    ``metadata_keys`` fixes the metadata columns; without it they are the first batch's.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from topicmap.hierarchy.files.safe_write import fsync_directory, temp_beside

    tree_path = Path(tree_path)
    stem_target = tree_path.parent / f"{sidecar_stem(tree_path)}.docs.parquet"
    with temp_beside(stem_target) as tmp:
        writer: pq.ParquetWriter | None = None
        schema: pa.Schema | None = sidecar_schema(metadata_keys) if metadata_keys is not None else None
        try:
            for batch in batches:
                if isinstance(batch, pa.RecordBatch):
                    columns: Mapping[str, Any] = _columns(batch)
                else:
                    columns = batch
                if schema is None:
                    schema = sidecar_schema([c[len(META_PREFIX) :] for c in columns if c.startswith(META_PREFIX)])
                table = _table(columns, schema)
                if writer is None:
                    writer = _part_writer(tmp, schema)
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            if writer is None:  # no batch at all: an empty file with the schema
                schema = schema or sidecar_schema([])
                writer = pq.ParquetWriter(tmp, schema, compression="zstd")
                writer.write_table(schema.empty_table())
        finally:
            if writer is not None:
                writer.close()
        digest = file_sha256(tmp)
        final = sidecar_path(tree_path, digest)
        _fsync_file(tmp)
        os.replace(tmp, final)
    fsync_directory(final.parent)
    return ParquetStore(final, sha256=digest)


def _table(columns: Mapping[str, Any], schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"the columns of a documents batch differ in length ({sorted(lengths)})")
    n = lengths.pop() if lengths else 0
    unknown = [c for c in columns if c not in schema.names]
    if unknown:
        raise ValueError(f"documents batch column {unknown[0]!r} is not in the first batch's columns")
    for required in ("id", "leaf"):
        if required not in columns:
            raise ValueError(f"a documents batch needs a {required!r} column")
    arrays = []
    for f in schema:
        value = columns.get(f.name)
        if value is None:
            arrays.append(pa.nulls(n, f.type))
        elif isinstance(value, (pa.Array, pa.ChunkedArray)):
            arrays.append(value.cast(f.type))
        else:
            arrays.append(pa.array(value, type=f.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def write_store(tree_path: str | os.PathLike[str], store: DocumentStore, part_rows: int | None = None) -> ParquetStore:
    """A sidecar for ``tree_path`` holding ``store``'s documents.

    A sidecar store is copied byte for byte (its hash, so its name, stays), or kept as it is when it
    already lies beside ``tree_path`` under that name; a partitioned one stays partitioned. Documents in
    memory are written in batches, into one file or, given ``part_rows``, into parts of that many rows.
    New rows after a partitioned sidecar (``assign``) become one new part beside the old parts, which
    are hard-linked, not rewritten (:func:`append_part`).
    """
    from topicmap.hierarchy.files.safe_write import fsync_directory, temp_beside

    tree_path = Path(tree_path)
    if isinstance(store, ParquetStore):
        if store.partitioned:
            parts = store.part_files()
            final = sidecar_path(tree_path, store.sha256 or parts_digest(parts), partitioned=True)
            if final.exists() and final.resolve() == store.path.resolve():
                return store
            copied = write_parts(tree_path, lambda folder: [_linked(src, folder / part.name, part) for src, part in zip(store.paths, parts)])
            copied.ids_checked = store.ids_checked
            return copied
        digest = store.sha256 or file_sha256(store.path)
        final = sidecar_path(tree_path, digest)
        if final.exists() and final.resolve() == store.path.resolve():
            return store
        with temp_beside(final) as tmp:
            shutil.copyfile(store.path, tmp)
            _fsync_file(tmp)
            os.replace(tmp, final)
        fsync_directory(final.parent)
        return ParquetStore(final, sha256=digest, ids_checked=store.ids_checked)
    keys = metadata_keys_of(store)
    if part_rows is not None and not isinstance(store, AppendedStore):
        return write_parts(tree_path, lambda folder: _parts_of(folder, store, part_rows, keys))
    if isinstance(store, AppendedStore) and store.base.partitioned:
        return append_part(tree_path, store, keys)
    return write_batches(tree_path, store.column_batches(keys), metadata_keys=keys)


# -- partitioned sidecars ------------------------------------------------------------------------
def write_part(folder: str | os.PathLike[str], index: int, batches: Iterable[Mapping[str, Any]], metadata_keys: Sequence[str]) -> PartFile:
    """Part ``index`` of a partitioned sidecar written into ``folder`` (a temp directory: see :func:`write_parts`).

    ``batches`` are dicts of columns as :func:`write_batches` takes them, all with ``metadata_keys``'s
    columns (every part of a sidecar has the same ones). Runs wherever the rows are: here, or on a
    cluster's worker (which then needs ``folder`` at the same path: shared storage).
    """
    import pyarrow.parquet as pq

    schema = sidecar_schema(metadata_keys)
    path = Path(folder) / part_name(index)
    rows = 0
    with _part_writer(path, schema) as writer:
        for batch in batches:
            table = _table(batch, schema)
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            rows += table.num_rows
        if not rows:
            writer.write_table(schema.empty_table())
    _fsync_file(path)
    return PartFile(path.name, rows, path.stat().st_size, file_sha256(path))


def write_parts(tree_path: str | os.PathLike[str], fill: Callable[[Path], Sequence[PartFile]]) -> ParquetStore:
    """A partitioned sidecar for ``tree_path``: ``fill(folder)`` writes the parts into a new temp
    directory (here, or by telling a cluster's workers to) and returns them in row order; the directory
    is then renamed to ``<stem>.docs-<hash of the parts' hashes>``. On any failure the temp directory
    and everything in it is removed, so no tree file can name a half-written sidecar.
    """
    from topicmap.hierarchy.files.safe_write import fsync_directory, temp_directory_beside

    tree_path = Path(tree_path)
    with temp_directory_beside(tree_path.parent / f"{sidecar_stem(tree_path)}.docs") as tmp:
        parts = list(fill(tmp)) or [write_part(tmp, 0, [], [])]
        for k, part in enumerate(parts):
            if part.name != part_name(k) or not (tmp / part.name).is_file():
                raise TreeFileError(f"{tmp}: part {k} of the documents was not written as {part_name(k)} (got {part.name})")
        digest = parts_digest(parts)
        final = sidecar_path(tree_path, digest, partitioned=True)
        if not final.is_dir():  # the same parts already there keep their directory (its name is their hash)
            fsync_directory(tmp)
            os.replace(tmp, final)
    fsync_directory(final.parent)
    return ParquetStore(final, sha256=digest, parts=parts)


def append_part(tree_path: str | os.PathLike[str], store: AppendedStore, metadata_keys: Sequence[str]) -> ParquetStore:
    """A partitioned sidecar plus new rows as a new sidecar: the old parts hard-linked (copied where the
    file system cannot link) and the new rows as one more part, so adding a thousand documents to ten
    million rewrites nothing. New rows bringing a metadata key the parts lack rewrite each old part with
    that column (null), part by part."""
    base = store.base
    old = base.part_files()
    same_columns = list(metadata_keys) == list(base.metadata_keys)

    def fill(folder: Path) -> list[PartFile]:
        out = []
        for k, (src, part) in enumerate(zip(base.paths, old)):
            if same_columns:
                out.append(_linked(src, folder / part.name, part))
            else:
                batches = (_columns(batch) for batch in base.part_batches(k))
                out.append(write_part(folder, k, batches, metadata_keys))
        added = store.added
        if added:
            pieces = _row_group_batches(added, metadata_keys)
            out.append(write_part(folder, len(out), pieces, metadata_keys))
        return out

    return write_parts(tree_path, fill)


def _parts_of(folder: Path, store: DocumentStore, part_rows: int, metadata_keys: Sequence[str]) -> list[PartFile]:
    """``store``'s documents as parts of ``part_rows`` rows each, written here one after another."""
    if part_rows <= 0:
        raise ValueError(f"rows per part must be positive, not {part_rows}")
    out = []
    for batch in store.iter_batches(part_rows):
        pieces = _row_group_batches(batch, metadata_keys)
        out.append(write_part(folder, len(out), pieces, metadata_keys))
    return out


def _row_group_batches(documents: Sequence[Document], metadata_keys: Sequence[str]) -> Iterator[dict[str, list[Any]]]:
    """Documents held in memory as sidecar columns, a row group's worth at a time."""
    for lo in range(0, len(documents), ROW_GROUP_ROWS):
        yield documents_batch(documents[lo : lo + ROW_GROUP_ROWS], metadata_keys)


def _part_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    """How every sidecar file is written: zstd, the leaf column dictionary-encoded, statistics kept for the time column only."""
    import pyarrow.parquet as pq

    return pq.ParquetWriter(path, schema, compression="zstd", use_dictionary=["leaf"], write_statistics=["time"])


def _columns(batch: pa.RecordBatch) -> dict[str, Any]:
    return {name: batch.column(name) for name in batch.schema.names}


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _linked(src: Path, dst: Path, part: PartFile) -> PartFile:
    """``src`` at ``dst`` without copying its bytes where the file system allows (parts are never changed in place)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
    return part


def remove_sidecar(path: Path) -> None:
    """Remove a sidecar: a file, or a directory of parts."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(8 * 2**20):
            digest.update(chunk)
    return digest.hexdigest()


