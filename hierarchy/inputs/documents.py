"""Documents in: CSV, TSV, JSONL, JSON or Parquet (optionally gzipped), plus embeddings from a column or a .npy.

Every rejection names the file, the row (1-based, counting data rows; JSONL says "line") and the
field, and nothing is dropped silently.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import math
import os
import re
import sys
from contextlib import contextmanager
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from topicmap.hierarchy.base import jsontext
from topicmap.hierarchy.inputs.dates import TimeColumn, read_time_column
from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.files.readable import names_parquet_shards

if TYPE_CHECKING:
    from topicmap.hierarchy.inputs.lazy_corpus import LazyCorpus

SUPPORTED = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet")
PARQUET_BATCH_ROWS = 65_536  # Parquet rows decoded at a time
JSONL_CHUNK_LINES = 4_096  # JSONL lines parsed at once


@dataclass
class Corpus:
    """Documents as read: parallel lists, row-aligned with ``embeddings`` when present."""

    ids: list[str]
    texts: list[str]
    titles: list[str]
    metadata: list[dict[str, Any]]
    source: str
    sha256: str
    embeddings: np.ndarray | None = None
    skipped_rows: list[int] = field(default_factory=list)
    time: TimeColumn | None = None  # --time-column: row-aligned times (NaN: undated)

    def __len__(self) -> int:
        return len(self.ids)

    def time_of(self, row: int) -> float | None:
        """Document ``row``'s time in seconds since the epoch; None without a time column or when undated."""
        if self.time is None:
            return None
        value = float(self.time.times[row])
        return value if math.isfinite(value) else None

    def embedding_texts(self) -> list[str]:
        """What an embedder sees: title and text, as the shipped demo embeddings were made."""
        return [embedding_text(t, x) for t, x in zip(self.titles, self.texts)]

    # the rows as a built tree's documents read them (the lazy corpus answers the same, from its scratch file)
    def rows_between(self, lo: int, hi: int) -> CorpusRows:
        return CorpusRows(self.ids[lo:hi], self.texts[lo:hi], self.titles[lo:hi], self.metadata[lo:hi])

    def rows_at(self, rows: Sequence[int]) -> CorpusRows:
        at = [int(r) for r in rows]
        return CorpusRows([self.ids[r] for r in at], [self.texts[r] for r in at], [self.titles[r] for r in at], [self.metadata[r] for r in at])

    def metadata_keys(self) -> list[str]:
        """Every metadata key, in the order the rows first have it."""
        keys: dict[str, None] = {}
        for metadata in self.metadata:
            keys.update(dict.fromkeys(metadata))
        return list(keys)

    def first_duplicate_row(self) -> int | None:
        seen: set[str] = set()
        for row, doc_id in enumerate(self.ids):
            if doc_id in seen:
                return row
            seen.add(doc_id)
        return None

    def any_title(self) -> bool:
        return any(self.titles)

    def any_text(self) -> bool:
        return any(self.texts)


class CorpusRows(NamedTuple):
    """Some rows of a corpus, column by column."""

    ids: list[str]
    texts: list[str]
    titles: list[str]
    metadata: list[dict[str, Any]]


def embedding_text(title: str, text: str) -> str:
    """The one place that decides what is embedded for a document (cache keys depend on it)."""
    return f"{title}\n{text}" if title else text


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _open_text(path: Path):
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")  # -sig: Excel's "CSV UTF-8" starts with a BOM


