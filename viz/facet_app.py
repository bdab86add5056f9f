"""Assemble the facet dashboard: the facet page at ``/`` and each facet's full explorer at
``/facet/<k>/``, all on one Flask server (one port, one process)."""

from __future__ import annotations

from collections.abc import Sequence

from dash import Dash

from topicmap.hierarchy.analysis.facet_trees import FacetTree
from topicmap.viz import facet_callbacks
from topicmap.viz.app import ASSETS, ASSETS_IGNORE, create_app, max_request_bytes, use_plotly_bundle
from topicmap.viz.facet_index import FacetIndex
from topicmap.viz.facet_layout import build_facet_layout, explorer_path


def create_facet_app(facets: Sequence[FacetTree] | FacetIndex, title: str = "topicmap") -> Dash:
    """A Dash app for several facet trees of one collection (same document ids; ``InputError`` otherwise).
    Nothing runs until ``run_app``."""
    index = facets if isinstance(facets, FacetIndex) else FacetIndex(facets)
    app = Dash(
        __name__, title=f"{title} · facets", assets_folder=str(ASSETS), assets_ignore=ASSETS_IGNORE, serve_locally=True, update_title=None
    )
    use_plotly_bundle(app)
    app.server.config["MAX_CONTENT_LENGTH"] = max_request_bytes(index.n_docs)
    app.layout = build_facet_layout(index, title=title)
    facet_callbacks.register(app, index)
    for name in index.names:  # the single-tree explorer of every facet, sharing the facet page's indexes
        create_app(index.index(name), title=f"{title} · {name}", server=app.server, url_base_pathname=explorer_path(index, name))
    return app


__all__ = ["create_facet_app"]
