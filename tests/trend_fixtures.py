"""Dated corpora made on the fly: one topic whose share rises, one that falls, one that stays flat.

Shares move linearly over ``months`` months with exact (not sampled) counts, so the flat topic's
share is constant and only the rising and falling ones can be reported as moving.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

VOCAB = {
    ("sport", "football"): "goal striker league match penalty keeper",
    ("sport", "tennis"): "serve racket wimbledon set deuce court",
    ("money", "markets"): "shares stocks index trading investors bonds",
    ("money", "banks"): "bank lending loans interest mortgage deposit",
    ("science", "space"): "rocket orbit nasa planet telescope launch",
    ("science", "biology"): "cell protein gene dna enzyme tissue",
}
RISING, FALLING, FLAT = "science", "money", "sport"
START = datetime(2022, 1, 1, tzinfo=timezone.utc)


def top_shares(month: int, months: int) -> dict[str, float]:
    """Science rises from 15% to 60% of each month's documents, money falls from 60% to 15%, sport stays 25%."""
    t = month / max(months - 1, 1)
    return {RISING: 0.15 + 0.45 * t, FALLING: 0.60 - 0.45 * t, FLAT: 0.25}


def dated_rows(months: int = 24, per_month: int = 40, seed: int = 3, fmt: str = "iso-date") -> tuple[list[dict[str, Any]], np.ndarray]:
    """Rows (id, title, text, top, sub, date) and row-aligned embeddings with 3 topics x 2 subtopics."""
    rng = np.random.default_rng(seed)
    tops = sorted({t for t, _ in VOCAB})
    top_centres = {t: rng.normal(size=32) * 4 for t in tops}
    sub_centres = {key: top_centres[key[0]] + rng.normal(size=32) * 1.5 for key in VOCAB}
    rows: list[dict[str, Any]] = []
    vectors = []
    for month in range(months):
        shares = top_shares(month, months)
        for top in tops:
            n = round(per_month * shares[top])
            subs = [key for key in VOCAB if key[0] == top]
            for i in range(n):
                key = subs[i % 2]
                day = 1 + (i * 7) % 27
                moment = datetime(START.year + (START.month - 1 + month) // 12, (START.month - 1 + month) % 12 + 1, day, 9 + i % 8, tzinfo=timezone.utc)
                words = rng.choice(VOCAB[key].split(), size=6)
                rows.append({
                    "id": f"{key[1]}-{month}-{i}",
                    "title": f"{key[1]} story {month}-{i}",
                    "text": " ".join(words) + f" report {month} {i}",
                    "top": top,
                    "sub": key[1],
                    "date": format_time(moment, fmt),
                })
                vectors.append(sub_centres[key] + rng.normal(size=32) * 0.3)
    return rows, np.asarray(vectors, dtype=np.float32)


def format_time(moment: datetime, fmt: str) -> Any:
    if fmt == "iso-date":
        return moment.date().isoformat()
    if fmt == "iso-datetime":
        return moment.isoformat().replace("+00:00", "Z")
    if fmt == "epoch":
        return int(moment.timestamp())
    if fmt == "year":
        return moment.year
    raise ValueError(fmt)


def write_dated_corpus(folder: Path, **kwargs: Any) -> tuple[Path, Path]:
    """The dated corpus as JSONL plus its .npy embeddings in ``folder``."""
    rows, vectors = dated_rows(**kwargs)
    docs = folder / "dated.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    emb = folder / "dated.npy"
    np.save(emb, vectors)
    return docs, emb


def node_of_top(tree: Any, top: str, depth: int = 1) -> str:
    """The node at ``depth`` holding most of topic ``top``'s documents."""
    counts: dict[str, int] = {}
    for row, doc in enumerate(tree.documents):
        if doc.metadata.get("top") == top:
            path = tree.document_path(row)
            if len(path) > depth:
                counts[path[depth]] = counts.get(path[depth], 0) + 1
    return max(counts, key=counts.__getitem__)
