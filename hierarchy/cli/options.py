"""Command-line options that several commands share, declared once so their checks and messages agree."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from topicmap.hierarchy.builder.choices import SEED_MAX


def seed_option(help: str) -> Any:
    """``--seed``: checked by the command line itself, so a bad value is reported as '--seed', not as a NumPy error."""
    return typer.Option(min=0, max=SEED_MAX, help=help)


SeedOpt = Annotated[int, seed_option("seed for the samples")]


class EmbedderOverride(str, Enum):
    minilm = "minilm"
    openai = "openai"


EmbedderOpt = Annotated[Optional[EmbedderOverride], typer.Option(help="the model that made the tree's embeddings, when the tree does not say (built from a .npy)")]
EmbeddingModelOpt = Annotated[Optional[str], typer.Option(help="model name for --embedder openai")]
CacheOpt = Annotated[Optional[Path], typer.Option(help="embedding cache [default: ~/.cache/topicmap]")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="do not read or write the embedding cache")]


def embedding_cache_dir(cache_dir: Path | None, no_cache: bool) -> Path | None:
    """The embedding cache a command uses: ``--cache-dir``, else the shared cache folder; None with ``--no-cache``."""
    from topicmap.hierarchy.files.cache_dir import default_cache_dir

    return None if no_cache else (cache_dir or default_cache_dir())


def embedder_choice(embedder: EmbedderOverride | None, embedding_model: str | None) -> Any:
    """The embedder a tree asks for, overridden from the command line; the API settings come from the environment."""
    from topicmap.hierarchy.tree.embedder import EmbedderChoice

    return EmbedderChoice(
        override=embedder.value if embedder else None,
        model=embedding_model,
        api_key=os.environ.get("OPENAI_API_KEY"),
        base_url=os.environ.get("OPENAI_BASE_URL"),
    )
