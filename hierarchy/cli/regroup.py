"""``topicmap regroup``: form a tree's upper levels from its leaves' names and summaries (the hybrid tree).

Heavy modules (the labeller, the embedders, NumPy work) are imported when the command runs, so
``--help`` answers at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from topicmap.hierarchy.cli.label import TreeArg, claim_tree
from topicmap.hierarchy.cli.options import EmbedderOverride, LLMOptions, with_llm_options
from topicmap.hierarchy.cli.writes import WaitOpt
from topicmap.hierarchy.base.errors import InputError

if TYPE_CHECKING:
    from topicmap.hierarchy.llm.settings import Settings
    from topicmap.hierarchy.labels.regroup_llm import LLMNamer


class Names(str, Enum):
    llm = "llm"
    keywords = "keywords"


class Weighting(str, Enum):
    equal = "equal"
    size = "size"


HELP = (
    "Form the levels above the leaves from what the leaves are about, not from where their centroids lie "
    "(the hybrid tree of Science Hierarchography). The leaves and their documents stay as they are.\n\n"
    "1. Leaves without an LLM name are named (as 'topicmap label' does). 2. The names and summaries of the "
    "current top nodes are embedded with the tree's embedder and grouped (Ward linkage cut at the level's count). "
    "3. The LLM names each new group from its members' names and summaries. 2-3 repeat up to the top level, then the "
    "root is named. Node ids are renumbered; the manifest's 'grouping' records how the levels were formed. The result "
    "is a normal tree file for serve, evaluate, assign, relabel and crosstab.\n\n"
    "Level counts default to the tree's own (for a map tree: its coarse topics and top groups), so both trees have as "
    "many nodes per level. Answers are cached: the same command again makes no requests, and an interrupted run resumes. "
    "With --names keywords no LLM is called: the leaves' current labels are grouped and new groups get keyword labels.\n\n"
    "Examples:\n\n"
    "  OPENAI_BASE_URL=http://localhost:11434/v1 topicmap regroup news.tree.json -m llama3.1:8b -o news.hybrid.json\n\n"
    "  topicmap regroup news.tree.json --levels 6,40 -o news.hybrid.json  # SH's 276 -> 40 -> 6\n\n"
    "  topicmap regroup bbc.tree.json --names keywords --embedder minilm -o bbc.hybrid.json  # no LLM\n\n"
    "  topicmap compare bbc.tree.json bbc.hybrid.json --labels category  # which grouping is better here"
)


def register(app: typer.Typer) -> None:
    app.command("regroup", help=HELP)(regroup_command)


@dataclass(frozen=True)
class RegroupInput:
    """What ``topicmap regroup`` reads and how it groups (the LLM options are :class:`LLMOptions`)."""

    tree_path: Path
    output: Path | None
    levels: str | None
    names: Names
    weighting: Weighting
    embedder: EmbedderOverride | None
    embedding_model: str | None


@with_llm_options(omit=("dry_run", "check_fidelity"), help={"no_cache": "Neither read nor write the answer and embedding caches."})
def regroup_command(
    ctx: typer.Context,
    tree_path: TreeArg,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of replacing the tree file (atomically).")] = None,
    levels: Annotated[Optional[str], typer.Option("--levels", help="Nodes per upper level, top first, e.g. 6,40 (each fewer than the leaves). Default: the tree's own counts.", show_default=False)] = None,
    names: Annotated[Names, typer.Option("--names", help="Who names each new group before the next level is formed: llm, or keywords (no LLM; c-TF-IDF labels).")] = Names.llm,
    weighting: Annotated[Weighting, typer.Option("--weighting", help="equal: every topic counts once when grouping; size: weighted by its documents, as centroid linkage does.")] = Weighting.equal,
    embedder: Annotated[Optional[EmbedderOverride], typer.Option("--embedder", help="The model that made the tree's embeddings, when the tree does not say (built from a .npy).", show_default=False)] = None,
    embedding_model: Annotated[Optional[str], typer.Option("--embedding-model", help="Model name for --embedder openai.", show_default=False)] = None,
    llm: LLMOptions = LLMOptions(),
    wait: WaitOpt = 0,
) -> None:
    claim_tree(ctx, tree_path, output, llm, wait)
    run_regroup(RegroupInput(tree_path, output, levels, names, weighting, embedder, embedding_model), llm)


def run_regroup(asked: RegroupInput, llm: LLMOptions) -> None:
    from topicmap.hierarchy.builder.params import parse_levels
    from topicmap.hierarchy.cli.options import embedder_choice, embedding_cache_dir
    from topicmap.hierarchy.labels.regroup import RegroupOptions, check_levels, regroup_tree
    from topicmap.hierarchy.tree.embedder import embed_texts, resolve_tree_embedder
    from topicmap.hierarchy.tree.treefile import load_tree, save_tree

    out_path = asked.output or asked.tree_path
    tree = load_tree(asked.tree_path)
    levels = parse_levels(asked.levels)
    if levels is not None:
        check_levels(levels, len(tree.leaves()))
    text_embedder = resolve_tree_embedder(tree, embedder_choice(asked.embedder, asked.embedding_model))
    embed_cache = embedding_cache_dir(None, llm.no_cache)
    namer, settings = _llm_namer(llm) if asked.names is Names.llm else (None, None)

    from topicmap.hierarchy.base.progress import counter

    bar = counter(0, "regroup", "level", enabled=llm.show_progress())

    def on_level(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    options = RegroupOptions(levels=levels, weighting=asked.weighting.value, names=asked.names.value)
    try:
        named_leaves = namer.name_leaves(tree) if namer is not None else 0
        regrouped, report = regroup_tree(
            tree, lambda texts: embed_texts(texts, text_embedder, tree, embed_cache, "names and summaries"), namer, options, text_embedder.name, on_level,
        )
    except KeyboardInterrupt:
        bar.close()
        typer.echo("interrupted: every answer received is cached; run the same command again to resume", err=True)
        raise typer.Exit(130) from None
    bar.close()
    lines = [
        f"regrouped {report.leaves:,} leaves by their {'LLM names' if asked.names is Names.llm else 'labels'} and summaries "
        f"into levels of {', '.join(map(str, report.nodes_per_level))} nodes (asked {', '.join(map(str, report.levels))}; "
        f"a group of one adds no node), embedded with {text_embedder.name}",
    ]
    if namer is not None and settings is not None:
        from topicmap.hierarchy.cli.label import record_run, summary_text
        from topicmap.hierarchy.llm.pricing import load_prices

        total = namer.total()
        table = load_prices(settings.prices)
        record_run(regrouped, total, settings, table)
        lines.append(f"named {named_leaves:,} leaves that had no LLM name, then every new group and the root:")
        lines.append(summary_text(total, settings, table))
    save_tree(regrouped, out_path)
    lines.append(f"wrote {out_path}")
    typer.echo("\n".join(lines))


def _llm_namer(llm: LLMOptions) -> tuple[LLMNamer, Settings]:
    from topicmap.hierarchy.cli.label import _Progress, plan_run
    from topicmap.hierarchy.labels.regroup_llm import LLMNamer

    settings = llm.settings()
    if not settings.configured:
        raise InputError(
            "regroup names every new group with an LLM and none is configured: set OPENAI_API_KEY, or OPENAI_BASE_URL / "
            "--base-url for a compatible server (Ollama, vLLM, llama.cpp), or pass --names keywords to group without one"
        )
    options, cache = plan_run(settings, llm.use_cache, False)
    show = llm.show_progress()
    return LLMNamer(settings.config, options, cache, progress=lambda: _Progress(enabled=show)), settings
