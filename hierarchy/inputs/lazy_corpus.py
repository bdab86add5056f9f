"""A corpus file too big to hold as Python lists: checked in one pass, then read back a batch at a time.

Ten million documents held as lists of ``str`` and ``dict`` (with a set of their ids for the duplicate
check) take several times their size on disk. Here one checking pass applies the rules of
:class:`~topicmap.hierarchy.inputs.documents.RowChecker` to every row, writes the texts, titles and
metadata (each value as JSON text in a map column, so the sidecar writer takes a key's cells without
decoding a row) to an unlinked scratch Arrow file in batches of :data:`BATCH_ROWS`, and keeps
only the ids (one Arrow string column, a few bytes over their length each), the row positions the
errors name, and the metadata keys. Duplicate ids are found by Arrow's hash of that column at the end
of the pass, or before any other error stops it, so the first bad row is the one named, as when the
corpus is read into lists. A time column is read in a second pass, once its format is known.

:class:`LazyCorpus` answers what a build asks of a corpus (its length, the texts an embedder or the
keyword counts see, a few rows by number, all rows a batch at a time for the sidecar) with the same
values as :class:`~topicmap.hierarchy.inputs.documents.Corpus`.
"""

from __future__ import annotations

import json
import tempfile
from array import array
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from json.encoder import encode_basestring
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.base.jsontext import dumps_compact
from topicmap.hierarchy.inputs.dates import FORMATS, TimeColumn, format_of_counts, parse_time_column, value_kind
from topicmap.hierarchy.inputs.documents import CorpusRows, RowChecker, embedding_text, jsonable

if TYPE_CHECKING:
    import pyarrow as pa

BATCH_ROWS = 65_536  # rows per batch of the scratch file (and per read of it)
LAZY_FROM_BYTES = 128 << 20  # a build reads corpus files from this size lazily (a smaller one into lists)
Rows = Iterable[tuple[str, dict[str, Any]]]
RowChunk = tuple[str, Sequence[int], Sequence[dict[str, Any]]]  # rows named f"{word} {number}", a number each


