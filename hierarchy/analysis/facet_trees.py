"""Several trees of one collection, one per facet (problem, method, finding ...), taken together.

A facet tree is an ordinary tree built from one text column of an extracted file
(``topicmap build docs.facets.jsonl --text-column problem``). Served together, selecting a topic in
one facet shows where its documents sit in another, which needs the trees to hold the same
documents. A tree over a subset (built with ``--skip-empty`` where one facet's note was missing) is
refused rather than allowed: a share such as "40 % of this problem's papers use this method" would
then silently leave out the papers that have no place in the method tree, and the dashboard's table
must be the same table ``topicmap crosstab`` exports, which refuses such pairs too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from topicmap.hierarchy.analysis.crosstab import SHOWN_IDS
from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.base.safe_text import clip
from topicmap.hierarchy.tree.topic_tree import TopicTree

DEFAULT_TEXT_COLUMN = "text"  # a tree built from this column is named by its file instead
TREE_SUFFIXES = (".gz", ".json", ".tree")


@dataclass(frozen=True)
class FacetTree:
    """One facet: its name (shown in the switcher), its tree and the file it came from."""

    name: str
    tree: TopicTree
    source: str


def text_column(tree: TopicTree) -> str | None:
    """The column the tree was built from, as its manifest records it (None for trees made in memory)."""
    column = tree.manifest.get("input", {}).get("text_column") if isinstance(tree.manifest.get("input"), dict) else None
    return column if isinstance(column, str) and column.strip() else None


def file_stem(path: str | Path) -> str:
    """``problem.tree.json`` -> ``problem``; ``out/papers.method.tree.json.gz`` -> ``papers.method``."""
    name = Path(path).name
    changed = True
    while changed:
        changed = False
        for suffix in TREE_SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name, changed = name[: -len(suffix)], True
    return name


def facet_names(trees: Sequence[TopicTree], sources: Sequence[str | Path]) -> list[str]:
    """A distinct, readable name per tree.

    The text column the tree was built from names it (``problem``), unless that is the default
    ``text`` column, in which case the file name does. When two trees would get the same name
    (two trees of one column, e.g. a tree and its regrouped twin) every tree is named by its file,
    and if files still clash a number is added.
    """
    by_column = [text_column(t) for t in trees]
    names = [c if c and c != DEFAULT_TEXT_COLUMN else file_stem(s) for c, s in zip(by_column, sources)]
    if len(set(names)) < len(names):
        names = [file_stem(s) for s in sources]
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 and names.count(name) == 1 else f"{name} ({seen[name]})")
    return out


def check_facet_documents(facets: Sequence[FacetTree]) -> None:
    """Refuse facet trees whose document ids differ, naming the pair, how many ids differ, and a few of them."""
    first = facets[0]
    ids_first = set(first.tree.store.strings("id"))
    for other in facets[1:]:
        ids_other = set(other.tree.store.strings("id"))
        if ids_other == ids_first:
            continue
        parts = []
        for facet, only in ((first, sorted(ids_first - ids_other)), (other, sorted(ids_other - ids_first))):
            if only:
                shown = ", ".join(repr(clip(i, 40)) for i in only[:SHOWN_IDS])
                parts.append(f"{len(only):,} only in {facet.source} (e.g. {shown})")
        raise InputError(
            f"facet trees {first.source} ({first.name}) and {other.source} ({other.name}) are not over the same "
            f"documents: {'; '.join(parts)}; build every facet tree from the same rows (a row whose note is empty in "
            "one facet must be left out of all of them, or kept in all)"
        )


def facet_trees(trees: Sequence[TopicTree], sources: Sequence[str | Path]) -> list[FacetTree]:
    """Name the trees and check they hold the same documents (at least two trees, no file twice)."""
    if len(trees) != len(sources):
        raise ValueError("one source per tree")
    if len(trees) < 2:
        raise InputError("facet trees: give at least two tree files (one tree is served on its own)")
    if len({str(s) for s in sources}) < len(sources):
        raise InputError(f"facet trees: a source is given twice ({', '.join(map(str, sources))})")
    names = facet_names(trees, sources)
    facets = [FacetTree(name, tree, str(source)) for name, tree, source in zip(names, trees, sources)]
    check_facet_documents(facets)
    return facets


def load_facet_trees(paths: Sequence[str | Path]) -> list[FacetTree]:
    """Load tree files (each validated as ``load_tree`` does) and check they can be served together."""
    from topicmap.hierarchy.tree.treefile import load_tree

    if len(paths) < 2:
        raise InputError("facet trees: give at least two tree files (one tree is served on its own)")
    for k, path in enumerate(paths):  # before reading anything large
        if any(Path(path).resolve() == Path(q).resolve() for q in paths[:k]):
            raise InputError(f"{path}: the same tree file is given twice")
    return facet_trees([load_tree(p) for p in paths], [str(p) for p in paths])


__all__ = ["FacetTree", "check_facet_documents", "facet_names", "facet_trees", "file_stem", "load_facet_trees", "text_column"]
