"""The ``topicmap`` command line. Commands live in small modules that register themselves here.

Errors a user can fix (:class:`TopicmapError`) print one line on stderr (control characters made
visible) and exit with status 2; no traceback. Environment variables (OPENAI_API_KEY, OPENAI_BASE_URL, ...) are read here, at the edge,
and passed on as arguments.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable

import typer

from topicmap.hierarchy.base.errors import TopicmapError
from topicmap.hierarchy.base.safe_text import printable
from topicmap.hierarchy.files.safe_write import Terminated, stop_cleanly_on_sigterm

app = typer.Typer(
    name="topicmap",
    help=(
        "Hierarchical topic maps: cluster document embeddings into a tree, label every node, explore it.\n\n"
        "Typical session:\n\n"
        "  topicmap build docs.jsonl -o tree.json     # cluster (keyword labels, no LLM needed)\n\n"
        "  topicmap info tree.json                    # look at the shape\n\n"
        "  topicmap label tree.json -m gpt-4o-mini    # LLM labels (OPENAI_API_KEY or OPENAI_BASE_URL)\n\n"
        "  topicmap serve tree.json                   # the dashboard on http://127.0.0.1:8050/\n\n"
        "  topicmap export tree.json --format csv -o paths.csv\n\n"
        "  topicmap trends tree.json                  # topics over time (build with --time-column)\n\n"
        "Try it on bundled data: topicmap demo"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    """Add every command to ``app`` once, however often ``main`` runs in one process (tests run it many times)."""
    if app.registered_commands:
        return
    from topicmap.hierarchy.cli import (
        assign as cli_assign,
        core as cli_core,
        crosstab as cli_crosstab,
        evaluate as cli_evaluate,
        extract as cli_extract,
        label as cli_label,
        regroup as cli_regroup,
        serve as cli_serve,
        trends as cli_trends,
    )

    cli_core.register(app)
    cli_label.register(app)
    cli_extract.register(app)
    cli_regroup.register(app)
    cli_serve.register(app)
    cli_evaluate.register(app)
    cli_assign.register(app)
    cli_trends.register(app)
    cli_crosstab.register(app)


def main(argv: list[str] | None = None) -> None:
    _register_commands()
    # Standalone mode: Click prints usage errors itself, and Ctrl+C outside 'label' (which saves
    # its progress first) ends as Click's "Aborted!".
    run_command(lambda: app(args=argv, standalone_mode=True))


def run_command(body: Callable[[], object]) -> None:
    """Run ``body`` as the CLI runs a command: a TopicmapError ends it with one line and status 2, and
    SIGTERM removes unfinished temp files, releases locks and ends it with one line and status 143."""
    with stop_cleanly_on_sigterm():
        try:
            body()
        except TopicmapError as exc:
            typer.echo(error_line(exc), err=True)
            sys.exit(2)
        except Terminated as exc:
            typer.echo(error_line(exc), err=True)
            sys.exit(128 + signal.SIGTERM)


def error_line(error: object) -> str:
    """``error: message`` on one line, safe for a terminal: messages quote input (ids, labels, server
    replies), so their control characters and newlines are shown as escapes, never executed."""
    return "error: " + printable(str(error))


if __name__ == "__main__":
    main()
