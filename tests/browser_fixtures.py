"""Shared set-up of the browser tests: Debian's Chromium driven by Playwright, and a Dash app served
on 127.0.0.1 in a thread. Import the ``browser`` fixture from here (with ``# noqa: F401``).

Fails (does not skip) when Chromium is missing; a module that imports this is skipped as a whole
when TOPICMAP_SKIP_BROWSER=1.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from topicmap.hierarchy.tree.topic_tree import TopicTree

CHROMIUM = os.environ.get("TOPICMAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WAIT_MS = 15_000

if os.environ.get("TOPICMAP_SKIP_BROWSER") == "1":
    pytest.skip("TOPICMAP_SKIP_BROWSER=1", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's `chromium` or set TOPICMAP_SKIP_BROWSER=1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@contextmanager
def serving_app(make_app: Callable[[], Any]) -> Iterator[str]:
    """The Dash app ``make_app()`` on 127.0.0.1 with a free port, in a thread (werkzeug, threaded like `app.run`)."""
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    httpd = make_server("127.0.0.1", 0, make_app().server, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(timeout=10)


@contextmanager
def _serving(tree: TopicTree) -> Iterator[str]:
    """The single-tree explorer of ``tree`` (see :func:`serving_app`)."""
    from topicmap.viz import create_app

    with serving_app(lambda: create_app(tree)) as url:
        yield url


def _wait(page: Any, js: str) -> None:
    """Poll a JS predicate on a timer (not requestAnimationFrame, which WebGL pages can starve)."""
    page.wait_for_function(js, polling=100, timeout=WAIT_MS)
