"""The Python API (``from topicmap import TopicMap``): the CLI's pipeline, checks, labeller and files, for notebooks.

Real components throughout: the shipped papers and BBC corpora with their MiniLM vectors, the real
``openai`` client against the fake server on 127.0.0.1, real tree files, the real CLI (in process).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from typer.testing import CliRunner

import topicmap
from topicmap.hierarchy.base.errors import InputError, TopicmapError
from topicmap.hierarchy.inputs.documents import read_documents
from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs, build_tree
from topicmap.hierarchy.tree.topic_tree import TopicTree
from topicmap.hierarchy.tree.treefile import load_schema, load_tree, tree_to_dict
from tests.llm_fixtures import fake_server  # noqa: F401 - fixture
from tests.openai_server import FakeOpenAIServer
from topicmap import TopicMap

REPO = Path(__file__).resolve().parent.parent
PAPERS = REPO / "data" / "papers.jsonl"
PAPERS_VECTORS = REPO / "data" / "papers.minilm.npy"
BBC_ROWS = np.arange(0, 2225, 4)[:500]  # every 4th article: all five categories (the file is sorted by category)


@pytest.fixture(scope="module")
def papers() -> tuple[list[dict[str, Any]], np.ndarray]:
    rows = [json.loads(line) for line in PAPERS.read_text("utf-8").splitlines() if line.strip()]
    return rows, np.load(PAPERS_VECTORS)


@pytest.fixture(scope="module")
def bbc() -> tuple[list[dict[str, Any]], np.ndarray]:
    with gzip.open(REPO / "data" / "bbc.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return [rows[i] for i in BBC_ROWS], np.load(REPO / "data" / "bbc.minilm.npy")[BBC_ROWS]


@pytest.fixture(scope="module")
def bbc_map(bbc: tuple[list[dict[str, Any]], np.ndarray]) -> TopicMap:
    return TopicMap(seed=0).fit(*bbc)


@pytest.fixture
def no_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "TOPICMAP_")):
            monkeypatch.delenv(name)


def shape(tree: TopicTree) -> dict[str, Any]:
    """What a build decides: nodes with sizes, keywords and labels; each document's leaf and place."""
    data = tree_to_dict(tree)
    nodes = [{**n, "label_meta": {k: v for k, v in n["label_meta"].items() if k != "created_at"}} for n in data["nodes"]]
    return {"nodes": nodes, "documents": data["documents"], "clustering": data["manifest"]["clustering"]}


def cli(*args: str) -> Any:
    """The ``topicmap`` command in process (as tests/test_input_validation.py runs it)."""
    from topicmap.hierarchy.cli.main import _register_commands, app

    _register_commands()
    return CliRunner().invoke(app, list(args))