class LazyCorpus:
    """A checked corpus file: ids in memory, everything else in a scratch file read a batch at a time."""

    embeddings: None = None  # an embedding column given row by row is read into memory (documents.read_documents)

    def __init__(
        self, source: str, sha256: str, ids: pa.ChunkedArray, scratch: _Scratch, skipped_rows: list[int],
        time: TimeColumn | None, metadata_keys: list[str], any_title: bool,
    ) -> None:
        self.source = source
        self.sha256 = sha256
        self._ids = ids
        self._scratch = scratch
        self.skipped_rows = skipped_rows
        self.time = time
        self._metadata_keys = metadata_keys
        self._any_title = any_title
        self.ids = IdColumn(ids)

    def __len__(self) -> int:
        return len(self._ids)

    def time_of(self, row: int) -> float | None:
        if self.time is None:
            return None
        value = float(self.time.times[row])
        return value if np.isfinite(value) else None

    def embedding_texts(self) -> EmbeddingTexts:
        """What an embedder sees (title and text), read a batch at a time when iterated or sliced."""
        return EmbeddingTexts(self)

    def rows_between(self, lo: int, hi: int) -> CorpusRows:
        lo, hi = max(lo, 0), min(hi, len(self))
        texts, titles, metadata = self._columns_between(lo, hi, ("text", "title", "metadata"))
        return CorpusRows(self._ids.slice(lo, hi - lo).to_pylist() if hi > lo else [], texts, titles, metadata)

    def arrow_between(self, lo: int, hi: int) -> dict[str, pa.Array]:
        """Rows ``lo .. hi`` as Arrow arrays, never Python values: ``id``, ``text``, ``title`` and ``metadata``
        (a map from key to the value's JSON text, the cell a sidecar stores), for a writer that keeps them Arrow."""
        import pyarrow as pa

        lo, hi = max(lo, 0), min(hi, len(self))
        parts = [self._scratch.batch(b).slice(max(lo - b * BATCH_ROWS, 0), min(hi, (b + 1) * BATCH_ROWS) - max(lo, b * BATCH_ROWS)) for b in _batch_numbers(lo, hi)]
        table = pa.Table.from_batches(parts, schema=self._scratch.schema).combine_chunks()
        ids = self._ids.slice(lo, max(hi - lo, 0)).combine_chunks() if hi > lo else pa.array([], pa.string())
        return {"id": ids, **{name: table.column(name).combine_chunks() for name in ("text", "title", "metadata")}}

    def texts_between(self, lo: int, hi: int) -> list[str]:
        """The embedding texts of rows ``lo .. hi`` (what keyword counts read: no metadata decoded)."""
        texts, titles = self._columns_between(max(lo, 0), min(hi, len(self)), ("text", "title"))
        return [embedding_text(t, x) for t, x in zip(titles, texts)]

    def _columns_between(self, lo: int, hi: int, names: Sequence[str]) -> list[list[Any]]:
        out: list[list[Any]] = [[] for _ in names]
        for b in _batch_numbers(lo, hi):
            start = b * BATCH_ROWS
            part = self._scratch.batch(b).slice(max(lo - start, 0), min(hi, start + BATCH_ROWS) - max(lo, start))
            for column, name in zip(out, names):
                column += _python_values(part.column(name))
        return out

    def rows_at(self, rows: Sequence[int]) -> CorpusRows:
        import pyarrow as pa

        wanted = np.asarray(rows, dtype=np.int64).reshape(-1)
        if wanted.size and (wanted.min() < 0 or wanted.max() >= len(self)):
            raise IndexError(f"corpus row out of range (the corpus has {len(self):,})")
        out: list[list[Any]] = [[None] * wanted.size for _ in range(3)]
        batches = wanted // BATCH_ROWS
        for b in np.unique(batches).tolist():
            at = np.flatnonzero(batches == b)
            picked = self._scratch.batch(b).take(pa.array(wanted[at] - b * BATCH_ROWS))
            for column, name in zip(out, ("text", "title", "metadata")):
                for k, value in zip(at.tolist(), _python_values(picked.column(name))):
                    column[k] = value
        ids = self._ids.take(pa.array(wanted)).to_pylist() if wanted.size else []
        return CorpusRows(ids, out[0], out[1], out[2])

    def metadata_keys(self) -> list[str]:
        return list(self._metadata_keys)

    def first_duplicate_row(self) -> int | None:
        return None  # the checking pass refused duplicates

    def any_title(self) -> bool:
        return self._any_title

    def any_text(self) -> bool:
        return len(self) > 0  # the checking pass keeps no empty text

    @property
    def fork_safe(self) -> bool:
        return self._scratch.fork_safe

    def close(self) -> None:
        self._scratch.close()


