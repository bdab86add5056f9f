"""Where a build's passes over its rows run: here, or as tasks on the workers of a Dask cluster.

Every pass over the rows (reduction, per-node sums, representatives' candidates) is written once, as a
plain function of a run of blocks: ``fn(blocks, *shared)``, where ``blocks`` yields ``(first row,
rows)`` in row order, each block :data:`PASS_ROWS` rows. Here the whole source is one run, read a block
at a time (:func:`local_blocks`). Rows held by an engine's workers (:class:`PartitionedRows`) come in
partitions of whole blocks, so a worker reads exactly the blocks this process would read, and the
results come back in partition order to be combined as the single run's are: the floats do not depend
on where a pass ran. Products that use BLAS run on one thread wherever they run (their results change
in the last bits with the thread count).
"""

from __future__ import annotations

import itertools
import multiprocessing
import pickle
import signal
import socket
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np
from threadpoolctl import threadpool_limits

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.builder.reduced_rows import ReducedRows
from topicmap.hierarchy.inputs.vector_source import DEFAULT_CHUNK_ROWS, ArraySource, NpySource, VectorSource, check_finite

PASS_ROWS = DEFAULT_CHUNK_ROWS  # rows per block of every pass; partitions hold whole blocks

Blocks = Iterator[tuple[int, np.ndarray]]


class FileRows:
    """One partition of a file every worker sees (``.npy``, Parquet): a handle, not the rows.

    A pass reads it a block at a time (``rows[a:b]``), as the local streamed path reads the file, so a
    worker holds one block of it at a time however big its partitions are; ``rows[indices]`` reads just
    those rows. Rows are checked finite as they are read, and named by file and row if not.
    """

    def __init__(self, source: VectorSource, start: int, stop: int) -> None:
        self.source = source
        self.start = int(start)
        self.stop = int(stop)

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, key: object) -> np.ndarray:
        if isinstance(key, slice):
            a, b, step = key.indices(len(self))
            block = read_range(self.source, self.start + a, self.start + max(a, b))
            return block if step == 1 else block[::step]
        local = np.asarray(key, dtype=np.int64)
        return _read(self.source, self.start + local, self.start + (int(local.min()) if local.size else 0))


class Engine(Protocol):
    """Runs a pass's function once per partition of rows its workers hold; results in partition order."""

    name: str

    def map_partitions(self, fn: Callable[..., Any], rows: Partitions, shared: tuple[Any, ...]) -> Iterator[Any]:
        """``fn(blocks of partition p, *shared)`` for every partition p, brought here one at a time in order."""
        ...

    def keep_partitions(self, fn: Callable[..., Any], rows: Partitions, shared: tuple[Any, ...]) -> list[Any]:
        """As :meth:`map_partitions`, but the results stay where they were made: handles to them, in order."""
        ...

    def fetch(self, handle: Any) -> Any:
        """The value behind one handle, brought here."""
        ...

    def pick(self, handles: Sequence[Any], index: int) -> list[Any]:
        """Handles to item ``index`` of each value behind ``handles`` (still where they are)."""
        ...

    def gather_rows(self, rows: PartitionedRows, wanted: np.ndarray) -> np.ndarray:
        """The rows at ``wanted`` (global row numbers), in that order."""
        ...

    def load_texts(self, texts: Sequence[str], like: Partitions) -> Partitions:
        """Texts sent to the workers in the partitions of ``like`` (their row-aligned vectors)."""
        ...


class Partitions:
    """Rows (vectors, texts) held by an engine's workers in partitions of whole blocks: handles to each and where each starts."""

    def __init__(self, engine: Engine, parts: Sequence[Any], bounds: np.ndarray) -> None:
        bounds = np.asarray(bounds, dtype=np.int64)
        if np.any(bounds[1:-1] % PASS_ROWS):
            raise ValueError(f"partitions must hold whole blocks of {PASS_ROWS:,} rows")
        self.engine = engine
        self.parts = list(parts)
        self.bounds = bounds


