"""``topicmap serve``: open a tree file in the Dash explorer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from topicmap.hierarchy.base.errors import TopicmapError
from topicmap.hierarchy.base.settings_check import port_problem

if TYPE_CHECKING:
    from topicmap.hierarchy.tree.topic_tree import TopicTree


class ServeError(TopicmapError):
    """The server could not start (bad port, address in use)."""


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the ``topicmap`` CLI."""

    @app.command()
    def serve(
        tree_file: Path = typer.Argument(..., help="tree JSON file written by `topicmap build`"),
        host: str = typer.Option("127.0.0.1", "--host", help="interface to bind; the default serves this machine only"),
        port: int = typer.Option(8050, "--port", help="TCP port"),
        debug: bool = typer.Option(False, "--debug", help="Dash debug mode (shows tracebacks; never on a shared network)"),
    ) -> None:
        """Explore TREE_FILE in the browser: sunburst, details, document map, search, exports."""
        from topicmap.hierarchy.tree.treefile import load_tree

        check_port(port)
        tree = load_tree(tree_file)  # TreeFileError -> one-line message, exit 2
        serve_tree(tree, tree_file, host=host, port=port, debug=debug)


def check_port(port: int) -> None:
    """A port the server could never bind is an error before the tree is even read."""
    problem = port_problem(port)
    if problem:
        raise ServeError(f"--port {port}: {problem}")


def serve_tree(tree: TopicTree, source: Path | str, host: str = "127.0.0.1", port: int = 8050, debug: bool = False) -> None:
    """Run the Dash explorer on ``tree`` until Ctrl+C (shared by ``serve`` and ``demo``)."""
    check_port(port)
    from topicmap.viz.app import create_app, run_app

    typer.echo(f"topicmap: serving {source} on http://{host}:{port}/ (Ctrl+C to stop)", err=True)
    try:
        run_app(create_app(tree), host=host, port=port, debug=debug)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
