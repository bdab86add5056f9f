"""``topicmap demo --corpus papers`` with facets: one tree per facet of a recorded extraction shipped in data/.

The recorded extraction (``data/papers.facets.jsonl``: the 56 abstracts' ``id``, ``title``, ``text``
plus ``problem``, ``method`` and ``finding`` notes) is made once with a real model by
:data:`EXTRACT_COMMAND`, so the demo needs no LLM. Each facet's notes are embedded like any
``topicmap build`` input: from ``papers.facets.<facet>.minilm.npy`` beside it when shipped, else with
MiniLM when installed (TF-IDF otherwise), through the embedding cache, so a second demo embeds nothing.
Only the notes are embedded (``build`` would embed title + note), so each tree is shaped by its facet.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from topicmap.hierarchy.analysis.facet_trees import FacetTree, facet_trees

FACETS_FILE = "papers.facets.jsonl"
FACETS = ("problem", "method", "finding")  # the built-in `papers` facet set (prompts/facets/papers)
EXTRACT_COMMAND = "topicmap extract data/papers.jsonl --facets problem,method,finding -m MODEL -o data/papers.facets.jsonl"


@dataclass(frozen=True)
class FacetDemo:
    """Where the demo's facet trees go, per facet."""

    source: Path
    outputs: dict[str, Path]


def facet_vectors_file(folder: Path, facet: str) -> Path:
    return folder / f"papers.facets.{facet}.minilm.npy"


def plan_facet_demo(folder: Path, out_dir: Path) -> FacetDemo | None:
    """The facet trees to build, or None when no recorded extraction is shipped in ``folder``."""
    source = folder / FACETS_FILE
    if not source.exists():
        return None
    return FacetDemo(source, {facet: out_dir / f"papers.{facet}.tree.json" for facet in FACETS})


def missing_note(folder: Path) -> str:
    """What the demo says when it serves the plain tree because there is no recorded extraction."""
    return (
        f"note: no recorded facet extraction at {folder / FACETS_FILE}, so the plain tree is served; to map the papers "
        f"by problem, method and finding, make one with a model: {EXTRACT_COMMAND}"
    )


def embed_notes(notes: list[str], seed: int, cache_dir: Path | None, quiet: bool) -> tuple[object, dict[str, object]]:
    """The notes alone (not title + note, as ``build`` would embed them): a facet tree is shaped by its facet.
    MiniLM when installed, else TF-IDF; through the embedding cache."""
    from topicmap.hierarchy.cli.core import _sentence_transformers_available
    from topicmap.hierarchy.inputs.embed import embed_with_cache, make_embedder
    from topicmap.hierarchy.base.progress import counter

    name = "minilm" if _sentence_transformers_available() else "tfidf"
    embedder = make_embedder(name, seed=seed)
    bar = counter(len(notes), f"embed ({name})", "doc", enabled=not quiet)
    try:
        vectors, _ = embed_with_cache(list(notes), embedder, cache_dir, progress=bar.update)
    finally:
        bar.close()
    return vectors, {"name": embedder.name, "kind": name}


def build_facet_demo(
    plan: FacetDemo, seed: int, cache_dir: Path | None, echo: Callable[[str], None], quiet: bool = False
) -> list[FacetTree]:
    """Build, save and return one tree per facet (checked to hold the same documents)."""
    from topicmap.hierarchy.inputs.documents import file_sha256, load_embeddings, read_documents
    from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs, build_tree
    from topicmap.hierarchy.tree.embedder import word_embedder
    from topicmap.hierarchy.tree.treefile import save_tree

    trees = []
    for facet, output in plan.outputs.items():
        corpus = read_documents(plan.source, text_column=facet)
        shipped = facet_vectors_file(plan.source.parent, facet)
        embed_words = None  # shipped vectors: plain c-TF-IDF keywords, as the demo's other trees (no model loaded)
        if shipped.exists():
            vectors = load_embeddings(shipped, len(corpus))
            info: dict[str, object] = {"name": "sentence-transformers/all-MiniLM-L6-v2", "source": str(shipped), "sha256": file_sha256(shipped)}
        else:
            vectors, info = embed_notes(corpus.texts, seed, cache_dir, quiet)
            # the model is loaded anyway: steered keywords, as `build` does
            embed_words = word_embedder(info, cache_dir, os.environ.get("OPENAI_API_KEY"), os.environ.get("OPENAI_BASE_URL"))
        config = BuildConfig(seed=seed, min_leaf_size=5 if len(corpus) < 200 else 10)
        inputs = BuildInputs(str(plan.source), corpus.sha256, info, columns={"text_column": facet, "id_column": None, "title_column": None})
        tree = build_tree(corpus, vectors, config, inputs, show_progress=not quiet, cache_dir=cache_dir, embed_words=embed_words)
        save_tree(tree, output)
        echo(f"wrote {output} ({facet}: {len(tree):,} topics)")
        trees.append(tree)
    return facet_trees(trees, [str(p) for p in plan.outputs.values()])


__all__ = ["EXTRACT_COMMAND", "FACETS", "FACETS_FILE", "FacetDemo", "build_facet_demo", "missing_note", "plan_facet_demo"]
