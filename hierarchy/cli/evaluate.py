"""Commands: evaluate (quality report), compare (two reports side by side), assign (place new documents).

Every input is checked before any model is loaded or anything is written, so bad input costs a
second and leaves no files behind.
"""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from topicmap.hierarchy.cli.writes import WaitOpt, claim_outputs
from topicmap.hierarchy.cli.options import seed_option
from topicmap.hierarchy.cli.trends import undated_note
from topicmap.hierarchy.base.errors import InputError, TopicmapError
from topicmap.hierarchy.base.safe_text import clip, printable
from topicmap.hierarchy.tree.summary import LABEL_PRINT_CHARS

if TYPE_CHECKING:
    from topicmap.hierarchy.tree.topic_tree import TopicTree


class EmbedderOverride(str, Enum):
    minilm = "minilm"
    openai = "openai"


class NavigatorName(str, Enum):
    embedding = "embedding"
    llm = "llm"
    none = "none"


def _cache_dir(cache_dir: Path | None, no_cache: bool) -> Path | None:
    from topicmap.hierarchy.files.cache_dir import default_cache_dir

    return None if no_cache else (cache_dir or default_cache_dir())


def _embedder_choice(embedder: EmbedderOverride | None, embedding_model: str | None) -> Any:
    from topicmap.hierarchy.tree.embedder import EmbedderChoice

    return EmbedderChoice(
        override=embedder.value if embedder else None,
        model=embedding_model,
        api_key=os.environ.get("OPENAI_API_KEY"),
        base_url=os.environ.get("OPENAI_BASE_URL"),
    )


def _references(tree: TopicTree, labels: list[str], labels_file: Path | None, id_column: str) -> dict[str, Any]:
    from topicmap.hierarchy.quality.refs import references_from_file, references_from_metadata

    if labels_file is not None:
        return references_from_file(tree, str(labels_file), labels or None, id_column=id_column)
    return references_from_metadata(tree, labels) if labels else {}


def _options(
    tree: TopicTree,
    source: str,
    labels: list[str],
    labels_file: Path | None,
    labels_id_column: str,
    embeddings: Path | None,
    embedder: EmbedderOverride | None,
    embedding_model: str | None,
    navigators: list[NavigatorName],
    model: str | None,
    base_url: str | None,
    sample: int | None,
    seed: int,
    silhouette_sample: int,
    tiny: int,
    mix_threshold: float,
    cache_dir: Path | None,
    shared: dict[str, Any] | None = None,
) -> Any:
    """All checks that need no model (labels, references, sample size, vectors file) come first."""
    from topicmap.hierarchy.quality.evaluate import EvaluateOptions, require_labels
    from topicmap.hierarchy.inputs.documents import load_embeddings
    from topicmap.hierarchy.quality.navigate import EmbeddingNavigator, LabellerChat, LLMNavigator, sample_targets
    from topicmap.hierarchy.tree.embedder import resolve_tree_embedder, tree_dimensions

    require_labels(tree, source)
    references = _references(tree, labels, labels_file, labels_id_column)
    wanted = [n for n in dict.fromkeys(navigators) if n is not NavigatorName.none]
    sample = min(DEFAULT_SAMPLE, len(tree.documents)) if sample is None else sample
    if wanted and not tree.documents:
        raise InputError(f"{source}: the tree has no documents, so there is none to find by navigating; skip navigation with --navigator none")
    if wanted:
        sample_targets(tree, sample, seed)
    llm_config = None
    if NavigatorName.llm in wanted:
        from topicmap.hierarchy.llm.settings import environment, resolve_settings

        settings = resolve_settings({"model": model, "base_url": base_url}, environment())
        if not settings.configured:
            raise InputError("--navigator llm needs a chat server: set OPENAI_API_KEY, or OPENAI_BASE_URL / --base-url for a compatible one (Ollama, vLLM, ...)")
        llm_config = settings.config
    vectors = None
    if embeddings is not None:
        vectors = load_embeddings(embeddings, len(tree.documents), expected_dim=tree_dimensions(tree))
    try:
        tree_embedder = resolve_tree_embedder(tree, _embedder_choice(embedder, embedding_model))
        if shared is not None:  # compare: load a model once for both trees
            tree_embedder = shared.setdefault(tree_embedder.name, tree_embedder)
        note = ""
    except TopicmapError as exc:
        if NavigatorName.embedding in wanted:
            raise TopicmapError(f"the embedding navigator cannot run: {exc}; or skip navigation with --navigator none") from None
        tree_embedder, note = None, str(exc)
    if cache_dir is not None and (llm_config is not None or getattr(tree_embedder, "remote", False)):
        from topicmap.hierarchy.base.settings_check import check_cache_dir

        check_cache_dir(cache_dir)  # requests are paid for: a cache that cannot keep their results stops the run now
    built = []
    for name in wanted:
        if name is NavigatorName.embedding:
            built.append(EmbeddingNavigator(tree_embedder, cache_dir))
        else:
            from topicmap.hierarchy.llm.cache import AnswerCache

            answers = AnswerCache(cache_dir / "navigate" if cache_dir is not None else None)
            built.append(LLMNavigator(LabellerChat(llm_config), model=llm_config.model, seed=seed, cache=answers))
    return EvaluateOptions(
        references=references,
        vectors=vectors,
        vectors_source=str(embeddings) if embeddings else "",
        embedder=tree_embedder,
        embedder_note=note,
        navigators=built,
        sample=sample,
        seed=seed,
        silhouette_sample=silhouette_sample,
        tiny_threshold=tiny,
        mix_threshold=mix_threshold,
        cache_dir=cache_dir,
    )


