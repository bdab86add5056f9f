"""The Dask engine: a build's passes over its rows as tasks on the workers of a Dask cluster (``--engine dask``).

dask and distributed are imported here only, when a build asks for this engine (``pip install
'topicmap[dask]'``). The vectors are made or read on the workers, in partitions of whole blocks:
embedded from their texts (then held in the workers' memory), or read from the ``.npy`` / Parquet files,
which every worker must see at the same path: then a partition is only a handle
(:class:`topicmap.hierarchy.builder.engine.FileRows`) that every pass reads again a block at a time, so
a worker never holds more than a block of the vectors. The reduced rows a worker makes stay on that
worker (in a scratch file of its own when the build's reduced rows would not fit in memory), and every
later pass over them runs there. Only what the build combines comes back (a block's sums, a partition's
representative candidates, its reduced rows once, samples).
At the end the workers write the tree's documents, one Parquet part per partition, into the partitioned
sidecar's temp directory (which they too must see at the same path); the client writes the tree's JSON.
"""

from __future__ import annotations

import operator
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from topicmap.hierarchy.base.errors import InputError, OutputError, TopicmapError
from topicmap.hierarchy.builder.engine import PASS_ROWS, FileRows, PartitionedRows, Partitions, partition_blocks, partition_bounds
from topicmap.hierarchy.inputs.vector_source import ArraySource, VectorSource
from topicmap.hierarchy.tree.documents_store import PartFile, part_name, write_part

CONNECT_TIMEOUT_S = 10.0
PARTITION_ROWS = 2 * PASS_ROWS  # rows per partition (131,072; 200 MB of 384-d vectors)
EMBED_TASK_TEXTS = 512  # texts per embedding task: small enough that every worker gets some of a few thousand
SCATTER_BYTES = 1 << 20  # arrays given to every task are sent to the workers once past this size


