"""Serve a topic tree in the browser: ``python app.py tree.json [--host 127.0.0.1] [--port 8050]``;
several tree files (facet trees of one collection) are served together, as ``topicmap serve A B C`` does.

Loads and validates the tree before anything starts, so a missing or broken file is a one-line
message and exit status 2, never a traceback in the browser. Loopback only and no debug mode
unless asked for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from topicmap.hierarchy.cli.main import error_line
from topicmap.hierarchy.cli.serve import check_port, serve_facets, serve_tree
from topicmap.hierarchy.base.errors import TopicmapError
from topicmap.hierarchy.analysis.facet_trees import load_facet_trees
from topicmap.hierarchy.tree.treefile import load_tree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="app.py", description="Explore a topicmap tree file in the browser.")
    parser.add_argument("tree", nargs="+", help="tree JSON file written by `topicmap build`; several: facet trees over the same documents")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    parser.add_argument("--debug", action="store_true", help="Dash debug mode (never on a shared network)")
    args = parser.parse_args(argv)
    try:
        check_port(args.port)
        if len(args.tree) > 1:
            serve_facets(load_facet_trees(args.tree), host=args.host, port=args.port, debug=args.debug)
            return 0
        tree = load_tree(args.tree[0])
        serve_tree(tree, Path(args.tree[0]), host=args.host, port=args.port, debug=args.debug)
    except TopicmapError as exc:
        print(error_line(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
