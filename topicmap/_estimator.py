"""``TopicMap``: ``topicmap build``, ``label``, the figures and the tree file as one estimator for notebooks.

A thin layer over the same functions the command line calls: documents are checked by
:func:`topicmap.hierarchy.inputs.documents.corpus_from_rows`, vectors come from the CLI's embedder code, the tree from
:func:`topicmap.hierarchy.builder.pipeline.build_tree`, labels from :func:`topicmap.hierarchy.labels.label.label_tree` with settings
resolved as ``topicmap label`` resolves them, figures from :mod:`topicmap.viz.figures`, files from
:mod:`topicmap.hierarchy.tree.treefile`. Errors are the CLI's (:class:`topicmap.hierarchy.base.errors.TopicmapError`), with the
CLI's option names (``--leaves``), which are these parameters' names with dashes.
"""

from __future__ import annotations

import numbers
import os
import threading
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from topicmap.hierarchy.base.errors import InputError, TopicmapError
from topicmap.hierarchy.inputs.documents import check_embeddings
from topicmap.hierarchy.builder.params import BuildConfig, check_config, exposed_names, param, parse_levels
from topicmap.hierarchy.builder.pipeline import BuildInputs, build_tree
from topicmap.hierarchy.tree.topic_tree import ROOT_ID, TopicTree
from topicmap.hierarchy.tree.treefile import load_tree, save_tree
from topicmap.hierarchy.inputs.vector_checks import check_texts_differ
from topicmap._documents import corpus_from_documents
from topicmap._tables import as_table, document_columns, topic_columns, trend_columns

_DEFAULTS = BuildConfig()
# Parameters that are BuildConfig fields of the same name (the build parameters' table says which).
# Of these, the pipeline fills some (leaves, max_depth, descent_rounds) from the preset when None, so
# a tree's manifest records their resolved value, not the one asked for.
BUILD_OPTIONS = exposed_names()
AS_ASKED_IN_MANIFEST = tuple(name for name in BUILD_OPTIONS if not param(name).from_preset)
ESTIMATOR_KEY = "estimator"  # the manifest entry where fit records its parameters, for load
PRECOMPUTED_SOURCE = "embeddings passed to TopicMap.fit"


