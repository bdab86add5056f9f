"""Parsing JSON from outside (documents, tree files, answers) with a bound on nesting depth.

Python's ``json`` raises RecursionError on ``[[[[...`` about a thousand levels deep, and anything that
later walks a deeply nested value recursively (our metadata cleaning, jsonschema, ``json.dumps`` when
the tree is saved) can overflow on less. Documents, tree files and LLM answers are parsed by
:func:`loads`, which measures the depth without recursion first and refuses too deep a text with
:class:`JSONTooDeep`, so whatever it returns is safe to walk recursively.
"""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring
from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_DEPTH = 100
"""Deepest nesting accepted in one document row, metadata value or answer (real data stays far below)."""

_OPENERS = b"[{"
_CLOSERS = b"]}"
_KEEP = b'"[]{}'
_DROP = bytes(b for b in range(256) if b not in _KEEP)
_STRING = re.compile(rb'"[^"]*"')
_STEP = np.zeros(256, dtype=np.int8)
_STEP[list(_OPENERS)] = 1
_STEP[list(_CLOSERS)] = -1


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps_compact(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``, the same text, for one metadata cell of
    millions: the encoder is made once (``json.dumps`` with options makes one per call) and a string, the
    common cell, goes straight to the C escaper that ``JSONEncoder.encode`` would call for it."""
    if type(value) is str:
        return encode_basestring(value)
    return _COMPACT.encode(value)


class JSONTooDeep(json.JSONDecodeError):
    """JSON nested deeper than allowed; a JSONDecodeError, so callers that handle bad JSON handle this too."""

    def __init__(self, depth: int | None, limit: int, doc: str | bytes) -> None:
        text = doc if isinstance(doc, str) else ""
        how_deep = f"{depth:,} levels deep" if depth is not None else "too deeply"
        super().__init__(f"JSON nested {how_deep} (at most {limit} allowed)", text, 0)
        self.depth = depth
        self.limit = limit


def nesting_depth(data: str | bytes, stop_above: int | None = None) -> int:
    """Deepest bracket nesting of a JSON text, brackets inside strings not counted (no recursion).

    Exact for valid JSON; for invalid JSON the number may be off, but the parser rejects that text anyway.
    Returns early with any count above ``stop_above`` when the text has too few brackets to matter.
    """
    if stop_above is not None:
        brackets = data.count("[") + data.count("{") if isinstance(data, str) else data.count(b"[") + data.count(b"{")
        if brackets <= stop_above:
            return brackets  # cannot nest deeper than it has brackets: the common case costs two counts
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    # Escapes first (a ``\\`` pair, then ``\"``), so every quote left opens or closes a string.
    raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = _STRING.sub(b"", raw.translate(None, _DROP))
    if not structure:
        return 0
    steps = _STEP[np.frombuffer(structure, dtype=np.uint8)]
    return max(0, int(np.cumsum(steps, dtype=np.int64).max()))


_KEEP_LINES = _KEEP + b"\n"
_DROP_LINES = bytes(b for b in range(256) if b not in _KEEP_LINES)
_NEWLINE = ord("\n")


def loads_lines(lines: Sequence[str], max_depth: int = MAX_DEPTH) -> list[Any] | None:
    """Each of ``lines`` (lines of a file, none blank, none holding a line break before its end) parsed as
    :func:`loads` parses it, in one parse of them all: per line the parser's setup costs as much as the parse.

    None when the one parse cannot stand for the parses line by line: a line that is not valid JSON, or
    nested deeper than ``max_depth``, or that holds more or less than one value (``1, 2`` beside ``[3`` and
    ``4]``): the caller parses those lines one at a time, for the value or the error each line has alone.
    """
    if not lines:
        return []
    joined = "[" + "\n,".join(lines) + "\n]"  # a newline closes every line, so each separator sits after one
    try:
        values = json.loads(joined)
    except (ValueError, RecursionError):
        return None
    if len(values) != len(lines):
        return None
    # Every separator is the array's own (depth 1) only if each line closes all it opens: then with as many
    # values as lines, each value is exactly one line. Strings hold no line break, so all newlines are ours or
    # the lines' ends; strings are cut out as in nesting_depth (escapes first, when there are any). Cutting
    # each pair of adjacent quotes first leaves what the pattern cuts unchanged (an empty string, or the seam of
    # two strings with nothing between them: one string either way) and mostly nothing for it to do.
    raw = joined.encode("utf-8", "surrogatepass")
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    kept = raw.translate(None, _DROP_LINES).replace(b'""', b"")
    structure = np.frombuffer(_STRING.sub(b"", kept) if b'"' in kept else kept, dtype=np.uint8)
    depth = np.cumsum(_STEP[structure], dtype=np.int64)
    if depth.max() > max_depth + 1 or (depth[structure == _NEWLINE] != 1).any():
        return None
    return values


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises :class:`JSONTooDeep` instead of overflowing the stack on deep nesting."""
    depth = nesting_depth(text, stop_above=max_depth)
    if depth > max_depth:
        raise JSONTooDeep(depth, max_depth, text)
    try:
        return json.loads(text)
    except RecursionError:  # a backstop: the count above is exact for valid JSON
        raise JSONTooDeep(None, max_depth, text) from None