LabelsOpt = Annotated[list[str], typer.Option("--labels", help="reference category column (repeat for several levels, e.g. --labels newsgroup --labels top); read from the documents' columns, or from --labels-file")]
LabelsFileOpt = Annotated[Optional[Path], typer.Option(help="CSV/JSONL with an id column and one column per reference level (all its other columns unless --labels names some)")]
LabelsIdOpt = Annotated[str, typer.Option(help="id column of --labels-file")]
EmbeddingsOpt = Annotated[Optional[Path], typer.Option(help=".npy document vectors, row-aligned with the tree's documents (for silhouette; default: the embedding cache, else embed a sample)")]
EmbedderOpt = Annotated[Optional[EmbedderOverride], typer.Option(help="the model that made the tree's embeddings, when the tree does not say (built from a .npy)")]
EmbeddingModelOpt = Annotated[Optional[str], typer.Option(help="model name for --embedder openai")]
NavigatorOpt = Annotated[list[NavigatorName], typer.Option("--navigator", help="embedding (free, deterministic), llm (needs --model and OPENAI_BASE_URL/OPENAI_API_KEY), none; repeat for several")]
ModelOpt = Annotated[Optional[str], typer.Option(help="chat model for --navigator llm [default: $TOPICMAP_MODEL, the [llm] config, or the labeller's default]")]
BaseUrlOpt = Annotated[Optional[str], typer.Option(help="OpenAI-compatible server for --navigator llm [default: $OPENAI_BASE_URL]; settings as for 'topicmap label'")]
DEFAULT_SAMPLE = 200
SampleOpt = Annotated[Optional[int], typer.Option(help="documents the navigators look for (seeded sample; 200 targets measure accuracy to about ±3.5 points, so compare trees on 1000 or more) [default: 200, or all when fewer]")]
SeedOpt = Annotated[int, seed_option("seed for the samples")]
SilOpt = Annotated[int, typer.Option(min=10, help="documents sampled for silhouette")]
TinyOpt = Annotated[int, typer.Option(min=1, help="nodes with fewer documents count as tiny")]
MixOpt = Annotated[float, typer.Option(min=0.0, max=1.0, help="a node mixes categories when its largest one holds less than this share")]
CacheOpt = Annotated[Optional[Path], typer.Option(help="embedding cache [default: ~/.cache/topicmap]")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="do not read or write the embedding cache")]


