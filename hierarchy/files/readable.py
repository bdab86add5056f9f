"""An input file checked before anything heavy is imported: there, not a directory, readable.

A command reads a tree file or a document table only after NumPy, the tree core and the readers
have loaded (about a second of CPU); a missing or unreadable file should not cost that. The CLI calls
these first; they say what :func:`topicmap.hierarchy.tree.treefile.load_tree` and
:func:`topicmap.hierarchy.inputs.documents.read_documents` would say (tests/test_startup.py compares).
Only the standard library is imported here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from topicmap.hierarchy.base.errors import InputError, TopicmapError, TreeFileError

TABLE_KINDS = "a CSV, TSV, JSONL, JSON or Parquet file"


def check_tree_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a tree file that can be opened, or a TreeFileError worded as ``load_tree``'s."""
    return _checked(Path(path), "no such tree file", "a tree JSON file", TreeFileError, lambda exc: exc.strerror or exc)


def check_table_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a document table that can be opened, or an InputError worded as ``read_documents``'
    (Parquet shards, a directory or a glob, are listed and read by the reader itself)."""
    if names_parquet_shards(path):
        return Path(path)
    return _checked(Path(path), "no such file", TABLE_KINDS, InputError, lambda exc: exc)


def names_parquet_shards(path: str | os.PathLike[str]) -> bool:
    """Is ``path`` a directory holding ``*.parquet`` shards, or a glob of them, rather than one file?"""
    text = str(path)
    if Path(text).is_dir():
        return next((True for p in Path(text).rglob("*.parquet") if p.is_file()), False)
    return any(ch in text for ch in "*?[") and not Path(text).exists() and text.lower().endswith(".parquet")


def _checked(path: Path, missing: str, expected: str, error: type[TopicmapError], why: Callable[[OSError], object]) -> Path:
    if not path.exists():
        raise error(f"{path}: {missing}")
    if path.is_dir():
        raise error(f"{path}: is a directory, expected {expected}")
    try:
        os.close(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)))  # non-blocking: a FIFO does not hang here
    except OSError as exc:
        raise error(f"{path}: cannot read ({why(exc)})") from None
    return path