class DaskEngine:
    """:class:`topicmap.hierarchy.builder.engine.Engine` over a ``distributed.Client``."""

    name = "dask"

    def __init__(self, client: Any, partition_rows: int = PARTITION_ROWS) -> None:
        partition_bounds(0, partition_rows)  # a whole number of blocks, or one clear error
        self.client = client
        self.partition_rows = partition_rows

    # -- the Engine protocol -------------------------------------------------------------------------
    def map_partitions(self, fn: Callable[..., Any], rows: Partitions, shared: tuple[Any, ...]) -> Iterator[Any]:
        futures = self.keep_partitions(fn, rows, shared)
        for p in range(len(futures)):  # one partition's results here at a time, each let go on the workers once here
            value = futures[p].result()
            futures[p] = None
            yield value

    def keep_partitions(self, fn: Callable[..., Any], rows: Partitions, shared: tuple[Any, ...]) -> list[Any]:
        sent = tuple(self._share(value) for value in shared)
        where = self._holders(rows.parts)
        return [
            self.client.submit(_run_partition, fn, part, int(rows.bounds[p]), *sent, pure=False, **_on(where[p]))
            for p, part in enumerate(rows.parts)
        ]

    def fetch(self, handle: Any) -> Any:
        return handle.result()

    def pick(self, handles: Sequence[Any], index: int) -> list[Any]:
        return [self.client.submit(operator.getitem, handle, index, pure=False) for handle in handles]

    def gather_rows(self, rows: PartitionedRows, wanted: np.ndarray) -> np.ndarray:
        wanted = np.asarray(wanted, dtype=np.int64)
        order = np.argsort(wanted, kind="stable")
        ascending = wanted[order]
        cuts = np.searchsorted(ascending, rows.bounds)
        which = [p for p in range(len(rows.parts)) if cuts[p + 1] > cuts[p]]
        where = self._holders(rows.parts)
        futures = [
            self.client.submit(_take, rows.parts[p], ascending[cuts[p] : cuts[p + 1]] - rows.bounds[p], pure=False, **_on(where[p]))
            for p in which
        ]
        out = np.empty((wanted.size, rows.dim), dtype=np.float32)
        out[order] = np.concatenate(self.client.gather(futures)) if futures else np.empty((0, rows.dim), dtype=np.float32)
        return out

    # -- rows onto the workers -----------------------------------------------------------------------
    def load(self, vectors: np.ndarray | VectorSource) -> PartitionedRows:
        """Vectors as partitions on the workers: an array is sent; a file stays a file, read by the workers a block at a time in every pass."""
        if isinstance(vectors, PartitionedRows):
            return vectors
        source = vectors if isinstance(vectors, VectorSource) else ArraySource(vectors)
        bounds = partition_bounds(source.n_rows, self.partition_rows)
        ranges = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
        if isinstance(source, ArraySource):
            parts = self.client.scatter([source.read_all()[a:b] for a, b in ranges], hash=False)
        else:
            parts = [FileRows(source, a, b) for a, b in ranges]
        return PartitionedRows(self, parts, bounds, source.dim, source.name)

    def load_texts(self, texts: Sequence[str], like: Partitions) -> Partitions:
        """Texts sent to the workers in the partitions of ``like`` (row-aligned vectors), for the keyword counts."""
        ranges = zip(like.bounds[:-1].tolist(), like.bounds[1:].tolist())
        return Partitions(self, self.client.scatter([list(texts[a:b]) for a, b in ranges], hash=False), like.bounds)

    def embed(self, texts: Sequence[str], embedder: str, model: str | None, api_key: str | None, base_url: str | None, name: str) -> PartitionedRows:
        """``texts`` embedded on the workers (a few hundred per task), kept there as partitions of whole blocks."""
        bounds = partition_bounds(len(texts), self.partition_rows)
        spec = (embedder, model, api_key, base_url)
        parts = []
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            pieces = [self.client.submit(embed_texts, list(texts[s : min(b, s + EMBED_TASK_TEXTS)]), spec, pure=False) for s in range(a, b, EMBED_TASK_TEXTS)]
            parts.append(self.client.submit(_stack, *pieces, pure=False))
        widths = self.client.gather([self.client.submit(_width, part, pure=False) for part in parts])
        if len(set(widths)) > 1:
            raise InputError(f"{name}: the workers' embeddings have different dimensions ({sorted(set(widths))}); they must run the same model")
        return PartitionedRows(self, parts, bounds, widths[0] if widths else 0, name)

    def write_parts(
        self, folder: Path, bounds: np.ndarray, rows_of: Callable[[int, int], Any], node_ids: Sequence[str], metadata_keys: Sequence[str]
    ) -> list[PartFile]:
        """A built tree's documents written by the workers into ``folder`` (a temp directory every worker
        sees at that path), one part per partition of ``bounds``; their names, rows, sizes and hashes.

        ``rows_of(start, stop)`` gives a partition's columns here (the corpus is read on this side); each
        is sent to a worker, which makes the sidecar's columns of it and writes and hashes the part. At most
        two partitions per worker are on their way at a time, so the corpus is not copied whole into the
        cluster at once. A worker's failure stops the rest and is one line.
        """
        folder = Path(os.path.abspath(folder))
        ranges = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
        window = max(2, 2 * self.workers())
        keys, ids = list(metadata_keys), list(node_ids)
        futures: list[Any] = []
        out: list[PartFile] = []
        try:
            for p, (a, b) in enumerate(ranges):
                if len(futures) - len(out) >= window:
                    out.append(_part_result(futures[len(out)], folder, len(out)))
                [rows] = self.client.scatter([rows_of(a, b)], hash=False)
                futures.append(self.client.submit(write_partition, str(folder), p, rows, ids, keys, pure=False))
            while len(out) < len(futures):
                out.append(_part_result(futures[len(out)], folder, len(out)))
        finally:
            if len(out) < len(futures):
                self.client.cancel(futures[len(out) :])
        return out

    def workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))

    def close(self) -> None:
        self.client.close()

    def _holders(self, parts: Sequence[Any]) -> list[list[str] | None]:
        """The worker holding each partition that lives on one (a task on it then runs there: its rows may be a
        scratch file of that worker's; elsewhere only if that worker is gone), None for a handle to a file."""
        from distributed import Future

        futures = [part for part in parts if isinstance(part, Future)]
        if not futures:
            return [None] * len(parts)
        for future in futures:
            future.exception()  # waits until it is done (an error is raised later, where the partition is used)
        who = self.client.who_has(futures)
        return [sorted(who.get(part.key, ())) or None if isinstance(part, Future) else None for part in parts]

    def _share(self, value: Any) -> Any:
        if isinstance(value, np.ndarray) and value.nbytes > SCATTER_BYTES:
            return self.client.scatter(value, broadcast=True, hash=False)
        return value