class PartitionedRows(Partitions, VectorSource):
    """Row-aligned vectors held by an engine's workers in partitions of whole blocks.

    It answers as a :class:`VectorSource` too (blocks in order, rows by number: both gathered here), so
    code that has no pass of its own for it still works, only slower.
    """

    def __init__(self, engine: Engine, parts: Sequence[Any], bounds: np.ndarray, dim: int, name: str) -> None:
        super().__init__(engine, parts, bounds)
        self.n_rows = int(self.bounds[-1])
        self.dim = int(dim)
        self.dtype = np.dtype(np.float32)
        self.name = name

    def _blocks(self, rows: int) -> Iterator[np.ndarray]:
        for p in range(len(self.parts)):
            part = self.engine.gather_rows(self, np.arange(self.bounds[p], self.bounds[p + 1]))
            for start in range(0, part.shape[0], rows):
                yield part[start : start + rows]

    def take(self, rows: np.ndarray) -> np.ndarray:
        return self.engine.gather_rows(self, np.asarray(rows, dtype=np.int64))


def local_blocks(rows: Any, read_rows: int | None = None, block_rows: int = PASS_ROWS) -> Blocks:
    """``(first row, rows)`` of a source (read ``read_rows`` at a time) or of anything sliced like an array."""
    if isinstance(rows, VectorSource):
        start = 0
        for block in rows.iter_chunks(block_rows, read_rows):
            yield start, block
            start += block.shape[0]
        return
    for start in range(0, len(rows), max(block_rows, 1)):
        block = rows[start : start + block_rows]
        yield start, np.asarray(block) if hasattr(block, "shape") else block  # a slice of texts stays a sequence of str


def partition_blocks(part: Any, start: int) -> Blocks:
    """The blocks of one partition that starts at row ``start`` (a multiple of :data:`PASS_ROWS`)."""
    for offset in range(0, len(part), PASS_ROWS):
        yield start + offset, part[offset : offset + PASS_ROWS]


def each_run(fn: Callable[..., Any], rows: Any, *shared: Any, read_rows: int | None = None) -> list[Any]:
    """``fn(blocks, *shared)`` for every run of blocks: one run here (or one per forked process's run, see
    :func:`local_processes`), one per partition on an engine."""
    if isinstance(rows, Partitions):
        return list(rows.engine.map_partitions(fn, rows, shared))
    if _forks(rows) > 1:
        return list(_forked_runs(fn, rows, shared, FORKED_RUN_ROWS))
    return [fn(local_blocks(rows, read_rows), *shared)]


def each_block(fn: Callable[..., Any], rows: Any, *shared: Any, read_rows: int | None = None) -> Iterator[Any]:
    """``fn(first row, block, *shared)`` for every block, in row order (a partition's results at a time)."""
    if isinstance(rows, Partitions):
        for results in rows.engine.map_partitions(_per_block, rows, (fn, *shared)):
            yield from results
        return
    if _forks(rows) > 1:
        for results in _forked_runs(_per_block, rows, (fn, *shared), PASS_ROWS):
            yield from results
        return
    for start, block in local_blocks(rows, read_rows):
        yield fn(start, block, *shared)


# -- passes over rows held here, on forked processes ------------------------------------------------------
FORKED_RUN_ROWS = 2 * PASS_ROWS  # rows per run of each_run's functions on a forked process
_LOCAL = {"processes": 1}  # processes a pass over rows held here runs on (1: this one); set by local_processes
_JOBS: dict[int, tuple[Any, ...]] = {}  # the passes running: what their forked children read (inherited, never pickled)
_JOB_IDS = itertools.count()


