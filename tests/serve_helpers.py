"""Serve commands in this process: ``Dash.run`` (the one blocking call under ``run_app``) replaced by a real
werkzeug server on the host and port it was asked for, in a thread, that answers real HTTP requests
while the test looks at the pages and then stops, as Ctrl+C would.

Everything above ``Dash.run`` is the real code (the command, ``serve_tree``/``serve_facets``, ``run_app``
and its warnings); the real ``Dash.run`` in a real process is covered by tests/test_app_entry.py
(``python app.py`` serving on loopback).
"""

from __future__ import annotations

import logging
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str, timeout: float = 10) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode("utf-8")


@contextmanager
def dash_run_visits(monkeypatch: pytest.MonkeyPatch, visit: Callable[[str], None]) -> Iterator[list[dict[str, Any]]]:
    """While active, ``Dash.run(host, port, ...)`` serves the app on ``host:port`` and calls ``visit(url)``,
    then stops and returns. Yields the list of the keyword arguments each ``run`` got."""
    import dash
    from werkzeug.serving import make_server

    calls: list[dict[str, Any]] = []

    def run(self: dash.Dash, host: str = "127.0.0.1", port: int | str = 8050, debug: bool | None = None, **kwargs: Any) -> None:
        calls.append({"host": host, "port": int(port), "debug": debug, **kwargs})
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        httpd = make_server(host, int(port), self.server, threaded=True)
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            visit(f"http://{host}:{httpd.server_port}")
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=10)

    with monkeypatch.context() as patch:
        patch.setattr(dash.Dash, "run", run)
        yield calls
