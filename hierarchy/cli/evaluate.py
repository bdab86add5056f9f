"""Commands: evaluate (quality report) and compare (two reports side by side).

Every input is checked before any model is loaded or anything is written, so bad input costs a
second and leaves no files behind.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from topicmap.hierarchy.cli.writes import WaitOpt, claim_outputs
from topicmap.hierarchy.cli.options import (
    CacheOpt,
    EmbedderOpt,
    EmbedderOverride,
    EmbeddingModelOpt,
    NoCacheOpt,
    SeedOpt,
    embedder_choice,
    embedding_cache_dir,
)
from topicmap.hierarchy.base.errors import InputError, TopicmapError
from topicmap.hierarchy.base.safe_text import printable
from topicmap.hierarchy.files.readable import check_tree_file

if TYPE_CHECKING:
    from topicmap.hierarchy.tree.topic_tree import TopicTree


class NavigatorName(str, Enum):
    embedding = "embedding"
    llm = "llm"
    none = "none"


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
    sample = min(DEFAULT_SAMPLE, tree.n_documents) if sample is None else sample
    if wanted and not tree.n_documents:
        raise InputError(f"{source}: the tree has no documents, so there is none to find by navigating; skip navigation with --navigator none")
    if wanted:
        sample_targets(tree, sample, seed)
    llm_config = None
    if NavigatorName.llm in wanted:
        from topicmap.hierarchy.llm.settings import SettingFlags, environment, resolve_settings

        settings = resolve_settings(SettingFlags(model=model, base_url=base_url), environment())
        if not settings.configured:
            raise InputError("--navigator llm needs a chat server: set OPENAI_API_KEY, or OPENAI_BASE_URL / --base-url for a compatible one (Ollama, vLLM, ...)")
        llm_config = settings.config
    vectors = None
    if embeddings is not None:
        vectors = load_embeddings(embeddings, tree.n_documents, expected_dim=tree_dimensions(tree))
    try:
        tree_embedder = resolve_tree_embedder(tree, embedder_choice(embedder, embedding_model))
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
NavigatorOpt = Annotated[list[NavigatorName], typer.Option("--navigator", help="embedding (free, deterministic), llm (needs --model and OPENAI_BASE_URL/OPENAI_API_KEY), none; repeat for several")]
ModelOpt = Annotated[Optional[str], typer.Option(help="chat model for --navigator llm [default: $TOPICMAP_MODEL, the [llm] config, or the labeller's default]")]
BaseUrlOpt = Annotated[Optional[str], typer.Option(help="OpenAI-compatible server for --navigator llm [default: $OPENAI_BASE_URL]; settings as for 'topicmap label'")]
DEFAULT_SAMPLE = 200
SampleOpt = Annotated[Optional[int], typer.Option(help="documents the navigators look for (seeded sample; 200 targets measure accuracy to about ±3.5 points, so compare trees on 1000 or more) [default: 200, or all when fewer]")]
SilOpt = Annotated[int, typer.Option(min=10, help="documents sampled for silhouette")]
TinyOpt = Annotated[int, typer.Option(min=1, help="nodes with fewer documents count as tiny")]
MixOpt = Annotated[float, typer.Option(min=0.0, max=1.0, help="a node mixes categories when its largest one holds less than this share")]


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
        claim_outputs(ctx, {"the tree file": tree_file, "--labels-file": labels_file, "--embeddings": embeddings}, {"-o": output}, wait)
        check_tree_file(tree_file)  # a missing file is said before NumPy and the tree core load
        from topicmap.hierarchy.quality.report import render_report
        from topicmap.hierarchy.tree.treefile import load_tree
        from topicmap.hierarchy.files.safe_write import write_text_atomic

        tree = load_tree(tree_file)
        from topicmap.hierarchy.quality.evaluate import evaluate_tree  # scikit-learn: once the tree file has been read

        options = _options(
            tree, str(tree_file), labels, labels_file, labels_id_column, embeddings, embedder, embedding_model, navigator,
            model, base_url, sample, seed, silhouette_sample, tiny, mix_threshold, embedding_cache_dir(cache_dir, no_cache),
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
        check_tree_file(tree_a)
        check_tree_file(tree_b)
        from topicmap.hierarchy.quality.report import render_comparison
        from topicmap.hierarchy.tree.treefile import load_tree

        cache = embedding_cache_dir(cache_dir, no_cache)
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
