"""Facets: the named fields ``topicmap extract`` asks a model to write for each document.

A facet set is a small TOML file, ``[facets]`` mapping a name (which becomes a column) to a one-line
instruction. Built-in sets are versioned files under ``prompts/facets/<set>/v<N>.toml`` (their hashes
are pinned in ``prompts/released.toml``, like prompt templates); a user's own set is the same format,
given with ``--facet-file``. The extraction prompt itself is ``prompts/extract_facets/v<N>.*.j2``.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.llm.prompting import PromptError, PromptTemplate, builtin_versions, load_builtin

EXTRACT_PROMPT = "extract_facets"
DEFAULT_SET = "papers"
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
MAX_INSTRUCTION_CHARS = 300
_SET_VERSION = re.compile(r"^v(\d+)\.toml$")


@dataclass(frozen=True)
class Facet:
    name: str
    instruction: str


@dataclass(frozen=True)
class FacetSet:
    """Facets from one file; ``id`` is ``papers@v1`` for a built-in set, ``file:NAME-HASH`` for a user's."""

    id: str
    facets: tuple[Facet, ...]
    hash: str
    description: str = ""

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.facets]


def builtin_sets() -> list[str]:
    """Names of the built-in facet sets (``general``, ``papers``)."""
    folder = resources.files("topicmap.prompts").joinpath("facets")
    return sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and _set_versions(entry.name))


def _set_versions(name: str) -> list[str]:
    folder = resources.files("topicmap.prompts").joinpath("facets", name)
    if not folder.is_dir():
        return []
    numbers = sorted(int(m.group(1)) for entry in folder.iterdir() if (m := _SET_VERSION.match(entry.name)))
    return [f"v{n}" for n in numbers]


def load_builtin_set(spec: str) -> FacetSet:
    """``papers`` (latest version) or ``papers@v1``."""
    name, _, version = spec.strip().partition("@")
    versions = _set_versions(name)
    if not versions:
        raise InputError(f"--facet-set {spec!r}: unknown facet set; the built-in sets are {', '.join(builtin_sets())} (or define your own with --facet-file)")
    version = version or versions[-1]
    if version not in versions:
        raise InputError(f"--facet-set {spec!r}: no version {version!r}; available: {', '.join(versions)}")
    text = resources.files("topicmap.prompts").joinpath("facets", name, f"{version}.toml").read_text("utf-8")
    return parse_facet_set(text, f"{name}@{version}", f"built-in facet set {name}@{version}")


def load_facet_file(path: str | Path) -> FacetSet:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such facet file")
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    digest = _hash(text)
    return parse_facet_set(text, f"file:{path.stem}-{digest[:8]}", str(path))


