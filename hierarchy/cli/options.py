"""Command-line options that several commands share, declared once so their checks and messages agree."""

from __future__ import annotations

from typing import Any

import typer

from topicmap.hierarchy.build.choices import SEED_MAX


def seed_option(help: str) -> Any:
    """``--seed``: checked by the command line itself, so a bad value is reported as '--seed', not as a NumPy error."""
    return typer.Option(min=0, max=SEED_MAX, help=help)
