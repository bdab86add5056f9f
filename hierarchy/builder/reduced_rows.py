"""The reduced rows of a large build in an unlinked scratch file instead of memory.

Ten million rows of 128 reduced dimensions are 5 GB. The clusterer, the representatives and the
anchored layout read them only by slices and by index arrays, which this class answers from the file:
slices by plain reads, index arrays through short-lived memory maps of a few thousand rows each (their
pages stop counting as resident as soon as each is dropped). The file has no name on disk, so nothing is left behind however
the process ends.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


GATHER_ROWS = 2048  # rows gathered through one short-lived memory map (at most 128 MB of it resident)


class ReducedRows:
    """An (n, d) float32 matrix on disk that answers ``rows[a:b]`` and ``rows[indices]`` like an array."""

    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(self, n_rows: int, dim: int, directory: str | os.PathLike[str] | None = None) -> None:
        self.shape = (int(n_rows), int(dim))
        self._row_bytes = int(dim) * 4
        self._file = tempfile.TemporaryFile(dir=None if directory is None else Path(directory), prefix="topicmap-reduced-")
        self._file.truncate(self.shape[0] * self._row_bytes)
        self._fd = self._file.fileno()

    def __len__(self) -> int:
        return self.shape[0]

    def __reduce_ex__(self, protocol: object) -> object:
        """Pickled (sent to another process) as an array of its rows: the file itself cannot travel."""
        return self[0 : self.shape[0]].__reduce_ex__(protocol)  # type: ignore[arg-type]

    def write(self, start: int, block: np.ndarray) -> None:
        """Rows ``start .. start + len(block)`` set to ``block``."""
        data = memoryview(np.ascontiguousarray(block, dtype=np.float32)).cast("B")
        offset = start * self._row_bytes
        while data:
            written = os.pwrite(self._fd, data, offset)
            data, offset = data[written:], offset + written

    def _read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((max(stop - start, 0), self.shape[1]), dtype=np.float32)
        view = memoryview(out).cast("B")
        offset = start * self._row_bytes
        while view:
            got = os.preadv(self._fd, [view], offset)
            if got <= 0:
                raise OSError(f"scratch file of reduced rows ends early at row {offset // self._row_bytes}")
            view, offset = view[got:], offset + got
        return out

    def __getitem__(self, key: object) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            block = self._read(start, stop) if stop > start else np.empty((0, self.shape[1]), dtype=np.float32)
            return block if step == 1 else block[::step]
        if isinstance(key, (int, np.integer)):
            return self._read(int(key), int(key) + 1)[0]
        index = np.asarray(key)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        if index.size == 0:
            return np.empty((0, self.shape[1]), dtype=np.float32)
        out = np.empty((index.size, self.shape[1]), dtype=np.float32)
        # A page fault maps its neighbours too (fault-around: 16 pages), so a gather of scattered rows
        # through one long-lived map made most of the file resident (5.6 GB at 10M rows). A fresh map
        # per GATHER_ROWS rows bounds that to GATHER_ROWS x 64 kB, whatever the gather's size.
        for start in range(0, index.size, GATHER_ROWS):
            mapped = np.memmap(self._file, dtype=np.float32, mode="r", shape=self.shape)
            try:
                out[start : start + GATHER_ROWS] = mapped[index[start : start + GATHER_ROWS]]
            finally:
                del mapped  # unmapped here: its pages stop counting as resident
        return out

    def close(self) -> None:
        self._file.close()


class RowSubset:
    """Some rows (sorted) of a :class:`ReducedRows`, answered like an array of just those rows but read
    only a block at a time: a coarse cluster holding most of ten million rows is never gathered whole."""

    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(self, base: ReducedRows, rows: np.ndarray) -> None:
        self.base = base
        self.rows = np.asarray(rows, dtype=np.int64)
        self.shape = (int(self.rows.size), base.shape[1])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: object) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self.base[int(self.rows[int(key)])]
        if isinstance(key, slice):
            return self.base[self.rows[key]]
        index = np.asarray(key)
        return self.base[self.rows[np.flatnonzero(index) if index.dtype == bool else index]]


SUBSET_ROWS = 1 << 18  # past this many rows (128 MB of 128-d rows) a cluster's rows are read as a RowSubset, not gathered


def rows_of(Z: np.ndarray | ReducedRows, rows: np.ndarray) -> np.ndarray | ReducedRows | RowSubset:
    """``Z[rows]`` (sorted rows): gathered, except many rows of a scratch file, which stay on disk."""
    if isinstance(Z, ReducedRows) and rows.size > SUBSET_ROWS:
        return RowSubset(Z, rows)
    return Z[rows]


def is_scratch(rows: object) -> bool:
    """Whether rows live in a scratch file (the build then avoids what needs them all in memory)."""
    return isinstance(rows, (ReducedRows, RowSubset))


__all__ = ["ReducedRows", "RowSubset", "is_scratch", "rows_of"]
