"""``topicmap extract``: LLM notes per document for chosen facets (problem, method, finding, ...), as new columns.

Options, settings and messages follow ``topicmap label`` (same flags, same environment, same cache);
the extractor, the OpenAI client and pyarrow are imported when the command runs, not at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from topicmap.hierarchy.cli.options import LLM_ENV_HELP, LLMOptions, with_llm_options
from topicmap.hierarchy.cli.writes import WaitOpt, claim_outputs
from topicmap.hierarchy.base.errors import TopicmapError
from topicmap.hierarchy.llm.pricing import price_for
from topicmap.hierarchy.files.readable import check_table_file

if TYPE_CHECKING:
    from topicmap.hierarchy.extract.stage import ExtractReport
    from topicmap.hierarchy.llm.settings import Settings

MAX_FAILURES_SHOWN = 10

HELP = (
    "Write a short LLM note per document for each facet (problem, method, finding, ...), as new columns.\n\n"
    "Every input column is kept; one text column per facet is added, plus _extract_errors (empty when every facet "
    "came out, else 'facet: reason' items separated by ' | '). A document whose extraction fails keeps empty notes, "
    "and is listed at the end. A note is also empty when the model says the document does not state that facet. "
    "The output has the input's format (JSONL, JSON, CSV, TSV, Parquet; .gz too) unless -o names another.\n\n"
    "Facets: the built-in sets are 'papers' (problem, method, finding) and 'general' (subject, purpose, outcome); "
    "--facets picks some by name, --facet-file adds your own (a TOML file with a 'facets' table of name = \"one-line "
    "instruction\"). Then map each facet on its own: topicmap build docs.facets.jsonl --text-column problem.\n\n"
    "Answers are validated (the reason is sent back on a retry, up to 3 answers), cached (a rerun makes no requests; "
    "an interrupted run resumes where it stopped) and constrained by a JSON schema where the server accepts one.\n\n"
    "Examples:\n\n"
    "  topicmap extract papers.jsonl --facets problem,method,finding -m gpt-4o-mini --dry-run\n\n"
    "  OPENAI_BASE_URL=http://127.0.0.1:8080/v1 topicmap extract papers.jsonl -m qwen2.5-1.5b -o papers.facets.jsonl\n\n"
    "  topicmap extract news.csv --facet-set general -o news.facets.parquet -j 8\n\n"
    "  topicmap extract docs.jsonl --facet-file my_facets.toml --facets problem,dataset\n\n"
    "  topicmap build papers.facets.jsonl --text-column problem -o problem.tree.json\n\n" + LLM_ENV_HELP
)


def register(app: typer.Typer) -> None:
    app.command("extract", help=HELP)(extract_command)


@dataclass(frozen=True)
class ExtractInput:
    """What ``topicmap extract`` reads and which facets it writes (the LLM options are :class:`LLMOptions`)."""

    input: Path
    facets: str | None
    facet_set: str | None
    facet_file: Path | None
    text_column: str
    title_column: str | None
    id_column: str | None
    replace: bool
    json_schema: bool
    refresh: bool
    prompt: str | None  # the extraction prompt's version (extract_facets@v1); not the label prompts of --config


@with_llm_options(omit=("check_fidelity",), own=("prompt",))
def extract_command(
    ctx: typer.Context,
    input: Annotated[Path, typer.Argument(help="documents: .csv, .tsv, .jsonl, .json or .parquet (optionally .gz)", show_default=False)],
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Output file; its suffix picks the format. Default: INPUT with .facets before the suffix.", show_default=False)
    ] = None,
    facets: Annotated[Optional[str], typer.Option("--facets", help="Facet names, comma-separated (default: every facet of the set or file), e.g. problem,method,finding.", show_default=False)] = None,
    facet_set: Annotated[Optional[str], typer.Option("--facet-set", help="Built-in facet set: papers (problem, method, finding) or general (subject, purpose, outcome); 'papers@v1' pins a version. Default: papers, or the set that has every --facets name.", show_default=False)] = None,
    facet_file: Annotated[Optional[Path], typer.Option("--facet-file", help='Your facets: a TOML file with a \'facets\' table, one line each: dataset = "The data the study uses, in one sentence."', show_default=False)] = None,
    text_column: Annotated[str, typer.Option(help="Column with the document text.")] = "text",
    title_column: Annotated[Optional[str], typer.Option(help="Column with a title shown to the model (default: 'title' if present).", show_default=False)] = None,
    id_column: Annotated[Optional[str], typer.Option(help="Column with document ids, used in messages (default: 'id' if present).", show_default=False)] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite input columns that have a facet's name (default: refuse).")] = False,
    json_schema: Annotated[bool, typer.Option("--json-schema/--no-json-schema", help="Constrain answers by a JSON schema (response_format); a server that refuses it gets plain JSON mode, then none.")] = True,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask again even if an answer is cached.")] = False,
    prompt: Annotated[Optional[str], typer.Option("--prompt", help="Prompt version, e.g. extract_facets@v1 (default: the latest).", show_default=False)] = None,
    llm: LLMOptions = LLMOptions(),
    wait: WaitOpt = 0,
) -> None:
    asked = ExtractInput(input, facets, facet_set, facet_file, text_column, title_column, id_column, replace, json_schema, refresh, prompt)
    check_table_file(input)  # a missing file is said before NumPy and the readers load
    out_path = output or _default_output(input)
    _check_format(out_path)
    if not llm.dry_run:
        claim_outputs(ctx, {"the documents": input, "--facet-file": facet_file, **llm.inputs()}, {"-o": out_path}, wait)
    run_extract(asked, llm, out_path)


def _default_output(path: Path) -> Path:
    from topicmap.hierarchy.extract.table import default_output

    return default_output(path)


def _check_format(path: Path) -> None:
    """An output type we cannot write is refused before any request is paid for."""
    from topicmap.hierarchy.base.errors import OutputError
    from topicmap.hierarchy.extract.table import kind_of
    from topicmap.hierarchy.inputs.documents import SUPPORTED

    if kind_of(path) not in SUPPORTED:
        raise OutputError(f"{path}: unsupported output type; use one of {', '.join(SUPPORTED)} (optionally .gz)")


def run_extract(asked: ExtractInput, llm: LLMOptions, out_path: Path) -> None:
    from topicmap.hierarchy.extract.stage import ExtractOptions, estimate_extract, extract_facets
    from topicmap.hierarchy.extract.table import ERRORS_COLUMN, check_new_columns, check_output_format, documents, merged_errors, read_table, write_table
    from topicmap.hierarchy.extract.facets import choose_facets, extract_prompt, load_facet_file
    from topicmap.hierarchy.llm.cache import AnswerCache, default_cache_dir
    from topicmap.hierarchy.llm.pricing import load_prices
    from topicmap.hierarchy.base.settings_check import check_cache_dir

    settings = llm.settings()
    names = asked.facets.split(",") if asked.facets is not None else None
    file_set = load_facet_file(asked.facet_file) if asked.facet_file else None
    chosen = choose_facets(names, asked.facet_set, file_set)
    template = extract_prompt(asked.prompt)
    price_table = load_prices(settings.prices)
    table = read_table(asked.input)
    docs = documents(table, asked.text_column, asked.title_column, asked.id_column)
    check_new_columns(table, chosen.names, asked.text_column, asked.replace)
    check_output_format(table, out_path)
    options = ExtractOptions(template, chosen, max_prompt_tokens=settings.max_prompt_tokens, json_schema=asked.json_schema, refresh=asked.refresh)
    cache_dir = (settings.cache_dir or default_cache_dir()) if llm.use_cache else None
    if llm.dry_run:
        report = estimate_extract(docs, settings.config, options, AnswerCache(cache_dir))
        typer.echo(dry_run_text(report, settings, price_table))
        return
    if not settings.configured:
        raise TopicmapError(
            "no LLM is configured: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (a local OpenAI-compatible server such as "
            "llama.cpp, Ollama, vLLM or LM Studio), or pass --base-url or --config; --dry-run shows the cost first"
        )
    if cache_dir is not None:
        check_cache_dir(cache_dir)  # answers are paid for: a cache that cannot keep them stops the run now
    bar = _Progress(len(docs), enabled=llm.show_progress())
    try:
        run = extract_facets(docs, settings.config, options, AnswerCache(cache_dir), progress=bar.update)
    except KeyboardInterrupt:
        bar.close()
        typer.echo(f"interrupted: nothing was written to {out_path}; the answers received so far are cached: run the same command again to resume", err=True)
        raise typer.Exit(130) from None
    bar.close()
    report = run.report
    if report.aborted:
        kept = "are cached: run the same command again to resume" if cache_dir is not None else "are lost (--no-cache)"
        raise TopicmapError(
            f"{report.aborted}; stopped after {report.done} of {report.planned} documents; nothing was written to {out_path}; "
            f"the answers received so far {kept}"
        )
    results = [r for r in run.results if r is not None]
    from topicmap.hierarchy.extract.stage import error_text

    columns: dict[str, list[str | None]] = {name: [r.values.get(name, "") for r in results] for name in chosen.names}
    columns[ERRORS_COLUMN] = merged_errors(table, [error_text(r) for r in results], chosen.names)
    write_table(table, out_path, columns)
    typer.echo(summary_text(report, settings, price_table))
    typer.echo(f"wrote {out_path}")


class _Progress:
    """A bar over documents: done, requests, cache hits, failures."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self._bar: Any = None

    def update(self, report: ExtractReport) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from topicmap.hierarchy.base.progress import counter

            self._bar = counter(self.total, "extract", "doc")
        self._bar.set_postfix_str(f"calls={report.calls} cached={report.cache_hits} failed={report.failed}", refresh=False)
        self._bar.update(report.done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _cost(report: ExtractReport, model: str, table: dict[str, Any]) -> str:
    price = price_for(model, table)
    if price is None:
        return f"no price known for {model} (add it with --prices)"
    return f"estimated cost ${price.cost(report.prompt_tokens, report.completion_tokens):.4f}"


def _what(report: ExtractReport) -> str:
    return f"{report.prompt}, facets {', '.join(report.facets)} from {report.facet_set}"


def summary_text(report: ExtractReport, settings: Settings, table: dict[str, Any]) -> str:
    lines = [
        f"extract over {report.planned:,} documents with {settings.config.describe()} ({_what(report)}) in {report.seconds:.1f} s",
        f"  {report.extracted:,} extracted, {report.failed:,} failed; {report.cache_hits:,} answers from the cache, "
        f"{report.duplicates:,} duplicate documents answered once, {report.empty:,} without text",
        f"  {report.calls:,} answers in {report.requests:,} HTTP requests ({report.repaired:,} repaired JSON); "
        f"output constrained by: {report.response_format or 'nothing (no request)'}; {report.not_stated:,} notes 'not stated'; "
        f"{report.truncated:,} documents cut to fit {settings.max_prompt_tokens:,} prompt tokens",
        f"  tokens: {report.prompt_tokens:,} prompt + {report.completion_tokens:,} completion; {_cost(report, settings.config.model, table)}",
    ]
    if report.failures:
        lines.append(f"  {len(report.failures):,} documents failed (empty notes, the reason in _extract_errors; a rerun asks them again):")
        lines += [f"    {where}: {reason[:300]}" for where, reason in report.failures[:MAX_FAILURES_SHOWN]]
        if len(report.failures) > MAX_FAILURES_SHOWN:
            lines.append(f"    ... and {len(report.failures) - MAX_FAILURES_SHOWN:,} more")
    return "\n".join(lines)


def dry_run_text(report: ExtractReport, settings: Settings, table: dict[str, Any]) -> str:
    lines = [
        f"dry run for {report.planned:,} documents with {settings.config.describe()} ({_what(report)}); nothing was sent",
        f"  would make about {report.calls:,} requests (more if answers need retries); {report.cache_hits:,} answers already cached, "
        f"{report.duplicates:,} duplicate documents, {report.empty:,} without text",
        f"  about {report.prompt_tokens:,} prompt tokens (at most {report.max_call_prompt_tokens:,} per request) + "
        f"{report.completion_tokens:,} completion tokens; {_cost(report, settings.config.model, table)}",
        f"  {report.truncated:,} documents would be cut to fit {settings.max_prompt_tokens:,} prompt tokens (--max-prompt-tokens)",
    ]
    if not settings.configured:
        lines.append("  note: no OPENAI_API_KEY or OPENAI_BASE_URL is set; a real run needs one")
    return "\n".join(lines)
