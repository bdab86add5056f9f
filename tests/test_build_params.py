"""One table for the build parameters (builder/params.py): the CLI, TopicMap and the estimator check the same rules."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.main import get_command

from topicmap import TopicMap
from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.builder.cluster import RecursiveClusterer
from topicmap.hierarchy.builder.params import BY_ESTIMATOR, PARAMS, check_build, exposed_names, param, to_estimator
from topicmap.hierarchy.builder.pipeline import BuildConfig, make_clusterer, resolve_preset
from topicmap.hierarchy.cli.main import _register_commands, app
from tests.cli_helpers import invoke_cli

REPO = Path(__file__).resolve().parent.parent
PAPERS = REPO / "data" / "papers.jsonl"  # 56 abstracts
PAPERS_VECTORS = REPO / "data" / "papers.minilm.npy"

# Bad build parameters both the command line and TopicMap get past their own parsing, so the table
# words the refusal: (CLI arguments, TopicMap parameters). Messages naming the corpus name it by its source.
SAME_MESSAGE: dict[str, tuple[list[str], dict[str, Any]]] = {
    "layout": (["--layout", "tsne"], {"layout": "tsne"}),
    "levels decreasing": (["--levels", "6,3"], {"levels": "6,3"}),
    "levels as a list": (["--levels", "6,3"], {"levels": [6, 3]}),
    "levels from one node": (["--levels", "1,4"], {"levels": [1, 4]}),
    "levels not counts": (["--levels", "six"], {"levels": "six"}),
    "levels and leaves": (["--levels", "2,4", "--leaves", "4"], {"levels": [2, 4], "leaves": 4}),
    "more leaves than the corpus fills": (["--leaves", "50"], {"leaves": 50}),
    "fewer documents than a leaf": (["--min-leaf-size", "60"], {"min_leaf_size": 60}),
    "a level with more nodes than documents": (["--levels", "6,80"], {"levels": [6, 80]}),
    "period": (["--period", "decade"], {"period": "decade"}),
}


@pytest.fixture(scope="module")
def papers() -> tuple[list[dict[str, Any]], np.ndarray]:
    rows = [json.loads(line) for line in PAPERS.read_text("utf-8").splitlines() if line.strip()]
    return rows, np.load(PAPERS_VECTORS)


def api_error(params: dict[str, Any], papers: tuple[list[dict[str, Any]], np.ndarray]) -> str:
    with pytest.raises(InputError) as raised:
        TopicMap(**params).fit(*papers)
    return str(raised.value)


@pytest.mark.parametrize("case", list(SAME_MESSAGE))
def test_cli_and_api_reject_the_same_parameters_with_the_same_message(case: str, papers: Any, tmp_path: Path) -> None:
    args, params = SAME_MESSAGE[case]
    result = invoke_cli("build", str(PAPERS), "--embeddings", str(PAPERS_VECTORS), "-o", "out.json", "-q", *args, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: "), result.stderr
    assert result.stderr.strip().removeprefix("error: ").replace(str(PAPERS), "documents") == api_error(params, papers)
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("name", [p.name for p in PARAMS if p.exposed and p.least is not None])
def test_the_cli_bounds_are_the_tables(name: str, papers: Any, tmp_path: Path) -> None:
    """Counts below their least are refused by the command line and by TopicMap in the table's words; --help shows the range."""
    spec = param(name)
    _register_commands()
    build: Any = get_command(app).commands["build"]  # type: ignore[attr-defined]
    option = next(p for p in build.params if p.name == name)
    assert (option.min, option.max) == (spec.least, spec.most)
    too_small = spec.least - 1
    bound = f"must be between {spec.least} and {spec.most}" if spec.most is not None else f"must be at least {spec.least}"
    assert api_error({name: too_small}, papers) == f"{spec.option} {too_small}: {bound}"
    result = invoke_cli("build", str(PAPERS), "--embeddings", str(PAPERS_VECTORS), "-o", "out.json", spec.option, str(too_small), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr == f"error: {spec.option} {too_small}: {bound}\n", result.stderr
    assert not (tmp_path / "out.json").exists()


# values the command line's own parsing used to word (typer's range, choice and number messages): now the table's
TYPED: dict[str, tuple[list[str], dict[str, Any]]] = {
    "leaves 0": (["--leaves", "0"], {"leaves": 0}),
    "seed too large": (["--seed", str(2**32)], {"seed": 2**32}),
    "seed negative": (["--seed", "-1"], {"seed": -1}),
    "not a whole number": (["--leaves", "1.5"], {"leaves": "1.5"}),
    "not a number": (["--max-depth", "deep"], {"max_depth": "deep"}),
    "preset": (["--preset", "tiny"], {"preset": "tiny"}),
    "reducer": (["--reducer", "tsne"], {"reducer": "tsne"}),
}


@pytest.mark.parametrize("case", list(TYPED))
def test_values_the_cli_parses_are_refused_in_the_same_words_as_topicmap(case: str, papers: Any, tmp_path: Path) -> None:
    args, params = TYPED[case]
    result = invoke_cli("build", str(PAPERS), "--embeddings", str(PAPERS_VECTORS), "-o", "out.json", "-q", *args, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr == f"error: {api_error(params, papers)}\n", result.stderr
    assert not (tmp_path / "out.json").exists()


def test_other_commands_refuse_a_bad_seed_in_the_same_words(tmp_path: Path) -> None:
    result = invoke_cli("assign", "missing.tree.json", "docs.jsonl", "--seed", "-1", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr == "error: --seed -1: must be between 0 and 4294967295\n", result.stderr


def test_every_exposed_parameter_is_an_option_a_topicmap_parameter_and_a_config_field_with_one_default() -> None:
    _register_commands()
    build: Any = get_command(app).commands["build"]  # type: ignore[attr-defined]
    options = {p.name: p for p in build.params}
    defaults, params = BuildConfig(), TopicMap().get_params()
    for name in exposed_names():
        assert params[name] == getattr(defaults, name), name
        if name == "store_text":
            assert options["no_text"].default is (not defaults.store_text)  # the flag says the opposite
        elif name == "levels":
            assert options["levels"].default is None and defaults.levels is None  # text on the command line
        else:
            default = options[name].default
            assert getattr(default, "value", default) == getattr(defaults, name), name
    assert {f.name for f in fields(BuildConfig)} == {p.name for p in PARAMS if p.name is not None}


def test_the_estimator_takes_the_configs_fields_under_its_own_names() -> None:
    assert set(RecursiveClusterer().get_params()) == set(BY_ESTIMATOR)
    assert to_estimator({"leaves": 7, "seed": 3, "preset": "map", "layout": "auto"}) == {"leaf_clusters": 7, "random_state": 3}
    resolved = resolve_preset(BuildConfig(leaves=12, seed=5), 4000)
    model = make_clusterer(resolved).get_params()
    config = asdict(resolved)
    for spec in PARAMS:
        if spec.name is not None and spec.estimator is not None:
            assert model[spec.estimator] == config[spec.name], spec.name
    assert (model["leaf_clusters"], model["random_state"]) == (12, 5)


@pytest.mark.parametrize("spec", [p for p in PARAMS if p.estimator is not None and p.least is not None], ids=lambda p: str(p.estimator))
def test_the_estimator_checks_the_same_bounds(spec: Any) -> None:
    X = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    with pytest.raises(ValueError, match=f"^{spec.estimator} must be at least {spec.least}, got {spec.least - 1}$|^{spec.estimator} must be between"):
        RecursiveClusterer(**{spec.estimator: spec.least - 1}).fit(X)
    assert spec.estimator_error(spec.least) is None and spec.estimator_error(np.int64(spec.least)) is None  # NumPy counts are counts here


def test_the_corpus_rules_are_worded_once_for_the_config_and_once_for_the_estimator() -> None:
    X = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="^30 documents is fewer than min_leaf_size=40$"):
        RecursiveClusterer(min_leaf_size=40).fit(X)
    with pytest.raises(InputError, match=r"^docs: 30 documents is fewer than the minimum leaf size \(40\)"):
        check_build(BuildConfig(min_leaf_size=40), 30, "docs")
    with pytest.raises(ValueError, match=r"^levels must be increasing positive counts, got \[10, 5\]$"):
        RecursiveClusterer(levels=[10, 5]).fit(X)
    with pytest.raises(ValueError, match="^the last level asks for 40 clusters but there are only 30 documents$"):
        RecursiveClusterer(levels=[4, 40]).fit(X)
    with pytest.raises(InputError, match="^--levels asks for 40 leaf clusters but docs has only 30 documents$"):
        check_build(BuildConfig(levels=[4, 40]), 30, "docs")