# -- the import name -----------------------------------------------------------------------------
def test_topicmap_is_the_one_installed_import_name(tmp_path: Path) -> None:
    """A wheel of the project holds one top-level package, topicmap, with the folders hierarchy/, viz/ and
    prompts/ inside it (no generic top-level names in site-packages); installed alone, the API, the package
    data and the command line work from anywhere."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    setuptools_table = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    for folder in ("topicmap", *setuptools_table["package-dir"].values()):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source), "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("topicmap-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert {name.split("/")[0] for name in names if not name.startswith("topicmap-")} == {"topicmap"}
    assert {
        "topicmap/__init__.py", "topicmap/hierarchy/__init__.py", "topicmap/hierarchy/cli/main.py",
        "topicmap/hierarchy/tree/schema/tree-v2.schema.json", "topicmap/viz/__init__.py", "topicmap/viz/assets/topicmap.js",
        "topicmap/prompts/released.toml", "topicmap/prompts/label_leaf/v2.user.j2",
    } <= names
    # every sub-package of the checkout is in the wheel (a new one must be listed in pyproject.toml)
    folders = {p.parent.relative_to(REPO).as_posix() for p in (REPO / "hierarchy").rglob("__init__.py")}
    assert {f"topicmap/{folder}/__init__.py" for folder in folders} <= names
    assert "topicmap = topicmap.hierarchy.cli.main:main" in entry_points
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(tmp_path / "site")}
    probe = (
        "import topicmap, topicmap.hierarchy; from topicmap.hierarchy.tree.treefile import load_schema\n"
        "print(topicmap.hierarchy.__file__); print(topicmap.TopicMap.__name__, topicmap.__version__, load_schema()['title'])"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    where, names_line = run.stdout.splitlines()
    assert where == str(tmp_path / "site" / "topicmap" / "hierarchy" / "__init__.py")
    assert names_line == f"TopicMap {topicmap.__version__} {load_schema()['title']}"
    cli = subprocess.run([sys.executable, "-m", "topicmap", "info", "missing.json"], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert cli.returncode == 2 and cli.stderr.startswith("error: "), cli.stderr


def test_the_package_exports_the_api_and_the_errors() -> None:
    assert topicmap.TopicMap is TopicMap and topicmap.InputError is InputError and topicmap.TopicmapError is TopicmapError
    assert set(topicmap.__all__) >= {"TopicMap", "TopicmapError", "InputError", "TreeFileError", "__version__"}
    with pytest.raises(AttributeError):
        topicmap.NoSuchThing  # noqa: B018


# -- fit -------------------------------------------------------------------------------------------
def test_fit_builds_the_tree_the_cli_pipeline_builds(papers: tuple[list[dict[str, Any]], np.ndarray]) -> None:
    rows, vectors = papers
    expected = build_tree(read_documents(PAPERS), vectors, BuildConfig(min_leaf_size=5, seed=3), BuildInputs(str(PAPERS), ""))
    fitted = TopicMap(min_leaf_size=5, seed=3).fit(rows, vectors)
    assert fitted.tree_ is not None and shape(fitted.tree_) == shape(expected)
    assert fitted.tree_.manifest["estimator"]["params"]["seed"] == 3
    assert fitted.tree_.manifest["embedder"] == {"name": "precomputed", "source": "embeddings passed to TopicMap.fit", "dimensions": 384}


def test_strings_dicts_and_dataframes_give_the_same_tree(papers: tuple[list[dict[str, Any]], np.ndarray]) -> None:
    rows, vectors = papers
    from_dicts = TopicMap(min_leaf_size=5).fit(rows, vectors).tree_
    frame = pd.DataFrame(rows).rename(columns={"text": "body", "id": "key", "title": "headline"})
    frame["year"] = np.arange(len(frame), dtype=np.int64)  # NumPy ints in a column: metadata stays JSON
    from_frame = TopicMap(min_leaf_size=5, text_column="body", id_column="key", title_column="headline").fit(frame, vectors).tree_
    frame["vector"] = list(vectors)  # vectors in a column, as --embedding-column reads them
    from_column = TopicMap(min_leaf_size=5, text_column="body", id_column="key", embedding_column="vector").fit(frame).tree_
    assert [d.leaf for d in from_column.documents] == [d.leaf for d in from_dicts.documents]
    with pytest.raises(InputError, match="not both"):
        TopicMap(text_column="body", embedding_column="vector").fit(frame, vectors)
    assert [(d.id, d.leaf, d.title) for d in from_frame.documents] == [(d.id, d.leaf, d.title) for d in from_dicts.documents]
    assert from_frame.documents[7].metadata == {"year": 7}
    assert [n.keywords for n in from_frame.iter_nodes()] == [n.keywords for n in from_dicts.iter_nodes()]
    texts = [row["text"] for row in rows]
    for given in (texts, tuple(texts), pd.Series(texts)):
        from_texts = TopicMap(min_leaf_size=5).fit(given, vectors).tree_
        assert [d.id for d in from_texts.documents] == [f"row-{i}" for i in range(1, 57)]  # as a file without ids
        assert [d.leaf for d in from_texts.documents] == [d.leaf for d in from_dicts.documents]


def test_numpy_parameters_are_stored_as_given_and_used_as_python_values(papers: tuple[list[dict[str, Any]], np.ndarray], tmp_path: Path) -> None:
    rows, vectors = papers
    fitted = TopicMap(leaves=np.int64(5), min_leaf_size=np.int32(5), levels=None).fit(rows, vectors)
    assert isinstance(fitted.leaves, np.int64)  # as given
    assert fitted.tree_.manifest["clustering"]["leaves"] == 5 and fitted.tree_.manifest["estimator"]["params"]["leaves"] == 5
    fitted.save(tmp_path / "t.json")  # the manifest is JSON
    by_levels = TopicMap(levels=np.array([3, 6]), min_leaf_size=5).fit(rows, vectors).tree_
    assert [len(by_levels.level(d)) for d in (1, 2)] == [3, 6]
    assert TopicMap(levels="3,6", min_leaf_size=5).fit(rows, vectors).tree_.manifest["clustering"]["levels"] == [3, 6]


BAD_INPUT = {
    "empty text": (lambda r, v: ([*r[:3], {**r[3], "text": "  "}, *r[4:]], v), {}, "documents: documents[3]: field 'text' is empty (use --skip-empty"),
    "duplicate id": (lambda r, v: ([*r, dict(r[0])], np.vstack([v, v[:1]])), {}, "documents: documents[56]: duplicate id 'p000' (first at documents[0])"),
    "missing column": (lambda r, v: (pd.DataFrame(r), v), {"text_column": "body"}, "documents (DataFrame): no column 'body' (columns: id, title, text); choose one with --text-column"),
    "missing id in a DataFrame": (lambda r, v: (pd.DataFrame(r).assign(id=lambda f: f["id"].where(f.index != 7)).set_index(np.arange(100, 156)), v), {}, "documents (DataFrame): row 107: field 'id' is empty; every document needs an id"),
    "text not text": (lambda r, v: ([*r[:2], {**r[2], "text": 5}, *r[3:]], v), {}, "documents: documents[2]: field 'text' is int, expected text"),
    "a dict among texts": (lambda r, v: ([{"text": "x"}, "y"], v[:2]), {}, "documents[1] is str, but documents[0] is a dict"),
    "one string": (lambda r, v: ("just one text", v), {}, "documents: got str; give a list of texts"),
    "rows": (lambda r, v: (r, v[:50]), {}, "embeddings: 50 embedding rows for 56 documents; they must be row-aligned"),
    "nan": (lambda r, v: (r, np.where(np.arange(56)[:, None] == 4, np.nan, v)), {}, "embeddings: row 5 has NaN or infinite values"),
    "ragged": (lambda r, v: (r, [[0.0, 1.0]] * 55 + [[1.0]]), {}, "embeddings: not a matrix of numbers"),
    "same text": (lambda r, v: ([{**x, "text": "same", "title": ""} for x in r], v), {}, "all 56 documents have the same text"),
    "leaves 0": (lambda r, v: (r, v), {"leaves": 0}, "--leaves 0: must be at least 1"),
    "leaves text": (lambda r, v: (r, v), {"leaves": "5"}, "--leaves '5': must be a whole number"),
    "too many leaves": (lambda r, v: (r, v), {"leaves": 50}, "documents: --leaves 50: 56 documents make at most 5 leaves of --min-leaf-size 10"),
    "layout": (lambda r, v: (r, v), {"layout": "tsne"}, "--layout 'tsne': choose one of auto, umap, anchored, pca"),
    "reducer": (lambda r, v: (r, v), {"reducer": "svd"}, "--reducer 'svd': choose one of pca, umap, none"),
    "levels": (lambda r, v: (r, v), {"levels": [6, 3]}, "--levels '6,3': counts must be positive and increasing"),
    "levels and leaves": (lambda r, v: (r, v), {"levels": [2, 4], "leaves": 4}, "--leaves and --levels both set the number of leaves"),
    "seed": (lambda r, v: (r, v), {"seed": -1}, "--seed -1: must be between 0 and 4294967295"),
    "max children": (lambda r, v: (r, v), {"max_children": 1}, "--max-children 1: must be at least 2"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_stops_with_the_clis_message(case: str, papers: tuple[list[dict[str, Any]], np.ndarray]) -> None:
    make, params, message = BAD_INPUT[case]
    documents, vectors = make(*papers)
    model = TopicMap(**params)
    with pytest.raises(InputError) as raised:
        model.fit(documents, vectors)
    assert message in str(raised.value)
    assert not hasattr(model, "tree_")


def test_a_bad_option_stops_before_anything_is_embedded(papers: tuple[list[dict[str, Any]], np.ndarray], tmp_path: Path, no_llm_env: None) -> None:
    with pytest.raises(InputError, match="--max-depth 0: must be at least 1"):  # not an embedding error: nothing was sent
        TopicMap(max_depth=0, embedder="openai", cache_dir=tmp_path).fit(papers[0])
    assert not (tmp_path / "embeddings").exists()


@pytest.mark.parametrize(("cli_args", "api_params", "broken"), [([], {}, True), (["--leaves", "50"], {"leaves": 50}, False)], ids=["an empty text", "more leaves than documents allow"])
def test_the_cli_and_the_api_word_an_error_alike(papers: tuple[list[dict[str, Any]], np.ndarray], tmp_path: Path, cli_args: list[str], api_params: dict[str, Any], broken: bool) -> None:
    rows, vectors = papers
    documents = [*rows[:3], {**rows[3], "text": ""}, *rows[4:]] if broken else rows
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in documents), encoding="utf-8")
    np.save(tmp_path / "v.npy", vectors)
    result = cli("build", str(docs), "--embeddings", str(tmp_path / "v.npy"), "-o", str(tmp_path / "t.json"), "-q", *cli_args)
    assert isinstance(result.exception, InputError), result.output
    with pytest.raises(InputError) as raised:
        TopicMap(**api_params).fit(documents, vectors)
    # the same words after the place: a file and a line there, the documents and an index here
    assert str(result.exception).split(": ", 2)[-1] == str(raised.value).split(": ", 2)[-1]


def test_skip_empty_drops_those_rows_from_the_embeddings_too(papers: tuple[list[dict[str, Any]], np.ndarray]) -> None:
    rows, vectors = papers
    gappy = [*rows[:9], {**rows[9], "text": ""}, *rows[10:]]
    fitted = TopicMap(min_leaf_size=5, skip_empty=True).fit(gappy, vectors)
    without = TopicMap(min_leaf_size=5).fit(rows[:9] + rows[10:], np.delete(vectors, 9, axis=0))
    assert shape(fitted.tree_)["documents"] == shape(without.tree_)["documents"]
    assert fitted.tree_.manifest["input"]["skipped_rows"] == [10]
    frame = pd.DataFrame(rows).astype({"text": "string"})  # pandas' own missing value (NA) is an empty text too
    frame.loc[9, "text"] = pd.NA
    from_frame = TopicMap(min_leaf_size=5, skip_empty=True).fit(frame, vectors)
    assert shape(from_frame.tree_)["documents"] == shape(without.tree_)["documents"]
    with pytest.raises(InputError, match="documents \\(DataFrame\\): row 9: field 'text' is empty"):
        TopicMap(min_leaf_size=5).fit(frame, vectors)


def test_fit_embeds_with_the_chosen_embedder_through_the_cache(papers: tuple[list[dict[str, Any]], np.ndarray], tmp_path: Path) -> None:
    rows, _ = papers
    model = TopicMap(min_leaf_size=5, embedder="tfidf", cache_dir=tmp_path / "cache")
    first = model.fit(rows).tree_
    assert first.manifest["embedder"]["name"] == "tfidf-lsa-256-seed0"
    assert len(list((tmp_path / "cache" / "embeddings").glob("*.npy"))) == 1
    assert shape(model.fit(rows).tree_)["documents"] == shape(first)["documents"]
    assert not (tmp_path / "none").exists()
    TopicMap(min_leaf_size=5, embedder="tfidf", cache_dir=tmp_path / "none", use_cache=False).fit(rows)
    assert not (tmp_path / "none").exists()
    with pytest.raises(TopicmapError, match="unknown embedder 'word2vec'"):
        TopicMap(embedder="word2vec").fit(rows)


@pytest.mark.slow
def test_fit_without_vectors_embeds_with_minilm_like_the_shipped_vectors(papers: tuple[list[dict[str, Any]], np.ndarray]) -> None:
    """The default embedder is the CLI's (minilm when installed; the model ships in a wheel, no download)."""
    rows, vectors = papers[0][::2], papers[1][::2]  # 28 of the 56 abstracts: embedding them is most of this test's time
    embedded = TopicMap(min_leaf_size=5, use_cache=False).fit(rows).tree_
    assert embedded.manifest["embedder"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    given = TopicMap(min_leaf_size=5).fit(rows, vectors).tree_
    assert len(given.leaves()) >= 3
    assert [d.leaf for d in embedded.documents] == [d.leaf for d in given.documents]
    # the model that embedded the texts also steers the keywords; vectors of an unknown model cannot
    assert embedded.manifest["clustering"]["keywords_steered"] is True and given.manifest["clustering"]["keywords_steered"] is False
    named = TopicMap(min_leaf_size=5, embedder="minilm").fit(rows, vectors).tree_  # given vectors of a named model: steered too
    assert named.manifest["embedder"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert named.manifest["clustering"]["keywords_steered"] is True
    assert [n.keywords for n in named.iter_nodes()] == [n.keywords for n in embedded.iter_nodes()]
    assert any(a.keywords != b.keywords for a, b in zip(embedded.iter_nodes(), given.iter_nodes()))


# -- scikit-learn conventions ----------------------------------------------------------------------
def test_parameters_are_the_build_options_with_their_defaults() -> None:
    params = TopicMap().get_params()
    defaults = BuildConfig()
    for name in ("preset", "leaves", "docs_per_leaf", "levels", "min_leaf_size", "max_depth", "max_children", "descent_rounds", "reducer", "layout", "seed", "store_text"):
        assert params[name] == getattr(defaults, name), name
    assert {"embedder", "embedding_model", "text_column", "id_column", "title_column", "embedding_column", "skip_empty", "cache_dir", "use_cache"} <= set(params)


def test_get_set_params_and_clone_follow_scikit_learn(papers: tuple[list[dict[str, Any]], np.ndarray]) -> None:
    model = TopicMap(leaves=0, levels="not checked yet")  # stored as given; checked by fit
    assert model.get_params()["leaves"] == 0 and model.levels == "not checked yet"
    assert model.set_params(leaves=4, levels=None, min_leaf_size=5) is model and model.leaves == 4
    with pytest.raises(ValueError, match="Invalid parameter"):
        model.set_params(leafs=3)
    assert "leaves=4" in repr(model)
    fitted = model.fit(*papers)
    unfitted = clone(fitted)
    assert unfitted.get_params() == fitted.get_params() and not hasattr(unfitted, "tree_")
    for method in (unfitted.sunburst, unfitted.treemap, unfitted.document_info, unfitted.topic_info, unfitted.label, lambda: unfitted.save("x.json")):
        with pytest.raises(NotFittedError, match=r"call fit\(documents\) or TopicMap.load\(path\) first"):
            method()
    assert len(unfitted.fit(*papers).tree_.leaves()) == 4
    copied = pickle.loads(pickle.dumps(unfitted))
    assert type(copied) is TopicMap and b"topicmap._estimator" not in pickle.dumps(unfitted)
    assert shape(copied.tree_) == shape(unfitted.tree_)


# -- label ----------------------------------------------------------------------------------------
def test_label_names_every_topic_through_the_server(fake_server: FakeOpenAIServer, papers: tuple[list[dict[str, Any]], np.ndarray], tmp_path: Path, no_llm_env: None) -> None:
    fitted = TopicMap(min_leaf_size=5).fit(*papers)
    keyword_labels = {n.id: n.label for n in fitted.tree_.iter_nodes()}
    assert fitted.label(model="fake-model", base_url=fake_server.base_url, cache_dir=tmp_path / "llm") is fitted
    tree = fitted.tree_
    assert all(n.label_meta.labeler == "llm" and n.label_meta.status == "ok" for n in tree.iter_nodes())
    assert all(n.label != keyword_labels[n.id] and n.summary for n in tree.iter_nodes())
    assert all(n.label_meta.model == "fake-model" for n in tree.iter_nodes())
    report = fitted.label_report_
    assert report.calls == len(fake_server.chat_requests) > 0 and report.failed == 0
    assert tree.manifest["labelling"]["model"] == "fake-model" and tree.manifest["labelling"]["calls"] == report.calls
    assert report.fidelity.startswith("not checked: ") and tree.manifest["labelling"]["fidelity_check"] == report.fidelity
    asked = len(fake_server.chat_requests)
    fitted.label(model="fake-model", base_url=fake_server.base_url, cache_dir=tmp_path / "llm")
    assert len(fake_server.chat_requests) == asked and fitted.label_report_.calls == 0  # unchanged: nothing asked
    assert tree.manifest["labelling"]["calls"] == report.calls  # the run that asked is the one kept
    info = fitted.topic_info()
    assert set(info["labeler"]) == {"llm"} and info.set_index("id").loc["root", "label"] == tree.root.label


def test_label_runs_inside_a_notebooks_event_loop(fake_server: FakeOpenAIServer, papers: tuple[list[dict[str, Any]], np.ndarray], tmp_path: Path, no_llm_env: None) -> None:
    """Jupyter runs cells inside an event loop, where asyncio.run refuses to start another."""
    fitted = TopicMap(min_leaf_size=5).fit(*papers)

    async def cell() -> TopicMap:
        return fitted.label(model="fake-model", base_url=fake_server.base_url, api_key="sk-test", use_cache=False)

    assert asyncio.run(cell()) is fitted
    assert all(n.label_meta.labeler == "llm" for n in fitted.tree_.iter_nodes())
    assert fake_server.chat_requests


def test_label_settings_come_from_arguments_then_environment(fake_server: FakeOpenAIServer, papers: tuple[list[dict[str, Any]], np.ndarray], tmp_path: Path, no_llm_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    fitted = TopicMap(min_leaf_size=5).fit(*papers)
    with pytest.raises(TopicmapError, match="no LLM is configured: pass base_url="):
        fitted.label()
    assert all(n.label_meta.labeler == "keywords" for n in fitted.tree_.iter_nodes())
    with pytest.raises(InputError, match="--concurrency 0: "):
        fitted.label(base_url=fake_server.base_url, concurrency=0)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.base_url)
    monkeypatch.setenv("TOPICMAP_MODEL", "env-model")
    fitted.label(prompt="v1", cache_dir=tmp_path / "llm", temperature=0.0)
    assert {n.label_meta.model for n in fitted.tree_.iter_nodes()} == {"env-model"}
    assert {n.label_meta.prompt for n in fitted.tree_.iter_nodes() if n.parent is None} == {"label_parent@v1"}
    assert {r["model"] for r in fake_server.chat_requests} == {"env-model"}


def test_label_against_a_server_that_is_gone_stops_with_a_clear_error(papers: tuple[list[dict[str, Any]], np.ndarray], no_llm_env: None) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the run: nothing listens there
    fitted = TopicMap(min_leaf_size=5).fit(*papers)
    with pytest.raises(TopicmapError, match=r"call label\(\) again to resume"):
        fitted.label(base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=2, use_cache=False)
    assert fitted.label_report_.aborted
    assert all(n.label_meta.labeler == "keywords" for n in fitted.tree_.iter_nodes())


# -- figures and tables ----------------------------------------------------------------------------
def test_figures_have_one_sector_per_topic(bbc_map: TopicMap) -> None:
    tree = bbc_map.tree_
    sizes = {n.id: n.size for n in tree.iter_nodes()}
    for figure, kind in ((bbc_map.sunburst(), "sunburst"), (bbc_map.treemap(), "treemap")):
        assert isinstance(figure, go.Figure)
        trace = figure.data[0]
        assert trace.type == kind and sorted(trace.ids) == sorted(sizes)
        assert [sizes[i] for i in trace.ids] == list(trace.values)
    assert bbc_map.sunburst(rings=1).data[0].maxdepth == 2
    assert bbc_map.treemap(title="BBC").layout.title.text == "BBC"
    scatter = bbc_map.document_map()
    assert isinstance(scatter, go.Figure) and scatter.data[0].type == "scattergl"


def test_document_info_has_a_row_per_document_with_its_path(bbc_map: TopicMap, bbc: tuple[list[dict[str, Any]], np.ndarray]) -> None:
    tree = bbc_map.tree_
    frame = bbc_map.document_info()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 500 and tree.depth == 3
    assert list(frame.columns) == ["id", "title", "leaf", "label", "level_1", "level_1_label", "level_2", "level_2_label", "level_3", "level_3_label", "x", "y"]
    assert list(frame["id"]) == [row["id"] for row in bbc[0]]  # the order given to fit
    for row in frame.itertuples(index=False):
        path = tree.path(row.leaf)[1:]
        assert [row.level_1, row.level_2, row.level_3][: len(path)] == [n.id for n in path]
        assert [row.level_1_label, row.level_2_label, row.level_3_label][: len(path)] == [n.label for n in path]
        assert row.label == path[-1].label
    records = bbc_map.document_info(as_frame=False)
    assert isinstance(records, list) and records[0] == {k: (None if pd.isna(v) else v) for k, v in frame.iloc[0].to_dict().items()}
    assert frame.groupby("level_1").size().to_dict() == {n.id: n.size for n in tree.level(1)}


def test_without_pandas_tables_are_lists_of_dicts(bbc_map: TopicMap, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails, as where it is not installed
    records = bbc_map.document_info()
    assert isinstance(records, list) and len(records) == 500 and records[0]["id"] == bbc_map.tree_.documents[0].id
    assert isinstance(bbc_map.topic_info(), list)
    with pytest.raises(TopicmapError, match="as_frame=True needs pandas"):
        bbc_map.topic_info(as_frame=True)


def test_topic_info_has_a_row_per_node_parents_first(bbc_map: TopicMap) -> None:
    tree = bbc_map.tree_
    topics = bbc_map.topic_info(as_frame=False)
    assert [t["id"] for t in topics] == [n.id for n in tree.iter_nodes()] and topics[0]["parent"] is None
    assert set(topics[0]) == {"id", "parent", "depth", "size", "label", "summary", "keywords", "is_leaf", "labeler", "label_status"}
    assert sum(t["size"] for t in topics if t["is_leaf"]) == 500
    assert all(t["keywords"] and t["labeler"] == "keywords" for t in topics)
    assert len(bbc_map.topic_info()) == len(tree)


# -- files -----------------------------------------------------------------------------------------
def test_save_and_load_round_trip(bbc_map: TopicMap, bbc: tuple[list[dict[str, Any]], np.ndarray], tmp_path: Path) -> None:
    path = tmp_path / "bbc.tree.json"
    assert bbc_map.save(path) == path
    assert shape(load_tree(path)) == shape(bbc_map.tree_)  # the CLI's tree file
    result = cli("info", str(path), "--json")
    assert result.exit_code == 0 and json.loads(result.output)["documents"] == 500
    loaded = TopicMap.load(path)
    assert loaded.get_params() == bbc_map.get_params()
    pd.testing.assert_frame_equal(loaded.document_info(), bbc_map.document_info(), atol=1e-5)  # the file keeps x, y to 5 places
    assert sorted(loaded.sunburst().data[0].ids) == sorted(n.id for n in bbc_map.tree_.iter_nodes())
    assert shape(clone(loaded).fit(*bbc).tree_) == shape(bbc_map.tree_)  # the restored parameters rebuild the tree
    assert [p.name for p in tmp_path.iterdir()] == ["bbc.tree.json"]  # written in place by rename: no temp file left


def test_load_a_cli_built_tree_restores_the_options_it_records(papers: tuple[list[dict[str, Any]], np.ndarray], tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", papers[1])
    out = tmp_path / "cli.tree.json"
    result = cli("build", str(PAPERS), "--embeddings", str(tmp_path / "v.npy"), "--preset", "browse", "--min-leaf-size", "5", "--seed", "3", "--title-column", "title", "-o", str(out), "-q")
    assert result.exit_code == 0, result.output
    loaded = TopicMap.load(out)
    params = loaded.get_params()
    assert (params["preset"], params["min_leaf_size"], params["seed"], params["title_column"]) == ("browse", 5, 3, "title")
    assert params["leaves"] is None and params["max_depth"] is None  # the manifest holds their resolved values only
    assert shape(clone(loaded).fit(*papers).tree_)["documents"] == shape(loaded.tree_)["documents"]


def test_serve_runs_the_dashboard_on_loopback(bbc_map: TopicMap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real HTTP to the dashboard ``serve`` runs (in this process: tests/serve_helpers.py)."""
    from tests.serve_helpers import dash_run_visits, fetch, free_port

    port = free_port()
    pages: list[str] = []
    with dash_run_visits(monkeypatch, lambda url: pages.append(fetch(f"{url}/_dash-layout"))) as runs:
        TopicMap.load(bbc_map.save(tmp_path / "t.json")).serve(port=port)
    assert [(run["host"], run["port"], run["debug"]) for run in runs] == [("127.0.0.1", port, False)]
    assert json.dumps(bbc_map.tree_.node("0").label.split(" · ")[0])[1:-1] in pages[0]
    with pytest.raises(TopicmapError, match="--port 0"):
        bbc_map.serve(port=0)
