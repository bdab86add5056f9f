"""The reduced rows of a large build in an unlinked scratch file instead of memory.

Ten million rows of 128 reduced dimensions are 5 GB. The clusterer, the representatives and the
anchored layout read them only by slices and by index arrays, which this class answers from the file:
slices by plain reads, index arrays through a short-lived memory map (its pages stop counting as
resident as soon as it is dropped). The file has no name on disk, so nothing is left behind however
the process ends.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


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
        mapped = np.memmap(self._file, dtype=np.float32, mode="r", shape=self.shape)
        try:
            return np.array(mapped[index], dtype=np.float32)
        finally:
            del mapped  # unmapped here: its pages stop counting as resident

    def close(self) -> None:
        self._file.close()


def is_scratch(rows: object) -> bool:
    """Whether rows live in a scratch file (the build then avoids what needs them all in memory)."""
    return isinstance(rows, ReducedRows)


__all__ = ["ReducedRows", "is_scratch"]
