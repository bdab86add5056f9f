"""Command-line options that several commands share, declared once so their checks, defaults and help agree."""

from __future__ import annotations

import copy
import functools
import inspect
import os
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar, get_args, get_type_hints

import typer

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.builder.params import param

if TYPE_CHECKING:
    from topicmap.hierarchy.llm.settings import SettingFlags, Settings


class EngineName(str, Enum):
    """Where a command's passes over rows run: this process, or a Dask cluster's workers."""

    local = "local"
    dask = "dask"


SchedulerOpt = Annotated[Optional[str], typer.Option(help="--engine dask: the scheduler's address, e.g. tcp://10.0.0.5:8786 [default: $DASK_SCHEDULER_ADDRESS]")]


def build_option(name: str, help: str, into: Callable[[Any], Any] | None = None) -> Any:
    """The typer option of build parameter ``name``, checked by the build parameters' table.

    ``--help`` shows its range or choices as typer shows them; a bad value is refused in the table's
    words on one ``error:`` line (``--leaves 0: must be at least 1``), as ``TopicMap`` and
    ``build_tree`` refuse it, rather than in typer's. ``into`` makes the checked value the type the
    command takes (an Enum of the choices).
    """
    spec = param(name)

    def check(value: Any) -> Any:
        value = getattr(value, "value", value)  # a default given as an Enum member
        if not spec.choices and isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                pass  # the table says "must be a whole number"
        problem = spec.option_error(value)
        if problem:
            raise InputError(problem)
        return value if into is None else into(value)

    if spec.choices:
        return typer.Option(parser=check, help=help)
    return typer.Option(min=spec.least, max=spec.most, parser=check, help=help)


def seed_option(help: str) -> Any:
    """``--seed``: checked by the command line itself, so a bad value is reported as '--seed', not as a NumPy error."""
    return build_option("seed", help)


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


# -- the LLM commands' options: declared once, for label, relabel, extract and regroup -----------------
LLM_ENV_HELP = (
    "Environment: OPENAI_API_KEY (the key; local servers need none), OPENAI_BASE_URL (an OpenAI-compatible "
    "server, e.g. http://localhost:11434/v1 for Ollama, :8000/v1 vLLM, :1234/v1 LM Studio, :8080/v1 llama.cpp), "
    "TOPICMAP_MODEL, TOPICMAP_CONFIG (a TOML file with an 'llm' table). Flags win over variables, variables over the file."
)


@dataclass(frozen=True)
class LLMOptions:
    """The options every LLM command takes, declared once: each field's annotation is its command-line
    option. A command asks for them with a parameter ``llm: LLMOptions`` and :func:`with_llm_options`;
    :meth:`settings` resolves them (with the environment and the config file) into the typed
    :class:`topicmap.hierarchy.llm.settings.Settings` the stages take."""

    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model name as the server knows it (default gpt-4o-mini).")] = None
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="OpenAI-compatible server URL, usually ending in /v1 (env OPENAI_BASE_URL).")] = None
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config file with an 'llm' table (env TOPICMAP_CONFIG).")] = None
    prompt: Annotated[
        Optional[list[str]],
        typer.Option("--prompt", help="Prompt version: 'label_leaf@v1', 'v1' (all prompts), or 'label_leaf=my.user.j2' (your file). Repeatable."),
    ] = None
    concurrency: Annotated[
        Optional[int],
        typer.Option("--concurrency", "-j", help="Requests in flight at once (default 8; 4 with a base URL; 2 for a server on this machine, which answers one at a time)."),
    ] = None
    timeout: Annotated[Optional[float], typer.Option("--timeout", help="Seconds to wait for one answer (default 60; 300 with a base URL; 900 for a server on this machine).")] = None
    max_retries: Annotated[Optional[int], typer.Option("--max-retries", help="Retries on 429/5xx/timeouts/connection errors (default 4).")] = None
    temperature: Annotated[Optional[float], typer.Option("--temperature", help="Sampling temperature (default 0).")] = None
    max_prompt_tokens: Annotated[Optional[int], typer.Option("--max-prompt-tokens", help="Token budget of one prompt, whatever the node size (default 2000).")] = None
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Answer cache directory (default ~/.cache/topicmap/llm).")] = None
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the answer cache.")] = False
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print how many calls and tokens the run would spend; send nothing.")] = False
    prices: Annotated[Optional[Path], typer.Option("--prices", help="TOML price table (USD per million tokens) overriding the built-in one.")] = None
    check_fidelity: Annotated[
        Optional[bool],
        typer.Option(
            "--check-fidelity/--no-check-fidelity",
            help="Send back a name that reads closer to a sibling topic's documents than to its own (embedded with the tree's embedder). "
            "Default: on when that embedder runs on this machine (minilm); --check-fidelity also uses a remote one.",
            show_default=False,
        ),
    ] = None
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr (when it is a terminal).")] = True

    def flags(self) -> SettingFlags:
        """The settings these options set explicitly; the rest come from the environment and the config file."""
        from topicmap.hierarchy.llm.settings import SettingFlags

        return SettingFlags(
            model=self.model, base_url=self.base_url, timeout=self.timeout, concurrency=self.concurrency, max_retries=self.max_retries,
            temperature=self.temperature, max_prompt_tokens=self.max_prompt_tokens, prompt=self.prompt, cache_dir=self.cache_dir, prices=self.prices,
        )  # fmt: skip

    def settings(self) -> Settings:
        """Flags, then environment variables, then ``--config`` (or TOPICMAP_CONFIG), then defaults."""
        from topicmap.hierarchy.llm.settings import environment, resolve_settings

        return resolve_settings(self.flags(), environment(), self.config)

    @property
    def use_cache(self) -> bool:
        return not self.no_cache

    def show_progress(self) -> bool:
        """A bar only when asked for and stderr is a terminal (a log file gets the summary alone)."""
        return self.progress and sys.stderr.isatty()

    def inputs(self) -> dict[str, Path | str | None]:
        """Files these options read, named as the user gave them, so a command never writes over one."""
        files: dict[str, Path | str | None] = {"--config": self.config or os.environ.get("TOPICMAP_CONFIG"), "--prices": self.prices}
        for spec in self.prompt or []:
            if "=" in spec:
                files[f"--prompt {spec.strip()}"] = spec.split("=", 1)[1].strip()
        return files


