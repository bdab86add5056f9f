"""``topicmap label`` and ``topicmap relabel``: LLM labels for every node of a tree file.

The labeller (Jinja, the tree model, the OpenAI client) is imported when a command runs, not when
the command line starts, so ``--help`` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from topicmap.hierarchy.cli.options import LLM_ENV_HELP, LLMOptions, with_llm_options
from topicmap.hierarchy.cli.writes import WaitOpt, claim_outputs
from topicmap.hierarchy.base.errors import TopicmapError
from topicmap.hierarchy.llm.pricing import price_for
from topicmap.hierarchy.files.readable import check_tree_file

if TYPE_CHECKING:
    from topicmap.hierarchy.labels.label import LabelOptions, RunReport
    from topicmap.hierarchy.labels.fidelity import FidelityCheck
    from topicmap.hierarchy.llm.cache import AnswerCache
    from topicmap.hierarchy.llm.settings import Settings
    from topicmap.hierarchy.tree.topic_tree import TopicTree

TreeArg = Annotated[Path, typer.Argument(help="Tree file written by 'topicmap build'.", show_default=False)]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of updating the tree file in place (atomically).")]


def register(app: typer.Typer) -> None:
    app.command(
        "label",
        help=(
            "Label every node of a tree with an LLM (any OpenAI-compatible server), bottom-up.\n\n"
            "Leaves are named from their representative documents, parents from their children; sibling labels are "
            "made distinct. Answers are cached, so running again on an unchanged tree makes no requests, and an "
            "interrupted run resumes where it stopped. With no key and no base URL the tree keeps its keyword labels.\n\n"
            "Examples:\n\n"
            "  OPENAI_API_KEY=sk-... topicmap label tree.json --model gpt-4o-mini --dry-run\n\n"
            "  OPENAI_BASE_URL=http://localhost:11434/v1 topicmap label tree.json -m llama3.1:8b -o labelled.json\n\n"
            "  topicmap label tree.json --prompt label_leaf=my_leaf.user.j2 --concurrency 16\n\n" + LLM_ENV_HELP
        ),
    )(label_command)
    app.command(
        "relabel",
        help=(
            "Label some nodes again, with another prompt or model; never re-clusters, never changes ids.\n\n"
            "With --nodes, the labels above the chosen nodes are refreshed too when their inputs changed; with "
            "--only-failed, --only-missing or --only-stale only the chosen nodes are asked, unless --with-ancestors.\n\n"
            "Examples:\n\n"
            "  topicmap relabel tree.json --only-failed  # retry what failed\n\n"
            "  topicmap relabel tree.json --only-missing --prompt label_leaf@v1\n\n"
            "  topicmap relabel tree.json --nodes '0.3*' --model gpt-4o  # a subtree\n\n"
            "  topicmap relabel tree.json --nodes 0.1,0.2 --refresh -o new.json\n\n" + LLM_ENV_HELP
        ),
    )(relabel_command)


@with_llm_options()
def label_command(ctx: typer.Context, tree_path: TreeArg, output: OutputOpt = None, llm: LLMOptions = LLMOptions(), wait: WaitOpt = 0) -> None:
    claim_tree(ctx, tree_path, output, llm, wait)
    run_labelling(tree_path, output, llm, targets=None, force=False, refresh=False)


@with_llm_options()
def relabel_command(
    ctx: typer.Context,
    tree_path: TreeArg,
    nodes: Annotated[
        Optional[list[str]],
        typer.Option("--nodes", help="Node ids, comma-separated ('0.1,2'; the root is 'root'); 'ID*' is a whole subtree ('0.3*', quoted for the shell), '*' every node. Repeatable. Default: all."),
    ] = None,
    only_missing: Annotated[bool, typer.Option("--only-missing", help="Only nodes without an LLM label (keyword labels).")] = False,
    only_failed: Annotated[bool, typer.Option("--only-failed", help="Only nodes whose last labelling failed.")] = False,
    only_stale: Annotated[bool, typer.Option("--only-stale", help="Only nodes flagged stale by 'topicmap assign' (their size moved past the threshold).")] = False,
    with_ancestors: Annotated[
        Optional[bool],
        typer.Option(
            "--with-ancestors/--without-ancestors",
            help="Also refresh the labels above the chosen nodes. Default: yes with --nodes alone, no with --only-failed/--only-missing/--only-stale.",
            show_default=False,
        ),
    ] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask again even if an answer is cached.")] = False,
    output: OutputOpt = None,
    llm: LLMOptions = LLMOptions(),
    wait: WaitOpt = 0,
) -> None:
    claim_tree(ctx, tree_path, output, llm, wait)
    from topicmap.hierarchy.labels.label import select_nodes
    from topicmap.hierarchy.tree.treefile import load_tree, save_tree

    tree = load_tree(tree_path)
    targets = select_nodes(tree, nodes, only_missing, only_failed, only_stale)
    if not targets:
        typer.echo("nothing to relabel: no node matches the selection")
        if output:  # a script expects the -o file; give it the unchanged tree
            save_tree(tree, output)
        return
    ancestors = with_ancestors if with_ancestors is not None else not (only_missing or only_failed or only_stale)
    run_labelling(tree_path, output, llm, targets=targets, force=True, refresh=refresh, tree=tree, with_ancestors=ancestors)


def claim_tree(ctx: typer.Context, tree_path: Path, output: Path | None, llm: LLMOptions, wait: float) -> None:
    """Lock the file to write before the tree is read, and refuse to write over the config, prices or prompt files;
    then check the tree file is there (before the labeller's imports: a missing file is said at once)."""
    if not llm.dry_run:
        claim_outputs(ctx, llm.inputs(), {"-o": output or tree_path}, wait or 0.0)
    check_tree_file(tree_path)


def run_labelling(
    tree_path: Path,
    output: Path | None,
    llm: LLMOptions,
    targets: frozenset[str] | None,
    force: bool,
    refresh: bool,
    tree: TopicTree | None = None,
    with_ancestors: bool = True,
) -> None:
    from topicmap.hierarchy.labels.label import estimate_run, label_tree
    from topicmap.hierarchy.llm.settings import EXAMPLE_CONFIG
    from topicmap.hierarchy.llm.pricing import load_prices
    from topicmap.hierarchy.tree.treefile import load_tree, save_tree

    settings = llm.settings()
    out_path = output or tree_path
    tree = tree if tree is not None else load_tree(tree_path)
    fidelity, fidelity_note = None, ""
    if not llm.dry_run and settings.configured:
        from topicmap.hierarchy.labels.fidelity import fidelity_check_for

        fidelity, fidelity_note = fidelity_check_for(tree, llm.check_fidelity)
    options, cache = plan_run(settings, llm.use_cache, llm.dry_run, targets, force, refresh, with_ancestors, fidelity)
    price_table = load_prices(settings.prices)
    if llm.dry_run:
        report = estimate_run(tree, settings.config, options, cache)
        typer.echo(dry_run_text(report, settings, price_table))
        return
    if not settings.configured:
        typer.echo(
            "No LLM is configured, so the tree keeps its keyword labels.\n"
            "To label with an LLM, set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (a local OpenAI-compatible server "
            "such as Ollama, vLLM, LM Studio or llama.cpp), or pass --base-url or --config. Example config:\n\n" + EXAMPLE_CONFIG
        )
        if output:
            save_tree(tree, out_path)
            typer.echo(f"wrote {out_path} (unchanged)")
        return
    bar = _Progress(enabled=llm.show_progress())
    try:
        report = label_tree(tree, settings.config, options, cache, checkpoint=lambda: save_tree(tree, out_path), progress=bar.update)
    except KeyboardInterrupt:
        bar.close()
        typer.echo(f"interrupted: the labels finished so far are saved in {out_path} and cached; run the same command again to resume", err=True)
        raise typer.Exit(130) from None
    bar.close()
    report.fidelity = fidelity_note
    if report.aborted:
        raise TopicmapError(
            f"{report.aborted}; stopped after {report.done} of {report.planned} nodes; the labels finished so far are saved in "
            f"{out_path} and cached; run the same command again to resume"
        )
    if record_run(tree, report, settings, price_table):
        save_tree(tree, out_path)
    typer.echo(summary_text(report, settings, price_table))
    typer.echo(f"wrote {out_path}")


def plan_run(
    settings: Settings,
    use_cache: bool,
    dry_run: bool,
    targets: frozenset[str] | None = None,
    force: bool = False,
    refresh: bool = False,
    with_ancestors: bool = True,
    fidelity: FidelityCheck | None = None,
) -> tuple[LabelOptions, AnswerCache]:
    """What a label run needs besides the tree and the client (shared by the CLI and the Python API)."""
    from topicmap.hierarchy.labels.label import LabelOptions
    from topicmap.hierarchy.labels.context import PromptBudget
    from topicmap.hierarchy.llm.cache import AnswerCache, default_cache_dir
    from topicmap.hierarchy.llm.prompting import resolve_prompts
    from topicmap.hierarchy.base.settings_check import check_cache_dir

    cache_dir = (settings.cache_dir or default_cache_dir()) if use_cache else None
    if cache_dir is not None and settings.configured and not dry_run:
        check_cache_dir(cache_dir)  # answers are paid for: a cache that cannot keep them stops the run now
    options = LabelOptions(
        prompts=resolve_prompts(settings.prompts),
        budget=PromptBudget(max_prompt_tokens=settings.max_prompt_tokens),
        targets=targets,
        with_ancestors=with_ancestors,
        force=force,
        refresh=refresh,
        fidelity=fidelity,
    )
    return options, AnswerCache(cache_dir)


def record_run(tree: TopicTree, report: RunReport, settings: Settings, table: dict[str, Any]) -> bool:
    """Keep a finished run in the manifest if it asked anything (or none is kept yet); True if the tree changed."""
    if report.calls or not tree.manifest.get("labelling"):
        tree.manifest["labelling"] = run_record(report, settings, table)
        return True
    return False


def run_record(report: RunReport, settings: Settings, table: dict[str, Any]) -> dict[str, Any]:
    """What the tree file's manifest keeps about the last labelling run that made requests."""
    from datetime import UTC, datetime

    price = price_for(settings.config.model, table)
    record: dict[str, Any] = {
        "model": settings.config.model,
        "prompts": report.prompts,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "calls": report.calls,
        "prompt_tokens": report.prompt_tokens,
        "completion_tokens": report.completion_tokens,
        "failed": report.failed,
        "fidelity_check": report.fidelity,
        "unfaithful": report.unfaithful,
        "names_from_candidates": report.from_candidates,
    }
    if price is not None:
        record["estimated_cost_usd"] = round(price.cost(report.prompt_tokens, report.completion_tokens), 6)
    return record


class _Progress:
    """tqdm bar: nodes done, calls, cache hits, failures, tokens."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None

    def update(self, report: RunReport) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=report.planned, unit="node", file=sys.stderr, dynamic_ncols=True)
        self._bar.set_postfix_str(
            f"calls={report.calls} cached={report.cache_hits} failed={report.failed} tokens={report.prompt_tokens + report.completion_tokens:,}",
            refresh=False,
        )
        self._bar.update(report.done - self._bar.n)  # redraws at most every tqdm.mininterval

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _cost(report: RunReport, model: str, table: dict[str, Any]) -> str:
    price = price_for(model, table)
    if price is None:
        return f"no price known for {model} (add it with --prices)"
    return f"estimated cost ${price.cost(report.prompt_tokens, report.completion_tokens):.4f}"


def summary_text(report: RunReport, settings: Settings, table: dict[str, Any]) -> str:
    lines = [
        f"label run over {report.planned:,} nodes with {settings.config.describe()} ({', '.join(report.prompts)}) in {report.seconds:.1f} s",
        f"  {report.calls:,} calls ({report.label_calls:,} labels, {report.sibling_calls:,} sibling passes), {report.requests:,} HTTP requests; "
        f"{report.cache_hits:,} answers from the cache, {report.kept:,} unchanged, {report.reused:,} single-child reused, "
        f"{report.renamed:,} renamed to keep siblings distinct, {report.failed:,} failed",
        f"  tokens: {report.prompt_tokens:,} prompt + {report.completion_tokens:,} completion "
        f"(at most {report.max_call_prompt_tokens:,} prompt tokens per call); {_cost(report, settings.config.model, table)}",
    ]
    lines.append(f"  names against their siblings' documents: {report.fidelity}" + (f"; {report.unfaithful:,} kept a name that reads closer to a sibling (see label_meta.extra.warning)" if report.unfaithful else ""))
    if report.candidate_calls:
        lines.append(
            f"  {report.candidate_calls:,} nodes broke a rule about their name on every try and were asked for a list of names; "
            f"{report.from_candidates:,} took one that passes (label_meta.extra.name_from_candidates)"
        )
    if report.failed:
        lines.append(
            f"  {report.failed:,} nodes failed and kept their previous labels (the reason is in label_meta.error); "
            "retry them with: topicmap relabel TREE --only-failed"
        )
    return "\n".join(lines)


def dry_run_text(report: RunReport, settings: Settings, table: dict[str, Any]) -> str:
    lines = [
        f"dry run for {report.planned:,} nodes with {settings.config.describe()} ({', '.join(report.prompts)}); nothing was sent",
        f"  would make about {report.calls:,} calls ({report.label_calls:,} labels, {report.sibling_calls:,} sibling passes)"
        + (f", plus up to {report.sibling_groups_unknown:,} sibling passes if new labels collide" if report.sibling_groups_unknown else ""),
        f"  {report.cache_hits:,} answers already cached, {report.kept:,} nodes unchanged, {report.reused:,} single-child nodes reuse their child's label",
        f"  about {report.prompt_tokens:,} prompt tokens (at most {report.max_call_prompt_tokens:,} per call) "
        f"+ {report.completion_tokens:,} completion tokens; {_cost(report, settings.config.model, table)}",
    ]
    if not settings.configured:
        lines.append("  note: no OPENAI_API_KEY or OPENAI_BASE_URL is set, so a real run would keep the keyword labels")
    return "\n".join(lines)
