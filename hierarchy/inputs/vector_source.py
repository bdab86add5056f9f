"""Embeddings read a block at a time: an array in memory, a ``.npy`` file, or Parquet shards.

A build of ten million 384-d rows cannot hold its 15 GB of vectors; every pass over them goes through
:meth:`VectorSource.iter_chunks` (blocks of exactly ``rows`` rows, whatever the files' own batches,
so a computation done per block gives the same numbers however the data is stored) and every sample
through :meth:`VectorSource.take`. Bad rows are named by file and row as they are read.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from topicmap.hierarchy.base.errors import InputError

DEFAULT_CHUNK_ROWS = 65536
DROP_CACHE_BYTES = 2 << 30  # .npy files past this are read without keeping them in the page cache


class VectorSource:
    """Row-aligned embeddings: ``n_rows`` x ``dim`` numbers, read in order or sampled by row."""

    name: str
    n_rows: int
    dim: int
    dtype: np.dtype
    in_memory: bool = False

    def iter_chunks(self, rows: int = DEFAULT_CHUNK_ROWS, read_rows: int | None = None) -> Iterator[np.ndarray]:
        """float32 blocks of exactly ``rows`` rows (the last one shorter), in row order, checked finite;
        read ``read_rows`` at a time (default ``rows``)."""
        return rechunk(self._blocks(max(1, read_rows or rows)), max(1, rows), self.dim)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """float32 rows at the given (sorted, distinct) indices."""
        raise NotImplementedError

    def read_all(self) -> np.ndarray:
        """Every row as one float32 array (for sources small enough to hold)."""
        out = np.empty((self.n_rows, self.dim), dtype=np.float32)
        start = 0
        for block in self.iter_chunks():
            out[start : start + block.shape[0]] = block
            start += block.shape[0]
        return out

    def _blocks(self, rows: int) -> Iterator[np.ndarray]:
        raise NotImplementedError


def rechunk(blocks: Iterator[np.ndarray], rows: int, dim: int) -> Iterator[np.ndarray]:
    """Blocks of any sizes regrouped into blocks of exactly ``rows`` rows (the last one shorter)."""
    pending: list[np.ndarray] = []
    held = 0
    for block in blocks:
        while block.shape[0]:
            if not pending and block.shape[0] >= rows:
                yield block[:rows]
                block = block[rows:]
                continue
            part = block[: rows - held]
            pending.append(part)
            held += part.shape[0]
            block = block[part.shape[0] :]
            if held == rows:
                yield np.concatenate(pending)
                pending, held = [], 0
    if held:
        yield np.concatenate(pending) if len(pending) > 1 else pending[0]


def check_finite(block: np.ndarray, where: str, first_row: int) -> None:
    """One line naming the first row (1-based within ``where``) with NaN or infinity."""
    finite = np.isfinite(block)
    if finite.all():
        return
    bad = np.flatnonzero(~finite.all(axis=1))
    more = f" (and {bad.size - 1} more in this block)" if bad.size > 1 else ""
    raise InputError(f"{where}: row {first_row + int(bad[0]) + 1} has NaN or infinite values{more}")


def _check_numeric(dtype: np.dtype, where: str) -> None:
    if dtype.kind == "c":
        raise InputError(f"{where}: embeddings are complex numbers (dtype {dtype}); they must be real")
    if dtype.kind not in "iuf":
        raise InputError(f"{where}: embeddings must be real numbers (integer or float), got dtype {dtype}")


class ArraySource(VectorSource):
    """An array already in memory (what :class:`topicmap.TopicMap` and small builds use)."""

    in_memory = True

    def __init__(self, array: np.ndarray, name: str = "embeddings") -> None:
        array = np.asarray(array)
        _check_numeric(array.dtype, name)
        if array.ndim != 2 or array.shape[1] == 0:
            raise InputError(f"{name}: embeddings must be a 2-D matrix (rows x dimensions), got shape {array.shape}")
        self.array = np.ascontiguousarray(array, dtype=np.float32)
        self.name = name
        self.n_rows, self.dim = self.array.shape
        self.dtype = array.dtype

    def _blocks(self, rows: int) -> Iterator[np.ndarray]:
        for start in range(0, self.n_rows, rows):
            block = self.array[start : start + rows]
            check_finite(block, self.name, start)
            yield block

    def take(self, rows: np.ndarray) -> np.ndarray:
        return self.array[np.asarray(rows, dtype=np.int64)]

    def read_all(self) -> np.ndarray:
        for start in range(0, self.n_rows, DEFAULT_CHUNK_ROWS):  # in blocks: a whole-matrix mask costs n x d bytes
            check_finite(self.array[start : start + DEFAULT_CHUNK_ROWS], self.name, start)
        return self.array


class NpySource(VectorSource):
    """A ``.npy`` matrix read with plain file reads, never loaded whole (nor memory-mapped: mapped pages count as resident)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such embeddings file")
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a directory, expected a .npy file")
        try:
            with self.path.open("rb") as fh:
                version = np.lib.format.read_magic(fh)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = reader(fh)
                self.offset = fh.tell()
        except OSError as exc:
            raise InputError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise InputError(f"{self.path}: not a NumPy .npy file ({exc}); write the matrix with numpy.save") from None
        _check_numeric(dtype, self.name)
        if len(shape) != 2 or shape[1] == 0:
            raise InputError(f"{self.path}: embeddings must be a 2-D matrix (rows x dimensions), got shape {shape}")
        if fortran:
            raise InputError(f"{self.path}: the matrix is stored column by column (Fortran order); save numpy.ascontiguousarray(matrix) instead")
        self.n_rows, self.dim = int(shape[0]), int(shape[1])
        self.dtype = dtype
        self.row_bytes = self.dim * dtype.itemsize
        expected = self.offset + self.n_rows * self.row_bytes
        if self.path.stat().st_size < expected:
            raise InputError(f"{self.path}: truncated: the header says {self.n_rows:,} rows but the file holds {(self.path.stat().st_size - self.offset) // max(self.row_bytes, 1):,}")

    def _blocks(self, rows: int) -> Iterator[np.ndarray]:
        # A file bigger than the page cache wants to keep would push out what is read more often (the
        # reduced rows' scratch file): pages already read are let go.
        let_go = self.n_rows * self.row_bytes > DROP_CACHE_BYTES and hasattr(os, "posix_fadvise")
        with self.path.open("rb", buffering=0) as fh:
            fh.seek(self.offset)
            for start in range(0, self.n_rows, rows):
                count = min(rows, self.n_rows - start)
                raw = np.empty((count, self.dim), dtype=self.dtype)
                if fh.readinto(memoryview(raw).cast("B")) != raw.nbytes:
                    raise InputError(f"{self.path}: row {start + 1}: the file ends early")
                if let_go:
                    os.posix_fadvise(fh.fileno(), self.offset + start * self.row_bytes, raw.nbytes, os.POSIX_FADV_DONTNEED)
                block = raw if raw.dtype == np.float32 else raw.astype(np.float32)
                check_finite(block, self.name, start)
                yield block

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((rows.size, self.dim), dtype=self.dtype)
        if rows.size == 0:
            return out.astype(np.float32)
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1  # runs of consecutive rows are read at once
        starts = np.concatenate([[0], breaks])
        stops = np.concatenate([breaks, [rows.size]])
        fd = os.open(self.path, os.O_RDONLY)
        try:
            view = memoryview(out).cast("B")
            for a, b in zip(starts.tolist(), stops.tolist()):
                want = (b - a) * self.row_bytes
                got = os.preadv(fd, [view[a * self.row_bytes : b * self.row_bytes]], self.offset + int(rows[a]) * self.row_bytes)
                if got != want:
                    raise InputError(f"{self.path}: row {int(rows[a]) + 1}: the file ends early")
        finally:
            os.close(fd)
        return out if out.dtype == np.float32 else out.astype(np.float32)


