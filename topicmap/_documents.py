"""Documents held in memory (texts, dicts, a pandas DataFrame or Series) as a checked :class:`Corpus`.

Only the shape is handled here: every row goes through :func:`topicmap.hierarchy.inputs.documents.corpus_from_rows`, the
checks a file gets from ``topicmap build`` (empty text, duplicate ids, missing columns, ...), with the
same messages. pandas is never imported: a DataFrame can only exist if its caller imported pandas.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.inputs.documents import Corpus, corpus_from_rows

Rows = Iterator[tuple[str, Mapping[str, Any]]]
KINDS = "a list of texts, a list of dicts (text, and optionally id, title and other fields) or a pandas DataFrame"


def corpus_from_documents(
    documents: Any,
    text_column: str = "text",
    id_column: str | None = None,
    title_column: str | None = None,
    embedding_column: str | None = None,
    skip_empty: bool = False,
    time_column: str | None = None,
    skip_bad_dates: bool = False,
) -> Corpus:
    """The documents as the pipeline takes them; errors name the item (``documents[3]``) or the DataFrame row."""
    source, rows = _rows(documents, text_column)
    return corpus_from_rows(
        rows, source, text_column=text_column, id_column=id_column, title_column=title_column,
        embedding_column=embedding_column, skip_empty=skip_empty, time_column=time_column, skip_bad_dates=skip_bad_dates,
    )


def _rows(documents: Any, text_column: str) -> tuple[str, Rows]:
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(documents, pandas.DataFrame):
        # Python objects, not NumPy scalars (ids and metadata stay JSON), and pandas' missing values
        # (NaN, NA, NaT) as None, which the row checks read as an empty field as they do in a file
        records = _as_python(documents).to_dict("records")
        return "documents (DataFrame)", ((f"row {label!r}", row) for label, row in zip(documents.index, records, strict=True))
    if pandas is not None and isinstance(documents, pandas.Series):
        texts = _as_python(documents).tolist()
        return "documents (Series)", _text_rows(zip((f"row {label!r}" for label in documents.index), texts, strict=True), text_column)
    if isinstance(documents, (str, bytes, Mapping)) or not hasattr(documents, "__iter__"):
        raise InputError(f"documents: got {type(documents).__name__}; give {KINDS}")
    return "documents", _list_rows(list(documents), text_column)


def _as_python(table: Any) -> Any:
    return table.astype(object).where(table.notna(), None)


def _list_rows(items: list[Any], text_column: str) -> Rows:
    if items and isinstance(items[0], Mapping):
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise InputError(f"documents: documents[{i}] is {type(item).__name__}, but documents[0] is a dict; give all texts or all dicts")
            yield f"documents[{i}]", item
        return
    yield from _text_rows(((f"documents[{i}]", item) for i, item in enumerate(items)), text_column)


def _text_rows(items: Any, text_column: str) -> Rows:
    """Plain texts become one-field rows, checked like a file without ids (a non-text is named there)."""
    for where, item in items:
        yield where, {text_column: item}