def _batch_numbers(lo: int, hi: int) -> range:
    """The scratch batches that rows ``lo .. hi`` lie in."""
    return range(lo // BATCH_ROWS, (hi - 1) // BATCH_ROWS + 1 if hi > lo else lo // BATCH_ROWS)


def _python_values(column: pa.Array) -> list[Any]:
    """A scratch column as Python values: strings, or for the metadata map one dict per row, its values decoded
    from their JSON text in one parse (each cell is a whole JSON value this module wrote, so joined by commas
    inside brackets they parse as the list of those values)."""
    import pyarrow as pa

    if not isinstance(column, pa.MapArray):
        return column.to_pylist()
    offsets = np.asarray(column.offsets)
    first, last = int(offsets[0]), int(offsets[-1])
    keys = column.keys.slice(first, last - first).to_pylist()
    values = json.loads("[" + ",".join(column.items.slice(first, last - first).to_pylist()) + "]")
    bounds = (offsets - first).tolist()
    return [dict(zip(keys[a:b], values[a:b])) for a, b in zip(bounds, bounds[1:])]


class _RowSlices(Sequence[str]):
    """A sequence of strings read by contiguous slices (``_between``); single rows and stepped slices go through it."""

    what = "row"

    def _between(self, lo: int, hi: int) -> list[str]:
        raise NotImplementedError

    @overload
    def __getitem__(self, key: int) -> str: ...
    @overload
    def __getitem__(self, key: slice) -> list[str]: ...
    def __getitem__(self, key: int | slice) -> str | list[str]:
        if isinstance(key, slice):
            lo, hi, step = key.indices(len(self))
            if step != 1:
                return [self[i] for i in range(lo, hi, step)]
            return self._between(lo, hi) if hi > lo else []
        if key < 0:
            key += len(self)
        if not 0 <= key < len(self):
            raise IndexError(f"{self.what} row out of range")
        return self._between(int(key), int(key) + 1)[0]


class IdColumn(_RowSlices):
    """The corpus's ids as a sequence over their Arrow column (a few are asked by row: representatives)."""

    what = "id"

    def __init__(self, ids: pa.ChunkedArray) -> None:
        self._ids = ids

    def __len__(self) -> int:
        return len(self._ids)

    def _between(self, lo: int, hi: int) -> list[str]:
        return [str(v) for v in self._ids.slice(lo, hi - lo).to_pylist()]

    def __iter__(self) -> Iterator[str]:
        for chunk in self._ids.chunks:
            yield from chunk.to_pylist()


class EmbeddingTexts(_RowSlices):
    """Title and text of every row as :func:`embedding_text` joins them, read from the scratch file by slices."""

    what = "text"

    def __init__(self, corpus: LazyCorpus) -> None:
        self._corpus = corpus

    def __len__(self) -> int:
        return len(self._corpus)

    def _between(self, lo: int, hi: int) -> list[str]:
        return self._corpus.texts_between(lo, hi)

    @property
    def fork_safe(self) -> bool:
        """Whether forked children may read these texts alongside this process."""
        return self._corpus.fork_safe

    def __iter__(self) -> Iterator[str]:
        for lo in range(0, len(self), BATCH_ROWS):
            yield from self[lo : lo + BATCH_ROWS]


class _Scratch:
    """The unlinked scratch file of texts, titles and metadata: written once in batches, then read by batch number."""

    def __init__(self, folder: str | Path | None) -> None:
        import pyarrow as pa

        metadata = pa.map_(pa.large_string(), pa.large_string())  # key -> the value's JSON text, in the row's order
        self.schema = pa.schema([("text", pa.large_string()), ("title", pa.large_string()), ("metadata", metadata)])
        self._file = tempfile.TemporaryFile(prefix="topicmap-corpus-", dir=folder)  # no name: nothing is left behind
        self._writer: Any = pa.ipc.new_file(pa.PythonFile(self._file, mode="w"), self.schema, options=pa.ipc.IpcWriteOptions(compression="lz4"))
        self._reader: Any = None
        self._source: Any = None
        self.fork_safe = False  # forked children may read it too (see finish)
        self._cached: tuple[int, pa.RecordBatch] | None = None
        self._lock = Lock()

    def write(self, texts: list[str], titles: list[str], metadata: MetadataCells) -> None:
        import pyarrow as pa

        offsets = pa.array(np.frombuffer(metadata.ends, dtype=np.int32))
        cells = pa.MapArray.from_arrays(offsets, pa.array(metadata.keys, pa.large_string()), pa.array(metadata.cells, pa.large_string()))
        self._writer.write_batch(pa.record_batch([pa.array(texts, pa.large_string()), pa.array(titles, pa.large_string()), cells], schema=self.schema))

    def finish(self) -> None:
        import pyarrow as pa

        self._writer.close()
        self._writer = None
        self._file.flush()
        own = Path(f"/proc/self/fd/{self._file.fileno()}")
        if own.exists():  # a descriptor of its own, read with pread: no file position that forked children could move
            self._source = pa.OSFile(str(own))
            self.fork_safe = True
        else:
            self._source = pa.PythonFile(self._file, mode="r")
        self._reader = pa.ipc.open_file(self._source)

    def batch(self, b: int) -> pa.RecordBatch:
        with self._lock:
            if self._cached is not None and self._cached[0] == b:
                return self._cached[1]
            read = self._reader.get_batch(b)
            self._cached = (b, read)
            return read

    def close(self) -> None:
        with self._lock:
            self._cached = None
            self._reader = None
            if self._source is not None:
                self._source.close()
            self._file.close()


class MetadataCells:
    """A batch's metadata as the scratch file's map column takes it: every row's keys and cells (JSON text) in
    one list each, and where each row's end."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.cells: list[str] = []
        self.ends = array("i", [0])

    def add(self, row: Mapping[str, Any], reserved: Collection[str], seen: dict[str, None]) -> None:
        """Row ``row``'s columns outside ``reserved``: what :meth:`RowChecker.check` keeps as metadata
        (``str(key)``: :func:`jsonable` value), each value as ``dumps_compact`` writes it; new keys go to ``seen``."""
        keys, cells = self.keys, self.cells
        for key, value in row.items():
            if key in reserved:
                continue
            if type(key) is not str:  # never from a file's rows (their column names are text); as the checker's dict has it
                del keys[self.ends[-1] :], cells[self.ends[-1] :]
                self.add({str(k): v for k, v in row.items() if k not in reserved}, (), seen)
                return
            keys.append(key)
            cells.append(dumps_compact(value if type(value) is str else jsonable(value)))
            if key not in seen:
                seen[key] = None
        self.ends.append(len(keys))

    def add_many(self, rows: Sequence[Mapping[str, Any]], reserved: Collection[str], seen: dict[str, None]) -> None:
        """:meth:`add` for each of ``rows``, in one loop (new keys go to ``seen`` in the order rows first have them)."""
        keys, cells, ends = self.keys, self.cells, self.ends
        first = len(keys)
        for row in rows:
            for key, value in row.items():
                if key in reserved:
                    continue
                if type(key) is not str:
                    del keys[ends[-1] :], cells[ends[-1] :]
                    seen.update(dict.fromkeys(keys[first:]))
                    self.add(row, reserved, seen)
                    first = len(keys)
                    break
                keys.append(key)
                cells.append(encode_basestring(value) if type(value) is str else dumps_compact(jsonable(value)))
            else:
                ends.append(len(keys))
        seen.update(dict.fromkeys(keys[first:]))

    def __len__(self) -> int:
        return len(self.ends) - 1

    def clear(self) -> None:
        self.keys.clear()
        self.cells.clear()
        self.ends = array("i", [0])


def read_lazily(
    rows: Callable[[], Rows],
    source: str,
    sha256: Callable[[], str],
    text_column: str = "text",
    id_column: str | None = None,
    title_column: str | None = None,
    skip_empty: bool = False,
    time_column: str | None = None,
    skip_bad_dates: bool = False,
    time_format: str | None = None,
    scratch_dir: str | Path | None = None,
    chunks: Callable[[], Iterable[RowChunk]] | None = None,
) -> LazyCorpus:
    """Check every row of ``rows()`` (``(where, row)`` pairs, as :func:`~topicmap.hierarchy.inputs.documents.iter_rows`
    gives them) into a :class:`LazyCorpus`; ``rows()`` is called again to read a time column.

    ``chunks``, when given, yields the same rows a chunk at a time (as
    :func:`~topicmap.hierarchy.inputs.documents.jsonl_chunks` does) and is read instead of ``rows()`` in the
    checking pass: a chunk whose rows all pass as they are is taken whole (:meth:`RowChecker.check_many`),
    any other row by row, with the errors and rows of ``rows()``."""
    import pyarrow as pa

    checker = RowChecker(source, text_column, id_column, title_column, None, time_column, skip_empty)
    scratch = _Scratch(scratch_dir)
    id_chunks: list[pa.Array] = []
    where_at = array("q")  # each document's position as its errors name it ("line N": N) ...
    where_words: list[tuple[int, str]] = []  # ... after the word(s) in force from that document on ("line"; a shard's "b.parquet: row")
    ids: list[str] = []
    texts: list[str] = []
    titles: list[str] = []
    metadata = MetadataCells()
    keys: dict[str, None] = {}
    any_title = False
    kinds = dict.fromkeys(FORMATS, 0)
    first_time: tuple[str, Any] | None = None

    def flush() -> None:
        if ids:
            id_chunks.append(pa.array(ids, pa.string()))
            scratch.write(texts, titles, metadata)
            for column in (ids, texts, titles, metadata):
                column.clear()

    def count_time(where: str, row: Mapping[str, Any]) -> None:
        nonlocal first_time
        value = row.get(time_column)  # type: ignore[arg-type]
        kind = value_kind(value)
        if kind is not None:
            kinds[kind] += 1
        if first_time is None:
            first_time = (where, value)

    def take(index: int, where: str, row: Mapping[str, Any]) -> None:
        nonlocal any_title
        checked = checker.check_fields(index, where, row)
        if checked is None:
            return
        doc_id, text, title = checked
        word, _, number = where.rpartition(" ")
        if not where_words or where_words[-1][1] != word:
            where_words.append((len(where_at), word))
        where_at.append(int(number))
        ids.append(doc_id)
        texts.append(text)
        titles.append(title)
        metadata.add(row, checker.reserved, keys)
        any_title = any_title or bool(title)
        if time_column is not None:
            count_time(where, row)
        if len(ids) == BATCH_ROWS:
            flush()

    def take_chunk(index: int, word: str, numbers: Sequence[int], chunk: Sequence[Mapping[str, Any]]) -> None:
        """Rows ``index ..`` of the corpus, at ``numbers`` after ``word``: whole when they all pass, else one by one."""
        nonlocal any_title
        start = 0
        if chunk and not checker.columns_checked:  # the first row names the columns
            take(index, f"{word} {numbers[0]}", chunk[0])
            start = 1
        while start < len(chunk):
            stop = min(len(chunk), start + BATCH_ROWS - len(ids))  # never past a scratch batch: they hold BATCH_ROWS rows each
            checked = checker.check_many(index + start, chunk[start:stop])
            if checked is None:
                for k in range(start, stop):
                    take(index + k, f"{word} {numbers[k]}", chunk[k])
            else:
                if not where_words or where_words[-1][1] != word:
                    where_words.append((len(where_at), word))
                where_at.extend(numbers[start:stop])
                ids.extend(checked[0])
                texts.extend(checked[1])
                titles.extend(checked[2])
                metadata.add_many(chunk[start:stop], checker.reserved, keys)
                if time_column is not None:
                    for k in range(start, stop):
                        count_time(f"{word} {numbers[k]}", chunk[k])
                any_title = any_title or any(checked[2])
                if len(ids) == BATCH_ROWS:
                    flush()
            start = stop

    try:
        try:
            if chunks is None:
                for index, (where, row) in enumerate(rows()):
                    take(index, where, row)
            else:
                index = 0
                for word, numbers, chunk in chunks():
                    take_chunk(index, word, numbers, chunk)
                    index += len(chunk)
        except Exception:
            # a row error stops the pass; a duplicate id before that row is the first error, as in memory
            id_chunks.append(pa.array(ids, pa.string()))
            _refuse_duplicates(pa.chunked_array(id_chunks, pa.string()), source, where_words, where_at)
            raise
        flush()
        all_ids = pa.chunked_array(id_chunks, pa.string())
        if len(all_ids) == 0:
            checker.no_documents()
        _refuse_duplicates(all_ids, source, where_words, where_at)
        del where_at
        scratch.finish()
        time = None
        if time_column is not None:
            chosen = time_format or format_of_counts(kinds)
            time = parse_time_column(_column_values(rows(), time_column, checker.skipped), len(all_ids), first_time, source, time_column, chosen, skip_bad_dates)
    except BaseException:
        scratch.close()
        raise
    return LazyCorpus(source, sha256(), all_ids, scratch, checker.skipped, time, list(keys), any_title)


def _column_values(rows: Rows, column: str, skipped: list[int]) -> Iterator[tuple[str, Any]]:
    """``(where, value)`` of one column for every row the checking pass kept."""
    left_out = set(skipped)
    for index, (where, row) in enumerate(rows):
        if index + 1 not in left_out:
            yield where, row.get(column)


def _refuse_duplicates(ids: pa.ChunkedArray, source: str, where_words: list[tuple[int, str]], where_at: array) -> None:
    """The first row whose id an earlier row has, named as reading the rows into lists names it."""
    import pyarrow.compute as pc

    n = len(ids)
    if n < 2:
        return
    encoded = pc.dictionary_encode(ids)  # one dictionary for all chunks, codes in order of first appearance
    if len(encoded.chunks[0].dictionary) == n:
        return
    codes = np.concatenate([np.asarray(chunk.indices) for chunk in encoded.chunks]).astype(np.int64, copy=False)
    highest = np.maximum.accumulate(codes)
    repeated = np.r_[False, codes[1:] <= highest[:-1]]  # a first appearance gets the next code, above all before it
    if not repeated.any():
        return
    row = int(np.argmax(repeated))
    first = int(np.argmax(codes == codes[row]))
    starts = [start for start, _ in where_words]

    def where(r: int) -> str:
        return f"{where_words[bisect_right(starts, r) - 1][1]} {where_at[r]}"

    raise InputError(f"{source}: {where(row)}: duplicate id {ids[row].as_py()!r} (first at {where(first)})")


__all__ = ["BATCH_ROWS", "LAZY_FROM_BYTES", "EmbeddingTexts", "IdColumn", "LazyCorpus", "read_lazily"]
