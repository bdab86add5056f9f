"""A small made-up corpus with facet columns, and facet trees built from it through the real CLI.

Not a model's output: the notes are written from templates so that the facets are correlated on
purpose (vision problems mostly use convolutional methods, language problems transformers, ...), and
each facet has its own embedding space, so each facet tree has its own shape.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# problem area -> (sub-problems, the method most of its documents use)
PROBLEMS: dict[str, tuple[tuple[str, ...], str]] = {
    "vision": (("image segmentation of scans", "object detection in video"), "convolution"),
    "language": (("question answering over documents", "machine translation of speech"), "transformer"),
    "robotics": (("robot grasping of objects", "legged robot locomotion"), "reinforcement"),
}
METHODS: dict[str, str] = {
    "convolution": "convolutional network with pooling layers",
    "transformer": "transformer attention encoder decoder",
    "reinforcement": "reinforcement learning policy gradient reward",
}
FINDINGS: dict[str, tuple[str, ...]] = {  # by method: two kinds of result each
    "convolution": ("pixel accuracy improves on benchmark scans", "inference runs fast on mobile cameras"),
    "transformer": ("bleu scores rise on translation benchmarks", "longer context windows help answers"),
    "reinforcement": ("success rate rises in simulated trials", "policies transfer from simulation to hardware"),
}
FACETS = ("problem", "method", "finding")
DOCS_PER_SUBPROBLEM = 12
MAIN_METHOD_SHARE = 0.75  # the rest of a problem's documents use another method


def facet_rows(seed: int = 3) -> tuple[list[dict[str, str]], dict[str, np.ndarray]]:
    """Rows with id, title, text and the three facet columns, and one row-aligned matrix per facet."""
    rng = np.random.default_rng(seed)
    method_names = sorted(METHODS)
    centres = {facet: {} for facet in FACETS}  # type: dict[str, dict[str, np.ndarray]]
    rows: list[dict[str, str]] = []
    vectors: dict[str, list[np.ndarray]] = {facet: [] for facet in FACETS}

    def centre(facet: str, key: str, parent: str | None = None, spread: float = 4.0) -> np.ndarray:
        if key not in centres[facet]:
            base = centres[facet][parent] if parent else np.zeros(24)
            centres[facet][key] = base + rng.normal(size=24) * spread
        return centres[facet][key]

    n = 0
    for area, (subs, main) in PROBLEMS.items():
        for sub in subs:
            for i in range(DOCS_PER_SUBPROBLEM):
                method = main if rng.random() < MAIN_METHOD_SHARE else str(rng.choice([m for m in method_names if m != main]))
                finding = FINDINGS[method][i % 2]
                rows.append({
                    "id": f"d{n:03d}",
                    "title": f"paper {n}",
                    "text": f"We study {sub}. We use a {METHODS[method]}. We find that {finding}.",
                    "problem": f"{sub} in {area}",
                    "method": METHODS[method],
                    "finding": finding,
                })
                centre("problem", area)
                vectors["problem"].append(centre("problem", sub, area, 1.5) + rng.normal(size=24) * 0.3)
                vectors["method"].append(centre("method", method) + rng.normal(size=24) * 0.4)
                vectors["finding"].append(centre("finding", finding) + rng.normal(size=24) * 0.4)
                n += 1
    return rows, {facet: np.asarray(v, dtype=np.float32) for facet, v in vectors.items()}


def write_facet_corpus(folder: Path, name: str = "docs.facets.jsonl") -> tuple[Path, dict[str, Path]]:
    """The corpus as JSONL and one ``<facet>.npy`` per facet in ``folder``."""
    rows, vectors = facet_rows()
    folder.mkdir(parents=True, exist_ok=True)
    docs = folder / name
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    paths = {}
    for facet, matrix in vectors.items():
        paths[facet] = folder / f"{facet}.npy"
        np.save(paths[facet], matrix)
    return docs, paths


def build_facet_trees(folder: Path, facets: tuple[str, ...] = FACETS) -> dict[str, Path]:
    """``topicmap build docs.facets.jsonl --text-column FACET --embeddings FACET.npy`` per facet, through the CLI."""
    from tests.cli_helpers import invoke_cli

    docs, vectors = write_facet_corpus(folder)
    out = {}
    for facet in facets:
        out[facet] = folder / f"{facet}.tree.json"
        result = invoke_cli(
            "build", str(docs), "--text-column", facet, "--embeddings", str(vectors[facet]), "--min-leaf-size", "5",
            "--layout", "pca", "-q", "-o", str(out[facet]), cwd=folder,
        )
        assert result.returncode == 0, result.stderr
    return out
