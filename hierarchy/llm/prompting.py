"""Prompt templates as files: ``prompts/<name>/v<N>.system.j2`` and ``v<N>.user.j2``, Jinja2, strict.

A released version is never edited (a test pins their hashes in ``prompts/released.toml``); a
change is a new version. A user's own template file can stand in for any prompt name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from topicmap.hierarchy.base.errors import TopicmapError

LEAF, PARENT, DISTINCT = "label_leaf", "label_parent", "distinct_siblings"
PROMPT_NAMES = (LEAF, PARENT, DISTINCT)
_VERSION_FILE = re.compile(r"^v(\d+)\.system\.j2$")


class PromptError(TopicmapError):
    """A prompt that cannot be found, parsed or rendered."""


@dataclass
class PromptTemplate:
    """One prompt version: a system and a user template, and where they came from."""

    name: str
    version: str
    system_source: str
    user_source: str
    origin: str = "builtin"
    _compiled: tuple[jinja2.Template, jinja2.Template] | None = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def hash(self) -> str:
        text = f"{self.system_source}\0{self.user_source}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def render(self, context: dict[str, Any]) -> list[dict[str, str]]:
        """System and user messages; a variable the template uses but the context lacks is an error."""
        system, user = self._templates()
        try:
            return [
                {"role": "system", "content": system.render(context).strip()},
                {"role": "user", "content": user.render(context).strip()},
            ]
        except jinja2.UndefinedError as exc:
            raise PromptError(f"prompt {self.id} ({self.origin}): {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise PromptError(f"prompt {self.id} ({self.origin}): {exc}") from None

    def _templates(self) -> tuple[jinja2.Template, jinja2.Template]:
        if self._compiled is None:
            env = jinja2.Environment(
                undefined=jinja2.StrictUndefined,
                autoescape=False,  # noqa: S701 - plain text for a model, not HTML
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=False,
            )
            try:
                self._compiled = (env.from_string(self.system_source), env.from_string(self.user_source))
            except jinja2.TemplateSyntaxError as exc:
                raise PromptError(f"prompt {self.id} ({self.origin}): line {exc.lineno}: {exc.message}") from None
        return self._compiled


@dataclass(frozen=True)
class PromptSet:
    """The three prompts a labelling run uses."""

    leaf: PromptTemplate
    parent: PromptTemplate
    distinct: PromptTemplate

    def by_name(self, name: str) -> PromptTemplate:
        return {LEAF: self.leaf, PARENT: self.parent, DISTINCT: self.distinct}[name]


def builtin_versions(name: str) -> list[str]:
    """Released versions of a built-in prompt, oldest first (``["v1", "v2"]``)."""
    folder = resources.files("topicmap.prompts").joinpath(name)
    if not folder.is_dir():
        return []
    numbers = sorted(int(m.group(1)) for entry in folder.iterdir() if (m := _VERSION_FILE.match(entry.name)))
    return [f"v{n}" for n in numbers]


def load_builtin(name: str, version: str | None = None) -> PromptTemplate:
    """A released prompt (``None``: its latest version): the labelling prompts, and every other prompt
    shipped under ``prompts/`` (navigate, extract_facets), so there is one way to read them."""
    versions = builtin_versions(name)
    if name not in PROMPT_NAMES and not versions:
        raise PromptError(f"unknown prompt {name!r}; the prompts are {', '.join(PROMPT_NAMES)}")
    if not versions:
        raise PromptError(f"no versions of prompt {name!r} are installed")
    version = version or versions[-1]
    if version not in versions:
        raise PromptError(f"prompt {name} has no version {version!r}; available: {', '.join(versions)}")
    folder = resources.files("topicmap.prompts").joinpath(name)
    return PromptTemplate(
        name=name,
        version=version,
        system_source=folder.joinpath(f"{version}.system.j2").read_text("utf-8"),
        user_source=folder.joinpath(f"{version}.user.j2").read_text("utf-8"),
    )


def load_file(name: str, path: str | Path) -> PromptTemplate:
    """A user's template: ``foo.user.j2`` (with ``foo.system.j2`` beside it, or the built-in system prompt)."""
    path = Path(path)
    if not path.is_file():
        raise PromptError(f"{path}: no such prompt template file")
    user_source = path.read_text("utf-8")
    system_path = path.with_name(path.name.replace(".user.j2", ".system.j2")) if path.name.endswith(".user.j2") else None
    if system_path is not None and system_path.is_file():
        system_source = system_path.read_text("utf-8")
    else:
        system_source = load_builtin(name).system_source
    template = PromptTemplate(name, "file", system_source, user_source, origin=str(path))
    template.version = f"file-{template.hash[:8]}"
    template._templates()  # a syntax error shows now, before any request
    return template