LLM_OPTION_NAMES = tuple(f.name for f in fields(LLMOptions))
Command = TypeVar("Command", bound=Callable[..., Any])


def with_llm_options(*, omit: Collection[str] = (), own: Collection[str] = (), help: Mapping[str, str] | None = None) -> Callable[[Command], Command]:
    """Give a command the shared LLM options in place of its parameter ``llm: LLMOptions``.

    The command line sees one option per :class:`LLMOptions` field, where ``llm`` stands in the
    signature (so ``--help`` lists them in that order); the command receives them as one ``LLMOptions``.
    ``omit``: options the command does not take (they keep their defaults). ``own``: options the
    command declares itself with another meaning (extract's ``--prompt`` names the extraction prompt);
    they stay in the field's place and reach the command as its own parameter. ``help``: other wording
    for an option whose meaning is the same (regroup's ``--no-cache`` also skips the embedding cache).
    """
    unknown = sorted((set(omit) | set(own) | set(help or {})) - set(LLM_OPTION_NAMES))
    if unknown:
        raise ValueError(f"not LLM options: {', '.join(unknown)}")

    def decorate(command: Command) -> Command:
        hints = get_type_hints(command, include_extras=True)
        shared = _llm_option_hints()
        defaults = {f.name: f.default for f in fields(LLMOptions)}
        signature = inspect.signature(command)
        # all keyword-only (typer passes keywords), so the order is free: it is the order --help shows
        keyword = inspect.Parameter.KEYWORD_ONLY
        mine = {name: p.replace(kind=keyword, annotation=hints.get(name, p.annotation)) for name, p in signature.parameters.items()}
        taken = [name for name in LLM_OPTION_NAMES if name not in omit and name not in own]
        if "llm" not in mine or any(name not in mine for name in own):
            raise TypeError(f"{command.__name__}: needs a parameter 'llm: LLMOptions' and its own {', '.join(own) or 'options'}")
        parameters: list[inspect.Parameter] = []
        for name, parameter in mine.items():
            if name in own:
                continue  # placed with the LLM options below
            if name != "llm":
                parameters.append(parameter)
                continue
            for option in LLM_OPTION_NAMES:
                if option in own:
                    parameters.append(mine[option])
                elif option in taken:
                    annotation = shared[option]
                    if help and option in help:
                        annotation = _with_help(annotation, help[option])
                    parameters.append(inspect.Parameter(option, keyword, default=defaults[option], annotation=annotation))

        @functools.wraps(command)
        def run(**values: Any) -> Any:
            options = LLMOptions(**{name: values.pop(name) for name in taken if name in values})
            return command(**values, llm=options)

        run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        return run  # type: ignore[return-value]

    return decorate


@functools.cache
def _llm_option_hints() -> dict[str, Any]:
    """Each LLM option's annotation with its typer declaration, evaluated once for all the commands."""
    return get_type_hints(LLMOptions, include_extras=True)


def _with_help(annotation: Any, text: str) -> Any:
    """``Annotated[T, typer.Option(...)]`` with another help text (a copy: the shared declaration is untouched)."""
    base, *extras = get_args(annotation)
    changed = []
    for extra in extras:
        if isinstance(extra, typer.models.OptionInfo):
            extra = copy.copy(extra)
            extra.help = text
        changed.append(extra)
    return Annotated[(base, *changed)]  # type: ignore[return-value]
