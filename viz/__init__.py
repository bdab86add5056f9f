"""Figures (pure functions) and the Dash explorer for topic trees.

``topicmap.viz.create_app(tree)`` builds the app; ``topicmap.viz.figures`` works alone in a notebook. Nothing is
loaded at import, and Dash itself is imported only when an app is created.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from topicmap.viz.app import create_app

        return create_app
    raise AttributeError(f"module 'viz' has no attribute {name!r}")
