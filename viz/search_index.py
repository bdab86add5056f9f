"""Full-text search over a sidecar tree's documents: an SQLite FTS5 index beside the sidecar.

A substring scan (:mod:`topicmap.viz.search`) covers 100k documents within its time budget, not 10
million. For a tree whose documents live in a Parquet sidecar, the explorer searches an FTS5 index
instead (chosen by measurement over DuckDB's full-text search: bench/results/search-index.md). It is
built once, on first serve, as ``<sidecar>.fts2.sqlite`` beside the sidecar, whose name carries the
documents' hash: the index belongs to exactly those documents, and a rewritten tree gets a new one.
It is written to a temp file and renamed, so a half-built index is never used; where the tree's
folder is not writable, it goes to the cache folder (``<cache>/search/``) under the same name.

Matching is by word, not substring: every query term must occur as a whole word in the title or
text (case and accents folded); a term ending in ``*`` matches words starting with it. At most
:data:`MATCH_LIMIT` matching rows are returned (the first in row order); the result says so.
"""

from __future__ import annotations

import re
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from topicmap.hierarchy.base.errors import OutputError, TreeFileError
from topicmap.hierarchy.tree.documents_store import ParquetStore

INDEX_VERSION = 2  # of the index's layout and tokenizer: part of its file name (2: prefix indexes)
MATCH_LIMIT = 50_000  # matching rows returned at most (Python reads ~0.6 µs a row: 50k rows ~30 ms); counts per topic and the map use them
BUILD_BATCH_ROWS = 20_000
TOKENIZER = "unicode61 remove_diacritics 2"
PREFIXES = "3 4"  # prefix indexes for word* of 3 and 4 letters (3-letter prefix at 1M: 50 -> 25 ms; index 22 -> 33 MB)
_WORD = re.compile(r"\w+")


def index_path(store: ParquetStore) -> Path:
    return store.path.with_name(f"{store.path.name}.fts{INDEX_VERSION}.sqlite")


def fts_query(terms: Sequence[str]) -> str | None:
    """The FTS5 MATCH expression for ``terms`` (all must match), or None when no term has a word in it.

    Each term is split into words as the index was (letters and digits); every word is quoted, so no
    user text is read as FTS5 syntax; a trailing ``*`` makes the term's last word a prefix.
    """
    parts: list[str] = []
    for term in terms:
        words = _WORD.findall(term.lower())
        if not words:
            continue
        for k, word in enumerate(words):
            prefix = term.endswith("*") and k == len(words) - 1
            parts.append(f'"{word}"' + ("*" if prefix else ""))
    return " AND ".join(dict.fromkeys(parts)) if parts else None


class SearchIndex:
    """Rows matching a query, from the FTS5 index of one sidecar (one read-only connection per thread)."""

    def __init__(self, path: Path, n_docs: int, limit: int = MATCH_LIMIT) -> None:
        self.path = path
        self.n_docs = n_docs
        self.limit = limit
        self._local = threading.local()

    @classmethod
    def for_store(cls, store: ParquetStore, quiet: bool = False) -> SearchIndex:
        """The index of ``store``'s documents, built first if there is none yet."""
        path = index_path(store)
        if path.is_file():
            return cls(path, len(store))
        try:
            build_index(store, path, quiet=quiet)
        except OutputError:  # a read-only folder: the cache folder instead, under the same content-addressed name
            from topicmap.hierarchy.files.cache_dir import default_cache_dir

            path = default_cache_dir("search") / path.name
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                build_index(store, path, quiet=quiet)
        return cls(path, len(store))

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            except sqlite3.Error as exc:
                raise TreeFileError(f"{self.path}: cannot open the search index ({exc})") from None
            self._local.conn = conn
        return conn

    def match(self, terms: Sequence[str]) -> tuple[np.ndarray, int]:
        """Rows (ascending) whose title or text has every term, and the limit if it cut them (else 0)."""
        query = fts_query(terms)
        if query is None:
            return np.zeros(0, np.int64), 0
        cursor = self._connection().execute("SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY rowid LIMIT ?", (query, self.limit + 1))
        rows = np.fromiter((r for (r,) in cursor), dtype=np.int64)
        limited = self.limit if len(rows) > self.limit else 0
        return rows[: self.limit] - 1, limited  # rowid = row + 1 (SQLite rowids start at 1 by habit, 0 works too)


def build_index(store: ParquetStore, path: Path, quiet: bool = False) -> Path:
    """Write the FTS5 index of ``store``'s titles and texts to ``path`` (temp file, then rename)."""
    from topicmap.hierarchy.files.safe_write import fsync_directory, temp_beside

    if not quiet:
        print(f"indexing {len(store):,} documents for search (once; kept as {path.name})", file=sys.stderr, flush=True)
    with temp_beside(path) as tmp:
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(
                f"CREATE VIRTUAL TABLE docs USING fts5(body, content='', columnsize=0, detail='none', prefix='{PREFIXES}', tokenize='{TOKENIZER}')"
            )
            row = 1
            for batch in store.iter_columns(("title", "text"), BUILD_BATCH_ROWS):
                titles, texts = batch["title"], batch["text"]
                conn.executemany(
                    "INSERT INTO docs(rowid, body) VALUES (?, ?)",
                    ((row + k, f"{t or ''}\n{x or ''}") for k, (t, x) in enumerate(zip(titles, texts))),
                )
                row += len(titles)
            conn.execute("INSERT INTO docs(docs) VALUES ('optimize')")
            conn.commit()
        finally:
            conn.close()
        tmp.replace(path)
    fsync_directory(path.parent)
    return path
