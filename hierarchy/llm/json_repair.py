"""Read the JSON object in a model's answer, repairing the near misses small models make.

A 0.5B-1.5B model asked for JSON often gets it almost right: a code fence or a sentence around it,
a trailing comma, single quotes, Python's ``True``/``None``, an unquoted key, a raw line break inside
a string, or an answer cut off by the token limit (an open string and unclosed braces). Asking again
costs a request and often gets the same slip, so these are fixed here, in one pass over the text that
knows whether it is inside a string. Anything further from JSON is still an error, fed back to the
model. The parse itself goes through :func:`topicmap.hierarchy.base.jsontext.loads` (bounded nesting).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from topicmap.hierarchy.base import jsontext

_FENCE = re.compile(r"```[A-Za-z]*")
_THINKING = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_CLOSING = {'"': '"', "'": "'", "\u201c": "\u201d", "\u201d": "\u201d"}  # opening quote -> the one that ends the string
_LITERALS = {"true": "true", "false": "false", "null": "null", "True": "true", "False": "false", "None": "null"}


class NotJSON(ValueError):
    """No JSON object could be read from the answer, even after repairs; the message says why."""


@dataclass(frozen=True)
class Parsed:
    value: dict[str, Any]
    repaired: bool  # the answer was not valid JSON as sent


def parse_answer_object(text: str) -> Parsed:
    """The JSON object in ``text``: as sent if valid, else after :func:`repair`.

    A reasoning model's ``<think>...</think>`` block is skipped first: its braces are not the answer.
    """
    text = _THINKING.sub("", text)
    start = text.find("{")
    if start < 0:
        raise NotJSON("the answer is not a JSON object; answer with exactly one JSON object")
    end = text.rfind("}")
    candidate = text[start : end + 1] if end > start else text[start:]
    try:
        value = jsontext.loads(candidate)
        repaired = False
    except jsontext.JSONTooDeep as exc:
        raise NotJSON(f"the answer is {exc.msg}") from None
    except json.JSONDecodeError as exc:
        first_error = f"the answer is not valid JSON ({exc.msg} at character {exc.pos})"
        try:
            value = jsontext.loads(repair(_FENCE.sub("", text[start:])))
        except json.JSONDecodeError:
            raise NotJSON(first_error) from None
        repaired = True
    if not isinstance(value, dict):
        raise NotJSON("the answer is not a JSON object")
    return Parsed(value, repaired)


def repair(text: str) -> str:
    """``text`` (starting at its first ``{``) rewritten as JSON where the slips above are the only problem.

    Strings in single quotes become double-quoted, raw control characters in strings are escaped,
    bare keys are quoted, Python literals become JSON ones, commas before a closing bracket go, and an
    answer cut short gets its string and brackets closed. Text after the object closes is dropped.
    """
    out: list[str] = []
    stack: list[str] = []
    quote: str | None = None
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if quote is not None:
            if char == "\\" and i + 1 < n:
                nxt = text[i + 1]
                out.append("'" if nxt == "'" else "\\" + nxt)
                i += 2
                continue
            if char == quote:
                out.append('"')
                quote = None
            elif char == '"':
                out.append('\\"')  # a double quote inside a single-quoted string
            elif char in "\n\r\t":
                out.append(" ")
            elif ord(char) < 32:
                pass
            else:
                out.append(char)
            i += 1
            continue
        if char in "\"'\u201c\u201d":
            quote = _CLOSING[char]
            out.append('"')
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
            out.append(char)
        elif char in "}]":
            _drop_trailing_comma(out)
            if stack and stack[-1] == char:
                stack.pop()
            out.append(char)
            if not stack:
                break  # the object is complete: ignore whatever chatter follows
        elif char.isalpha() or char == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            rest = text[j:].lstrip()
            if word in _LITERALS:
                out.append(_LITERALS[word])
            elif rest.startswith(":"):
                out.append(json.dumps(word))  # a bare key
            else:
                out.append(word)
            i = j
            continue
        else:
            out.append(char)
        i += 1
    if quote is not None:
        out.append('"')  # cut off inside a string
    _drop_trailing_comma(out)
    if out and out[-1].rstrip().endswith(":"):
        out.append('""')  # cut off after a key
    out.extend(reversed(stack))
    return "".join(out)


def _drop_trailing_comma(out: list[str]) -> None:
    while out and not out[-1].strip():
        out.pop()
    if out and out[-1] == ",":
        out.pop()
