"""Checks on settings from the outside world (URLs, ports, cache directories), made before any work.

A bad value found here costs a second and names the option; found later it costs paid requests,
a traceback from deep inside a library, or answers that cannot be kept.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from topicmap.hierarchy.base.errors import InputError, OutputError

MAX_PORT = 65535


def port_problem(port: int) -> str | None:
    """What is wrong with a TCP port number, or None."""
    if not 1 <= port <= MAX_PORT:
        return f"must be between 1 and {MAX_PORT}"
    return None


def base_url_problem(url: str) -> str | None:
    """What is wrong with the URL of an OpenAI-compatible server, or None."""
    if not url.strip() or url != url.strip() or any(c.isspace() or ord(c) < 32 for c in url):
        return "must be a URL without spaces, such as http://localhost:11434/v1"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://, such as http://localhost:11434/v1"
    if not parts.hostname:
        return "has no host name, such as http://localhost:11434/v1"
    if port is not None and port_problem(port):
        return f"has port {port}, which {port_problem(port)}"
    return None


def check_base_url(url: str | None, source: str) -> None:
    """Raise an :class:`InputError` naming ``source`` (e.g. ``OPENAI_BASE_URL``) if ``url`` is unusable."""
    if url is None:
        return
    problem = base_url_problem(url)
    if problem:
        raise InputError(f"{source} {url!r}: {problem}")


def check_cache_dir(directory: str | os.PathLike[str], option: str = "--cache-dir") -> None:
    """Create ``directory`` and write a file in it, so a cache that cannot be kept stops the run before it pays.

    Permission bits alone do not tell (root ignores them; a read-only mount or a file in the way does
    not show in them), so this writes and removes a small probe file.
    """
    path = Path(directory).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-", delete=True):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(f"cannot write the cache directory {path} ({reason}); pass a writable {option}, or --no-cache") from None
