"""Hostile and degenerate input on load (issue 12, cases 8, 9 and 18): one clear line, never a traceback or a quiet wrong tree."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from topicmap.hierarchy.base.errors import InputError, TopicmapError, TreeFileError
from topicmap.hierarchy.inputs.documents import load_embeddings, read_documents
from topicmap.hierarchy.base.jsontext import MAX_DEPTH, JSONTooDeep, loads, nesting_depth
from topicmap.hierarchy.labels.label import select_nodes
from topicmap.hierarchy.llm.settings import resolve_settings
from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs, build_tree
from topicmap.hierarchy.tree.treefile import load_tree, save_tree, tree_to_dict
from tests.cli_helpers import assert_clean_error, invoke_cli
from tests.conftest import make_topic_corpus

DEEP = 100_000


def deep_list(levels: int) -> str:
    return "[" * levels + "]" * levels


def deep_object(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A real tree of the 72-document topic corpus, its documents and its embeddings."""
    folder = tmp_path_factory.mktemp("built")
    docs, emb = make_topic_corpus(folder)
    corpus = read_documents(docs)
    vectors = load_embeddings(emb, len(corpus))
    inputs = BuildInputs(str(docs), corpus.sha256, {"name": "precomputed", "source": str(emb)})
    tree = build_tree(corpus, vectors, BuildConfig(min_leaf_size=5), inputs)
    return save_tree(tree, folder / "tree.json"), docs, emb


def tree_data(built: tuple[Path, Path, Path]) -> dict[str, Any]:
    return json.loads(built[0].read_text(encoding="utf-8"))


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


# -- case 8: deeply nested JSON ---------------------------------------------------------------
def json_depth(value: Any) -> int:
    children = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else None
    return 0 if children is None else 1 + max((json_depth(c) for c in children), default=0)


@pytest.mark.parametrize("text", ['[]', '1', '"[[[["', '{"a": [{"b": "}}]]"}]}', r'["\\", ["\"[["]]', r'["a\\\"[[[["]', deep_list(40)])
def test_nesting_depth_counts_brackets_outside_strings_only(text: str) -> None:
    assert nesting_depth(text) == json_depth(json.loads(text))


def test_too_deep_json_is_a_json_error_and_the_limit_itself_loads() -> None:
    with pytest.raises(JSONTooDeep) as info:
        loads(deep_list(DEEP))
    assert isinstance(info.value, json.JSONDecodeError)  # callers that handle bad JSON handle this too
    assert loads(deep_list(MAX_DEPTH)) == json.loads(deep_list(MAX_DEPTH))


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("row.jsonl", '{"text": "fine"}\n{"text": "x", "meta": ' + deep_list(DEEP) + "}\n", "row.jsonl: line 2: JSON nested"),
        ("object.jsonl", '{"text": "fine"}\n' + deep_object(DEEP) + "\n", "object.jsonl: line 2: JSON nested"),
        ("bare.jsonl", "[" * DEEP + "\n", "bare.jsonl: line 1: JSON nested"),
        ("array.json", "[" * DEEP, "array.json: JSON nested"),
    ],
)
def test_deeply_nested_documents_are_refused_by_file_and_line(tmp_path: Path, name: str, content: str, where: str) -> None:
    with pytest.raises(InputError) as info:
        read_documents(write(tmp_path / name, content))
    assert str(info.value).startswith(str(tmp_path / where)), info.value


