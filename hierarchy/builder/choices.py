"""The names and ranges a build accepts, kept free of NumPy and scikit-learn so that ``--help`` and
option checks load in a fraction of a second."""

from __future__ import annotations

from topicmap.hierarchy.inputs.periods import PERIOD_CHOICES, PERIODS  # trends' periods, finest first (no NumPy either)

PRESETS = ("map", "browse", "deep")
REDUCERS = ("pca", "umap", "none")  # before clustering (builder/cluster.py)
LINKAGES = ("average", "ward")  # of the leaf or coarse clusters (builder/ward.py)
LAYOUTS = ("auto", "umap", "anchored", "pca")
# `--layout auto`: UMAP from MIN_MAP_DOCS up to AUTO_UMAP_MAX_DOCS documents, the anchored discs above.
# Chosen by measurement on a quiet 2-core machine (bench/results/layout-100k-quiet.md, layout-scale-quiet.md):
# the UMAP layout took 13.7 s at 100k documents, 20.2 s at 300k and 43.1 s at 1M (3.2 GB peak with the input),
# growing about linearly after the 5,000-document fit, so 1M keeps it well within the 90 s layout budget; past
# that the discs (0.9 s at 1M) keep builds of any size linear. Re-measure before raising it.
AUTO_UMAP_MAX_DOCS = 1_000_000
MIN_MAP_DOCS = 45  # fewer documents: too few for a 15-neighbour graph; PCA instead
SEED_MAX = 2**32 - 1  # NumPy's and scikit-learn's seeds are unsigned 32-bit integers
