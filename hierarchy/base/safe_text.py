"""Untrusted text (labels, ids, model answers, tree files, server messages) made safe to keep and to print.

Two rules, one per direction. Text *accepted* as a label, keyword or summary loses its control
characters, escape sequences whole (so ``ESC[31mRed`` becomes ``Red``, not ``[31mRed``). Text
*printed* to a terminal gets its control characters made visible (``\\x1b``), so output can neither
recolour, move the cursor, retitle the window, rewrite a line with ``\\r`` nor hide anything.
Control characters are C0 (below U+0020) and C1 (U+0080-U+009F) and DEL; tab and newline are
plain layout where the context allows them.
"""

from __future__ import annotations

import re

# Escape sequences as terminals parse them, in their 7-bit (ESC ...) and 8-bit (C1) forms:
# CSI "ESC [ params final", string commands (OSC window titles and links, DCS, SOS, PM, APC) up to
# their terminator BEL or ST, and the other two-or-three-character escapes such as "ESC ( B".
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_VISIBLE = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
ELLIPSIS = "…"


def strip_controls(text: str, keep: str = "\t\n") -> str:
    """``text`` without escape sequences and control characters (those in ``keep`` stay)."""
    text = _ESCAPE_SEQUENCE.sub("", text)
    return _CONTROL.sub(lambda m: m.group(0) if m.group(0) in keep else "", text)


def one_line(text: str) -> str:
    """A label-like value: controls removed, every run of whitespace (tabs, newlines) one space."""
    return " ".join(strip_controls(text, keep="\t\n\r\x0b\x0c").split())


def printable(text: str, keep_newlines: bool = False) -> str:
    """``text`` for a terminal: every control character shown as an escape (``\\x1b``, ``\\r``),
    except tabs, and newlines when ``keep_newlines`` (multi-line reports; errors are one line)."""
    keep = "\t\n" if keep_newlines else "\t"
    return _CONTROL.sub(lambda m: m.group(0) if m.group(0) in keep else _visible(m.group(0)), text)


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters; a longer text ends in an ellipsis."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def _visible(char: str) -> str:
    return _VISIBLE.get(char) or f"\\x{ord(char):02x}"
