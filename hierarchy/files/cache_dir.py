"""Where topicmap keeps its caches (embeddings, document maps, LLM answers): one folder for all of them."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/topicmap/...`` or ``~/.cache/topicmap/...``: every cache of topicmap lives here."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "topicmap", *parts)