@dataclass(frozen=True)
class _Shard:
    path: Path
    n_rows: int
    row_group_rows: tuple[int, ...]


class ParquetSource(VectorSource):
    """An embedding column (fixed-size lists, or lists all of one length) of one Parquet file, a directory of
    them or a glob of shards, read a record batch at a time in shard order (sorted by name)."""

    def __init__(self, location: str | os.PathLike[str], column: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.column = column
        self.name = str(location)
        paths = parquet_paths(location)
        shards: list[_Shard] = []
        dim: int | None = None
        first: Path | None = None
        for path in paths:
            try:
                handle = pq.ParquetFile(path)
            except (OSError, pa.ArrowException) as exc:
                raise InputError(f"{path}: cannot read as Parquet ({_first_line(exc)})") from None
            schema = handle.schema_arrow
            if column not in schema.names:
                shown = ", ".join(schema.names[:8]) + (", ..." if len(schema.names) > 8 else "")
                raise InputError(f"{path}: no embedding column {column!r} (columns: {shown})")
            kind = schema.field(column).type
            if pa.types.is_fixed_size_list(kind):
                shard_dim = kind.list_size
            elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
                shard_dim = self._first_length(handle, path)
            else:
                raise InputError(f"{path}: column {column!r} holds {kind}, expected a list of numbers per row")
            value_type = kind.value_type
            if not (pa.types.is_floating(value_type) or pa.types.is_integer(value_type)):
                raise InputError(f"{path}: column {column!r} holds lists of {value_type}, expected numbers")
            if dim is None:
                dim, first = shard_dim, path
            elif shard_dim is not None and shard_dim != dim:
                raise InputError(f"{path}: embeddings have {shard_dim} dimensions, {first} has {dim}")
            meta = handle.metadata
            shards.append(_Shard(path, meta.num_rows, tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups))))
        if dim is None or dim == 0:
            raise InputError(f"{self.name}: no embedding rows in column {column!r}")
        self.shards = shards
        self.dim = dim
        self.dtype = np.dtype(np.float32)
        self.n_rows = sum(s.n_rows for s in shards)

    def _first_length(self, handle: object, path: Path) -> int | None:
        for batch in handle.iter_batches(batch_size=1, columns=[self.column]):  # type: ignore[attr-defined]
            if batch.num_rows:
                value = batch.column(0)[0]
                return None if not value.is_valid else len(value)
        return None

    def _to_numpy(self, array: object, shard: _Shard, first_row: int) -> np.ndarray:
        """A column chunk as (rows, dim) float32; the first row of another length or empty is named."""
        import pyarrow as pa

        if isinstance(array, pa.ChunkedArray):
            array = pa.concat_arrays(array.chunks) if array.num_chunks != 1 else array.chunk(0)
        rows = len(array)
        if array.null_count:
            bad = int(np.flatnonzero(~np.asarray(array.is_valid()))[0])
            raise InputError(f"{shard.path}: row {first_row + bad + 1}: column {self.column!r} is empty (null)")
        if pa.types.is_fixed_size_list(array.type):
            if array.type.list_size != self.dim:
                raise InputError(f"{shard.path}: embeddings have {array.type.list_size} dimensions, expected {self.dim}")
            values = array.flatten()
        else:
            offsets = np.asarray(array.offsets)
            lengths = np.diff(offsets)
            if (lengths != self.dim).any():
                bad = int(np.flatnonzero(lengths != self.dim)[0])
                raise InputError(f"{shard.path}: row {first_row + bad + 1}: column {self.column!r} has {int(lengths[bad])} dimensions, expected {self.dim}")
            values = array.flatten()
        if values.null_count:
            bad = int(np.flatnonzero(~np.asarray(values.is_valid()))[0]) // self.dim
            raise InputError(f"{shard.path}: row {first_row + bad + 1}: column {self.column!r} has a missing number")
        block = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(rows, self.dim)
        check_finite(block, str(shard.path), first_row)
        return block

    def _blocks(self, rows: int) -> Iterator[np.ndarray]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        for shard in self.shards:
            done = 0
            try:
                handle = pq.ParquetFile(shard.path)
                for batch in handle.iter_batches(batch_size=rows, columns=[self.column]):
                    yield self._to_numpy(batch.column(0), shard, done)
                    done += batch.num_rows
            except (OSError, pa.ArrowException) as exc:
                raise InputError(f"{shard.path}: cannot read rows after row {done} ({_first_line(exc)})") from None
            if done != shard.n_rows:
                raise InputError(f"{shard.path}: {done:,} rows read but its footer says {shard.n_rows:,}")

    def take(self, rows: np.ndarray) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((rows.size, self.dim), dtype=np.float32)
        base = 0
        for shard in self.shards:
            lo, hi = np.searchsorted(rows, [base, base + shard.n_rows])
            if hi > lo:
                handle = pq.ParquetFile(shard.path)
                group_starts = np.concatenate([[0], np.cumsum(shard.row_group_rows)])
                local = rows[lo:hi] - base
                group_of = np.searchsorted(group_starts, local, side="right") - 1
                for group in np.unique(group_of).tolist():
                    picked = np.flatnonzero(group_of == group)
                    try:
                        table = handle.read_row_group(group, columns=[self.column])
                    except (OSError, pa.ArrowException) as exc:
                        raise InputError(f"{shard.path}: cannot read row group {group} ({_first_line(exc)})") from None
                    block = self._to_numpy(table.column(0), shard, int(group_starts[group]))
                    out[lo + picked] = block[local[picked] - group_starts[group]]
            base += shard.n_rows
        return out


