"""Assemble the Dash explorer for one tree: index it once, lay out the page, wire the callbacks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from dash import Dash

from topicmap.hierarchy.tree.topic_tree import TopicTree
from topicmap.viz import callbacks, trend_callbacks
from topicmap.viz.index import TreeIndex
from topicmap.viz.layout import build_layout

ASSETS = Path(__file__).parent / "assets"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
# plotly.js with only the trace types the dashboard draws (1.7 MB instead of 4.8 MB: evaluating the
# full bundle was the largest part of the first render). Built by tools/plotly_bundle/; loaded as a
# page script (so it is not in the assets every page includes on its own).
PLOTLY_BUNDLE = "vendor/plotly-topicmap.min.js"
ASSETS_IGNORE = r"^plotly-topicmap\.min\.js$"
PLOTLY_TRACES = ("scatter", "sunburst", "treemap", "icicle", "scattergl", "bar", "heatmap")  # what the bundle holds
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# The largest legitimate request is a lasso over the whole map: ~76 bytes per document as plotly
# sends it, ~130 with the map's hover titles (trees up to 20,000 documents). Anything bigger is
# refused with HTTP 413 before it is read.
REQUEST_BASE_BYTES = 16 * 2**20
REQUEST_BYTES_PER_DOC = 128


def max_request_bytes(n_docs: int) -> int:
    """The request body limit for a tree of ``n_docs`` documents."""
    return REQUEST_BASE_BYTES + REQUEST_BYTES_PER_DOC * n_docs


def use_plotly_bundle(app: Dash) -> None:
    """Load topicmap's plotly.js bundle as a page script, from the app's own assets (no CDN).

    dcc.Graph fetches its full plotly.js only after the layout has rendered, unless ``window.Plotly``
    already exists: listed here, the smaller bundle starts downloading at once and is used instead."""
    app.config.external_scripts = [app.get_asset_url(PLOTLY_BUNDLE)]


def create_app(tree: TopicTree | TreeIndex, title: str = "topicmap", server: Any = True, url_base_pathname: str | None = None) -> Dash:
    """A Dash app for ``tree``. Assets are served locally (no CDN); nothing runs until ``run``.

    ``server`` and ``url_base_pathname`` mount it on another app's Flask server under a path (the
    facet dashboard, ``topicmap.viz.facet_app``, serves each facet's explorer this way)."""
    index = tree if isinstance(tree, TreeIndex) else TreeIndex(tree)
    app = Dash(
        __name__,
        title=title,
        assets_folder=str(ASSETS),
        assets_ignore=ASSETS_IGNORE,
        serve_locally=True,
        update_title=None,
        server=server,
        url_base_pathname=url_base_pathname,
    )
    use_plotly_bundle(app)
    app.server.config["MAX_CONTENT_LENGTH"] = max(max_request_bytes(len(index.map_order)), app.server.config.get("MAX_CONTENT_LENGTH") or 0)
    app.layout = build_layout(index, title=title)
    callbacks.register(app, index)
    trend_callbacks.register(app, index)  # dated trees only: the time panel and colour by growth
    return app


def run_app(app: Dash, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, debug: bool = False) -> None:
    """Serve on ``host:port`` (loopback unless told otherwise); debug only when asked for."""
    if host not in LOOPBACK:
        print(
            f"warning: serving on {host}: anyone who can reach this machine can read the documents in this tree",
            file=sys.stderr,
        )
    app.run(host=host, port=port, debug=debug, dev_tools_ui=debug, dev_tools_hot_reload=False)