@contextmanager
def local_processes(count: int) -> Iterator[None]:
    """Inside the block, passes over rows held here run on ``count`` forked processes of one BLAS thread each.

    Each child computes whole blocks (the blocks this process would read: a ``.npy`` read again from the
    file, an array, a scratch file of reduced rows or texts inherited) and only its results come back, in
    row order, so the numbers are the single process's to the bit. Other sources (Parquet: a block may need a
    whole row group) and rows of a single block stay in this process.
    """
    before = _LOCAL["processes"]
    _LOCAL["processes"] = max(1, int(count))
    try:
        yield
    finally:
        _LOCAL["processes"] = before


def _forks(rows: Any) -> int:
    count = _LOCAL["processes"]
    if count <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if isinstance(rows, (NpySource, ArraySource)):
        n = rows.n_rows
    elif isinstance(rows, (np.ndarray, ReducedRows)) and rows.ndim == 2:
        n = rows.shape[0]
    elif isinstance(rows, Sequence) and not isinstance(rows, (str, bytes)) and getattr(rows, "fork_safe", True):  # texts
        n = len(rows)
    else:
        return 1
    return count if n > PASS_ROWS else 1


class _Window:
    """Rows ``start .. stop`` of an array, a scratch file or texts, sliced like an array (read only when sliced)."""

    def __init__(self, rows: Any, start: int, stop: int) -> None:
        self.rows, self.start, self.stop = rows, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, key: slice) -> Any:
        a, b, _ = key.indices(len(self))
        part = self.rows[self.start + a : self.start + max(a, b)]
        return part if isinstance(part, list) else np.asarray(part)  # texts stay a list of str


def _forked_runs(fn: Callable[..., Any], rows: Any, shared: tuple[Any, ...], run_rows: int) -> Iterator[Any]:
    """``fn(blocks of run r, *shared)`` for runs of ``run_rows`` rows, on forked children; results in run order.

    Child k computes runs k, k + count, ... and sends each result down its own pipe, where it waits until this
    process has read it; results are read in run order, so at most one per child is ever held. Plain processes
    and pipes, not ``multiprocessing.Pool``: when a child's error ended a pass early, ``Pool.terminate()`` could
    wait forever on the pool's task-feeding thread (seen once in a few thousand failing passes).
    """
    n = rows.n_rows if isinstance(rows, VectorSource) else len(rows)
    bounds = partition_bounds(n, run_rows)
    runs = len(bounds) - 1
    count = max(1, min(_forks(rows), runs))
    job = next(_JOB_IDS)
    _JOBS[job] = (fn, rows, shared, bounds)
    context = multiprocessing.get_context("fork")
    children: list[tuple[Any, Any]] = []
    try:
        for k in range(count):
            receive, send = context.Pipe(duplex=False)
            # the child closes every reading end it inherits: if this process dies, its writes fail and it ends
            readers = [receive] + [r for _, r in children]
            child = context.Process(target=_child_runs, args=(job, range(k, runs, count), send, readers), daemon=True)
            child.start()
            send.close()  # this process keeps only the reading end: a child that dies is then seen as the end of its pipe
            children.append((child, receive))
        for r in range(runs):
            child, receive = children[r % count]
            try:
                message = receive.recv_bytes()
            except (EOFError, OSError):  # gone, or killed half-way through a message
                child.join(timeout=10)
                raise RuntimeError(f"a forked process of the build stopped without its result (exit code {child.exitcode}); out of memory?") from None
            ok, value, trace = pickle.loads(message)
            if not ok:
                raise _child_error(value, trace)
            yield value
    finally:
        for child, receive in children:
            if child.is_alive():
                child.terminate()
            child.join()
            receive.close()
        del _JOBS[job]


