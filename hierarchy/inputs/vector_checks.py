"""Is there anything to cluster? Degenerate embeddings are named before they become a quietly wrong tree.

All rows the same (identical texts, say) or all zero would give a root-only tree that seems to blame
``--min-leaf-size``; fewer distinct rows than asked-for leaves would give fewer leaves than asked. The
first is an error, the second an error when the count was asked for explicitly and a warning when it
came from a preset. Zero rows among others are a warning: the tree is still right for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from topicmap.hierarchy.base.errors import InputError

_PROJECTION_SEED = 20240601  # fixed: the count must not depend on the build's seed
_CHUNK_ROWS = 16384


def count_distinct_rows(vectors: np.ndarray) -> int:
    """Distinct rows, keyed by one fixed random projection computed in float64.

    Equal rows always get equal keys (each row is summed the same way); different rows would need an
    exactly equal float64 sum to collide, so the count is exact for any real data, in O(rows x dims).
    """
    weights = np.random.default_rng(_PROJECTION_SEED).standard_normal(vectors.shape[1])
    keys = [
        (np.asarray(vectors[start : start + _CHUNK_ROWS], dtype=np.float64) * weights).sum(axis=1)
        for start in range(0, vectors.shape[0], _CHUNK_ROWS)
    ]
    return int(np.unique(np.concatenate(keys)).size) if keys else 0


class RowStats:
    """What :func:`check_clusterable` needs of the vectors, gathered a block at a time in row order
    (out-of-core builds see each row once): the zero rows and one projection key per row."""

    def __init__(self, dim: int) -> None:
        self._keys: list[np.ndarray] = []
        self._zero: list[np.ndarray] = []
        self.n_rows = 0

    def update(self, block: np.ndarray) -> None:
        self.add(block_stats(block, self.n_rows))

    def add(self, stats: tuple[np.ndarray, np.ndarray, int]) -> None:
        """Take the :func:`block_stats` of the next block (computed here or where the block lives)."""
        keys, zero, rows = stats
        self._keys.append(keys)
        self._zero.append(zero)
        self.n_rows += rows

    def zero_rows(self) -> np.ndarray:
        return np.concatenate(self._zero) if self._zero else np.zeros(0, dtype=np.int64)

    def distinct(self) -> int:
        return int(np.unique(np.concatenate(self._keys)).size) if self._keys else 0


def block_stats(block: np.ndarray, first_row: int) -> tuple[np.ndarray, np.ndarray, int]:
    """One block's projection keys, its all-zero rows (numbered from ``first_row``) and its row count."""
    weights = np.random.default_rng(_PROJECTION_SEED).standard_normal(block.shape[1])
    keys = [
        (np.asarray(block[start : start + _CHUNK_ROWS], dtype=np.float64) * weights).sum(axis=1)
        for start in range(0, block.shape[0], _CHUNK_ROWS)
    ]
    zero = np.flatnonzero(~np.asarray(block).any(axis=1)) + first_row
    return (np.concatenate(keys) if keys else np.zeros(0)), zero, int(block.shape[0])


def check_texts_differ(texts: Sequence[str], source: str) -> None:
    """Refuse a corpus whose documents are all the same text, before anything is spent embedding it."""
    if len(texts) > 1 and all(text == texts[0] for text in texts):
        raise InputError(f"{source}: all {len(texts):,} documents have the same text, so there are no topics to find")


def check_clusterable(
    vectors: np.ndarray,
    texts: Sequence[str],
    vectors_source: str,
    texts_source: str,
    wanted_leaves: int,
    leaves_option: str | None,
) -> list[str]:
    """Raise :class:`InputError` when the vectors cannot be split as asked; return warnings otherwise.

    ``wanted_leaves`` is the number of leaf topics the settings aim for; ``leaves_option`` names the
    option that asked for it explicitly (``"--leaves 40"``), or is None when a preset chose it.
    """
    return judge_clusterable(
        vectors.shape[0], np.flatnonzero(~np.asarray(vectors).any(axis=1)), lambda: count_distinct_rows(vectors),
        texts, vectors_source, texts_source, wanted_leaves, leaves_option,
    )


def judge_clusterable(
    n: int,
    zero_rows: np.ndarray,
    count_distinct: Callable[[], int],
    texts: Sequence[str],
    vectors_source: str,
    texts_source: str,
    wanted_leaves: int,
    leaves_option: str | None,
) -> list[str]:
    """:func:`check_clusterable` on what is known of the rows (their number, the zero ones, a count of distinct ones)."""
    if zero_rows.size == n:
        raise InputError(
            f"{vectors_source}: all {n:,} embedding rows are zero vectors, which have no direction to group by; "
            "check how the embeddings were made"
        )
    distinct = count_distinct()
    if distinct == 1:
        check_texts_differ(list(texts), texts_source)
        raise InputError(
            f"{vectors_source}: all {n:,} embedding rows are the same vector, so there are no topics to find; "
            "check how the embeddings were made"
        )
    warnings = []
    if zero_rows.size:
        shown = ", ".join(str(r + 1) for r in zero_rows[:5]) + (", ..." if zero_rows.size > 5 else "")
        warnings.append(
            f"{vectors_source}: {zero_rows.size:,} of {n:,} embedding rows are zero vectors (rows {shown}); "
            "they have no direction, so where they land says nothing about their text"
        )
    if distinct < wanted_leaves:
        repeated = f"only {distinct:,} distinct vectors among {n:,} rows"
        if leaves_option is not None:
            raise InputError(f"{leaves_option}: {vectors_source} has {repeated}, so there cannot be {wanted_leaves:,} leaf topics; ask for at most {distinct:,}")
        warnings.append(f"{vectors_source}: {repeated}, so the tree has at most {distinct:,} leaf topics instead of about {wanted_leaves:,}")
    return warnings
