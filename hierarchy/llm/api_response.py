"""Read what an OpenAI-compatible server sends back (bodies, Retry-After), trusting nothing about its shape.

A server (or a proxy in front of it) may send a body that is not JSON, an envelope with fields missing
or of the wrong type, or vectors of mixed lengths. Every such body becomes a :class:`MalformedResponse`
that says what is wrong, so callers count, retry and report it instead of failing on an attribute error
deep inside. The SDK's parsed models are not used: they are built without validation.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np


class MalformedResponse(ValueError):
    """A 200 response whose body does not have the promised shape; the message says what is wrong."""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), if present."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_body(raw: bytes) -> Any:
    """The JSON value of a response body."""
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        start = raw[:60].decode("utf-8", "replace")
        raise MalformedResponse(f"the body is not JSON (it starts with {start!r})") from None
    except RecursionError:
        raise MalformedResponse("the body is JSON nested too deeply to read") from None


def read_chat_completion(body: Any) -> tuple[str, Usage | None]:
    """The answer text and the token usage (None when the server sends none) of a chat completion."""
    if not isinstance(body, dict):
        raise MalformedResponse(f"the body is a JSON {_kind(body)}, not an object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse(f'"choices" is {_shown(choices)}, not a non-empty array')
    choice = choices[0]
    if not isinstance(choice, dict):
        raise MalformedResponse(f'"choices[0]" is {_shown(choice)}, not an object')
    message = choice.get("message")
    if not isinstance(message, dict):
        raise MalformedResponse(f'"choices[0].message" is {_shown(message)}, not an object')
    content = message.get("content")
    if content is None:  # a refusal or a tool call: no text, which the caller's validation rejects
        content = ""
    if not isinstance(content, str):
        raise MalformedResponse(f'"choices[0].message.content" is {_shown(content)}, not a string')
    return content, _usage(body.get("usage"))


def _usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    if not isinstance(usage, dict):
        raise MalformedResponse(f'"usage" is {_shown(usage)}, not an object')
    prompt = usage.get("prompt_tokens")
    if prompt is None:
        return None
    completion = usage.get("completion_tokens")
    return Usage(_count(prompt, "usage.prompt_tokens"), 0 if completion is None else _count(completion, "usage.completion_tokens"))


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 or value != int(value):
        raise MalformedResponse(f'"{name}" is {_shown(value)}, not a token count')
    return int(value)


def read_embeddings(body: Any, count: int) -> np.ndarray:
    """``count`` vectors of one length from an embeddings response, in input order (the ``index`` field)."""
    if not isinstance(body, dict):
        raise MalformedResponse(f"the body is a JSON {_kind(body)}, not an object")
    data = body.get("data")
    if not isinstance(data, list):
        raise MalformedResponse(f'"data" is {_shown(data)}, not an array')
    if len(data) != count:
        raise MalformedResponse(f"{len(data)} embeddings came back for {count} texts")
    rows: list[list[float] | None] = [None] * count
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise MalformedResponse(f'"data[{position}]" is {_shown(item)}, not an object')
        index = item.get("index", position)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count or rows[index] is not None:
            raise MalformedResponse(f'"data[{position}].index" is {_shown(index)}, not a distinct position from 0 to {count - 1}')
        rows[index] = _vector(item.get("embedding"), position)
    lengths = {len(row) for row in rows if row is not None}
    if len(lengths) != 1:
        raise MalformedResponse(f"the vectors have different lengths ({', '.join(str(n) for n in sorted(lengths))})")
    return np.asarray(rows, dtype=np.float32)


def _vector(value: Any, position: int) -> list[float]:
    if not isinstance(value, list) or not value:
        raise MalformedResponse(f'"data[{position}].embedding" is {_shown(value)}, not an array of numbers')
    if not all(not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) for v in value):
        raise MalformedResponse(f'"data[{position}].embedding" holds values that are not finite numbers')
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    """A value as a message shows it: short scalars as JSON, containers by their kind."""
    if value is None:
        return "missing (or null)"
    if isinstance(value, (str, int, float, bool)):
        return json.dumps(value)[:40]
    if isinstance(value, (list, dict)) and not value:
        return f"an empty {_kind(value)}"
    return f"a JSON {_kind(value)}"