def parquet_paths(location: str | os.PathLike[str]) -> list[Path]:
    """The shards a location names: one file, every ``*.parquet`` under a directory, or a glob; sorted by name."""
    text = str(location)
    path = Path(text)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if not found:
            raise InputError(f"{path}: a directory without .parquet files")
        return found
    if any(ch in text for ch in "*?["):
        found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not found:
            raise InputError(f"{text}: no files match")
        return found
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return [path]


def open_vectors(location: str | os.PathLike[str] | np.ndarray | VectorSource, column: str | None = None) -> VectorSource:
    """A source for an array, a ``.npy`` file, or Parquet (``column`` names the embedding column)."""
    if isinstance(location, VectorSource):
        return location
    if isinstance(location, np.ndarray):
        return ArraySource(location)
    text = str(location)
    if column is not None or text.endswith((".parquet", ".pq")) or Path(text).is_dir() or any(ch in text for ch in "*?["):
        if column is None:
            raise InputError(f"{text}: name the embedding column of the Parquet input (--embedding-column)")
        return ParquetSource(location, column)
    return NpySource(location)


def check_row_count(source: VectorSource, n_documents: int, documents: str) -> None:
    """The vectors must line up with the documents row for row."""
    if source.n_rows != n_documents:
        raise InputError(f"{source.name}: {source.n_rows} embedding rows for {n_documents} documents in {documents}; they must be row-aligned")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__: Sequence[str] = ["ArraySource", "NpySource", "ParquetSource", "VectorSource", "check_row_count", "open_vectors", "parquet_paths", "rechunk"]
