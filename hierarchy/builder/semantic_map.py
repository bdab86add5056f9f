"""The semantic document map: UMAP of the reduced vectors, fitted on a sample, the rest placed by neighbours.

Why this shape (numbers in ``bench/results/layout.md``, from ``bench/bench_layout.py``):

* umap-learn's own nearest-neighbour search (NN-descent) and ``transform`` were the slow part on this
  2-core machine; an exact cosine k-NN by matrix products over the (unit-length) reduced rows is a few
  BLAS calls per chunk, so the neighbours are computed here and handed to UMAP (``precomputed_knn``).
* UMAP is fitted on at most :data:`FIT_ROWS` documents. Every other document is placed where UMAP's
  ``transform`` starts it: the membership-weighted mean of its nearest fitted documents' positions
  (weights ``exp(-(d - d_nearest) / sigma)`` as in UMAP's fuzzy set). Skipping ``transform``'s
  refinement epochs kept trustworthiness (20 Newsgroups: 0.928 from a 3,000-row fit against 0.923 for
  UMAP fitted on all 10,966) at a fraction of the time, and the placement is linear in the corpus.
* numba compiles UMAP's kernels on first use (half a minute on a busy 2-core machine); they are
  compiled once and kept in numba's on-disk cache (:func:`enable_jit_cache`), so later processes
  start in about a second.
* Results are cached under ``<cache dir>/layouts/<key>.npy`` (the key hashes the reduced vectors
  and every setting), like embeddings: rebuilding a corpus never lays it out twice.
"""

from __future__ import annotations

import hashlib
import io
import sys
import warnings
from pathlib import Path

import numpy as np

from topicmap.hierarchy.base.errors import OutputError
from topicmap.hierarchy.files.safe_write import write_bytes_atomic

FIT_ROWS = 5000  # documents UMAP is fitted on; the rest are placed by their neighbours among them
N_NEIGHBORS = 15  # UMAP's default neighbourhood
CHUNK_ROWS = 4096
_JIT_CACHED = False


def umap_coordinates(reduced: np.ndarray, seed: int = 0, fit_rows: int = FIT_ROWS, cache_dir: Path | None = None) -> np.ndarray:
    """(n, 2) float32 UMAP coordinates of the rows of ``reduced`` (unit-length rows: cosine = dot product).

    Read from / written to ``cache_dir/layouts`` when a cache directory is given.
    """
    reduced = np.ascontiguousarray(reduced, dtype=np.float32)
    path = None if cache_dir is None else Path(cache_dir) / "layouts" / f"{layout_key(reduced, seed, fit_rows)}.npy"
    if path is not None:
        cached = _read_cached(path, reduced.shape[0])
        if cached is not None:
            return cached
    coords = _umap_coordinates(reduced, seed, fit_rows)
    if path is not None:
        _write_cached(path, coords)
    return coords


def layout_key(reduced: np.ndarray, seed: int, fit_rows: int) -> str:
    """Cache key: the reduced vectors' bytes, their shape, the settings and umap-learn's version."""
    from importlib.metadata import version

    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"umap-layout-v1|{reduced.shape}|{seed}|{fit_rows}|{N_NEIGHBORS}|{version('umap-learn')}".encode())
    flat = reduced.reshape(-1).view(np.uint8)
    for start in range(0, flat.size, 1 << 26):
        digest.update(flat[start : start + (1 << 26)])
    return digest.hexdigest()


def _umap_coordinates(reduced: np.ndarray, seed: int, fit_rows: int) -> np.ndarray:
    n = reduced.shape[0]
    rng = np.random.default_rng(seed)
    fitted = np.arange(n) if n <= fit_rows else np.sort(rng.choice(n, fit_rows, replace=False))
    sample = reduced[fitted]
    k = min(N_NEIGHBORS, len(fitted) - 1)
    indices, distances = exact_knn(sample, sample, k - 1, exclude_self=True)
    embedding = _fit_umap(sample, indices, distances, seed)
    out = np.empty((n, 2), dtype=np.float32)
    out[fitted] = embedding
    if len(fitted) < n:
        rest = np.ones(n, dtype=bool)
        rest[fitted] = False
        rest_rows = np.flatnonzero(rest)
        for start in range(0, rest_rows.size, CHUNK_ROWS):
            rows = rest_rows[start : start + CHUNK_ROWS]
            near, dist = exact_knn(reduced[rows], sample, k)
            out[rows] = place_by_neighbours(embedding, near, dist)
    return out


