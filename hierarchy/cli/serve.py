"""``topicmap serve``: open a tree file in the Dash explorer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from topicmap.hierarchy.base.errors import TopicmapError
from topicmap.hierarchy.base.settings_check import port_problem
from topicmap.hierarchy.files.readable import check_tree_file

if TYPE_CHECKING:
    from topicmap.hierarchy.analysis.facet_trees import FacetTree
    from topicmap.hierarchy.tree.topic_tree import TopicTree


class ServeError(TopicmapError):
    """The server could not start (bad port, address in use)."""


SERVE_HELP = (
    "Explore a tree in the browser: sunburst, details, document map, search, exports.\n\n"
    "Several tree files are served together as facet trees of one collection (built with `topicmap build "
    "FILE --text-column problem`, `--text-column method`, ...; they must hold the same document ids): a facet "
    "switcher, the main facet's sunburst, another facet's sunburst coloured by where the selected topic's "
    "documents sit, and the node x node table with a CSV export (the table `topicmap crosstab` writes). Each "
    "facet's full explorer is at /facet/1/, /facet/2/, ... A facet is named by the text column its tree was "
    "built from, else by its file name.\n\n"
    "Examples:\n\n"
    "  topicmap serve tree.json --port 8050\n\n"
    "  topicmap serve problem.tree.json method.tree.json finding.tree.json"
)


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the ``topicmap`` CLI."""

    @app.command(help=SERVE_HELP)
    def serve(
        tree_files: list[Path] = typer.Argument(..., help="tree JSON file(s) written by `topicmap build`; several: facet trees over the same documents", show_default=False),
        host: str = typer.Option("127.0.0.1", "--host", help="interface to bind; the default serves this machine only"),
        port: int = typer.Option(8050, "--port", help="TCP port"),
        debug: bool = typer.Option(False, "--debug", help="Dash debug mode (shows tracebacks; never on a shared network)"),
    ) -> None:
        check_port(port)
        for tree_file in tree_files:
            check_tree_file(tree_file)  # a missing file is said before NumPy and the tree core load
        from topicmap.hierarchy.tree.treefile import load_tree

        if len(tree_files) > 1:
            from topicmap.hierarchy.analysis.facet_trees import load_facet_trees

            serve_facets(load_facet_trees(tree_files), host=host, port=port, debug=debug)  # InputError -> one line, exit 2
            return
        tree = load_tree(tree_files[0])  # TreeFileError -> one-line message, exit 2
        serve_tree(tree, tree_files[0], host=host, port=port, debug=debug)


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


def serve_facets(facets: Sequence[FacetTree], host: str = "127.0.0.1", port: int = 8050, debug: bool = False) -> None:
    """Run the facet dashboard on several facet trees until Ctrl+C (shared by ``serve`` and ``demo``)."""
    check_port(port)
    from topicmap.viz.app import run_app
    from topicmap.viz.facet_app import create_facet_app

    names = ", ".join(f"{f.name} ({f.source})" for f in facets)
    typer.echo(f"topicmap: serving {len(facets)} facet trees: {names} on http://{host}:{port}/ (Ctrl+C to stop)", err=True)
    try:
        run_app(create_facet_app(facets), host=host, port=port, debug=debug)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
