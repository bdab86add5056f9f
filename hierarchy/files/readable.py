"""An input file checked before anything heavy is imported: there, not a directory, readable.

A command reads a tree file or a document table only after NumPy, the tree core and the readers
have loaded (about a second of CPU); a missing or unreadable file should not cost that. The CLI calls
these first; they say what :func:`topicmap.hierarchy.tree.treefile.load_tree` and
:func:`topicmap.hierarchy.inputs.documents.read_documents` would say (tests/test_startup.py compares).
Only the standard library is imported here.
"""

from __future__ import annotations

import os
from pathlib import Path

from topicmap.hierarchy.base.errors import InputError, TreeFileError

TABLE_KINDS = "a CSV, TSV, JSONL, JSON or Parquet file"


def check_tree_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a tree file that can be opened, or a TreeFileError worded as ``load_tree``'s."""
    path = Path(path)
    if not path.exists():
        raise TreeFileError(f"{path}: no such tree file")
    if path.is_dir():
        raise TreeFileError(f"{path}: is a directory, expected a tree JSON file")
    problem = _open_error(path)
    if problem is not None:
        raise TreeFileError(f"{path}: cannot read ({problem.strerror or problem})")
    return path


def check_table_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a document table that can be opened, or an InputError worded as ``read_documents``'."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected {TABLE_KINDS}")
    problem = _open_error(path)
    if problem is not None:
        raise InputError(f"{path}: cannot read ({problem})")
    return path


def _open_error(path: Path) -> OSError | None:
    """Why ``path`` cannot be opened for reading (None: it can). Non-blocking, so a FIFO does not hang here."""
    try:
        os.close(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)))
    except OSError as exc:
        return exc
    return None
