"""Shared fixtures: small corpora made on the fly, and the repo's own demo data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


@pytest.fixture
def papers_paths() -> tuple[Path, Path]:
    """The 56 paper abstracts shipped in data/ and their MiniLM embeddings."""
    return DATA / "papers.jsonl", DATA / "papers.minilm.npy"


@pytest.fixture
def topic_corpus(tmp_path: Path) -> tuple[Path, Path]:
    """A JSONL corpus of 3 topics x 2 subtopics x 12 docs with hierarchical embeddings on disk."""
    return make_topic_corpus(tmp_path)


def make_topic_corpus(tmp_path: Path) -> tuple[Path, Path]:
    """Plain function behind the ``topic_corpus`` fixture, for use outside pytest too."""
    rng = np.random.default_rng(7)
    vocab = {
        ("sport", "football"): "goal striker league match penalty keeper",
        ("sport", "tennis"): "serve racket wimbledon set deuce court",
        ("money", "markets"): "shares stocks index trading investors bonds",
        ("money", "banks"): "bank lending loans interest mortgage deposit",
        ("science", "space"): "rocket orbit nasa planet telescope launch",
        ("science", "biology"): "cell protein gene dna enzyme tissue",
    }
    tops = sorted({t for t, _ in vocab})
    top_centres = {t: rng.normal(size=32) * 4 for t in tops}
    rows, vectors = [], []
    for (top, sub), words in vocab.items():
        sub_centre = top_centres[top] + rng.normal(size=32) * 1.5
        for i in range(12):
            picked = rng.choice(words.split(), size=6)
            rows.append({"id": f"{sub}-{i}", "title": f"{sub} story {i}", "text": " ".join(picked) + f" report number {i}", "top": top, "sub": sub})
            vectors.append(sub_centre + rng.normal(size=32) * 0.3)
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    emb = tmp_path / "docs.npy"
    np.save(emb, np.asarray(vectors, dtype=np.float32))
    return docs, emb
