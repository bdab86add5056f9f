"""The semantic document map (topicmap.hierarchy.builder.semantic_map) and how ``--layout auto`` chooses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.builder.choices import AUTO_UMAP_MAX_DOCS, MIN_MAP_DOCS
from topicmap.hierarchy.builder.map_layout import document_layout, resolve_layout
from topicmap.hierarchy.builder.semantic_map import exact_knn, layout_key, place_by_neighbours, umap_coordinates


def _clusters(n: int = 120, d: int = 12, groups: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % groups
    centres = rng.normal(size=(groups, d)) * 3
    X = (centres[labels] + rng.normal(size=(n, d)) * 0.3).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True), labels


def test_exact_knn_matches_brute_force() -> None:
    X, _ = _clusters(70)
    indices, distances = exact_knn(X, X, 5, exclude_self=True)
    full = 1.0 - X @ X.T
    np.fill_diagonal(full, np.inf)
    expected = np.argsort(full, axis=1, kind="stable")[:, :5]
    assert (np.sort(indices, axis=1) == np.sort(expected, axis=1)).all()
    assert np.allclose(distances, np.take_along_axis(full, expected, axis=1), atol=1e-5)
    assert (np.diff(distances, axis=1) >= -1e-7).all() and (indices != np.arange(70)[:, None]).all()


def test_new_rows_land_among_their_neighbours() -> None:
    embedding = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=np.float32)
    at = place_by_neighbours(embedding, np.array([[0, 1, 2]]), np.array([[0.0, 0.5, 0.5]], dtype=np.float32))
    assert at[0, 0] < 5 and at[0, 1] < 5  # nearest neighbour weighs most
    same = place_by_neighbours(embedding, np.array([[1, 2]]), np.array([[0.2, 0.2]], dtype=np.float32))
    assert np.allclose(same, [[5.0, 5.0]])


def test_umap_map_separates_groups_is_seeded_and_cached(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    X, labels = _clusters(150)
    coords = umap_coordinates(X, seed=0, fit_rows=100, cache_dir=tmp_path)  # 100 fitted, 50 placed by neighbours
    assert coords.shape == (150, 2) and np.isfinite(coords).all()
    centres = np.array([coords[labels == g].mean(axis=0) for g in range(3)])
    spread = max(np.linalg.norm(coords[labels == g] - centres[g], axis=1).mean() for g in range(3))
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3)]
    assert min(gaps) > 2 * spread  # the three groups are three islands
    entry = tmp_path / "layouts" / f"{layout_key(X, 0, 100)}.npy"
    assert entry.is_file()
    assert np.array_equal(np.load(entry), coords)
    np.save(entry, np.full((150, 2), 7.0, dtype=np.float32))  # a cache hit is read, not recomputed
    assert (umap_coordinates(X, seed=0, fit_rows=100, cache_dir=tmp_path) == 7.0).all()
    entry.write_bytes(b"not an array")  # a damaged entry is recomputed, with a warning
    again = umap_coordinates(X, seed=0, fit_rows=100, cache_dir=tmp_path)
    assert np.array_equal(again, coords)  # same seed, same map
    assert "ignoring the damaged layout cache entry" in capsys.readouterr().err
    assert layout_key(X, 1, 100) != layout_key(X, 0, 100) != layout_key(X[::-1].copy(), 0, 100)


def test_auto_layout_by_corpus_size() -> None:
    assert resolve_layout("auto", MIN_MAP_DOCS - 1) == "pca"
    assert resolve_layout("auto", MIN_MAP_DOCS) == "umap"
    assert resolve_layout("auto", AUTO_UMAP_MAX_DOCS) == "umap"
    assert resolve_layout("auto", AUTO_UMAP_MAX_DOCS + 1) == "anchored"
    assert resolve_layout("anchored", 10) == "anchored"
    X, labels = _clusters(20)  # too few for a neighbour graph: umap falls back to PCA, never fails
    parents = np.array([-1, 0, 0, 0])
    coords = document_layout(X, labels + 1, parents, np.zeros((4, X.shape[1])), np.array([20.0, 7, 7, 6]), method="umap")
    assert coords.shape == (20, 2) and np.abs(coords).max() == pytest.approx(1.0)