def _child_runs(job: int, runs: range, send: Any, readers: list[Any]) -> None:
    """A forked child's work: each of its runs' results, or the error that stopped it, sent in order.

    Messages are pickled here, so an error is always sent with its traceback's text, even when the error
    itself cannot be pickled or rebuilt."""
    for reader in readers:
        reader.close()
    _child_starts()
    try:
        for r in runs:
            send.send_bytes(pickle.dumps((True, _forked_run((job, r)), ""), protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException as exc:  # noqa: BLE001 (raised again in the parent)
        trace = traceback.format_exc()
        try:
            error: bytes | None = pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            error = None
        try:
            send.send_bytes(pickle.dumps((False, error, trace)))
        except OSError:
            pass  # the parent is gone
    finally:
        send.close()


def _child_error(error: bytes | None, trace: str) -> BaseException:
    """The child's error, rebuilt, with its traceback as a note; one that cannot be rebuilt as its text."""
    try:
        exc = pickle.loads(error) if error is not None else None
    except Exception:
        exc = None
    if not isinstance(exc, BaseException):
        last = trace.strip().splitlines()[-1] if trace.strip() else "unknown error"
        return RuntimeError(f"a forked process of the build failed: {last}")
    if not isinstance(exc, InputError):  # an input error is the user's message: it stays one line
        exc.add_note("in a forked process of the build:\n" + trace.rstrip())
    return exc


def _child_starts() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler: a child has no files of its own to clean up


def _forked_run(task: tuple[int, int]) -> Any:
    job, r = task
    fn, rows, shared, bounds = _JOBS[job]
    a, b = int(bounds[r]), int(bounds[r + 1])
    part = FileRows(rows, a, b) if isinstance(rows, VectorSource) else _Window(rows, a, b)
    with threadpool_limits(limits=1, user_api="blas"):
        return fn(partition_blocks(part, a), *shared)


def _per_block(blocks: Blocks, fn: Callable[..., Any], *shared: Any) -> list[Any]:
    return [fn(start, block, *shared) for start, block in blocks]


def added_in_order(partials: Iterator[np.ndarray], start: np.ndarray | None = None) -> np.ndarray:
    """Partial sums added one after another in row order (the one order every engine uses)."""
    total = start
    for part in partials:
        total = part if total is None else total + part
    if total is None:
        raise ValueError("no rows")
    return total


def read_range(source: VectorSource, start: int, stop: int) -> np.ndarray:
    """Rows ``start .. stop`` of a source as float32, checked finite (what a worker reads of a file)."""
    return _read(source, np.arange(start, stop, dtype=np.int64), start)


def _read(source: VectorSource, rows: np.ndarray, first: int) -> np.ndarray:
    try:
        block = np.ascontiguousarray(source.take(rows), dtype=np.float32)
    except OSError as exc:  # a worker that does not see the file where the client does
        shown = f"{first + 1:,}-{int(rows[-1]) + 1:,}" if rows.size else f"{first + 1:,}"
        raise InputError(f"{source.name}: cannot read rows {shown} on {socket.gethostname()} ({exc.strerror or exc})") from None
    if rows.size and int(rows[-1]) - int(rows[0]) == rows.size - 1:  # a run of rows: the local build's words
        check_finite(block, source.name, int(rows[0]))
        return block
    finite = np.isfinite(block).all(axis=1)
    if not finite.all():  # named by its row in the file, whichever rows were asked for
        raise InputError(f"{source.name}: row {int(rows[np.flatnonzero(~finite)[0]]) + 1} has NaN or infinite values")
    return block


def partition_bounds(n_rows: int, partition_rows: int) -> np.ndarray:
    """Row offsets ``[0, ..., n_rows]`` of partitions of ``partition_rows`` (whole blocks) each, the last shorter."""
    if partition_rows <= 0 or partition_rows % PASS_ROWS:
        raise ValueError(f"partition rows must be a positive multiple of {PASS_ROWS:,}, not {partition_rows:,}")
    return np.append(np.arange(0, n_rows, partition_rows, dtype=np.int64), np.int64(n_rows))


__all__ = ["PASS_ROWS", "Engine", "FileRows", "local_processes", "PartitionedRows", "Partitions", "added_in_order", "each_block", "each_run", "local_blocks", "partition_bounds", "read_range"]
