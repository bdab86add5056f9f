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


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises :class:`JSONTooDeep` instead of overflowing the stack on deep nesting."""
    depth = nesting_depth(text, stop_above=max_depth)
    if depth > max_depth:
        raise JSONTooDeep(depth, max_depth, text)
    try:
        return json.loads(text)
    except RecursionError:  # a backstop: the count above is exact for valid JSON
        raise JSONTooDeep(None, max_depth, text) from None
