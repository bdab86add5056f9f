"""Shared fixtures: small corpora made on the fly, and the repo's own demo data."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n 2: one thread per worker for BLAS/OpenMP/torch, set before numpy loads
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


@pytest.fixture(autouse=True, scope="session")
def _own_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Caches (embeddings, maps, LLM answers) go to a folder of this test session, never to the user's
    ~/.cache/topicmap: no test reads what an earlier run left there, and parallel sessions share nothing."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


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
