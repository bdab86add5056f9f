"""The ``trends`` command and the time options ``build`` and ``assign`` share.

No NumPy at import: ``cli_core`` reads the option declarations for ``--help``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from topicmap.hierarchy.builder.choices import PERIOD_CHOICES
from topicmap.hierarchy.builder.params import param
from topicmap.hierarchy.cli.writes import WaitOpt, claim_outputs
from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.files.readable import check_tree_file

TimeColumnOpt = Annotated[
    Optional[str],
    typer.Option(
        help=(
            "column with each document's date: ISO dates or datetimes (2024-03-05, 2024-03-05T14:30:00Z; no offset "
            "means UTC), years (2019) or epoch seconds, detected from the column's values; enables 'topicmap trends' "
            "and the dashboard's time panel [default: no times]"
        )
    ),
]
SkipBadDatesOpt = Annotated[
    bool,
    typer.Option("--skip-bad-dates", help="keep documents whose date is empty or unreadable, undated (and say how many), instead of stopping at the first"),
]
PeriodOpt = Annotated[
    str,
    typer.Option(
        help=(
            f"period trends are counted in: {', '.join(PERIOD_CHOICES)}; auto takes the finest that cuts the span into at "
            "most 60 periods of about 10 or more documents each"
        )
    ),
]


def check_period(period: str) -> None:
    problem = param("period").option_error(period)
    if problem:
        raise InputError(problem)


def undated_note(column: str, bad: list[str], limit: int = 5) -> str:
    """One line for stderr: how many documents were kept undated, and where the first ones are."""
    shown = ", ".join(bad[:limit]) + (f", ... {len(bad) - limit} more" if len(bad) > limit else "")
    return f"kept {len(bad):,} documents undated: their {column!r} was empty or unreadable ({shown})"


def register(app: typer.Typer) -> None:
    @app.command(
        help=(
            "Topics over time in a tree built with --time-column: documents per period for every node down to --depth, "
            "and which topics' share of the documents rose or fell fastest.\n\n"
            "Growth is the change of a topic's share of the dated documents from the first period to the last, "
            "fitted over every period by a binomial regression on time, with a 95% interval widened for bursty counts "
            "(the method and why: hierarchy/analysis/trends.py). Rising topics are ranked by the low end of their interval.\n\n"
            "Without -o it prints the fastest rising and falling topics; with -o it writes a CSV (node, label, period, "
            "count, share: share of all dated documents in that period), safe to open in a spreadsheet.\n\n"
            "Example: topicmap trends papers.tree.json\n\n"
            "Example: topicmap trends news.tree.json --depth 1 --period quarter -o trends.csv"
        )
    )
    def trends(
        ctx: typer.Context,
        tree_file: Annotated[Path, typer.Argument(help="a tree file built with --time-column")],
        depth: Annotated[int, typer.Option(min=0, help="deepest level listed (1: top-level topics)")] = 2,
        period: Annotated[str, typer.Option(help=f"period to count in: {', '.join(PERIOD_CHOICES)}; auto takes the one given to build --period, else the finest that cuts the span into at most 60 periods of about 10 or more documents each")] = "auto",
        output: Annotated[Optional[Path], typer.Option("-o", "--output", help="CSV to write ('-' for standard output); without it, the summary is printed")] = None,
        top: Annotated[int, typer.Option(min=1, help="topics listed as rising and as falling in the summary")] = 5,
        wait: WaitOpt = 0,
    ) -> None:
        check_period(period)
        claim_outputs(ctx, {"the tree file": tree_file}, {"-o": output}, wait)
        check_tree_file(tree_file)  # a missing file is said before NumPy and the tree core load
        from topicmap.hierarchy.tree.treefile import load_tree
        from topicmap.hierarchy.files.safe_write import write_text_atomic
        from topicmap.hierarchy.analysis.trends import tree_trends
        from topicmap.hierarchy.analysis.trends_report import trends_csv, trends_summary

        tree = load_tree(tree_file)
        result = tree_trends(tree, None if period == "auto" else period)  # auto: the period build recorded, if any
        if result is None:
            raise InputError(f"{tree_file}: no document has a date; rebuild the tree with --time-column COLUMN to see trends")
        if output is None:
            typer.echo(trends_summary(tree, result, depth, top))
            return
        text = trends_csv(tree, result, depth)
        if str(output) == "-":
            sys.stdout.write(text)
            return
        write_text_atomic(output, text)
        rows = sum(1 for d in result.depth if d <= depth) * len(result.labels)
        typer.echo(f"wrote {output} ({rows:,} rows: {len(result.labels)} {result.period}s, {result.labels[0]} to {result.labels[-1]})", err=True)

