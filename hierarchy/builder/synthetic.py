"""Seeded hierarchical embeddings with known structure, for tests and benchmarks.

Real corpora have no single true tree, so checking that a clusterer recovers structure needs data
where the truth is known: cluster centres nested level by level (a top centre, children scattered
around it, grandchildren around those), documents scattered around the deepest centres, everything
L2-normalised like sentence embeddings. Optional short texts draw words from per-node vocabularies,
so keyword extraction on the same rows has something to find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CONSONANTS = "bcdfghjklmnprstvz"
_VOWELS = "aeiou"


@dataclass
class SyntheticCorpus:
    """Rows of ``X`` with their true cluster at every level (``labels[0]`` is the top level)."""

    X: np.ndarray  # (n, dim) float32, rows of unit length
    labels: list[np.ndarray]  # one (n,) int array per level, coarse to fine, nested
    branching: tuple[int, ...]
    texts: list[str] | None = None


def make_hierarchical_embeddings(
    n: int,
    branching: tuple[int, ...] = (6, 4, 4),
    dim: int = 384,
    spreads: tuple[float, ...] | None = None,
    noise: float = 1.5,
    imbalance: float = 0.5,
    texts: bool = False,
    random_state: int = 0,
    chunk: int = 32768,
) -> SyntheticCorpus:
    """``n`` rows in ``prod(branching)`` leaf clusters nested in ``len(branching)`` levels.

    Level-``l`` centres lie at distance about ``spreads[l]`` from their parent (the top level around
    the origin), documents at about ``noise`` from their leaf centre. Cluster sizes are drawn
    log-normally (``imbalance`` is the log-scale sigma) so the data are not artificially balanced.
    Rows are generated in chunks in float32, so a million 384-d rows need about 1.5 GB, not twice that.
    """
    if n < 1 or dim < 2 or not branching or min(branching) < 1:
        raise ValueError("n, dim and every branching factor must be positive")
    levels = len(branching)
    spreads = tuple(spreads) if spreads is not None else tuple(1.0 * 0.6**level for level in range(levels))
    if len(spreads) != levels:
        raise ValueError(f"spreads needs one value per level ({levels}), got {len(spreads)}")
    rng = np.random.default_rng(random_state)
    # Centres level by level; column 0 of `parent_of` maps each finest cluster to its ancestors.
    centres = np.zeros((1, dim))
    paths = np.zeros((1, 0), dtype=np.int64)
    for level, (branch, spread) in enumerate(zip(branching, spreads)):
        children = np.repeat(centres, branch, axis=0)
        children += rng.normal(scale=spread / np.sqrt(dim), size=children.shape)
        index = np.tile(np.arange(branch), centres.shape[0])
        parent = np.repeat(np.arange(centres.shape[0]), branch)
        globally = parent * branch + index
        paths = np.hstack([paths[parent], globally[:, None]])
        centres = children
    n_leaves = centres.shape[0]
    weights = rng.lognormal(sigma=imbalance, size=n_leaves)
    leaf_of_row = rng.choice(n_leaves, size=n, p=weights / weights.sum())
    X = np.empty((n, dim), dtype=np.float32)
    centres32 = centres.astype(np.float32)
    scale = np.float32(noise / np.sqrt(dim))
    for start in range(0, n, chunk):
        rows = leaf_of_row[start : start + chunk]
        block = rng.standard_normal(size=(rows.size, dim), dtype=np.float32)
        block *= scale
        block += centres32[rows]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        X[start : start + chunk] = block
    labels = [paths[leaf_of_row, level] for level in range(levels)]
    corpus_texts = _texts(labels, branching, rng) if texts else None
    return SyntheticCorpus(X=X, labels=labels, branching=tuple(branching), texts=corpus_texts)


def _word(index: int) -> str:
    """A pronounceable made-up word per index, so vocabularies never collide."""
    syllables = []
    index += 1
    while index:
        index, r = divmod(index - 1, len(_CONSONANTS) * len(_VOWELS))
        syllables.append(_CONSONANTS[r // len(_VOWELS)] + _VOWELS[r % len(_VOWELS)])
    return "".join(syllables) + "x" if len(syllables) == 1 else "".join(syllables)


def _texts(labels: list[np.ndarray], branching: tuple[int, ...], rng: np.random.Generator, vocab: int = 6, chunk: int = 65536) -> list[str]:
    """Short texts: words from the vocabularies of each ancestor cluster plus common filler."""
    n = labels[0].size
    lexicon: dict[int, str] = {}
    out: list[str] = []
    for start in range(0, n, chunk):  # in chunks: the word-id matrix for a million rows is large
        stop = min(n, start + chunk)
        offset = 50  # ids below this are filler shared by every document
        parts = [rng.integers(0, offset, size=(stop - start, 3))]
        count = 1
        for level, branch in enumerate(branching):
            count *= branch
            per_level_words = 5 if level == len(branching) - 1 else 3
            picks = rng.integers(0, vocab, size=(stop - start, per_level_words))
            parts.append(offset + labels[level][start:stop, None] * vocab + picks)
            offset += count * vocab
        ids = np.hstack(parts)
        for i in np.unique(ids):
            if int(i) not in lexicon:
                lexicon[int(i)] = _word(int(i))
        out.extend(" ".join(lexicon[i] for i in row) for row in ids.tolist())
    return out


__all__ = ["SyntheticCorpus", "make_hierarchical_embeddings"]
