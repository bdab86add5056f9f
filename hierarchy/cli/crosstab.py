"""``topicmap crosstab``: the node x node table of two trees over the same documents."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from topicmap.hierarchy.cli.writes import WaitOpt, claim_outputs
from topicmap.hierarchy.files.readable import check_tree_file


class TableFormat(str, Enum):
    long = "long"
    wide = "wide"


HELP = (
    "Cross two trees of the same documents (facet trees built from different text columns, or a tree and its "
    "regrouped twin): how many documents of each node of A, cut at --depth, sit under each node of B, cut at "
    "--depth-b (default: the same depth). A document whose leaf is above the cut counts at its leaf. The trees must "
    "hold the same document ids.\n\n"
    "Without -o a summary is printed: for each node of A, the nodes of B holding most of its documents. With -o a "
    "CSV is written (atomically; cells that a spreadsheet would run as formulas are kept as text): --format long "
    "(default) has one row per pair with documents, share_of_a (the row share) and share_of_b; --format wide has one "
    "row per node of A and one count column per node of B.\n\n"
    "Examples:\n\n"
    "  topicmap crosstab problem.tree.json method.tree.json --depth 1\n\n"
    "  topicmap crosstab problem.tree.json method.tree.json --depth 1 --depth-b 2 -o problem-x-method.csv\n\n"
    "  topicmap crosstab bbc.tree.json bbc.hybrid.json --depth 1 --format wide -o x.csv"
)


def register(app: typer.Typer) -> None:
    app.command("crosstab", help=HELP)(crosstab_command)


def crosstab_command(
    ctx: typer.Context,
    tree_a: Annotated[Path, typer.Argument(help="first tree file (rows)", show_default=False)],
    tree_b: Annotated[Path, typer.Argument(help="second tree file (columns), over the same document ids", show_default=False)],
    depth: Annotated[int, typer.Option("--depth", help="cut of tree A: 1 is the top level under the root")] = 1,
    depth_b: Annotated[Optional[int], typer.Option("--depth-b", help="cut of tree B [default: --depth]", show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="CSV file to write; without it a summary is printed", show_default=False)] = None,
    table_format: Annotated[TableFormat, typer.Option("--format", help="long: one row per pair, with counts and shares; wide: one count column per node of B")] = TableFormat.long,
    keep_zeros: Annotated[bool, typer.Option("--zeros", help="long format: also write pairs with no documents")] = False,
    wait: WaitOpt = 0,
) -> None:
    claim_outputs(ctx, {"tree A": tree_a, "tree B": tree_b}, {"-o": output}, wait)
    check_tree_file(tree_a)  # a missing file is said before NumPy and the tree core load
    check_tree_file(tree_b)
    from topicmap.hierarchy.analysis.crosstab import LONG_HEADER, crosstab, long_rows, render
    from topicmap.hierarchy.base.safe_text import printable
    from topicmap.hierarchy.files.spreadsheet import csv_text
    from topicmap.hierarchy.tree.treefile import load_tree
    from topicmap.hierarchy.files.safe_write import write_text_atomic

    a, b = load_tree(tree_a), load_tree(tree_b)
    table = crosstab(a, b, depth, depth_b, str(tree_a), str(tree_b))
    if output is None:
        typer.echo(printable(render(table), keep_newlines=True))
        return
    if table_format is TableFormat.long:
        text = csv_text(LONG_HEADER, long_rows(table, keep_zeros))
    else:
        header = ["a_node", "a_label", "documents", *(f"{c} {label}" for c, label in zip(table.columns, table.column_labels))]
        rows = [[r, label, int(total), *map(int, counts)] for r, label, total, counts in zip(table.rows, table.row_labels, table.row_totals, table.counts)]
        text = csv_text(header, rows)
    write_text_atomic(output, text)
    typer.echo(f"wrote {output} ({len(table.rows)} nodes of A x {len(table.columns)} nodes of B, {int(table.counts.sum()):,} documents)")