def _part_result(future: Any, folder: Path, index: int) -> PartFile:
    """A part's record once its worker wrote it; a failure there as one line (a topicmap error as it was raised)."""
    try:
        return future.result()
    except TopicmapError:
        raise
    except Exception as exc:  # noqa: BLE001 - a worker lost (KilledWorker), a pickling error, ...: one line naming the part
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise OutputError(f"{folder / part_name(index)}: the worker writing this part of the documents failed ({reason[:200]})") from None


def _on(workers: list[str] | None) -> dict[str, Any]:
    """Where a task on a partition runs: on its holder (anywhere if that one is gone), or wherever the scheduler likes."""
    return {} if workers is None else {"workers": workers, "allow_other_workers": True}


# -- what the workers run: module-level functions, so a worker can unpickle them ------------------------------
def write_partition(folder: str, index: int, rows: Any, node_ids: list[str], metadata_keys: list[str]) -> PartFile:
    """Part ``index`` of a built tree's documents, made from a partition's columns and written into ``folder`` (on a worker)."""
    from topicmap.hierarchy.builder.built_documents import part_batches

    try:
        return write_part(folder, index, part_batches(rows, node_ids, metadata_keys), metadata_keys)
    except OSError as exc:
        raise OutputError(
            f"{folder}: cannot write {part_name(index)} on {socket.gethostname()} ({exc.strerror or exc}); the workers write the "
            "documents, so the tree file's folder must be on storage every worker sees at the same path"
        ) from None



def _run_partition(fn: Callable[..., Any], part: Any, start: int, *shared: Any) -> Any:
    return fn(partition_blocks(part, start), *shared)


def _take(part: Any, local: np.ndarray) -> np.ndarray:
    return np.asarray(part[local], dtype=np.float32)


def _stack(*pieces: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate(pieces), dtype=np.float32)


def _width(part: np.ndarray) -> int:
    return int(part.shape[1]) if part.ndim == 2 else 0


_EMBEDDERS: dict[tuple[Any, ...], Any] = {}  # per worker process: a model is loaded once, not once per task


def embed_texts(texts: list[str], spec: tuple[str, str | None, str | None, str | None]) -> np.ndarray:
    """Texts embedded in this (worker) process by the embedder ``spec`` names (name, model, key, base URL)."""
    from topicmap.hierarchy.inputs.embed import make_embedder

    name, model, api_key, base_url = spec
    if spec not in _EMBEDDERS:
        _EMBEDDERS[spec] = make_embedder(name, api_key=api_key, base_url=base_url, model=model)
    return np.asarray(_EMBEDDERS[spec].embed(texts), dtype=np.float32)


def connect(address: str | None, timeout: float = CONNECT_TIMEOUT_S, partition_rows: int = PARTITION_ROWS) -> DaskEngine:
    """A client of the scheduler at ``address`` (``--scheduler`` or ``DASK_SCHEDULER_ADDRESS``) with a worker, or one clear error."""
    if not address:
        raise InputError("--engine dask needs a scheduler: give --scheduler tcp://HOST:8786 or set DASK_SCHEDULER_ADDRESS")
    try:
        import distributed
    except ImportError:
        raise InputError("--engine dask needs dask and distributed: pip install 'topicmap[dask]'") from None
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError for a malformed address: all one message
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"--scheduler {address}: cannot reach a Dask scheduler within {timeout:g} s ({reason[:200]})") from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except Exception:  # noqa: BLE001 - a TimeoutError of asyncio or of distributed
        client.close()
        raise InputError(f"--scheduler {address}: the scheduler has no workers (waited {timeout:g} s)") from None
    return DaskEngine(client, partition_rows)


__all__ = ["CONNECT_TIMEOUT_S", "PARTITION_ROWS", "DaskEngine", "connect", "embed_texts", "write_partition"]
