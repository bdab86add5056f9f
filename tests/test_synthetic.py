"""The synthetic generator: shape, nesting, determinism and texts."""

from __future__ import annotations

import numpy as np
import pytest

from topicmap.hierarchy.builder.synthetic import make_hierarchical_embeddings


def test_shape_dtype_and_unit_rows() -> None:
    data = make_hierarchical_embeddings(1000, branching=(3, 2), dim=32, random_state=1)
    assert data.X.shape == (1000, 32) and data.X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(data.X, axis=1), 1.0, atol=1e-5)
    assert len(data.labels) == 2 and all(level.shape == (1000,) for level in data.labels)


def test_levels_nest_and_have_the_asked_counts() -> None:
    data = make_hierarchical_embeddings(3000, branching=(4, 3), dim=16, random_state=2)
    top, fine = data.labels
    assert np.unique(top).size == 4 and np.unique(fine).size == 12
    for leaf in np.unique(fine):  # every fine cluster lies inside exactly one top cluster
        assert np.unique(top[fine == leaf]).size == 1


def test_deterministic_for_a_seed_and_seeds_differ() -> None:
    a = make_hierarchical_embeddings(200, branching=(3,), dim=8, random_state=5)
    b = make_hierarchical_embeddings(200, branching=(3,), dim=8, random_state=5)
    c = make_hierarchical_embeddings(200, branching=(3,), dim=8, random_state=6)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)


def test_chunked_generation_matches_one_chunk() -> None:
    """Generating in chunks (to bound memory) changes nothing: the same rows, labels and texts, bit for bit."""
    chunked = make_hierarchical_embeddings(500, branching=(2, 2), dim=8, random_state=3, chunk=64, texts=True)  # 7 full chunks + 52 rows
    whole = make_hierarchical_embeddings(500, branching=(2, 2), dim=8, random_state=3, chunk=500, texts=True)
    np.testing.assert_array_equal(chunked.X, whole.X)
    for chunked_level, whole_level in zip(chunked.labels, whole.labels, strict=True):
        np.testing.assert_array_equal(chunked_level, whole_level)
    assert chunked.texts == whole.texts
    np.testing.assert_allclose(np.linalg.norm(chunked.X, axis=1), 1.0, atol=1e-5)


def test_clusters_are_closer_inside_than_across() -> None:
    data = make_hierarchical_embeddings(2000, branching=(4,), dim=64, random_state=4)
    top = data.labels[0]
    centres = np.vstack([data.X[top == k].mean(axis=0) for k in range(4)])
    nearest = np.argmax(data.X @ centres.T, axis=1)
    assert (nearest == top).mean() > 0.95


def test_texts_use_cluster_vocabularies() -> None:
    data = make_hierarchical_embeddings(400, branching=(2, 2), dim=8, texts=True, random_state=8)
    assert data.texts is not None and len(data.texts) == 400
    fine = data.labels[1]
    words_by_cluster = [set(" ".join(t for t, f in zip(data.texts, fine) if f == k).split()) for k in range(4)]
    shared_by_all = set.intersection(*words_by_cluster)
    for k in range(4):  # each fine cluster has words no other cluster uses
        others = set.union(*(w for j, w in enumerate(words_by_cluster) if j != k))
        assert words_by_cluster[k] - others - shared_by_all


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        make_hierarchical_embeddings(0)
    with pytest.raises(ValueError):
        make_hierarchical_embeddings(10, branching=(2, 2), spreads=(1.0,))
