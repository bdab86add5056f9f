"""The sub-packages of hierarchy/ import only those below them (docs/architecture.md, "Layout"): read from
the source, lazy imports inside functions included, imports made only for type checkers left out."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HIERARCHY = Path(__file__).resolve().parent.parent / "hierarchy"
ORDER = ("base", "files", "llm", "inputs", "tree", "builder", "labels", "extract", "quality", "analysis", "cli")


def imported_packages(path: Path) -> set[str]:
    """Sub-packages of topicmap.hierarchy that ``path`` imports when it runs (not under ``if TYPE_CHECKING:``);
    ``viz`` for topicmap.viz."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["topicmap", "hierarchy"] and len(parts) > 2:
                found.add(parts[2])
            elif parts[:2] == ["topicmap", "viz"]:
                found.add("viz")
    return found


@pytest.mark.parametrize("package", ORDER)
def test_a_sub_package_imports_only_those_below_it(package: str) -> None:
    allowed = set(ORDER[: ORDER.index(package) + 1]) | ({"viz"} if package == "cli" else set())  # only the CLI serves the explorer
    upward = {
        str(path.relative_to(HIERARCHY)): sorted(imported_packages(path) - allowed)
        for path in sorted((HIERARCHY / package).rglob("*.py"))
        if imported_packages(path) - allowed
    }
    assert upward == {}


def test_every_sub_package_has_its_place() -> None:
    found = {p.name for p in HIERARCHY.iterdir() if (p / "__init__.py").exists()}
    assert found == set(ORDER)