def _fit_umap(sample: np.ndarray, indices: np.ndarray, distances: np.ndarray, seed: int) -> np.ndarray:
    enable_jit_cache()
    import umap

    # The first column of a precomputed k-NN is the point itself (distance 0), as UMAP's own search returns it.
    self_first = np.column_stack([np.arange(len(sample)), indices])
    dist_first = np.column_stack([np.zeros(len(sample), np.float32), distances])
    model = umap.UMAP(
        n_neighbors=self_first.shape[1], n_components=2, metric="cosine", random_state=seed, n_jobs=1,
        precomputed_knn=(self_first, dist_first, None),
    )
    with warnings.catch_warnings():  # "transform not available with precomputed_knn": transform is not used
        warnings.simplefilter("ignore")
        return np.asarray(model.fit_transform(sample), dtype=np.float32)


def exact_knn(queries: np.ndarray, points: np.ndarray, k: int, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest ``points`` to every query by cosine distance (rows unit length), nearest first.

    ``exclude_self``: queries are ``points`` themselves, and a row is not its own neighbour.
    """
    n = queries.shape[0]
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, CHUNK_ROWS):
        sims = queries[start : start + CHUNK_ROWS] @ points.T
        if exclude_self:
            rows = np.arange(sims.shape[0])
            sims[rows, rows + start] = -np.inf
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        indices[start : start + CHUNK_ROWS] = np.take_along_axis(part, order, axis=1)
        distances[start : start + CHUNK_ROWS] = np.maximum(1.0 - np.take_along_axis(top, order, axis=1), 0.0)
    return indices, distances


def place_by_neighbours(embedding: np.ndarray, indices: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Positions of new rows: the mean of their neighbours' positions, weighted like UMAP's fuzzy memberships.

    The nearest neighbour weighs 1, a neighbour ``sigma`` (the mean extra distance) further weighs 1/e.
    """
    rho = distances[:, :1]
    sigma = np.maximum(distances.mean(axis=1, keepdims=True) - rho, 1e-6)
    weights = np.exp(-(distances - rho) / sigma)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", weights, embedding[indices]).astype(np.float32)


def enable_jit_cache() -> None:
    """Keep numba's compiled UMAP kernels on disk, so only the first process on a machine compiles them.

    umap-learn does not ask numba to cache most of its kernels; ``Dispatcher.enable_caching`` is numba's
    own switch for that (what ``@njit(cache=True)`` calls). The cache is invalidated by numba when
    umap-learn's source changes. A kernel numba cannot cache is simply compiled as before.
    """
    global _JIT_CACHED
    if _JIT_CACHED:
        return
    _JIT_CACHED = True
    import umap.layouts
    import umap.umap_
    import umap.utils
    from numba.core.registry import CPUDispatcher

    for module in (umap.umap_, umap.layouts, umap.utils):
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher) and value.__module__ == module.__name__:
                try:
                    value.enable_caching()
                except Exception:  # noqa: BLE001 - an uncachable kernel (closure, unwritable dir) just compiles each time
                    pass


def _read_cached(path: Path, rows: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        coords = np.load(path, allow_pickle=False)
        if coords.shape == (rows, 2) and coords.dtype.kind == "f" and np.isfinite(coords).all():
            return coords.astype(np.float32)
    except Exception:  # noqa: BLE001 - numpy raises many kinds for a damaged file; it is recomputed
        pass
    print(f"warning: ignoring the damaged layout cache entry {path}; computing the map again", file=sys.stderr)
    return None


def _write_cached(path: Path, coords: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, coords)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, buffer.getvalue())
    except (OSError, OutputError) as exc:  # the map is computed; a cache we cannot write only costs a recompute
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        print(f"warning: cannot write the layout cache in {path.parent} ({reason}); continuing without it", file=sys.stderr)
