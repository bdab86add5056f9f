"""A document table read whole and written back with new columns: what ``topicmap extract`` keeps and adds.

Every input column and value is kept as read (CSV text stays text; a Parquet column keeps its type);
new text columns go at the end. The output format follows the output's suffix (JSONL, JSON, CSV, TSV
or Parquet, optionally ``.gz``), so a JSONL corpus can come out as Parquet. Files are written through
:mod:`topicmap.hierarchy.files.safe_write` (atomic, mode kept). Reading reuses :func:`topicmap.hierarchy.inputs.documents.iter_rows`, so a
bad line gets the same one-line error as in ``build``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from topicmap.hierarchy.base.errors import InputError, OutputError
from topicmap.hierarchy.extract.stage import DocumentText
from topicmap.hierarchy.inputs.documents import SUPPORTED, iter_rows
from topicmap.hierarchy.files.safe_write import write_bytes_atomic, write_chunks_atomic

ERRORS_COLUMN = "_extract_errors"


@dataclass
class Table:
    path: Path
    columns: list[str]  # in first-seen order over all rows
    rows: list[dict[str, Any]]
    wheres: list[str]  # "line 3", "row 7": how messages name each row
    arrow: Any = None  # the pyarrow Table of a Parquet input, so its column types survive


def kind_of(path: Path) -> str:
    """``.jsonl``, ``.csv``, ...: the format a path's suffix names (``.gz`` looked through)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def read_table(path: str | Path) -> Table:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a CSV, TSV, JSONL, JSON or Parquet file")
    if kind_of(path) not in SUPPORTED:
        raise InputError(f"{path}: unsupported file type; use one of {', '.join(SUPPORTED)} (optionally .gz)")
    columns: dict[str, None] = {}
    rows: list[dict[str, Any]] = []
    wheres: list[str] = []
    arrow = _read_arrow(path) if kind_of(path) == ".parquet" else None
    pairs = ((f"row {i}", row) for i, row in enumerate(arrow.to_pylist(), start=1)) if arrow is not None else iter_rows(path)
    try:
        for where, row in pairs:
            for key in row:
                columns.setdefault(str(key), None)
            rows.append(row)
            wheres.append(where)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except (OSError, EOFError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    if not rows:
        raise InputError(f"{path}: no documents")
    return Table(path, list(columns), rows, wheres, arrow)


def _read_arrow(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(f"{path}: not a readable Parquet file ({' '.join(str(exc).split())[:200]})") from None


def documents(table: Table, text_column: str, title_column: str | None = None, id_column: str | None = None) -> list[DocumentText]:
    """The text, title and id of each row; a missing column or a text that is not text is an error
    naming the file, row and field. Rows without text are kept (they get empty notes and a reason)."""
    shown = ", ".join(table.columns[:12]) + (" ..." if len(table.columns) > 12 else "")
    if text_column not in table.columns:
        raise InputError(f"{table.path}: no column {text_column!r} (columns: {shown}); choose one with --text-column")
    for option, name in (("--title-column", title_column), ("--id-column", id_column)):
        if name is not None and name not in table.columns:
            raise InputError(f"{table.path}: no column {name!r} (columns: {shown}); check {option}")
    title_column = title_column or ("title" if "title" in table.columns else None)
    id_column = id_column or ("id" if "id" in table.columns else None)
    docs: list[DocumentText] = []
    for where, row in zip(table.wheres, table.rows, strict=True):
        text = row.get(text_column)
        if text is None or (isinstance(text, float) and math.isnan(text)):
            text = ""
        if not isinstance(text, str):
            raise InputError(f"{table.path}: {where}: field {text_column!r} is {type(text).__name__}, expected text")
        title = row.get(title_column) if title_column else None
        title = "" if title is None or (isinstance(title, float) and math.isnan(title)) else str(title)
        doc_id = row.get(id_column) if id_column else None
        docs.append(DocumentText(where, text, title, None if doc_id is None else str(doc_id)))
    return docs


def check_new_columns(table: Table, names: Sequence[str], text_column: str, replace: bool) -> None:
    """A facet must not overwrite the text it is read from, nor (without ``--replace``) any input column."""
    for name in names:
        if name == text_column:
            raise InputError(f"{table.path}: facet {name!r} would overwrite the text column it is extracted from; rename the facet")
        if name in table.columns and not replace:
            raise InputError(
                f"{table.path}: already has a column {name!r}; pass --replace to overwrite it, or run on the original documents"
            )


def merged_errors(table: Table, errors: list[str | None], facets: Sequence[str]) -> list[str | None]:
    """This run's ``_extract_errors``, keeping an earlier run's entries for facets not extracted now."""
    if ERRORS_COLUMN not in table.columns:
        return errors
    merged: list[str | None] = []
    for row, new in zip(table.rows, errors, strict=True):
        kept = []
        old = row.get(ERRORS_COLUMN)
        for item in str(old).split(" | ") if isinstance(old, str) and old.strip() else []:
            names, _, reason = item.partition(": ")
            others = [n.strip() for n in names.split(",") if n.strip() and n.strip() not in facets]
            if others and reason:
                kept.append(f"{', '.join(others)}: {reason}")
        parts = kept + ([new] if new else [])
        merged.append(" | ".join(parts) if parts else None)
    return merged


def write_table(table: Table, path: str | Path, new_columns: Mapping[str, list[str | None]]) -> Path:
    """The input rows plus ``new_columns`` (each row-aligned), in the format ``path``'s suffix names."""
    path = Path(path)
    kind = kind_of(path)
    gz = path.suffix.lower() == ".gz"
    if kind == ".parquet":
        payload = _parquet_bytes(table, new_columns)
        return write_bytes_atomic(path, gzip.compress(payload, mtime=0) if gz else payload)
    if kind in (".jsonl", ".ndjson"):
        chunks: Iterator[bytes] = (c.encode("utf-8") for c in _jsonl(table, new_columns))
    elif kind == ".json":
        chunks = (c.encode("utf-8") for c in _json_array(table, new_columns))
    elif kind in (".csv", ".tsv"):
        chunks = (c.encode("utf-8") for c in _delimited(table, new_columns, "\t" if kind == ".tsv" else ","))
    else:
        raise OutputError(f"{path}: unsupported output type; use one of {', '.join(SUPPORTED)} (optionally .gz)")
    return write_chunks_atomic(path, _gzipped(chunks) if gz else chunks)


def _merged_rows(table: Table, new_columns: Mapping[str, list[str | None]]) -> Iterator[dict[str, Any]]:
    for index, row in enumerate(table.rows):
        out = {k: v for k, v in row.items() if k not in new_columns}
        out.update({name: values[index] for name, values in new_columns.items()})
        yield out


def _jsonl(table: Table, new_columns: Mapping[str, list[str | None]]) -> Iterator[str]:
    for row in _merged_rows(table, new_columns):
        yield json.dumps(row, ensure_ascii=False, default=str) + "\n"


def _json_array(table: Table, new_columns: Mapping[str, list[str | None]]) -> Iterator[str]:
    yield "["
    for i, row in enumerate(_merged_rows(table, new_columns)):
        yield ("\n" if i == 0 else ",\n") + json.dumps(row, ensure_ascii=False, default=str)
    yield "\n]\n"


def _delimited(table: Table, new_columns: Mapping[str, list[str | None]], delimiter: str) -> Iterator[str]:
    """CSV with input cells as they were (text stays text) and lists or objects as JSON text."""
    header = [c for c in table.columns if c not in new_columns] + list(new_columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for i, row in enumerate(_merged_rows(table, new_columns)):
        writer.writerow([_cell(row.get(c)) for c in header])
        if i % 1000 == 999:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def check_output_format(table: Table, path: str | Path) -> None:
    """Refuse, before any request, a Parquet output the input's values cannot make (mixed types in a column)."""
    if kind_of(Path(path)) == ".parquet" and table.arrow is None:
        _parquet_bytes(table, {})


def _parquet_bytes(table: Table, new_columns: Mapping[str, list[str | None]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if table.arrow is not None:
            arrow = table.arrow
            for name in new_columns:
                if name in arrow.column_names:
                    arrow = arrow.drop_columns([name])
        else:
            keep = [c for c in table.columns if c not in new_columns]
            arrow = pa.Table.from_pylist([{c: row.get(c) for c in keep} for row in table.rows])
        for name, values in new_columns.items():
            arrow = arrow.append_column(name, pa.array(values, type=pa.string()))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise OutputError(f"{table.path}: cannot be written as Parquet: {' '.join(str(exc).split())[:200]}; write JSONL instead (-o NAME.jsonl)") from None
    buffer = io.BytesIO()
    pq.write_table(arrow, buffer)
    return buffer.getvalue()


def _gzipped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    import zlib

    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    for chunk in chunks:
        data = compressor.compress(chunk)
        if data:
            yield data
    yield compressor.flush()


def default_output(path: Path) -> Path:
    """``docs.jsonl`` -> ``docs.facets.jsonl`` (``.gz`` kept), beside the input."""
    name = path.name
    suffix = "".join(path.suffixes[-2:]) if path.suffix.lower() == ".gz" and len(path.suffixes) > 1 else path.suffix
    stem = name[: len(name) - len(suffix)] if suffix else name
    return path.with_name(f"{stem}.facets{suffix}")

