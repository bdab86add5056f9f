"""What every command that writes files does first: refuse an output that is an input, check it can be
written, and lock it for the rest of the command (see :mod:`topicmap.hierarchy.files.file_lock`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import typer

from topicmap.hierarchy.files.file_lock import FileLock
from topicmap.hierarchy.files.safe_write import StrPath, check_writable, refuse_same_file

WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait",
        min=0,
        help=(
            "If another topicmap process is writing the same output file, wait up to this many seconds for it to "
            "finish instead of stopping at once. Writers take turns through a lock file .NAME.lock beside the output."
        ),
    ),
]


def claim_outputs(ctx: typer.Context, inputs: Mapping[str, StrPath | None], outputs: Mapping[str, StrPath | None], wait: float = 0.0) -> list[FileLock]:
    """Check the outputs before any work, then hold their locks until the command ends.

    Call it before the command reads what it will rewrite: the lock must cover the whole
    read-modify-write, or two concurrent runs would each write a tree missing the other's changes.
    Keys name each path for messages (``"-o"``, ``"the documents"``); ``None`` and ``"-"`` are skipped.
    The locks are released when the command's context closes, however it ends, or earlier by the
    caller (a command that goes on serving after its write).
    """
    refuse_same_file(inputs, outputs)
    files = [out for out in outputs.values() if out is not None and str(out) != "-"]
    for out in files:
        check_writable(out)
    locks = []
    for out in files:
        lock = ctx.with_resource(FileLock(out, f"topicmap {ctx.info_name}", wait))
        if lock.took_over is not None:
            typer.echo(f"note: {out} was locked by {lock.took_over.describe()}, which ended without releasing it; took over its lock", err=True)
        locks.append(lock)
    return locks
