"""A content-addressed answer cache on disk: same model + prompt version + messages -> same answer.

Only validated answers are stored, one small JSON file each (``ab/abcdef....json``), written
atomically, so an interrupted run never leaves a half entry and a re-run of an unchanged tree makes
no requests. An entry that cannot be read back as an answer is removed with a warning and reads as a
miss; the labeller also re-validates every answer it reads (:meth:`AnswerCache.discard` drops one
that fails), so a damaged or edited cache can never put into a tree what a fresh answer could not.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from topicmap.hierarchy.files.cache_dir import default_cache_dir as shared_cache_dir
from topicmap.hierarchy.base.errors import OutputError
from topicmap.hierarchy.base.safe_text import printable
from topicmap.hierarchy.files.safe_write import write_bytes_atomic

CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/topicmap/llm`` or ``~/.cache/topicmap/llm``."""
    return shared_cache_dir("llm")


def cache_key(model: str, prompt: str, prompt_hash: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    """sha256 over everything that shapes the answer (not the server address: same model, same answer).

    Each part is length-prefixed, so no two different inputs hash the same text.
    """
    digest = hashlib.sha256()
    header = json.dumps({"v": CACHE_FORMAT, "model": model, "prompt": prompt, "prompt_hash": prompt_hash, "params": params}, sort_keys=True)
    for part in (header, *(f"{m['role']}\n{m['content']}" for m in messages)):
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


@dataclass
class CachedAnswer:
    answer: dict[str, Any]  # the validated, parsed answer
    prompt_tokens: int
    completion_tokens: int


class AnswerCache:
    """Get and put validated answers by key. ``AnswerCache(None)`` is a cache that never hits."""

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self.directory = Path(directory) if directory is not None else None

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> CachedAnswer | None:
        """The entry for ``key``; None if there is none or it is damaged (then it is removed, with a warning)."""
        if self.directory is None:
            return None
        try:
            raw = self._path(key).read_bytes()
        except OSError:
            return None
        try:
            return _entry(json.loads(raw))
        except (ValueError, RecursionError) as exc:
            self.discard(key, f"it is damaged ({exc})")
            return None

    def discard(self, key: str, reason: str) -> None:
        """Drop an entry that must not be used, and say so: the answer is asked for again and stored anew."""
        if self.directory is None:
            return
        path = self._path(key)
        print(printable(f"warning: ignoring the LLM cache entry {path}: {reason}; asking again"), file=sys.stderr)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only cache: the fresh answer cannot replace it either, and the run goes on

    def put(self, key: str, entry: CachedAnswer) -> None:
        if self.directory is None:
            return
        path = self._path(key)
        payload = json.dumps(
            {"answer": entry.answer, "prompt_tokens": entry.prompt_tokens, "completion_tokens": entry.completion_tokens},
            ensure_ascii=False,
        )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot write the LLM cache in {self.directory}: {exc.strerror}") from None
        write_bytes_atomic(path, payload.encode("utf-8"))


def _entry(data: object) -> CachedAnswer:
    """A cache file's JSON as an entry, or a ValueError saying what is wrong with it."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    answer = data.get("answer")
    if not isinstance(answer, dict):
        raise ValueError('"answer" is not an object')
    counts = [data.get("prompt_tokens"), data.get("completion_tokens")]
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        raise ValueError("the token counts are not whole numbers")
    return CachedAnswer(answer, counts[0], counts[1])  # type: ignore[arg-type]
