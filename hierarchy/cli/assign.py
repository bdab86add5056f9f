"""``topicmap assign``: place new documents into a built tree without rebuilding it.

Every input is checked before any model is loaded or anything is written, so bad input costs a
second and leaves no files behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.base.safe_text import clip, printable
from topicmap.hierarchy.cli.options import (
    CacheOpt,
    EmbedderOpt,
    EmbeddingModelOpt,
    EngineName,
    NoCacheOpt,
    SchedulerOpt,
    SeedOpt,
    embedder_choice,
    embedding_cache_dir,
)
from topicmap.hierarchy.cli.trends import undated_note
from topicmap.hierarchy.cli.writes import WaitOpt, claim_outputs
from topicmap.hierarchy.tree.summary import LABEL_PRINT_CHARS
from topicmap.hierarchy.files.readable import check_tree_file


def register(app: typer.Typer) -> None:
    @app.command(
        help=(
            "Place new documents into an existing tree without rebuilding it: each is embedded with the tree's "
            "embedder (or given vectors) and walks down to the closest child centroid until it reaches a leaf. "
            "Sizes and centroids are updated; nodes whose size drifted past --stale-threshold since they were "
            "labelled are flagged for 'topicmap relabel --only-stale'. A tree built with --time-column reads the same "
            "column of the new documents (same format), so 'topicmap trends' and the dashboard count them.\n\n"
            "With --engine dask the new documents are embedded (minilm, openai) and placed on a Dask cluster's "
            "workers; the tree's update and the file are written here. On a tree whose documents are a directory of "
            "Parquet parts, the new documents become one more part and the old parts are not rewritten.\n\n"
            "Example: topicmap assign news.tree.json new_posts.jsonl -o news.tree.json"
        )
    )
    def assign(
        ctx: typer.Context,
        tree_file: Annotated[Path, typer.Argument(help="a tree file")],
        documents: Annotated[Path, typer.Argument(help="new documents: .csv, .tsv, .jsonl, .json or .parquet (optionally .gz)")],
        output: Annotated[Optional[Path], typer.Option("-o", "--output", help="updated tree file [default: overwrite TREE_FILE, atomically]")] = None,
        text_column: Annotated[str, typer.Option(help="column with the text")] = "text",
        id_column: Annotated[Optional[str], typer.Option(help="column with unique ids [default: 'id' if present, else row numbers]")] = None,
        title_column: Annotated[Optional[str], typer.Option(help="column with titles [default: 'title' if present]")] = None,
        embeddings: Annotated[Optional[Path], typer.Option(help=".npy vectors of the new documents, row-aligned, in the tree's space")] = None,
        embedding_column: Annotated[Optional[str], typer.Option(help="column holding each new document's embedding")] = None,
        embedder: EmbedderOpt = None,
        embedding_model: EmbeddingModelOpt = None,
        stale_threshold: Annotated[float, typer.Option(min=0.0, help="flag a node for relabelling when its size changed by more than this share since it was labelled")] = 0.2,
        no_text: Annotated[bool, typer.Option("--no-text", help="do not store the new documents' texts in the tree")] = False,
        skip_bad_dates: Annotated[bool, typer.Option("--skip-bad-dates", help="a tree built with --time-column reads the same column of the new documents; keep those with an empty or unreadable date undated instead of stopping")] = False,
        seed: SeedOpt = 0,
        cache_dir: CacheOpt = None,
        no_cache: NoCacheOpt = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print only the summary line")] = False,
        wait: WaitOpt = 0,
        engine: Annotated[EngineName, typer.Option(help="where the new documents are embedded and placed: local (this process) or dask (a Dask cluster's workers; the same result)")] = EngineName.local,
        scheduler: SchedulerOpt = None,
    ) -> None:
        output = output or tree_file  # the tree file itself is meant to be rewritten: it is no input to protect
        address = None
        if engine is EngineName.dask:
            from topicmap.hierarchy.cli.engine_build import scheduler_address

            address = scheduler_address(scheduler)
        claim_outputs(ctx, {"the new documents": documents, "--embeddings": embeddings}, {"-o": output}, wait)
        check_tree_file(tree_file)  # a missing file is said before NumPy and the tree core load
        from topicmap.hierarchy.inputs.embed import embed_with_cache
        from topicmap.hierarchy.inputs.documents import load_embeddings, read_documents
        from topicmap.hierarchy.tree.embedder import resolve_tree_embedder, tree_dimensions
        from topicmap.hierarchy.tree.treefile import load_tree, save_tree

        tree = load_tree(tree_file)
        time_info = tree.manifest.get("time") if isinstance(tree.manifest.get("time"), dict) else None  # the tree's time column, read as it was at build
        corpus = read_documents(
            documents, text_column=text_column, id_column=id_column, title_column=title_column, embedding_column=embedding_column,
            time_column=time_info["column"] if time_info else None, time_format=time_info.get("format") if time_info else None, skip_bad_dates=skip_bad_dates,
        )
        if corpus.time is not None and corpus.time.bad and not quiet:
            typer.echo(undated_note(corpus.time.column, corpus.time.bad), err=True)
        from topicmap.hierarchy.builder.assign import assign_documents  # scikit-learn: once both inputs have been read

        dims = tree_dimensions(tree)
        if corpus.embeddings is not None:
            if embeddings is not None:
                raise InputError("give embeddings either as a column (--embedding-column) or as a file (--embeddings), not both")
            vectors = corpus.embeddings
        elif embeddings is not None:
            vectors = load_embeddings(embeddings, len(corpus))
        else:
            vectors = None
        if vectors is not None and dims is not None and vectors.shape[1] != dims:
            where = embeddings if embeddings is not None else f"{documents} (column {embedding_column!r})"
            raise InputError(f"{where}: the new documents' embeddings have {vectors.shape[1]} dimensions, the tree's have {dims}")
        model = resolve_tree_embedder(tree, embedder_choice(embedder, embedding_model)) if vectors is None else None
        dask_engine = None
        if address is not None:
            from topicmap.hierarchy.cli import engine_build

            spec = engine_build.worker_embedder(model) if model is not None else None  # refused before connecting
            dask_engine = engine_build.connect_engine(address)
        try:
            if dask_engine is not None:  # embedded (or sent) and placed on the workers
                if spec is not None:
                    vectors, _, _ = engine_build.embedded_on_workers(dask_engine, corpus, spec[0], spec[1], embedding_cache_dir(cache_dir, no_cache))
                else:
                    vectors = dask_engine.load(vectors)
            elif vectors is None:
                assert model is not None
                vectors, _ = embed_with_cache(corpus.embedding_texts(), model, embedding_cache_dir(cache_dir, no_cache))
            width = vectors.shape[1] if hasattr(vectors, "shape") else vectors.dim
            if model is not None and dims is not None and width != dims:
                raise InputError(f"{model.name} gives {width}-dimensional vectors, the tree's have {dims}; pass the tree's embedder with --embedder")
            result = assign_documents(tree, corpus, vectors, threshold=stale_threshold, store_text=not no_text, seed=seed)
        finally:
            if dask_engine is not None:
                dask_engine.close()
        save_tree(result.tree, output)
        if not quiet:
            for leaf, count in sorted(result.leaves.items(), key=lambda kv: -kv[1])[:10]:
                typer.echo(f"  {count:>6} -> {leaf:<10} {printable(clip(result.tree.node(leaf).label, LABEL_PRINT_CHARS))}")
            if result.stale:
                typer.echo(f"flagged for relabelling: {', '.join(result.stale[:20])}{' ...' if len(result.stale) > 20 else ''}")
        relabelled = [i for i in result.refreshed if i not in result.stale]
        if relabelled and not quiet:
            typer.echo(f"keyword labels refreshed: {', '.join(relabelled[:20])}{' ...' if len(relabelled) > 20 else ''}")
        typer.echo(
            f"placed {result.assigned:,} documents on {len(result.leaves):,} leaves; {len(relabelled)} keyword labels refreshed; {len(result.stale)} nodes newly stale "
            f"({result.stale_total} stale in total; refresh with: topicmap relabel {output} --only-stale); wrote {output}"
        )