def test_deeply_nested_embedding_column_is_refused(tmp_path: Path) -> None:
    rows = [{"text": "a", "v": "[1, 2]"}, {"text": "b", "v": deep_list(DEEP)}]
    path = write(tmp_path / "v.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError, match=r"v.jsonl: line 2: field 'v' is not a JSON list of numbers"):
        read_documents(path, embedding_column="v")


def test_deep_input_from_the_command_line_is_one_line(tmp_path: Path) -> None:
    write(tmp_path / "docs.jsonl", '{"text": "one"}\n{"text": "two", "meta": ' + deep_list(DEEP) + "}\n")
    assert_clean_error(invoke_cli("build", "docs.jsonl", "--embedder", "tfidf", "-o", "t.json", cwd=tmp_path), "docs.jsonl: line 2: JSON nested")
    assert not (tmp_path / "t.json").exists()


DEEP_TREE_FILES = {
    "manifest.json": lambda text: text.replace('"manifest":{', '"manifest":{"deep":' + deep_list(DEEP) + ",", 1),
    "node.json": lambda text: text.replace('"extra":{}', '"extra":{"deep":' + deep_object(DEEP) + "}", 1),
    "document.json": lambda text: text.replace('"metadata":{', '"metadata":{"deep":' + deep_list(DEEP) + ",", 1),
    "brackets.json": lambda text: "[" * DEEP,
}


@pytest.mark.parametrize("name", list(DEEP_TREE_FILES))
def test_deeply_nested_tree_files_are_refused(tmp_path: Path, built: tuple[Path, Path, Path], name: str) -> None:
    text = built[0].read_text(encoding="utf-8")
    content = DEEP_TREE_FILES[name](text)
    assert content != text
    with pytest.raises(TreeFileError, match="not a topicmap tree file: JSON nested") as info:
        load_tree(write(tmp_path / name, content))
    assert str(tmp_path / name) in str(info.value)
    if name == "manifest.json":
        assert_clean_error(invoke_cli("info", "manifest.json", cwd=tmp_path), "manifest.json: not a topicmap tree file: JSON nested")


def test_metadata_nested_as_deep_as_allowed_survives_build_and_load(tmp_path: Path) -> None:
    """The tree file's limit leaves room for the deepest metadata a row may have."""
    docs, emb = make_topic_corpus(tmp_path)
    lines = docs.read_text(encoding="utf-8").splitlines()
    nested = json.loads(deep_list(MAX_DEPTH - 1))  # the row object is the first level
    lines[0] = json.dumps({**json.loads(lines[0]), "deep": nested})
    docs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus = read_documents(docs)
    tree = build_tree(corpus, load_embeddings(emb, len(corpus)), BuildConfig(min_leaf_size=5), BuildInputs(str(docs), corpus.sha256))
    loaded = load_tree(save_tree(tree, tmp_path / "t.json"))
    assert loaded.documents[0].metadata["deep"] == nested


def test_deep_llm_answers_are_bad_answers_not_crashes() -> None:
    from topicmap.hierarchy.labels.validate import InvalidAnswer, parse_object
    from topicmap.hierarchy.quality.navigate import parse_choice

    with pytest.raises(InvalidAnswer, match="JSON nested"):
        parse_object('{"label": ' + deep_list(5000) + "}")
    assert parse_choice(deep_list(DEEP), ["a", "b"]) is None


# -- case 9: centroids checked on load -----------------------------------------------------------
def centroid_of(values: list[float] | np.ndarray) -> str:
    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode("ascii")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["nodes"][2].update(centroid=centroid_of(np.ones(10))), "node '1' has a centroid of 10 dimensions, but the manifest's embedder has 32"),
        (lambda d: [n.update(centroid=centroid_of(np.ones(10))) for n in d["nodes"][1:]], "node '0' has a centroid of 10 dimensions, but the manifest's embedder has 32"),
        (lambda d: (d["manifest"]["embedder"].pop("dimensions"), d["nodes"][3].update(centroid=centroid_of(np.ones(7)))), "node '2' has a centroid of 7 dimensions, but node 'root' has 32"),
        (lambda d: d["nodes"][1].update(centroid=None), "node '0' has no centroid but node 'root' has one"),
        (lambda d: d["nodes"][2].update(centroid=centroid_of(np.full(32, np.nan))), "node '1' has NaN or infinite values in its centroid"),
        (lambda d: d["nodes"][2].update(centroid=centroid_of(np.full(32, np.inf))), "node '1' has NaN or infinite values in its centroid"),
        (lambda d: d["nodes"][2].update(centroid="not base64!"), "node '1': the centroid is not base64"),
        (lambda d: d["nodes"][2].update(centroid="AAAA"), "node '1': the centroid has 3 bytes, not a whole number of float32 values"),
        (lambda d: d["nodes"][2].update(centroid=""), "node '1' has an empty centroid"),
    ],
)
def test_bad_centroids_are_refused_on_load_naming_the_node(tmp_path: Path, built: tuple[Path, Path, Path], mutate, message: str) -> None:
    data = tree_data(built)
    mutate(data)
    path = write(tmp_path / "bad.json", data)
    with pytest.raises(TreeFileError) as info:
        load_tree(path)
    assert str(info.value).startswith(f"{path}: {message}"), info.value


def test_commands_that_multiply_centroids_never_see_bad_ones(tmp_path: Path, built: tuple[Path, Path, Path]) -> None:
    tree_path, docs, emb = built
    data = tree_data(built)
    data["nodes"][2]["centroid"] = centroid_of(np.ones(10))
    write(tmp_path / "mixed.json", data)
    result = invoke_cli("evaluate", "mixed.json", "--navigator", "none", "--embeddings", str(emb), "-o", "report.json", cwd=tmp_path)
    assert_clean_error(result, "mixed.json: node '1' has a centroid of 10 dimensions")
    assert not (tmp_path / "report.json").exists()