def parse_facet_set(text: str, set_id: str, source: str) -> FacetSet:
    """Check a facet file: a ``[facets]`` table of ``name = "instruction"``; errors name the file and facet."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"facets", "description"})
    if unknown:
        raise InputError(f"{source}: unknown key(s) {', '.join(unknown)}; a facet file has a [facets] table (name = \"one-line instruction\") and an optional description")
    table = data.get("facets")
    if not isinstance(table, dict) or not table:
        raise InputError(f'{source}: no [facets] table; write one line per facet, such as: [facets] then problem = "The problem the paper addresses, in one sentence."')
    facets: list[Facet] = []
    for name, instruction in table.items():
        check_name(name, source)
        if not isinstance(instruction, str):
            raise InputError(f"{source}: facet {name!r}: the instruction must be a string, got {type(instruction).__name__}")
        instruction = " ".join(instruction.split())
        if not instruction:
            raise InputError(f"{source}: facet {name!r}: the instruction is empty; say in one line what to write")
        if len(instruction) > MAX_INSTRUCTION_CHARS:
            raise InputError(f"{source}: facet {name!r}: the instruction has {len(instruction)} characters; keep it to one line of at most {MAX_INSTRUCTION_CHARS}")
        facets.append(Facet(name, instruction))
    description = data.get("description", "")
    return FacetSet(set_id, tuple(facets), _hash(text), description if isinstance(description, str) else "")


def check_name(name: str, source: str) -> None:
    """A facet name becomes a column name: a letter, then letters, digits or ``_``, at most 40."""
    if not NAME.match(name):
        raise InputError(
            f"{source}: facet name {name!r}: use a letter followed by letters, digits or _ (at most 40), such as problem or key_result"
        )


def choose_facets(names: list[str] | None, set_spec: str | None, file_set: FacetSet | None) -> FacetSet:
    """The facets a run extracts, from ``--facets``, ``--facet-set`` and ``--facet-file``.

    Without ``--facets``: every facet of the file, else of the set (default ``papers``). With it, each
    name is looked up in the file first, then in the named set; with neither given, in the first
    built-in set that has all of them (so ``--facets subject,outcome`` finds the general set).
    """
    if names is not None:
        names = [n.strip() for n in names if n.strip()]
        if not names:
            raise InputError("--facets: give at least one facet name, such as --facets problem,method,finding")
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise InputError(f"--facets: {', '.join(duplicated)} named twice")
    need_builtin = set_spec is not None or file_set is None or any(n not in file_set.names for n in names or [])
    builtin = load_builtin_set(set_spec or _set_with(names or [], file_set) or DEFAULT_SET) if need_builtin else None
    available: dict[str, Facet] = {}
    for source in (builtin, file_set):
        if source is not None:
            available.update({f.name: f for f in source.facets})
    if names is None:
        chosen = list(file_set.facets if file_set is not None else builtin.facets)  # type: ignore[union-attr]
    else:
        missing = [n for n in names if n not in available]
        if missing:
            where = " and ".join(s.id for s in (builtin, file_set) if s is not None)
            raise InputError(
                f"--facets: no facet {missing[0]!r} in {where} (facets there: {', '.join(available)}); "
                f"built-in sets: {_catalogue()}; or define it in a --facet-file"
            )
        chosen = [available[n] for n in names]
    parts = [s for s in (builtin, file_set) if s is not None and any(f in s.facets for f in chosen)]
    set_id = "+".join(s.id for s in parts)
    digest = _hash("\n".join(f"{f.name}\t{f.instruction}" for f in chosen))
    return FacetSet(set_id, tuple(chosen), digest, parts[0].description if len(parts) == 1 else "")


def _set_with(names: list[str], file_set: FacetSet | None) -> str | None:
    """The first built-in set holding every name not defined in the file, if any."""
    wanted = [n for n in names if file_set is None or n not in file_set.names]
    if not wanted:
        return None
    for name in [DEFAULT_SET, *[s for s in builtin_sets() if s != DEFAULT_SET]]:
        if set(wanted) <= set(load_builtin_set(name).names):
            return name
    return None


def _catalogue() -> str:
    return "; ".join(f"{name} ({', '.join(load_builtin_set(name).names)})" for name in builtin_sets())


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def extract_prompt(spec: str | None = None) -> PromptTemplate:
    """The extraction prompt: ``extract_facets@v1``, ``v1``, or None for the latest version."""
    version = None
    if spec:
        name, _, version = spec.strip().rpartition("@") if "@" in spec else ("", "", spec.strip())
        if name and name != EXTRACT_PROMPT:
            raise PromptError(f"--prompt {spec!r}: extract uses the prompt {EXTRACT_PROMPT}, e.g. --prompt {EXTRACT_PROMPT}@v1")
    versions = builtin_versions(EXTRACT_PROMPT)
    version = version or versions[-1]
    if version not in versions:
        raise PromptError(f"--prompt {spec!r}: prompt {EXTRACT_PROMPT} has no version {version!r}; available: {', '.join(versions)}")
    return load_builtin(EXTRACT_PROMPT, version)