class TopicMap(BaseEstimator):
    """A hierarchical topic map of a document collection, scikit-learn style.

    ``TopicMap(leaves=30, seed=0).fit(texts, embeddings)`` builds the tree (``tree_``) as
    ``topicmap build`` would with the same options; :meth:`label` names its topics with an LLM;
    :meth:`sunburst`, :meth:`treemap` and :meth:`document_map` draw it; :meth:`document_info` and
    :meth:`topic_info` tabulate it; :meth:`save` and :meth:`load` keep it in the CLI's tree file.

    Build parameters (``preset`` ... ``store_text``) are the CLI's build options, with the same
    defaults and checks; None takes the preset's value. ``embedder`` (minilm, openai, tfidf; None:
    minilm if installed, else tfidf) and ``embedding_model`` embed the texts when ``fit`` gets no
    vectors, cached under ``cache_dir`` (default ``~/.cache/topicmap``) unless ``use_cache`` is False;
    beside given vectors, ``embedder`` minilm or openai names the model that made them (recorded, and
    used to choose the keywords as for embedded texts; None: an unknown model, plain c-TF-IDF keywords).
    ``text_column``, ``id_column``, ``title_column`` and ``embedding_column`` name the fields of dicts
    or DataFrame columns; ``skip_empty`` leaves out rows with empty text; ``verbose`` shows progress.
    ``time_column`` names each document's date (ISO dates or datetimes, years or epoch seconds, as
    ``topicmap build --time-column``; ``skip_bad_dates`` keeps unreadable ones undated); :meth:`trends`
    then counts every topic per ``period`` (``auto``, ``day`` ... ``year``).
    """

    __module__ = "topicmap"  # its public home: reprs and pickles do not name the private module behind it

    def __init__(
        self,
        preset: str = _DEFAULTS.preset,
        leaves: int | None = _DEFAULTS.leaves,
        docs_per_leaf: int = _DEFAULTS.docs_per_leaf,
        levels: Sequence[int] | str | None = _DEFAULTS.levels,
        min_leaf_size: int = _DEFAULTS.min_leaf_size,
        max_depth: int | None = _DEFAULTS.max_depth,
        max_children: int = _DEFAULTS.max_children,
        descent_rounds: int | None = _DEFAULTS.descent_rounds,
        reducer: str = _DEFAULTS.reducer,
        layout: str = _DEFAULTS.layout,
        seed: int = _DEFAULTS.seed,
        store_text: bool = _DEFAULTS.store_text,
        embedder: str | None = None,
        embedding_model: str | None = None,
        text_column: str = "text",
        id_column: str | None = None,
        title_column: str | None = None,
        embedding_column: str | None = None,
        skip_empty: bool = False,
        time_column: str | None = None,
        skip_bad_dates: bool = False,
        period: str = _DEFAULTS.period,
        cache_dir: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
        verbose: bool = False,
    ) -> None:
        self.preset = preset
        self.leaves = leaves
        self.docs_per_leaf = docs_per_leaf
        self.levels = levels
        self.min_leaf_size = min_leaf_size
        self.max_depth = max_depth
        self.max_children = max_children
        self.descent_rounds = descent_rounds
        self.reducer = reducer
        self.layout = layout
        self.seed = seed
        self.store_text = store_text
        self.embedder = embedder
        self.embedding_model = embedding_model
        self.text_column = text_column
        self.id_column = id_column
        self.title_column = title_column
        self.embedding_column = embedding_column
        self.skip_empty = skip_empty
        self.time_column = time_column
        self.skip_bad_dates = skip_bad_dates
        self.period = period
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.verbose = verbose

    # -- build -------------------------------------------------------------------------------
    def fit(self, documents: Any, embeddings: Any = None) -> TopicMap:
        """Build the tree of ``documents``: a list of texts, a list of dicts or a pandas DataFrame.

        ``embeddings``: a matrix with one row per document, in order (rows of documents left out by
        ``skip_empty`` are left out of it too); a ``.npy`` path or a
        :class:`~topicmap.hierarchy.inputs.vector_source.VectorSource` (Parquet shards), read in chunks and
        streamed when too big to hold (docs/architecture.md); None embeds the texts with ``embedder``.
        """
        config = self.build_config()
        check_config(config)  # before anything is embedded
        corpus = corpus_from_documents(
            documents, text_column=self.text_column, id_column=self.id_column, title_column=self.title_column,
            embedding_column=self.embedding_column, skip_empty=self.skip_empty,
            time_column=self.time_column, skip_bad_dates=self.skip_bad_dates,
        )
        check_texts_differ(corpus.embedding_texts(), corpus.source)
        vectors, embedder_info = self._vectors(corpus, embeddings, config.seed)
        inputs = BuildInputs(
            source=corpus.source,
            sha256=corpus.sha256,
            embedder=embedder_info,
            columns={"text_column": self.text_column, "id_column": self.id_column, "title_column": self.title_column, "skipped_rows": corpus.skipped_rows, "time_column": self.time_column},
        )
        from topicmap.hierarchy.files.cache_dir import default_cache_dir
        from topicmap.hierarchy.llm.settings import environment
        from topicmap.hierarchy.tree.embedder import word_embedder

        cache_dir = (Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()) if self.use_cache else None
        env = environment()  # the OpenAI-compatible embedder's key and server, as the documents' embedder read them
        embed_words = word_embedder(embedder_info, cache_dir, env.get("OPENAI_API_KEY"), env.get("OPENAI_BASE_URL"), progress=self.verbose)
        tree = build_tree(corpus, vectors, config, inputs, show_progress=self.verbose, cache_dir=cache_dir, embed_words=embed_words)
        tree.manifest[ESTIMATOR_KEY] = {"class": f"topicmap.{type(self).__name__}", "params": _jsonable(self.get_params())}
        self.tree_ = tree
        return self

    def build_config(self) -> BuildConfig:
        """The one mapping of these parameters onto the pipeline's config (same names; levels parsed as the CLI does)."""
        values = {name: _plain(getattr(self, name)) for name in BUILD_OPTIONS}
        values["levels"] = _levels(self.levels)
        return BuildConfig(**values)

    def _vectors(self, corpus: Any, embeddings: Any, seed: int) -> tuple[Any, dict[str, Any]]:
        if embeddings is None:
            from topicmap.hierarchy.cli.core import obtain_embeddings
            from topicmap.hierarchy.files.cache_dir import default_cache_dir

            cache_dir = (Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()) if self.use_cache else None
            return obtain_embeddings(corpus, None, self.embedder, self.embedding_model, cache_dir, seed, quiet=not self.verbose)
        if corpus.embeddings is not None:
            raise InputError(f"give embeddings either as a column (embedding_column={self.embedding_column!r}) or to fit(embeddings=...), not both")
        from topicmap.hierarchy.inputs.vector_source import VectorSource, check_row_count, open_vectors

        if isinstance(embeddings, (str, os.PathLike, VectorSource)):  # a .npy path or a source: streamed when big
            if corpus.skipped_rows:
                raise InputError(f"{embeddings if not isinstance(embeddings, VectorSource) else embeddings.name}: rows were skipped as empty (skip_empty), so the rows would no longer line up; remove those rows from both instead")
            source = open_vectors(embeddings)
            check_row_count(source, len(corpus), corpus.source)
            return source, {"name": self._given_vectors_model(), "source": source.name}
        try:
            matrix = np.asarray(embeddings)
        except (TypeError, ValueError) as exc:
            raise InputError(f"embeddings: not a matrix of numbers ({exc})") from None
        given = len(corpus) + len(corpus.skipped_rows)
        vectors = check_embeddings(matrix, given, source="embeddings")
        if corpus.skipped_rows:  # in memory both stay aligned: drop the rows skip_empty dropped
            vectors = np.delete(vectors, [row - 1 for row in corpus.skipped_rows], axis=0)
        return vectors, {"name": self._given_vectors_model(), "source": PRECOMPUTED_SOURCE}

    def _given_vectors_model(self) -> str:
        """Who made given vectors: the model ``embedder`` names (minilm or openai), so later steps embed into the same
        space and the keywords are chosen with it, as for embedded texts; otherwise ``precomputed`` (unknown)."""
        from topicmap.hierarchy.tree.embedder import given_vectors_model

        return given_vectors_model(self.embedder if self.embedder in ("minilm", "openai") else None, self.embedding_model)

    # -- label -------------------------------------------------------------------------------
    def label(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        config: str | os.PathLike[str] | None = None,
        prompt: str | Sequence[str] | None = None,
        concurrency: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        temperature: float | None = None,
        max_prompt_tokens: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
        prices: str | os.PathLike[str] | None = None,
        check_fidelity: bool | None = None,
    ) -> TopicMap:
        """Label every topic with an LLM, as ``topicmap label`` does (any OpenAI-compatible server).

        Settings not given here come from OPENAI_API_KEY, OPENAI_BASE_URL, TOPICMAP_MODEL and the
        TOML file ``config`` (or TOPICMAP_CONFIG), then the CLI's defaults. Answers are cached (``cache_dir``,
        default ``~/.cache/topicmap/llm``), so labelling again makes no requests for unchanged topics.
        A name that reads closer to a sibling topic's documents than to its own is sent back
        (``check_fidelity``: None checks when the map's embedder runs locally, True always, False never).
        The run's counts are in ``label_report_``.
        """
        from topicmap.hierarchy.cli.label import plan_run, record_run
        from topicmap.hierarchy.labels.label import label_tree
        from topicmap.hierarchy.labels.fidelity import fidelity_check_for
        from topicmap.hierarchy.llm.settings import SettingFlags, environment, resolve_settings
        from topicmap.hierarchy.llm.pricing import load_prices

        tree = self._fitted()
        asked = SettingFlags(
            model=model, base_url=base_url, api_key=api_key, prompt=[prompt] if isinstance(prompt, str) else prompt,
            concurrency=concurrency, timeout=timeout, max_retries=max_retries, temperature=temperature,
            max_prompt_tokens=max_prompt_tokens, cache_dir=cache_dir, prices=prices,
        )  # fmt: skip
        settings = resolve_settings(asked, environment(), Path(config) if config is not None else None)
        if not settings.configured:
            raise TopicmapError(
                "no LLM is configured: pass base_url= (an OpenAI-compatible server such as Ollama, vLLM or llama.cpp) "
                "or api_key= (OpenAI), or set OPENAI_BASE_URL or OPENAI_API_KEY; the topics keep their keyword labels"
            )
        fidelity, fidelity_note = fidelity_check_for(tree, check_fidelity)
        options, cache = plan_run(settings, use_cache, dry_run=False, fidelity=fidelity)
        report = label_tree(tree, settings.config, options, cache)
        report.fidelity = fidelity_note
        self.label_report_ = report
        if report.aborted:
            raise TopicmapError(
                f"{report.aborted}; stopped after {report.done} of {report.planned} nodes; the labels finished so far "
                "are kept in this map and cached: call label() again to resume"
            )
        record_run(tree, report, settings, load_prices(settings.prices))
        return self

    # -- look --------------------------------------------------------------------------------
    def sunburst(self, rings: int | None = None, title: str | None = None) -> Any:
        """A plotly sunburst of every topic, sized by documents; ``rings`` levels at a time (click to drill down)."""
        from topicmap.viz.figures import whole_tree_figure

        return whole_tree_figure(self._fitted(), kind="sunburst", rings=rings, title=title)

    def treemap(self, rings: int | None = None, title: str | None = None) -> Any:
        """A plotly treemap of every topic, sized by documents; ``rings`` levels at a time (click to drill down)."""
        from topicmap.viz.figures import whole_tree_figure

        return whole_tree_figure(self._fitted(), kind="treemap", rings=rings, title=title)

    def document_map(self, view: str = ROOT_ID) -> Any:
        """A plotly scatter of the documents' 2-D map, coloured by the children of topic ``view``."""
        from topicmap.viz.figures import document_map_figure

        return document_map_figure(self._fitted(), view=view)

    def document_info(self, as_frame: bool | None = None) -> Any:
        """One row per document, in the order given to fit: id, title, leaf, label, ``level_d`` (topic id
        at depth d) and ``level_d_label``, and x, y on the map. A DataFrame if pandas is installed
        (``as_frame=None``), else a list of dicts."""
        return as_table(document_columns(self._fitted()), as_frame)

    def topic_info(self, as_frame: bool | None = None) -> Any:
        """One row per topic, parents first: id, parent, depth, size, label, summary, keywords, is_leaf,
        labeler and label_status."""
        return as_table(topic_columns(self._fitted()), as_frame)

    def trends(self, max_depth: int = 2, period: str | None = None, as_frame: bool | None = None) -> Any:
        """Dated documents per period for every topic down to ``max_depth``: node, label, depth, period,
        count, share (of all dated documents of the period) and the topic's ``growth`` with ``growth_low`` /
        ``growth_high`` (its share's multiplier from the first period to the last, 95% interval; see
        :mod:`topicmap.hierarchy.analysis.trends`). ``period`` None: the one the map was built with. Needs ``time_column``."""
        from topicmap.hierarchy.analysis.trends import tree_trends

        tree = self._fitted()
        found = tree_trends(tree, period)
        if found is None:
            raise TopicmapError("no document has a date: fit with time_column='...' (a column of dates, years or epoch seconds) to see trends")
        return as_table(trend_columns(tree, found, max_depth), as_frame)

    def serve(self, port: int = 8050, host: str = "127.0.0.1", open_browser: bool = False) -> None:
        """The ``topicmap serve`` dashboard for this map until interrupted (in Jupyter, Dash shows it inline)."""
        from topicmap.hierarchy.cli.serve import check_port, serve_tree

        tree = self._fitted()
        check_port(port)
        if open_browser:
            timer = threading.Timer(1.0, webbrowser.open, [f"http://{host}:{port}/"])
            timer.daemon = True
            timer.start()
        serve_tree(tree, "this TopicMap", host=host, port=port)

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the tree file (the CLI's format, atomically: a reader sees the old file or the new one)."""
        return save_tree(self._fitted(), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TopicMap:
        """A map from a tree file (from :meth:`save` or ``topicmap build``), ready to label, draw and save.

        Parameters come back from the manifest: all of them from a file this class saved; from a
        CLI-built file those the manifest records as asked (the others keep their defaults).
        """
        tree = load_tree(path)
        fitted = cls(**params_from_manifest(tree.manifest, list(cls().get_params())))
        fitted.tree_ = tree
        return fitted

    def _fitted(self) -> TopicTree:
        tree = getattr(self, "tree_", None)
        if tree is None:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"this {type(self).__name__} has no tree yet: call fit(documents) or {type(self).__name__}.load(path) first")
        return tree


def params_from_manifest(manifest: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The parameters a tree file records: the estimator's own record if it has one, else what the CLI recorded as asked."""
    recorded = manifest.get(ESTIMATOR_KEY)
    if isinstance(recorded, dict) and isinstance(recorded.get("params"), dict):
        return {name: value for name, value in recorded["params"].items() if name in names}
    params: dict[str, Any] = {}
    clustering = manifest.get("clustering")
    if isinstance(clustering, dict):
        params.update({name: clustering[name] for name in AS_ASKED_IN_MANIFEST if name in clustering})
    source = manifest.get("input")
    if isinstance(source, dict):
        params.update({name: source[name] for name in ("text_column", "id_column", "title_column", "time_column") if name in source})
    embedder = manifest.get("embedder")
    if isinstance(embedder, dict) and embedder.get("kind") in ("minilm", "openai", "tfidf"):
        params["embedder"] = embedder["kind"]
    return params


def _plain(value: Any) -> Any:
    """NumPy integers as Python ints, so the config validates and the manifest stays JSON."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return value


def _levels(levels: Any) -> list[int] | None:
    """``levels`` as a list or as the CLI's text (``"6,40,276"``), checked by the CLI's parser."""
    if levels is None or isinstance(levels, str):
        return parse_levels(levels)
    if not isinstance(levels, Sequence) and not isinstance(levels, np.ndarray):
        raise InputError(f"--levels {levels!r}: expected increasing counts per level, such as [6, 40, 276]")
    return parse_levels(",".join(str(_plain(k)) for k in levels))


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in params.items():
        value = _plain(value)
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        elif isinstance(value, (tuple, np.ndarray)):
            value = [_plain(v) for v in value]
        out[name] = value
    return out