def test_a_tree_without_any_centroid_loads_and_evaluate_says_what_it_skips(tmp_path: Path, built: tuple[Path, Path, Path]) -> None:
    data = tree_data(built)
    for node in data["nodes"]:
        node["centroid"] = None
    write(tmp_path / "plain.json", data)
    assert load_tree(tmp_path / "plain.json").root.centroid is None
    result = invoke_cli("evaluate", "plain.json", "--navigator", "none", "--embeddings", str(built[2]), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no centroids" in json.loads(result.stdout)["cohesion"]["skipped"]


# -- case 18: quieter wrong answers -----------------------------------------------------------
def test_identical_texts_are_named_before_anything_is_embedded(tmp_path: Path) -> None:
    write(tmp_path / "same.jsonl", "".join(json.dumps({"id": str(i), "text": "the same words"}) + "\n" for i in range(60)))
    assert_clean_error(invoke_cli("build", "same.jsonl", "--embedder", "tfidf", "--no-cache", "-o", "t.json", cwd=tmp_path), "same.jsonl: all 60 documents have the same text")
    assert not (tmp_path / "t.json").exists()


def build_with(docs: Path, vectors: np.ndarray, source: str, **config: Any) -> Any:
    corpus = read_documents(docs)
    inputs = BuildInputs(str(docs), corpus.sha256, {"name": "precomputed", "source": source})
    return build_tree(corpus, vectors, BuildConfig(**{"min_leaf_size": 5, **config}), inputs)


def degenerate(kind: str) -> np.ndarray:
    """72 rows of 32 dimensions: all zero, all one vector, or three distinct vectors."""
    rng = np.random.default_rng(0)
    if kind == "zero":
        return np.zeros((72, 32), dtype=np.float32)
    distinct = {"one": 1, "three": 3}[kind]
    return rng.normal(size=(distinct, 32)).astype(np.float32)[np.arange(72) % distinct]


@pytest.mark.parametrize(
    ("source", "config", "message"),
    [
        ("zero.npy", {}, "zero.npy: all 72 embedding rows are zero vectors"),
        ("one.npy", {}, "one.npy: all 72 embedding rows are the same vector"),
        ("three.npy", {"leaves": 5}, "--leaves 5: three.npy has only 3 distinct vectors among 72 rows, so there cannot be 5 leaf topics; ask for at most 3"),
        ("three.npy", {"levels": [2, 4]}, "--levels 2,4: three.npy has only 3 distinct vectors among 72 rows"),
    ],
    ids=["all zero", "all the same", "fewer distinct than --leaves", "fewer distinct than --levels"],
)
def test_degenerate_vectors_are_named(tmp_path: Path, source: str, config: dict[str, Any], message: str) -> None:
    docs, _ = make_topic_corpus(tmp_path)
    with pytest.raises(InputError) as info:
        build_with(docs, degenerate(source.removesuffix(".npy")), source, **config)
    assert str(info.value).startswith(message), info.value


def test_some_zero_rows_and_few_distinct_rows_warn_and_still_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs, emb = make_topic_corpus(tmp_path)
    vectors = np.load(emb)
    vectors[[4, 9, 30]] = 0.0
    tree = build_with(docs, vectors, "holes.npy")
    assert "warning: holes.npy: 3 of 72 embedding rows are zero vectors (rows 5, 10, 31)" in capsys.readouterr().err
    assert tree.manifest["input"]["warnings"][0].startswith("holes.npy: 3 of 72")
    few = np.random.default_rng(1).normal(size=(4, 32)).astype(np.float32)[np.arange(72) % 4]
    tree = build_with(docs, few, "few.npy")
    assert "warning: few.npy: only 4 distinct vectors among 72 rows, so the tree has at most 4 leaf topics" in capsys.readouterr().err
    assert len(tree.leaves()) <= 4


def test_sizes_are_checked_when_the_documents_list_is_empty(tmp_path: Path, built: tuple[Path, Path, Path]) -> None:
    data = tree_data(built)
    data["documents"] = []
    with pytest.raises(TreeFileError, match=r"documents list is empty, but node 'root' counts 72 documents"):
        load_tree(write(tmp_path / "cut.json", data))
    for node in data["nodes"]:
        node["size"] = 0
    assert len(load_tree(write(tmp_path / "bare.json", data)).documents) == 0
    result = invoke_cli("evaluate", "bare.json", cwd=tmp_path)
    assert_clean_error(result, "bare.json: the tree has no documents")
    assert "--sample" not in result.stderr


def test_a_tree_built_without_texts_keeps_its_documents_and_loads(tmp_path: Path) -> None:
    docs, emb = make_topic_corpus(tmp_path)
    tree = build_with(docs, np.load(emb), str(emb), store_text=False)
    loaded = load_tree(save_tree(tree, tmp_path / "t.json"))
    assert len(loaded.documents) == 72 and loaded.root.size == 72 and not any(d.text for d in loaded.documents)


def test_an_empty_model_name_is_refused(tmp_path: Path, built: tuple[Path, Path, Path]) -> None:
    result = invoke_cli("label", str(built[0]), "-m", "", "-o", "out.json", cwd=tmp_path, env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert_clean_error(result, "--model '': empty model name")
    assert not (tmp_path / "out.json").exists()
    for model in ("", "   "):
        with pytest.raises(InputError, match=f"--model {model!r}: empty model name"):
            resolve_settings({"model": model}, {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
        config = write(tmp_path / "c.toml", f'[llm]\nmodel = "{model}"\n')
        with pytest.raises(InputError, match=r"c.toml: \[llm\] model"):
            resolve_settings({}, {}, config)
    with pytest.raises(InputError, match="TOPICMAP_MODEL"):
        resolve_settings({}, {"TOPICMAP_MODEL": " "})
    assert resolve_settings({}, {"TOPICMAP_MODEL": ""}).config.model == "gpt-4o-mini"  # empty = unset, as shells use it


def test_nodes_accepts_ids_root_and_stars_and_names_valid_ids_otherwise(built: tuple[Path, Path, Path]) -> None:
    tree = load_tree(built[0])
    assert select_nodes(tree, ["root"]) == {"root"}
    assert select_nodes(tree, ["*"]) == {n.id for n in tree.iter_nodes()}
    assert select_nodes(tree, ["0.*"]) == select_nodes(tree, ["0*"]) == {n.id for n in tree.subtree("0")}
    for bad in (".", "0.", "./", "x"):
        with pytest.raises(TopicmapError, match=rf"--nodes: no node {bad!r} in the tree; ids are root, 0, 1"):
            select_nodes(tree, [bad])


@pytest.mark.parametrize("command", ["build", "demo", "evaluate", "compare", "assign"])
def test_every_seed_option_names_itself(tmp_path: Path, built: tuple[Path, Path, Path], command: str) -> None:
    tree, docs, emb = (str(p) for p in built)
    out = str(tmp_path / "t.json")
    args = {
        "build": ["build", docs, "--embeddings", emb, "-o", out],
        "demo": ["demo", "--no-serve", "-o", out],
        "evaluate": ["evaluate", tree],
        "compare": ["compare", tree, tree],
        "assign": ["assign", tree, docs, "-o", out],
    }[command]
    for seed in ("-1", str(2**32)):
        result = invoke_cli(*args, "--seed", seed, cwd=tmp_path)
        assert_clean_error(result, f"--seed {seed}: must be between 0 and {2**32 - 1}")  # the build parameters' words
    assert not (tmp_path / "t.json").exists()


def test_a_negative_seed_is_refused_by_the_pipeline_too(built: tuple[Path, Path, Path]) -> None:
    _, docs, emb = (str(p) for p in built)
    with pytest.raises(InputError, match="--seed -1"):
        build_tree(read_documents(docs), np.load(emb), BuildConfig(seed=-1), BuildInputs(docs, ""))


NOT_REAL_MATRICES: dict[str, tuple[Any, str]] = {  # file name: (a matrix to np.save, or the file's bytes), message
    "complex.npy": (np.ones((3, 4)) * (1 + 2j), "embeddings are complex numbers (dtype complex128)"),
    "bool.npy": (np.ones((3, 4), dtype=bool), "must be real numbers (integer or float), got dtype bool"),
    "text_values.npy": (np.array([["a"] * 4] * 3), "must be real numbers (integer or float), got dtype <U1"),
    "text.npy": (b"0.1 0.2 0.3\n0.4 0.5 0.6\n", "not a NumPy .npy file"),
    "empty.npy": (b"", "empty file"),
}


@pytest.mark.parametrize("name", list(NOT_REAL_MATRICES))
def test_npy_files_that_are_not_real_matrices(tmp_path: Path, name: str) -> None:
    content, message = NOT_REAL_MATRICES[name]
    if isinstance(content, bytes):
        (tmp_path / name).write_bytes(content)
    else:
        np.save(tmp_path / name, content)
    with pytest.raises(InputError) as info:
        load_embeddings(tmp_path / name, 3)
    assert str(info.value).startswith(f"{tmp_path / name}: ") and message in str(info.value), info.value
    assert "pickled" not in str(info.value)


def test_integer_npy_files_are_read_as_float32(tmp_path: Path) -> None:
    np.save(tmp_path / "ints.npy", np.arange(12, dtype=np.int16).reshape(3, 4))
    assert load_embeddings(tmp_path / "ints.npy", 3).dtype == np.float32
