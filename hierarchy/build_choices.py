"""The names and ranges a build accepts, kept free of NumPy and scikit-learn so that ``--help`` and
option checks load in a fraction of a second."""

from __future__ import annotations

PRESETS = ("map", "browse", "deep")
LAYOUTS = ("anchored", "pca", "umap")
SEED_MAX = 2**32 - 1  # NumPy's and scikit-learn's seeds are unsigned 32-bit integers
PERIODS = ("day", "week", "month", "quarter", "year")  # trends' periods, finest first (hierarchy.trends)
PERIOD_CHOICES = ("auto", *PERIODS)
