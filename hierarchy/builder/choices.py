"""The names and ranges a build accepts, kept free of NumPy and scikit-learn so that ``--help`` and
option checks load in a fraction of a second."""

from __future__ import annotations

PRESETS = ("map", "browse", "deep")
REDUCERS = ("pca", "umap", "none")  # before clustering (builder/cluster.py)
LINKAGES = ("average", "ward")  # of the leaf or coarse clusters (builder/ward.py)
LAYOUTS = ("auto", "umap", "anchored", "pca")
# `--layout auto`: UMAP from MIN_MAP_DOCS up to AUTO_UMAP_MAX_DOCS documents, the anchored discs above.
# Chosen by measurement (bench/results/layout-scale*.md, a 2-core machine shared with other work, load
# average 12-21): UMAP took 39 s for 10k documents and 102-137 s for 100k (anchored 11.5-14.6 s), so about
# 50k is where it stays within the 90 s layout budget. Its CPU time was 9.7 s at 10k and 18.7 s at 100k: on a
# quiet machine this could rise to several hundred thousand; re-measure (bench/bench_layout.py) before raising it.
AUTO_UMAP_MAX_DOCS = 50_000
MIN_MAP_DOCS = 45  # fewer documents: too few for a 15-neighbour graph; PCA instead
SEED_MAX = 2**32 - 1  # NumPy's and scikit-learn's seeds are unsigned 32-bit integers
PERIODS = ("day", "week", "month", "quarter", "year")  # trends' periods, finest first (topicmap.hierarchy.analysis.trends)
PERIOD_CHOICES = ("auto", *PERIODS)
