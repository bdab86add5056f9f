"""Regroup the flat ``hierarchy/`` into sub-packages by job and import everything as ``topicmap.*`` (issue 13).

Re-runnable, so a branch written against the old layout can be brought over after a merge:

    python tools/restructure.py move                 # git mv every file of MOVES that is still at its old place
    python tools/restructure.py rewrite              # rewrite imports and dotted names in every tracked .py / .md
    python tools/restructure.py rewrite FILE ...     # ... or in these files only
    python tools/restructure.py check                # list what still names an old module (exit status 1 if any)

A module added on another branch meanwhile (``hierarchy/new_thing.py``) gets a line in MOVES, then ``move`` and
``rewrite`` as above. Both steps are idempotent: every rewritten name starts with ``topicmap.``, which the
rewriter never matches again. Only import lines, dotted module names (code, strings, docstrings) and the file
paths ``hierarchy/<old>.py`` in prose change; nothing else in a file is touched.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Old file -> new file, inside hierarchy/. One job per sub-package (docs/architecture.md lists them).
MOVES: dict[str, str] = {
    # base: what every stage uses; imports nothing heavy
    "hierarchy/errors.py": "hierarchy/base/errors.py",
    "hierarchy/progress.py": "hierarchy/base/progress.py",
    "hierarchy/safe_text.py": "hierarchy/base/safe_text.py",
    "hierarchy/jsontext.py": "hierarchy/base/jsontext.py",
    "hierarchy/settings_check.py": "hierarchy/base/settings_check.py",
    # files: the one way files are written, locked and kept
    "hierarchy/safe_write.py": "hierarchy/files/safe_write.py",
    "hierarchy/file_lock.py": "hierarchy/files/file_lock.py",
    "hierarchy/spreadsheet.py": "hierarchy/files/spreadsheet.py",
    # inputs: documents and their vectors in
    "hierarchy/io.py": "hierarchy/inputs/documents.py",
    "hierarchy/embed.py": "hierarchy/inputs/embed.py",
    "hierarchy/dates.py": "hierarchy/inputs/dates.py",
    "hierarchy/vector_checks.py": "hierarchy/inputs/vector_checks.py",
    # build: vectors -> clusters -> a described tree with a document map
    "hierarchy/pipeline.py": "hierarchy/builder/pipeline.py",
    "hierarchy/build_choices.py": "hierarchy/builder/choices.py",
    "hierarchy/cluster.py": "hierarchy/builder/cluster.py",
    "hierarchy/kmeans.py": "hierarchy/builder/kmeans.py",
    "hierarchy/ward.py": "hierarchy/builder/ward.py",
    "hierarchy/keywords.py": "hierarchy/builder/keywords.py",
    "hierarchy/leaf_keywords.py": "hierarchy/builder/leaf_keywords.py",
    "hierarchy/layout.py": "hierarchy/builder/map_layout.py",
    "hierarchy/semantic_map.py": "hierarchy/builder/semantic_map.py",
    "hierarchy/synthetic.py": "hierarchy/builder/synthetic.py",
    # tree: the topic tree, its file, and what is read straight off it
    "hierarchy/tree.py": "hierarchy/tree/topic_tree.py",
    "hierarchy/treefile.py": "hierarchy/tree/treefile.py",
    "hierarchy/schema/tree-v1.schema.json": "hierarchy/tree/schema/tree-v1.schema.json",
    "hierarchy/schema/tree-v2.schema.json": "hierarchy/tree/schema/tree-v2.schema.json",
    "hierarchy/summary.py": "hierarchy/tree/summary.py",
    "hierarchy/tree_embedder.py": "hierarchy/tree/embedder.py",
    "hierarchy/assign.py": "hierarchy/builder/assign.py",
    # llm: talking to a model (client, cache, settings, prompts, prices, answers)
    "hierarchy/llm.py": "hierarchy/llm/client.py",
    "hierarchy/llm_cache.py": "hierarchy/llm/cache.py",
    "hierarchy/llm_settings.py": "hierarchy/llm/settings.py",
    "hierarchy/api_response.py": "hierarchy/llm/api_response.py",
    "hierarchy/prompting.py": "hierarchy/llm/prompting.py",
    "hierarchy/pricing.py": "hierarchy/llm/pricing.py",
    "hierarchy/json_repair.py": "hierarchy/llm/json_repair.py",
    # labels: names for nodes, checked; regrouping upper levels by those names
    "hierarchy/label.py": "hierarchy/labels/label.py",
    "hierarchy/label_context.py": "hierarchy/labels/context.py",
    "hierarchy/label_fidelity.py": "hierarchy/labels/fidelity.py",
    "hierarchy/label_validate.py": "hierarchy/labels/validate.py",
    "hierarchy/regroup.py": "hierarchy/labels/regroup.py",
    "hierarchy/regroup_llm.py": "hierarchy/labels/regroup_llm.py",
    # extract: LLM notes per document and facet, as new columns
    "hierarchy/extract.py": "hierarchy/extract/stage.py",
    "hierarchy/extract_io.py": "hierarchy/extract/table.py",
    "hierarchy/extract_validate.py": "hierarchy/extract/validate.py",
    "hierarchy/facets.py": "hierarchy/extract/facets.py",
    # quality: how good a tree is (references, navigation, reports)
    "hierarchy/evaluate.py": "hierarchy/quality/evaluate.py",
    "hierarchy/evaluate_refs.py": "hierarchy/quality/refs.py",
    "hierarchy/evaluate_report.py": "hierarchy/quality/report.py",
    "hierarchy/metrics.py": "hierarchy/quality/metrics.py",
    "hierarchy/navigate.py": "hierarchy/quality/navigate.py",
    # analysis: reading one or two finished trees (time, cross tables)
    "hierarchy/trends.py": "hierarchy/analysis/trends.py",
    "hierarchy/trends_report.py": "hierarchy/analysis/trends_report.py",
    "hierarchy/crosstab.py": "hierarchy/analysis/crosstab.py",
    "hierarchy/facet_trees.py": "hierarchy/analysis/facet_trees.py",  # added on the facets branch
    # cli: the command line, one module per command group; reads the environment
    "hierarchy/cli.py": "hierarchy/cli/main.py",
    "hierarchy/cli_core.py": "hierarchy/cli/core.py",
    "hierarchy/cli_crosstab.py": "hierarchy/cli/crosstab.py",
    "hierarchy/cli_evaluate.py": "hierarchy/cli/evaluate.py",
    "hierarchy/cli_extract.py": "hierarchy/cli/extract.py",
    "hierarchy/cli_label.py": "hierarchy/cli/label.py",
    "hierarchy/cli_options.py": "hierarchy/cli/options.py",
    "hierarchy/cli_regroup.py": "hierarchy/cli/regroup.py",
    "hierarchy/cli_serve.py": "hierarchy/cli/serve.py",
    "hierarchy/cli_trends.py": "hierarchy/cli/trends.py",
    "hierarchy/cli_writes.py": "hierarchy/cli/writes.py",
    "hierarchy/facet_demo.py": "hierarchy/cli/facet_demo.py",  # added on the facets branch; uses cli/core.py
}

# Module names added after the first run of MOVES (a file split in two, say): old dotted name -> new one.
RENAMED: dict[str, str] = {}

# Names that moved from one module to another after the split: (module, name) -> the module that has it now.
MOVED_NAMES: dict[tuple[str, str], str] = {
    ("topicmap.hierarchy.inputs.embed", "default_cache_dir"): "topicmap.hierarchy.files.cache_dir",
    ("topicmap.hierarchy.tree.treefile", "write_text_atomic"): "topicmap.hierarchy.files.safe_write",
    ("topicmap.hierarchy.tree.treefile", "write_bytes_atomic"): "topicmap.hierarchy.files.safe_write",
    ("topicmap.hierarchy.tree.treefile", "write_chunks_atomic"): "topicmap.hierarchy.files.safe_write",
    ("topicmap.hierarchy.tree.treefile", "check_writable"): "topicmap.hierarchy.files.safe_write",
    ("topicmap.hierarchy.tree.embedder", "normalise_rows"): "topicmap.hierarchy.inputs.vectors",
    ("topicmap.hierarchy.analysis.trends", "DAY"): "topicmap.hierarchy.inputs.periods",
    ("topicmap.hierarchy.analysis.trends", "FINEST"): "topicmap.hierarchy.inputs.periods",
    ("topicmap.hierarchy.analysis.trends", "PERIODS"): "topicmap.hierarchy.inputs.periods",
    ("topicmap.hierarchy.analysis.trends", "PERIOD_CHOICES"): "topicmap.hierarchy.inputs.periods",
    ("topicmap.hierarchy.analysis.trends", "MAX_PERIODS"): "topicmap.hierarchy.inputs.periods",
    ("topicmap.hierarchy.analysis.trends", "DOCS_PER_PERIOD"): "topicmap.hierarchy.inputs.periods",
    ("topicmap.hierarchy.analysis.trends", "MIN_PERIODS"): "topicmap.hierarchy.inputs.periods",
    ("topicmap.hierarchy.analysis.trends", "period_ordinals"): "topicmap.hierarchy.inputs.periods",
    ("topicmap.hierarchy.analysis.trends", "period_start"): "topicmap.hierarchy.inputs.periods",
    ("topicmap.hierarchy.analysis.trends", "period_label"): "topicmap.hierarchy.inputs.periods",
    ("topicmap.hierarchy.analysis.trends", "choose_period"): "topicmap.hierarchy.inputs.periods",
    ("topicmap.hierarchy.analysis.trends", "resolve_period"): "topicmap.hierarchy.inputs.periods",
    ("topicmap.hierarchy.quality.navigate", "node_text"): "topicmap.hierarchy.tree.node_text",
    ("topicmap.hierarchy.quality.navigate", "SUBTOPIC_KEYWORDS"): "topicmap.hierarchy.tree.node_text",
}

SUBPACKAGES: dict[str, str] = {
    "base": "Foundations every stage uses (errors, progress, untrusted text, bounded JSON); nothing heavy is imported here.",
    "files": "Files written without loss: atomic writes, locks, the cache folder, spreadsheet-safe CSV.",
    "inputs": "Documents and their vectors in: tables, embedders and their cache, time columns, checks on vectors.",
    "builder": "From vectors to a described tree: clustering, keywords, the document map, the build pipeline; new documents placed in a built tree.",
    "tree": "The topic tree, its file format, and what is read straight off a tree (summaries, its embedder).",
    "llm": "Talking to a language model: the client, answer cache, settings, prompt templates, prices, answer parsing.",
    "labels": "Names for every node through an LLM, checked before they are kept; regrouping upper levels by those names.",
    "extract": "LLM notes per document and facet, written back as new columns.",
    "quality": "How good is a tree: reference agreement, navigation by labels, the reports.",
    "analysis": "Reading finished trees: topics over time, node x node tables of two trees, facet trees taken together.",
    "cli": "The ``topicmap`` command line: one module per command group; the only place that reads the environment.",
}

# The three folders at the repository root and the import names they are installed under.
TOP: dict[str, str] = {"hierarchy": "topicmap.hierarchy", "viz": "topicmap.viz", "prompts": "topicmap.prompts"}

SKIP_PARTS = ("bench/results/", "tools/restructure.py")


def module_of(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def module_map() -> dict[str, str]:
    """Old dotted module name -> new dotted module name (``hierarchy.cli_core`` -> ``topicmap.hierarchy.cli.core``)."""
    mapping = {module_of(old): "topicmap." + module_of(new) for old, new in MOVES.items() if old.endswith(".py")}
    mapping.update(RENAMED)
    for folder in ("viz",):  # modules that keep their place: every viz module
        for path in sorted((ROOT / folder).glob("*.py")):
            if path.name != "__init__.py":
                mapping.setdefault(f"{folder}.{path.stem}", f"topicmap.{folder}.{path.stem}")
    return mapping


MODULES = module_map()
DOTTED = re.compile(r"(?<![\w.])(hierarchy|viz|prompts)((?:\.[A-Za-z_]\w*)+)")
# a statement of its own line, or one after "; " (code in a string: ``python -c "import x; from hierarchy import y"``)
FROM_PACKAGE = re.compile(r"(?:^([ \t]*)|(?<=; ))from (hierarchy|viz|prompts) import (\([^)]*\)|[^\n;\"']*)", re.MULTILINE)
PLAIN_IMPORT = re.compile(r"^([ \t]*)import (hierarchy|viz|prompts)([ \t]*(?:#.*)?)$", re.MULTILINE)
RESOURCE = re.compile(r"""(resources\.files\()(["'])(hierarchy|viz|prompts)\2""")
FILE_PATH = re.compile(r"(?<![\w/.])(hierarchy/[\w/]+\.(?:py|json))")
PACKAGE_ATTRIBUTES = {"__version__", "create_app", "__file__", "__path__"}


def new_dotted(match: re.Match[str]) -> str:
    """``hierarchy.cli_core.register`` -> ``topicmap.hierarchy.cli.core.register``; unknown names are left alone."""
    top, rest = match.group(1), match.group(2)
    parts = rest[1:].split(".")
    for cut in range(len(parts), 0, -1):
        old = ".".join([top, *parts[:cut]])
        if old in MODULES:
            return ".".join([MODULES[old], *parts[cut:]])
    if parts[0] in PACKAGE_ATTRIBUTES:
        return f"{TOP[top]}{rest}"
    return match.group(0)


def new_from_package(match: re.Match[str]) -> str:
    """``from hierarchy import cli_core, jsontext as jt`` -> one ``from ... import`` line per new package."""
    indent, top, names = match.group(1), match.group(2), match.group(3)
    inline = indent is None
    indent = indent or ""
    comment = ""
    if not names.startswith("(") and "#" in names:
        names, comment = names.split("#", 1)
        comment = "  #" + comment
    grouped: dict[str, list[str]] = {}
    for item in names.strip("()").replace("\n", " ").split(","):
        item = item.split("#")[0].strip()
        if not item:
            continue
        name, _, alias = (part.strip() for part in item.partition(" as "))
        old = f"{top}.{name}"
        if old in MODULES:
            parent, base = MODULES[old].rsplit(".", 1)
            shown = alias or name
            grouped.setdefault(parent, []).append(base if shown == base else f"{base} as {shown}")
        else:
            grouped.setdefault(TOP[top], []).append(item)
    lines = [import_line(indent, parent, items, wrap=not inline) for parent, items in grouped.items()]
    return ("; " if inline else "\n").join(lines) + comment


def import_line(indent: str, module: str, items: list[str], wrap: bool = True) -> str:
    """``from module import a, b``; past 120 characters one name a line, as a formatter would."""
    line = f"{indent}from {module} import {', '.join(items)}"
    if len(line) > 120 and wrap:
        line = f"{indent}from {module} import (\n" + "".join(f"{indent}    {item},\n" for item in items) + f"{indent})"
    return line


FROM_MODULE = re.compile(r"^([ \t]*)from (topicmap\.[\w.]+) import (\([^)]*\)|[^\n]*)", re.MULTILINE)


def moved_names(match: re.Match[str]) -> str:
    """``from M import a, b`` where ``b`` now lives in N -> ``from M import a`` and ``from N import b``."""
    indent, module, names = match.groups()
    items = [item.strip() for item in names.split("#")[0].strip("() \n").replace("\n", " ").split(",") if item.strip()]
    if not any((module, item.split(" as ")[0].strip()) in MOVED_NAMES for item in items):
        return match.group(0)
    grouped: dict[str, list[str]] = {}
    for item in items:
        grouped.setdefault(MOVED_NAMES.get((module, item.split(" as ")[0].strip()), module), []).append(item)
    return "\n".join(import_line(indent, target, found) for target, found in grouped.items())


def new_path(match: re.Match[str]) -> str:
    return MOVES.get(match.group(1), match.group(1))


def rewrite_text(text: str, prose: bool) -> str:
    """The text with every old module name (and, in prose, file path) in its new form."""
    if not prose:
        text = FROM_PACKAGE.sub(new_from_package, text)
        text = PLAIN_IMPORT.sub(lambda m: f"{m.group(1)}import {TOP[m.group(2)]}{m.group(3)}", text)
        text = RESOURCE.sub(lambda m: f"{m.group(1)}{m.group(2)}{TOP[m.group(3)]}{m.group(2)}", text)
    text = DOTTED.sub(new_dotted, text)
    if not prose:
        text = FROM_MODULE.sub(moved_names, text)
    return FILE_PATH.sub(new_path, text)


def tracked(suffixes: tuple[str, ...]) -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / n for n in names if n.endswith(suffixes) and not n.startswith(SKIP_PARTS) and (ROOT / n).is_file()]


def rewrite(paths: list[Path]) -> int:
    changed = 0
    for path in paths:
        text = path.read_text("utf-8")
        new = rewrite_text(text, prose=path.suffix == ".md")
        if new != text:
            path.write_text(new, "utf-8")
            changed += 1
            print(f"rewrote {path.relative_to(ROOT)}")
    return changed


def move() -> None:
    for old, new in MOVES.items():
        source, target = ROOT / old, ROOT / new
        if not source.exists() or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "mv", old, new], cwd=ROOT, check=True)
        print(f"moved {old} -> {new}")
    for name, doc in SUBPACKAGES.items():
        init = ROOT / "hierarchy" / name / "__init__.py"
        if not init.exists():
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text(f'"""{doc}"""\n', "utf-8")
            subprocess.run(["git", "add", str(init.relative_to(ROOT))], cwd=ROOT, check=True)
            print(f"created {init.relative_to(ROOT)}")


def check() -> int:
    """Lines that still name an old module or path; 0 when there are none."""
    left = 0
    for path in tracked((".py", ".md")):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if rewrite_text(line, prose=path.suffix == ".md") != line and not line.lstrip().startswith("from ("):
                print(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
                left += 1
    return left


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"move", "rewrite", "check"}:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "move":
        move()
    elif argv[0] == "rewrite":
        paths = [Path(p).resolve() for p in argv[1:]] or tracked((".py", ".md"))
        print(f"{rewrite(paths)} files rewritten")
    else:
        return 1 if check() else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