def register(app: typer.Typer) -> None:
    @app.command(
        help=(
            "Report a tree's quality: shape per level, leaf sizes, tiny nodes, silhouette per level, sibling-label "
            "distinctness, label fidelity, and navigation accuracy (can a reader find a document from its title "
            "and first 300 characters by reading labels top-down?). With --labels: dendrogram purity, NMI/ARI and "
            "mixed nodes against reference categories.\n\n"
            "Example: topicmap evaluate news.tree.json --labels newsgroup --labels top --json"
        )
    )
    def evaluate(
        ctx: typer.Context,
        tree_file: Annotated[Path, typer.Argument(help="a tree file")],
        labels: LabelsOpt = [],  # noqa: B006 - typer needs a literal default
        labels_file: LabelsFileOpt = None,
        labels_id_column: LabelsIdOpt = "id",
        embeddings: EmbeddingsOpt = None,
        embedder: EmbedderOpt = None,
        embedding_model: EmbeddingModelOpt = None,
        navigator: NavigatorOpt = [NavigatorName.embedding],  # noqa: B006
        model: ModelOpt = None,
        base_url: BaseUrlOpt = None,
        sample: SampleOpt = None,
        seed: SeedOpt = 0,
        silhouette_sample: SilOpt = 1000,
        tiny: TinyOpt = 5,
        mix_threshold: MixOpt = 0.8,
        as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
        output: Annotated[Optional[Path], typer.Option("-o", "--output", help="also write the JSON report to this file")] = None,
        cache_dir: CacheOpt = None,
        no_cache: NoCacheOpt = False,
        wait: WaitOpt = 0,
    ) -> None:
        from topicmap.hierarchy.quality.report import render_report
        from topicmap.hierarchy.tree.treefile import load_tree
        from topicmap.hierarchy.files.safe_write import write_text_atomic

        claim_outputs(ctx, {"the tree file": tree_file, "--labels-file": labels_file, "--embeddings": embeddings}, {"-o": output}, wait)
        tree = load_tree(tree_file)
        from topicmap.hierarchy.quality.evaluate import evaluate_tree  # scikit-learn: once the tree file has been read

        options = _options(
            tree, str(tree_file), labels, labels_file, labels_id_column, embeddings, embedder, embedding_model, navigator,
            model, base_url, sample, seed, silhouette_sample, tiny, mix_threshold, _cache_dir(cache_dir, no_cache),
        )
        report = evaluate_tree(tree, str(tree_file), options).to_dict()
        text = json.dumps(report, indent=2, ensure_ascii=False)
        if output is not None:
            write_text_atomic(output, text + "\n")
        typer.echo(text if as_json else printable(render_report(report), keep_newlines=True))

    @app.command(
        help=(
            "Evaluate two trees the same way (same references, samples and navigators) and show the reports side "
            "by side: another seed, prompt, model or clustering.\n\n"
            "Example: topicmap compare seed0.tree.json seed1.tree.json --labels category"
        )
    )
    def compare(
        tree_a: Annotated[Path, typer.Argument(help="first tree file (A)")],
        tree_b: Annotated[Path, typer.Argument(help="second tree file (B)")],
        labels: LabelsOpt = [],  # noqa: B006
        labels_file: LabelsFileOpt = None,
        labels_id_column: LabelsIdOpt = "id",
        embedder: EmbedderOpt = None,
        embedding_model: EmbeddingModelOpt = None,
        navigator: NavigatorOpt = [NavigatorName.embedding],  # noqa: B006
        model: ModelOpt = None,
        base_url: BaseUrlOpt = None,
        sample: SampleOpt = None,
        seed: SeedOpt = 0,
        silhouette_sample: SilOpt = 1000,
        tiny: TinyOpt = 5,
        mix_threshold: MixOpt = 0.8,
        as_json: Annotated[bool, typer.Option("--json", help="print both reports as JSON {a, b}")] = False,
        cache_dir: CacheOpt = None,
        no_cache: NoCacheOpt = False,
    ) -> None:
        from topicmap.hierarchy.quality.report import render_comparison
        from topicmap.hierarchy.tree.treefile import load_tree

        cache = _cache_dir(cache_dir, no_cache)
        trees = [(str(path), load_tree(path)) for path in (tree_a, tree_b)]
        from topicmap.hierarchy.quality.evaluate import evaluate_tree  # scikit-learn: once the tree files have been read

        shared: dict[str, Any] = {}
        options = [
            _options(tree, source, labels, labels_file, labels_id_column, None, embedder, embedding_model, navigator, model, base_url,
                     sample, seed, silhouette_sample, tiny, mix_threshold, cache, shared)
            for source, tree in trees
        ]
        reports = [evaluate_tree(tree, source, opts).to_dict() for (source, tree), opts in zip(trees, options)]
        if as_json:
            typer.echo(json.dumps({"a": reports[0], "b": reports[1]}, indent=2, ensure_ascii=False))
        else:
            typer.echo(printable(render_comparison(reports[0], reports[1]), keep_newlines=True))

    @app.command(
        help=(
            "Place new documents into an existing tree without rebuilding it: each is embedded with the tree's "
            "embedder (or given vectors) and walks down to the closest child centroid until it reaches a leaf. "
            "Sizes and centroids are updated; nodes whose size drifted past --stale-threshold since they were "
            "labelled are flagged for 'topicmap relabel --only-stale'. A tree built with --time-column reads the same "
            "column of the new documents (same format), so 'topicmap trends' and the dashboard count them.\n\n"
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
    ) -> None:
        from topicmap.hierarchy.inputs.embed import embed_with_cache
        from topicmap.hierarchy.inputs.documents import load_embeddings, read_documents
        from topicmap.hierarchy.tree.embedder import resolve_tree_embedder, tree_dimensions
        from topicmap.hierarchy.tree.treefile import load_tree, save_tree

        output = output or tree_file  # the tree file itself is meant to be rewritten: it is no input to protect
        claim_outputs(ctx, {"the new documents": documents, "--embeddings": embeddings}, {"-o": output}, wait)
        tree = load_tree(tree_file)
        time_info = tree.manifest.get("time") if isinstance(tree.manifest.get("time"), dict) else None  # the tree's time column, read as it was at build
        corpus = read_documents(
            documents, text_column=text_column, id_column=id_column, title_column=title_column, embedding_column=embedding_column,
            time_column=time_info["column"] if time_info else None, time_format=time_info.get("format") if time_info else None, skip_bad_dates=skip_bad_dates,
        )
        if corpus.time is not None and corpus.time.bad and not quiet:
            typer.echo(undated_note(corpus.time.column, corpus.time.bad), err=True)
        from topicmap.hierarchy.build.assign import assign_documents  # scikit-learn: once both inputs have been read

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
        if vectors is None:
            model = resolve_tree_embedder(tree, _embedder_choice(embedder, embedding_model))
            vectors, _ = embed_with_cache(corpus.embedding_texts(), model, _cache_dir(cache_dir, no_cache))
            if dims is not None and vectors.shape[1] != dims:
                raise InputError(f"{model.name} gives {vectors.shape[1]}-dimensional vectors, the tree's have {dims}; pass the tree's embedder with --embedder")
        result = assign_documents(tree, corpus, vectors, threshold=stale_threshold, store_text=not no_text, seed=seed)
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