def iter_rows(path: Path, skip_columns: Collection[str] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (where, row) with ``where`` such as "line 3" or "row 3"; Parquet columns in ``skip_columns``
    are not read at all (an embedding column streamed on its own)."""
    if names_parquet_shards(path):
        yield from _shard_rows(path, skip_columns)
        return
    kind = _suffix(path)
    if kind in (".jsonl", ".ndjson"):
        yield from _jsonl_rows(path)
    elif kind == ".json":
        with _open_text(path) as fh:
            text = fh.read()
        try:
            data = jsontext.loads(text, max_depth=jsontext.MAX_DEPTH + 2)  # the array and {"documents": ...} around the rows
        except jsontext.JSONTooDeep as exc:
            raise InputError(f"{path}: {exc.msg}") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if isinstance(data, dict) and isinstance(data.get("documents"), list):
            data = data["documents"]
        if not isinstance(data, list):
            raise InputError(f"{path}: expected a JSON array of objects (or JSONL, one object per line)")
        surrogates = _ESCAPED_SURROGATE.search(text) is not None
        for i, row in enumerate(data, start=1):
            if not isinstance(row, dict):
                raise InputError(f"{path}: item {i}: expected a JSON object, got {type(row).__name__}")
            field_name = _field_with_lone_surrogate(row) if surrogates else None
            if field_name is not None:
                raise InputError(_lone_surrogate_message(path, f"item {i}", field_name))
            yield f"item {i}", row
    elif kind in (".csv", ".tsv"):
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        with _open_text(path) as fh:
            reader = csv.DictReader(fh, delimiter="\t" if kind == ".tsv" else ",")
            if reader.fieldnames is None:
                return
            for i, row in enumerate(reader, start=1):
                if None in row:
                    raise InputError(f"{path}: row {i}: more fields than the header has columns")
                yield f"row {i}", row
    elif kind == ".parquet":
        yield from _parquet_rows(path, skip_columns, "row")
    else:
        raise InputError(f"{path}: unsupported file type; use one of {', '.join(SUPPORTED)} (optionally .gz)")


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A JSONL file's rows as :func:`iter_rows` gives them: ``("line N", row)``."""
    for word, numbers, rows in jsonl_chunks(path):
        for n, row in zip(numbers, rows):
            yield f"{word} {n}", row


def jsonl_chunks(path: str | os.PathLike[str]) -> Iterator[tuple[str, list[int], list[dict[str, Any]]]]:
    """A JSONL file's rows as ``("line", line numbers, rows)``, :data:`JSONL_CHUNK_LINES` lines parsed at once
    (:func:`jsontext.loads_lines`). A chunk that one parse cannot stand for is parsed line by line, and a bad
    line ends its chunk, which is given before the error is raised, so the rows before it come first and it
    is named as it always was. A line that cannot be read likewise stops after the rows before it."""
    path = Path(path)
    with _open_text(path) as fh:
        lineno = 0
        while True:
            numbers: list[int] = []
            lines: list[str] = []
            failure: Exception | None = None
            try:
                for line in fh:
                    lineno += 1
                    if line.strip():
                        numbers.append(lineno)
                        lines.append(line)
                        if len(lines) == JSONL_CHUNK_LINES:
                            break
            except Exception as exc:  # undecodable text: raised after the rows read before it
                failure = exc
            rows = jsontext.loads_lines(lines)
            if rows is None or not all(type(row) is dict for row in rows):
                rows = []
                try:
                    for n, line in zip(numbers, lines):
                        rows.append(_jsonl_row(path, n, line))
                except InputError:
                    yield "line", numbers[: len(rows)], rows  # the rows before the bad line first: their errors come first
                    raise
            if _ESCAPED_SURROGATE.search("".join(lines)):
                for k, (n, row) in enumerate(zip(numbers, rows)):
                    field_name = _field_with_lone_surrogate(row)
                    if field_name is not None:
                        yield "line", numbers[:k], rows[:k]
                        raise InputError(_lone_surrogate_message(path, f"line {n}", field_name))
            yield "line", numbers, rows
            if failure is not None:
                raise failure
            if len(lines) < JSONL_CHUNK_LINES:
                return


_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")  # JSON's way to write half of a UTF-16 pair


def _field_with_lone_surrogate(row: Mapping[str, Any]) -> str | None:
    """The first field (name or value, nested values too) holding half a surrogate pair: JSON decodes such an
    escape to a code point that no UTF-8 text (Arrow, Parquet, the tree file) can hold."""
    for key, value in row.items():
        try:
            json.dumps({key: value}, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return str(key).encode("utf-8", "backslashreplace").decode("ascii")
    return None


def _lone_surrogate_message(path: Path, where: str, field_name: str) -> str:
    return f"{path}: {where}: field {field_name!r} holds an unpaired surrogate escape (\\ud800-\\udfff without its pair), which is not text; fix or remove that escape"


def _jsonl_row(path: Path, lineno: int, line: str) -> dict[str, Any]:
    """One JSONL line parsed alone, or the one-line error naming it."""
    try:
        row = jsontext.loads(line)
    except jsontext.JSONTooDeep as exc:
        raise InputError(f"{path}: line {lineno}: {exc.msg}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise InputError(f"{path}: line {lineno}: expected a JSON object, got {type(row).__name__}")
    return row


def _parquet_rows(path: Path, skip_columns: Collection[str], row_word: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """A Parquet file's rows a record batch at a time, as ``(f"{row_word} {i}", row)``."""
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise InputError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    try:
        handle = pq.ParquetFile(gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path)
        wanted = [name for name in handle.schema_arrow.names if name not in skip_columns]
        batches = handle.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=wanted)  # a batch at a time: never the whole table
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    i = 0
    while True:
        try:
            batch = next(batches, None)
        except Exception as exc:
            raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
        if batch is None:
            return
        for row in batch.to_pylist():
            i += 1
            yield f"{row_word} {i}", row


def _shard_rows(location: Path, skip_columns: Collection[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The rows of Parquet shards (a directory or a glob, in name order), each named by its shard and row there.

    Every shard has the first shard's columns (a shard without one is named, not read as empty values)."""
    import pyarrow.parquet as pq

    from topicmap.hierarchy.inputs.vector_source import parquet_paths

    shards = parquet_paths(location)
    first: tuple[Path, list[str]] | None = None
    for shard in shards:
        try:
            names = pq.ParquetFile(shard).schema_arrow.names
        except Exception as exc:
            raise InputError(f"{shard}: not a readable Parquet file ({exc})") from None
        if first is None:
            first = (shard, names)
        missing = [name for name in first[1] if name not in names and name not in skip_columns]
        if missing:
            raise InputError(f"{shard}: no column {missing[0]!r}, which {first[0]} has; every shard needs the same columns")
    for shard in shards:
        label = shard.relative_to(location) if location.is_dir() else shard
        yield from _parquet_rows(shard, skip_columns, f"{label}: row")


def location_sha256(path: Path) -> str:
    """A corpus file's sha256, or for Parquet shards the sha256 over each shard's name and sha256 in order."""
    if not names_parquet_shards(path):
        return file_sha256(path)
    from topicmap.hierarchy.inputs.vector_source import parquet_paths

    digest = hashlib.sha256()
    for shard in parquet_paths(path):
        digest.update(f"{shard.name}\t{file_sha256(shard)}\n".encode("utf-8"))
    return digest.hexdigest()


def read_documents(
    path: str | os.PathLike[str],
    text_column: str = "text",
    id_column: str | None = None,
    title_column: str | None = None,
    embedding_column: str | None = None,
    skip_empty: bool = False,
    time_column: str | None = None,
    skip_bad_dates: bool = False,
    time_format: str | None = None,
    skip_columns: Collection[str] = (),
) -> Corpus:
    """Read and check a corpus file (the rules are :func:`corpus_from_rows`'); its sha256 is the file's.
    ``skip_columns``: Parquet columns left unread (see :func:`iter_rows`)."""
    path = Path(path)
    if not names_parquet_shards(path):
        _check_is_file(path)
    with _read_errors(path):
        corpus = corpus_from_rows(
            iter_rows(path, skip_columns), str(path), text_column=text_column, id_column=id_column,
            title_column=title_column, embedding_column=embedding_column, skip_empty=skip_empty, hash_content=False,
            time_column=time_column, skip_bad_dates=skip_bad_dates, time_format=time_format,
        )
    corpus.sha256 = location_sha256(path)
    return corpus


def open_documents(
    path: str | os.PathLike[str],
    text_column: str = "text",
    id_column: str | None = None,
    title_column: str | None = None,
    embedding_column: str | None = None,
    skip_empty: bool = False,
    time_column: str | None = None,
    skip_bad_dates: bool = False,
    skip_columns: Collection[str] = (),
    lazy: bool | None = None,
    scratch_dir: str | os.PathLike[str] | None = None,
) -> Corpus | LazyCorpus:
    """:func:`read_documents` for a build: a big file (``lazy`` None: from ``LAZY_FROM_BYTES``; True: any)
    is checked in one pass and read back a batch at a time (:mod:`topicmap.hierarchy.inputs.lazy_corpus`),
    with the same errors and the same rows. A JSON array (parsed whole anyway) and an embedding column
    given row by row are read into memory."""
    from topicmap.hierarchy.inputs.lazy_corpus import LAZY_FROM_BYTES, read_lazily

    path = Path(path)
    if lazy is None:
        lazy = names_parquet_shards(path) or (path.is_file() and path.stat().st_size >= LAZY_FROM_BYTES)
    shards = names_parquet_shards(path)
    if not lazy or embedding_column is not None or (not shards and _suffix(path) not in (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet")):
        return read_documents(
            path, text_column=text_column, id_column=id_column, title_column=title_column, embedding_column=embedding_column,
            skip_empty=skip_empty, time_column=time_column, skip_bad_dates=skip_bad_dates, skip_columns=skip_columns,
        )
    if not shards:
        _check_is_file(path)
    with _read_errors(path):
        chunked = not shards and _suffix(path) in (".jsonl", ".ndjson")
        return read_lazily(
            lambda: iter_rows(path, skip_columns), str(path), lambda: location_sha256(path), text_column=text_column, id_column=id_column,
            title_column=title_column, skip_empty=skip_empty, time_column=time_column, skip_bad_dates=skip_bad_dates, scratch_dir=scratch_dir,
            chunks=(lambda: jsonl_chunks(path)) if chunked else None,
        )


def _check_is_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a CSV, TSV, JSONL, JSON or Parquet file")


@contextmanager
def _read_errors(path: Path) -> Iterator[None]:
    """A file that cannot be read as text said in one line."""
    try:
        yield
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except (OSError, EOFError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None


def corpus_from_rows(
    rows: Iterable[tuple[str, Mapping[str, Any]]],
    source: str,
    text_column: str = "text",
    id_column: str | None = None,
    title_column: str | None = None,
    embedding_column: str | None = None,
    skip_empty: bool = False,
    hash_content: bool = True,
    time_column: str | None = None,
    skip_bad_dates: bool = False,
    time_format: str | None = None,
) -> Corpus:
    """Check rows given as ``(where, row)`` pairs (from a file, or from memory in the Python API) into a corpus.

    ``id_column`` None means: use ``id`` if the rows have it, else number the rows (``row-1``...).
    ``title_column`` None means: use ``title`` if present. Empty texts are an error unless
    ``skip_empty``, which leaves them out and reports their positions (1-based) in ``Corpus.skipped_rows``.
    Errors read ``source: where: ...``. ``hash_content``: the corpus's sha256 is over its ids, texts, titles
    and metadata (rows from memory have no file to hash); else it is left empty for the caller to set.
    ``time_column`` is read by :func:`topicmap.hierarchy.inputs.dates.read_time_column` (format ``time_format``, else
    detected; a bad value stops, or with ``skip_bad_dates`` leaves the document undated) into ``Corpus.time``.
    """
    checker = RowChecker(source, text_column, id_column, title_column, embedding_column, time_column, skip_empty)
    ids: list[str] = []
    texts: list[str] = []
    titles: list[str] = []
    metadata: list[dict[str, Any]] = []
    vectors: list[Any] = []
    times: list[tuple[str, Any]] = []
    first_row_at: dict[str, str] = {}
    for index, (where, row) in enumerate(rows):
        checked = checker.check(index, where, row)
        if checked is None:
            continue
        doc_id, text, title, meta = checked
        if doc_id in first_row_at:
            raise InputError(f"{source}: {where}: duplicate id {doc_id!r} (first at {first_row_at[doc_id]})")
        first_row_at[doc_id] = where
        if embedding_column is not None:
            vectors.append((where, row.get(embedding_column)))
        if time_column is not None:
            times.append((where, row.get(time_column)))
        ids.append(doc_id)
        texts.append(text)
        titles.append(title)
        metadata.append(meta)
    skipped = checker.skipped
    if not ids:
        checker.no_documents()
    embeddings = _column_embeddings(source, embedding_column, vectors) if embedding_column else None
    time = read_time_column(times, source, time_column, skip_bad_dates, time_format) if time_column else None
    if hash_content and time_column:  # the time column left the metadata; its values still make the corpus
        hashed = [{**m, time_column: jsonable(v)} for m, (_, v) in zip(metadata, times)]
    else:
        hashed = metadata
    sha256 = _content_sha256(ids, texts, titles, hashed) if hash_content else ""
    return Corpus(ids, texts, titles, metadata, source, sha256, embeddings, skipped, time)


class RowChecker:
    """The rules every row of a corpus meets, one row at a time (in memory or in the lazy corpus's checking pass).

    The columns are checked on the first row; :meth:`check` gives a row's (id, text, title, metadata),
    or None for an empty text left out under ``skip_empty`` (its 1-based position kept in ``skipped``).
    Duplicate ids are the caller's: how to find them depends on how many ids there are.
    """

    def __init__(
        self, source: str, text_column: str, id_column: str | None, title_column: str | None,
        embedding_column: str | None, time_column: str | None, skip_empty: bool,
    ) -> None:
        self.source, self.text_column, self.skip_empty = source, text_column, skip_empty
        self.id_column, self.title_column = id_column, title_column
        self.embedding_column, self.time_column = embedding_column, time_column
        self.use_ids, self.use_titles = id_column, title_column
        self.reserved: set[str] = set()
        self.columns_checked = False
        self.skipped: list[int] = []

    def _check_columns(self, row: Mapping[str, Any]) -> None:
        source = self.source
        columns = [str(c) for c in row.keys()]
        shown = ", ".join(columns[:12]) + (" ..." if len(columns) > 12 else "")
        if self.text_column not in row:
            raise InputError(f"{source}: no column {self.text_column!r} (columns: {shown}); choose one with --text-column")
        for option, name in (("--id-column", self.id_column), ("--title-column", self.title_column), ("--embedding-column", self.embedding_column), ("--time-column", self.time_column)):
            if name is not None and name not in row:
                raise InputError(f"{source}: no column {name!r} (columns: {shown}); check {option}")
        if self.use_ids is None and "id" in row:
            self.use_ids = "id"
        if self.use_titles is None and "title" in row:
            self.use_titles = "title"
        self.reserved = {c for c in (self.text_column, self.use_ids, self.use_titles, self.embedding_column, self.time_column) if c}
        self.columns_checked = True

    def check(self, index: int, where: str, row: Mapping[str, Any]) -> tuple[str, str, str, dict[str, Any]] | None:
        """Row ``index`` (0-based among all rows, skipped ones too) found at ``where``, checked."""
        fields = self.check_fields(index, where, row)
        if fields is None:
            return None
        reserved = self.reserved
        return fields[0], fields[1], fields[2], {str(k): jsonable(v) for k, v in row.items() if k not in reserved}

    def check_many(self, index: int, rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str], list[str]] | None:
        """:meth:`check_fields` of rows ``index ..`` as three columns (ids, texts, titles), when every row passes
        as it is: texts and ids are text with more than white space. None for rows to check one by one (a
        row that stops the pass or is left out, a number as an id, or the first rows, whose columns are checked)."""
        if not self.columns_checked:
            return None
        texts = [row.get(self.text_column) for row in rows]
        if not all(type(text) is str for text in texts) or not all(map(str.strip, texts)):  # type: ignore[arg-type]
            return None
        use_ids = self.use_ids
        if use_ids is None:
            ids = [f"row-{index + k + 1}" for k in range(len(rows))]
        else:
            ids = [row.get(use_ids) for row in rows]
            if not all(type(doc_id) is str for doc_id in ids) or not all(map(str.strip, ids)):  # type: ignore[arg-type]
                return None
        if self.use_titles:
            found = [row.get(self.use_titles, "") for row in rows]
            titles = [title if type(title) is str else "" if title is None else str(title) for title in found]
        else:
            titles = [""] * len(rows)
        return ids, texts, titles  # type: ignore[return-value]

    def check_fields(self, index: int, where: str, row: Mapping[str, Any]) -> tuple[str, str, str] | None:
        """:meth:`check` without the metadata (every column not in ``reserved``), for a caller that encodes it cell by cell."""
        if not self.columns_checked:
            self._check_columns(row)
        source, text_column = self.source, self.text_column
        text = row.get(text_column)
        if text is None or (isinstance(text, float) and math.isnan(text)):
            text = ""
        if not isinstance(text, str):
            raise InputError(f"{source}: {where}: field {text_column!r} is {type(text).__name__}, expected text")
        if not text.strip():
            if self.skip_empty:
                self.skipped.append(index + 1)
                return None
            raise InputError(f"{source}: {where}: field {text_column!r} is empty (use --skip-empty to leave such rows out)")
        use_ids = self.use_ids
        if use_ids is not None:
            raw_id = row.get(use_ids)
            if raw_id is None or str(raw_id).strip() == "":
                raise InputError(f"{source}: {where}: field {use_ids!r} is empty; every document needs an id")
            doc_id = str(raw_id)
        else:
            doc_id = f"row-{index + 1}"
        title = row.get(self.use_titles, "") if self.use_titles else ""
        title = "" if title is None else str(title)
        return doc_id, text, title

    def no_documents(self) -> None:
        detail = f" ({len(self.skipped)} rows had empty text)" if self.skipped else ""
        raise InputError(f"{self.source}: no documents{detail}")


def _content_sha256(ids: list[str], texts: list[str], titles: list[str], metadata: list[dict[str, Any]]) -> str:
    """A corpus held in memory has no file to hash: hash what it holds, row by row."""
    digest = hashlib.sha256()
    for row in zip(ids, texts, titles, metadata):
        digest.update(json.dumps(row, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def jsonable(value: Any) -> Any:
    """A metadata value as JSON can hold it: NaN and infinity as null, tuples as lists, other objects as their text."""
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def _column_embeddings(source: str, column: str, vectors: list[tuple[str, Any]]) -> np.ndarray:
    parsed: list[np.ndarray] = []
    dim: int | None = None
    for where, value in vectors:
        if isinstance(value, str):
            try:
                value = jsontext.loads(value)
            except json.JSONDecodeError:
                raise InputError(f"{source}: {where}: field {column!r} is not a JSON list of numbers") from None
        try:
            vector = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise InputError(f"{source}: {where}: field {column!r} is not a list of numbers") from None
        if vector.ndim != 1 or vector.size == 0:
            raise InputError(f"{source}: {where}: field {column!r} is not a flat, non-empty list of numbers")
        if dim is None:
            dim = vector.size
        elif vector.size != dim:
            raise InputError(f"{source}: {where}: field {column!r} has {vector.size} dimensions, the first row has {dim}")
        if not np.all(np.isfinite(vector)):
            raise InputError(f"{source}: {where}: field {column!r} contains NaN or infinity")
        parsed.append(vector)
    return np.vstack(parsed)


def load_embeddings(path: str | os.PathLike[str], n_rows: int, expected_dim: int | None = None) -> np.ndarray:
    """Load a row-aligned ``.npy`` matrix and check its shape and values."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such embeddings file")
    _check_npy_magic(path)
    try:
        matrix = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as exc:
        raise InputError(f"{path}: not a numeric .npy array ({exc})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read as .npy ({exc})") from None
    if not isinstance(matrix, np.ndarray):
        raise InputError(f"{path}: a .npz archive of several arrays; expected a single .npy matrix (np.save)")
    return check_embeddings(matrix, n_rows, source=str(path), expected_dim=expected_dim)


def open_embeddings(path: str | os.PathLike[str], n_rows: int) -> Any:
    """A row-aligned ``.npy`` matrix as a :class:`~topicmap.hierarchy.inputs.vector_source.NpySource`: checked
    (header, shape, row count) but not read, so a build can stream it; its values are checked as they are read."""
    from topicmap.hierarchy.inputs.vector_source import NpySource

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such embeddings file")
    _check_npy_magic(path)
    with path.open("rb") as fh:
        if fh.read(len(_NPZ_MAGIC)) == _NPZ_MAGIC:
            raise InputError(f"{path}: a .npz archive of several arrays; expected a single .npy matrix (np.save)")
    source = NpySource(path)
    if source.n_rows != n_rows:
        raise InputError(f"{path}: {source.n_rows} embedding rows for {n_rows} documents; they must be row-aligned")
    return source


_NPY_MAGIC = b"\x93NUMPY"
_NPZ_MAGIC = b"PK\x03\x04"


def _check_npy_magic(path: Path) -> None:
    """Name a file that is no .npy at all before NumPy guesses it is pickled data."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a .npy file")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_NPY_MAGIC))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not head:
        raise InputError(f"{path}: empty file, expected a NumPy .npy matrix (numpy.save)")
    if not head.startswith(_NPY_MAGIC) and not head.startswith(_NPZ_MAGIC):
        raise InputError(f"{path}: not a NumPy .npy file (it does not start with the .npy header); write the matrix with numpy.save")


def check_embeddings(matrix: np.ndarray, n_rows: int, source: str, expected_dim: int | None = None) -> np.ndarray:
    if matrix.dtype.kind == "c":
        raise InputError(f"{source}: embeddings are complex numbers (dtype {matrix.dtype}); they must be real (save numpy.real(matrix) if the imaginary part is zero)")
    if matrix.dtype.kind not in "iuf":  # bool, strings, objects, records: not coordinates
        raise InputError(f"{source}: embeddings must be real numbers (integer or float), got dtype {matrix.dtype}")
    if matrix.ndim != 2:
        raise InputError(f"{source}: embeddings must be a 2-D matrix (rows x dimensions), got shape {matrix.shape}")
    if matrix.shape[0] != n_rows:
        raise InputError(f"{source}: {matrix.shape[0]} embedding rows for {n_rows} documents; they must be row-aligned")
    if matrix.shape[1] == 0:
        raise InputError(f"{source}: embeddings have zero dimensions")
    if expected_dim is not None and matrix.shape[1] != expected_dim:
        raise InputError(f"{source}: embeddings have {matrix.shape[1]} dimensions, expected {expected_dim}")
    out = np.ascontiguousarray(matrix, dtype=np.float32)
    finite = np.isfinite(out).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        more = f" (and {bad.size - 1} more)" if bad.size > 1 else ""
        raise InputError(f"{source}: row {bad[0] + 1} has NaN or infinite values{more}")
    return out
