"""The build parameters: :class:`BuildConfig`, and one table of each parameter's names, bounds and
choices, with one message per rule.

A build parameter is a ``BuildConfig`` field, a ``TopicMap`` parameter of the same name, the
command-line option ``--name-with-dashes`` and, for most, a
:class:`topicmap.hierarchy.builder.cluster.RecursiveClusterer` parameter (``estimator``; two names
differ: ``leaves`` is ``leaf_clusters`` and ``seed`` is ``random_state``, as scikit-learn users expect
them, while the command line, the tree files' manifests and ``TopicMap`` keep the shorter names).
Every caller checks with this table and words a bad value the same way: the command line (each
option's range or choices and its check come from here, :func:`topicmap.hierarchy.cli.options.build_option`;
the build command then checks the rest before reading any document), ``TopicMap.fit`` and ``build_tree``
(:func:`check_build`: an InputError naming the option) and the estimator's ``fit``
(:func:`check_estimator`: a ValueError naming its parameter). No NumPy here: ``--help`` stays fast.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.builder.choices import LAYOUTS, LINKAGES, PERIOD_CHOICES, PRESETS, REDUCERS, SEED_MAX

DOCS_PER_LEAF = 40  # the map preset's default granularity


@dataclass
class BuildConfig:
    """Everything that shapes a tree; recorded in the manifest (resolved) so a tree can be rebuilt.

    ``preset="map"`` (default) makes about one leaf topic per ``docs_per_leaf`` documents (at most
    2,000) in at most four levels, each level a grouping of the one below. ``preset="browse"`` makes
    about sqrt(n)/5 leaf topics in at most three levels. ``preset="deep"`` nests small leaves up to
    ten levels deep. Fields left at None take the preset's value; an
    explicit value wins. See docs/architecture.md for the measured trade-off.
    """

    preset: str = "map"
    levels: list[int] | None = None
    leaves: int | None = None
    docs_per_leaf: int = DOCS_PER_LEAF
    coarse_clusters: int | None = None
    max_children: int = 10
    min_leaf_size: int = 10
    max_depth: int | None = None
    reducer: str = "pca"
    n_components: int | None = None
    linkage: str | None = None
    smoothing_neighbors: int | None = None
    n_init: int | None = None
    kmeans_iterations: int | None = None
    sample_size: int | None = None
    layout: str = "auto"
    seed: int = 0
    n_keywords: int = 30
    n_representatives: int = 8  # as many as a leaf prompt shows (label_context.PromptBudget.max_documents)
    store_text: bool = True
    descent_rounds: int | None = None
    period: str = "auto"  # trends' period for a tree with times (topicmap.hierarchy.inputs.periods.PERIODS); recorded in manifest.time


@dataclass(frozen=True)
class BuildParam:
    """One build parameter: where it appears and what values it takes (no rule: any value)."""

    name: str | None  # the BuildConfig field / TopicMap parameter; None: the estimator's alone
    estimator: str | None = None  # the RecursiveClusterer parameter it sets; None: not the estimator's
    least: int | None = None  # a whole number at least this
    most: int | None = None  # ... and at most this
    choices: tuple[str, ...] = ()
    optional: bool = False  # None is allowed in the config: the preset decides
    estimator_optional: bool = False  # None is allowed by the estimator
    exposed: bool = False  # a TopicMap parameter and an option of 'topicmap build' (store_text as --no-text, levels as text)
    from_preset: bool = False  # None takes the preset's value, so the manifest records the resolved value
    spelled: str | None = None  # how messages name it, when not as its option

    @property
    def option(self) -> str:
        """``--docs-per-leaf``: how the command line spells it (and so every build message)."""
        return self.spelled or "--" + str(self.name).replace("_", "-")

    def reason(self, value: Any, optional: bool, integral: type | tuple[type, ...] = int) -> str | None:
        """What is wrong with ``value`` ("at least 2", ...), or None. ``integral``: the types that count
        as whole numbers (the config takes Python ints only, so its manifest stays JSON; the estimator
        also NumPy's)."""
        if value is None and optional:
            return None
        if self.choices:
            return None if value in self.choices else f"one of {', '.join(self.choices)}"
        if self.least is None and self.most is None:
            return None
        if isinstance(value, bool) or not isinstance(value, integral):
            return "a whole number"
        if self.most is not None and not (self.least or 0) <= value <= self.most:
            return f"between {self.least or 0} and {self.most}"
        if self.least is not None and value < self.least:
            return f"at least {self.least}"
        return None

    def option_error(self, value: Any) -> str | None:
        """The command line's (and TopicMap's) message for a bad value: ``--leaves 0: must be at least 1``."""
        why = self.reason(value, self.optional)
        if why is None:
            return None
        return f"{self.option} {value!r}: {'choose ' if self.choices else 'must be '}{why}"

    def estimator_error(self, value: Any) -> str | None:
        """The estimator's message for a bad value: ``leaf_clusters must be at least 1, got 0``."""
        why = self.reason(value, self.estimator_optional, numbers.Integral)
        return None if why is None else f"{self.estimator} must be {why}, got {value!r}"


PARAMS: tuple[BuildParam, ...] = (
    BuildParam("preset", choices=PRESETS, exposed=True, spelled="preset"),  # messages have always said "preset 'x'"
    BuildParam("levels", "levels", optional=True, estimator_optional=True, exposed=True),  # a list: parse_levels' rules
    BuildParam("leaves", "leaf_clusters", least=1, optional=True, estimator_optional=True, exposed=True, from_preset=True),
    BuildParam("docs_per_leaf", least=1, exposed=True),
    BuildParam("coarse_clusters", "coarse_clusters", least=1, optional=True, estimator_optional=True, from_preset=True),
    BuildParam("max_children", "max_children", least=2, exposed=True),
    BuildParam("min_leaf_size", "min_leaf_size", least=1, exposed=True),
    BuildParam("max_depth", "max_depth", least=1, optional=True, exposed=True, from_preset=True),
    BuildParam("reducer", "reducer", choices=REDUCERS, exposed=True),
    BuildParam("n_components", "n_components", least=1, optional=True, from_preset=True),
    BuildParam("linkage", "linkage", choices=LINKAGES, optional=True, from_preset=True),
    BuildParam("smoothing_neighbors", "smoothing_neighbors", least=0, optional=True, from_preset=True),
    BuildParam("n_init", "n_init", least=1, optional=True, from_preset=True),
    BuildParam("kmeans_iterations", "kmeans_iterations", least=1, optional=True, from_preset=True),
    BuildParam("sample_size", "sample_size", least=1, optional=True, from_preset=True),
    BuildParam("layout", choices=LAYOUTS, exposed=True),
    BuildParam("seed", "random_state", least=0, most=SEED_MAX, estimator_optional=True, exposed=True),
    BuildParam("n_keywords"),
    BuildParam("n_representatives"),
    BuildParam("store_text", exposed=True),
    BuildParam("descent_rounds", "descent_rounds", least=0, optional=True, exposed=True, from_preset=True),
    BuildParam("period", choices=PERIOD_CHOICES, exposed=True),
    BuildParam(None, "min_top_children", least=2),
    BuildParam(None, "max_leaf_clusters", least=1),
)
BY_NAME: dict[str, BuildParam] = {p.name: p for p in PARAMS if p.name is not None}
BY_ESTIMATOR: dict[str, BuildParam] = {p.estimator: p for p in PARAMS if p.estimator is not None}


def param(name: str) -> BuildParam:
    return BY_NAME[name]


def exposed_names() -> tuple[str, ...]:
    """The parameters a user sets: 'topicmap build' options and TopicMap's build parameters, in table order."""
    return tuple(str(p.name) for p in PARAMS if p.exposed)


def to_estimator(values: Mapping[str, Any]) -> dict[str, Any]:
    """Config field values under the estimator's names (the one place ``leaves`` becomes ``leaf_clusters``)."""
    return {p.estimator: values[p.name] for p in PARAMS if p.name is not None and p.estimator is not None and p.name in values}


# -- rules over more than one value -------------------------------------------------------------------
def increasing_counts(levels: Sequence[int]) -> bool:
    """Counts per level, top first: each positive and more than the one above (the levels nest)."""
    return all(k >= 1 for k in levels) and all(b > a for a, b in zip(levels, levels[1:]))


def parse_levels(text: str | None) -> list[int] | None:
    """``--levels 6,40,276`` as counts; the first level needs two nodes (one would repeat the root)."""
    if not text:
        return None
    try:
        levels = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise InputError(f"--levels {text!r}: expected comma-separated counts such as 6,40,276") from None
    if not levels or not increasing_counts(levels):
        raise InputError(f"--levels {text!r}: counts must be positive and increasing, such as 6,40,276")
    if levels[0] < 2:
        raise InputError(f"--levels {text!r}: the first level needs at least 2 nodes (1 would just repeat the root)")
    return levels


def most_leaves(n_documents: int, min_leaf_size: int) -> int:
    """Leaves of ``min_leaf_size`` documents on average that a corpus can fill (at least one)."""
    return max(1, n_documents // max(min_leaf_size, 1))


def check_build(values: BuildConfig, n_documents: int | None = None, source: str | None = None) -> None:
    """Reject build settings (a BuildConfig) no corpus could satisfy, naming the option; with
    ``n_documents``, also those this corpus cannot (``source`` names it). Raises InputError."""
    prefix = f"{source}: " if source else ""
    for spec in PARAMS:
        if spec.name is None or spec.name == "levels":
            continue
        problem = spec.option_error(getattr(values, spec.name))
        if problem:
            raise InputError(prefix + problem)
    levels = values.levels
    if levels:
        parse_levels(",".join(str(k) for k in levels))
        if values.leaves is not None:
            raise InputError(prefix + "--leaves and --levels both set the number of leaves; give one of them")
    if n_documents is None:
        return
    n, least = n_documents, values.min_leaf_size
    if not levels and n < least:
        raise InputError(f"{prefix}{n} documents is fewer than the minimum leaf size ({least}); lower --min-leaf-size or add documents")
    if values.leaves is not None and values.leaves > most_leaves(n, least):
        raise InputError(
            f"{prefix}--leaves {values.leaves}: {n} documents make at most {most_leaves(n, least)} "
            f"leaves of --min-leaf-size {least}; ask for fewer leaves or lower --min-leaf-size"
        )
    if levels and levels[-1] > n:
        raise InputError(f"--levels asks for {levels[-1]} leaf clusters but {source or 'the corpus'} has only {n} documents")


def check_config(config: BuildConfig) -> None:
    """Reject settings no corpus could satisfy, naming the option: before any document is read or embedded."""
    check_build(config)


def check_estimator(params: Mapping[str, Any], n_rows: int) -> None:
    """The same rules in the estimator's names, as scikit-learn estimators report them (ValueError)."""
    for spec in PARAMS:
        if spec.estimator is not None and spec.estimator != "levels" and spec.estimator in params:
            problem = spec.estimator_error(params[spec.estimator])
            if problem:
                raise ValueError(problem)
    levels = params.get("levels")
    if levels:
        if not increasing_counts([int(k) for k in levels]):
            raise ValueError(f"levels must be increasing positive counts, got {list(levels)}")
        if levels[-1] > n_rows:
            raise ValueError(f"the last level asks for {levels[-1]} clusters but there are only {n_rows} documents")
    elif n_rows < params["min_leaf_size"]:
        raise ValueError(f"{n_rows} documents is fewer than min_leaf_size={params['min_leaf_size']}")
