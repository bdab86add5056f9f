"""The names and ranges a build accepts, kept free of NumPy and scikit-learn so that ``--help`` and
option checks load in a fraction of a second."""

from __future__ import annotations

PRESETS = ("map", "browse", "deep")
LAYOUTS = ("auto", "umap", "anchored", "pca")
# `--layout auto`: UMAP from MIN_MAP_DOCS up to AUTO_UMAP_MAX_DOCS documents, the anchored discs above
# (bench/results/layout.md has the times and trustworthiness behind the threshold)
AUTO_UMAP_MAX_DOCS = 1_000_000
MIN_MAP_DOCS = 45  # fewer documents: too few for a 15-neighbour graph; PCA instead
SEED_MAX = 2**32 - 1  # NumPy's and scikit-learn's seeds are unsigned 32-bit integers