def resolve_prompts(specs: list[str] | None = None) -> PromptSet:
    """Pick prompts from ``--prompt`` values; anything not named gets the latest built-in version.

    A spec is ``name@vN`` (that version), ``name`` (latest), ``vN`` (that version of every prompt that
    has it) or ``name=PATH`` (a user's template file for that prompt).
    """
    chosen: dict[str, PromptTemplate] = {}
    for spec in specs or []:
        spec = spec.strip()
        if "=" in spec:
            name, path = spec.split("=", 1)
            _check_name(name.strip())
            chosen[name.strip()] = load_file(name.strip(), path.strip())
        elif "@" in spec:
            name, version = spec.split("@", 1)
            _check_label_prompt(name.strip())
            chosen[name.strip()] = load_builtin(name.strip(), version.strip())
        elif re.fullmatch(r"v\d+", spec):
            having = [n for n in PROMPT_NAMES if spec in builtin_versions(n)]
            if not having:
                raise PromptError(f"no prompt has a version {spec!r}")
            for name in having:
                chosen[name] = load_builtin(name, spec)
        elif spec.endswith(".j2") or "/" in spec:
            raise PromptError(f"--prompt {spec}: say which prompt the file replaces, e.g. --prompt {LEAF}={spec}")
        else:
            _check_label_prompt(spec)
            chosen[spec] = load_builtin(spec)
    for name in PROMPT_NAMES:
        chosen.setdefault(name, load_builtin(name))
    return PromptSet(leaf=chosen[LEAF], parent=chosen[PARENT], distinct=chosen[DISTINCT])


def _check_name(name: str) -> None:
    if name not in PROMPT_NAMES:
        raise PromptError(f"unknown prompt {name!r} in --prompt; the prompts are {', '.join(PROMPT_NAMES)}")


def _check_label_prompt(name: str) -> None:
    """Only the labelling prompts can be chosen for a label run (navigate and extract_facets are built-in too)."""
    if name not in PROMPT_NAMES:
        raise PromptError(f"unknown prompt {name!r}; the prompts are {', '.join(PROMPT_NAMES)}")


def estimate_tokens(text: str) -> int:
    """About four characters per token: good enough for budgets and dry runs (no tokenizer download)."""
    return (len(text) + 3) // 4


def messages_tokens(messages: list[dict[str, str]]) -> int:
    return sum(estimate_tokens(m["content"]) + 4 for m in messages) + 2


def untrusted(text: str, limit: int) -> str:
    """Document text made safe to place between delimiters: one line, no angle brackets, bounded.

    Angle brackets become look-alikes so a document can never close its ``<document>`` block and
    pose as instructions; whitespace collapses to save tokens; long text is cut at a word boundary.
    """
    chunk = 2 * limit + 64  # collapsing whitespace only shortens: no need to scan a whole long document
    while True:
        head = " ".join(text[:chunk].split())
        if len(head) > limit or chunk >= len(text):
            break
        chunk *= 4
    text = head.replace("<", "\u2039").replace(">", "\u203a")
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "\u2026" if limit == 1 else ""
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "\u2026"
