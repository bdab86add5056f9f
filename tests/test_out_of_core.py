"""Out-of-core builds (issue 16): vectors streamed from .npy and Parquet shards give the in-memory tree;
bad input at scale is named by shard and row, and nothing is written."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cli_helpers import assert_clean_error, invoke_cli
from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.builder import pipeline
from topicmap.hierarchy.builder.params import BuildConfig
from topicmap.hierarchy.builder.pipeline import BuildInputs, build_tree
from topicmap.hierarchy.builder.reduced_rows import ReducedRows
from topicmap.hierarchy.builder.synthetic import make_hierarchical_embeddings
from topicmap.hierarchy.inputs.documents import corpus_from_rows
from topicmap.hierarchy.inputs.vector_source import ArraySource, NpySource, ParquetSource, open_vectors, rechunk
from topicmap.hierarchy.tree.treefile import load_tree, tree_to_dict

ROOT = Path(__file__).resolve().parent.parent
INPUTS = BuildInputs(source="docs", sha256="0" * 64, embedder={"name": "precomputed", "source": "vectors"})


def _corpus(n: int = 2400, dim: int = 160, seed: int = 0):
    data = make_hierarchical_embeddings(n, branching=(4, 3), dim=dim, texts=True, random_state=seed)
    rows = ((f"row {i + 1}", {"id": f"d{i}", "text": text}) for i, text in enumerate(data.texts))
    return corpus_from_rows(rows, "docs"), data.X


def _comparable(tree) -> str:
    """The tree file's JSON with the fields that differ between any two runs masked (timings, creation times)."""
    data = tree_to_dict(tree)
    data["manifest"].pop("timings_s", None)
    data["manifest"].pop("created_at", None)
    for node in data["nodes"]:
        (node.get("label_meta") or {}).pop("created_at", None)
    return json.dumps(data, sort_keys=True)


def _shards(directory: Path, X: np.ndarray, sizes: list[int], column: str = "embedding", fixed: bool = True, row_group: int = 300) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths, start = [], 0
    for i, size in enumerate(sizes):
        part = X[start : start + size]
        flat = pa.array(part.ravel())
        values = pa.FixedSizeListArray.from_arrays(flat, X.shape[1]) if fixed else pa.ListArray.from_arrays(pa.array(np.arange(0, part.size + 1, X.shape[1], dtype=np.int32)), flat)
        path = directory / f"part-{i:03d}.parquet"
        pq.write_table(pa.table({"id": [f"d{start + j}" for j in range(size)], column: values}), path, row_group_size=row_group)
        paths.append(path)
        start += size
    return paths


@pytest.fixture(scope="module")
def small() -> tuple[object, np.ndarray, str]:
    corpus, X = _corpus()
    memory = _comparable(build_tree(corpus, X, BuildConfig(layout="anchored"), INPUTS))
    return corpus, X, memory


def test_rechunk_gives_exact_blocks_whatever_came_in() -> None:
    parts = [np.arange(i * 10, i * 10 + k).reshape(-1, 1) for i, k in enumerate([3, 7, 1, 12, 2])]
    out = list(rechunk(iter(parts), 5, 1))
    assert [b.shape[0] for b in out] == [5, 5, 5, 5, 5]
    assert np.array_equal(np.concatenate(out), np.concatenate(parts))


def test_reduced_rows_answer_like_an_array(tmp_path: Path) -> None:
    X = np.random.default_rng(0).standard_normal((1000, 7)).astype(np.float32)
    rows = ReducedRows(1000, 7, tmp_path)
    rows.write(0, X[:600])
    rows.write(600, X[600:])
    assert list(tmp_path.iterdir()) == []  # unlinked: nothing to leave behind
    index = np.array([999, 3, 3, 500])
    assert np.array_equal(rows[index], X[index])
    assert np.array_equal(rows[10:997], X[10:997])
    assert np.array_equal(rows[X[:, 0] > 0], X[X[:, 0] > 0])
    rows.close()


@pytest.mark.parametrize("chunk", [1000, 777, 65536])
def test_streamed_npy_gives_the_in_memory_tree(small, tmp_path: Path, chunk: int) -> None:
    corpus, X, memory = small
    np.save(tmp_path / "x.npy", X)
    streamed = build_tree(corpus, NpySource(tmp_path / "x.npy"), BuildConfig(layout="anchored"), INPUTS, memory_budget=0, chunk_rows=chunk, scratch_dir=tmp_path)
    assert _comparable(streamed) == memory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]  # the scratch file is gone


def test_big_clusters_read_from_disk_give_the_same_tree(small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clusters past SUBSET_ROWS rows are clustered inside from the scratch file, never gathered whole."""
    from topicmap.hierarchy.builder import reduced_rows

    corpus, X, memory = small
    monkeypatch.setattr(reduced_rows, "SUBSET_ROWS", 0)
    np.save(tmp_path / "x.npy", X)
    streamed = build_tree(corpus, NpySource(tmp_path / "x.npy"), BuildConfig(layout="anchored"), INPUTS, memory_budget=0, chunk_rows=900)
    assert streamed.manifest["clustering"]["coarse_clusters_found"]  # the map preset's nested leaves ran
    assert _comparable(streamed) == memory


def test_streamed_with_reduced_rows_in_memory_gives_the_same_tree(small, tmp_path: Path) -> None:
    corpus, X, memory = small
    np.save(tmp_path / "x.npy", X)
    budget = X.nbytes - 1  # the vectors stream, their 128-d reductions fit
    streamed = build_tree(corpus, NpySource(tmp_path / "x.npy"), BuildConfig(layout="anchored"), INPUTS, memory_budget=budget, chunk_rows=500)
    assert _comparable(streamed) == memory


@pytest.mark.parametrize("form", ["file", "directory", "glob", "lists"])
def test_streamed_parquet_gives_the_in_memory_tree(small, tmp_path: Path, form: str) -> None:
    corpus, X, memory = small
    if form == "file":
        location = _shards(tmp_path, X, [X.shape[0]], row_group=333)[0]
    elif form == "directory":
        _shards(tmp_path / "d", X, [1000, 901, 499], row_group=250)
        location = tmp_path / "d"
    elif form == "glob":
        _shards(tmp_path, X, [700, 1700])
        location = str(tmp_path / "part-*.parquet")
    else:
        _shards(tmp_path / "l", X, [1200, 1200], fixed=False)
        location = tmp_path / "l"
    source = ParquetSource(location, "embedding")
    assert (source.n_rows, source.dim) == X.shape
    assert np.array_equal(source.take(np.array([0, 5, 1999, 2399])), X[[0, 5, 1999, 2399]])
    streamed = build_tree(corpus, source, BuildConfig(layout="anchored"), INPUTS, memory_budget=0, chunk_rows=640)
    assert _comparable(streamed) == memory


def test_pca_fitted_on_a_sample_streams_to_the_same_tree(tmp_path: Path) -> None:
    """Past 20,000 rows PCA is fitted on a sample, which the stream reads by row (NpySource.take)."""
    corpus, X = _corpus(n=21000, dim=140, seed=3)
    config = BuildConfig(preset="browse", layout="anchored")
    memory = _comparable(build_tree(corpus, X, config, INPUTS))
    np.save(tmp_path / "x.npy", X)
    assert _comparable(build_tree(corpus, NpySource(tmp_path / "x.npy"), config, INPUTS, memory_budget=0, chunk_rows=5000)) == memory


def test_topicmap_fit_takes_a_npy_path(tmp_path: Path) -> None:
    from topicmap import TopicMap

    corpus, X = _corpus(n=600, dim=48)
    docs = [{"id": i, "text": t} for i, t in zip(corpus.ids, corpus.texts)]
    np.save(tmp_path / "x.npy", X)
    a = TopicMap(seed=0, layout="anchored").fit(docs, X).tree_
    b = TopicMap(seed=0, layout="anchored").fit(docs, str(tmp_path / "x.npy")).tree_
    da, db = json.loads(_comparable(a)), json.loads(_comparable(b))
    assert (da["nodes"], da["documents"]) == (db["nodes"], db["documents"])
    assert db["manifest"]["embedder"]["source"] == str(tmp_path / "x.npy")


def test_umap_is_refused_when_rows_live_on_disk(small, tmp_path: Path) -> None:
    corpus, X, _ = small
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(InputError, match=r"--reducer umap needs every row in memory.*use --reducer pca"):
        build_tree(corpus, NpySource(tmp_path / "x.npy"), BuildConfig(reducer="umap"), INPUTS, memory_budget=0)
    with pytest.raises(InputError, match=r"--layout umap needs every reduced row in memory.*use --layout anchored"):
        build_tree(corpus, NpySource(tmp_path / "x.npy"), BuildConfig(layout="umap"), INPUTS, memory_budget=0)
    tree = build_tree(corpus, NpySource(tmp_path / "x.npy"), BuildConfig(), INPUTS, memory_budget=0)  # auto: the anchored map
    assert tree.manifest["clustering"]["layout_used"] == "anchored"


# -- bad input at scale: one line naming the shard and row ------------------------------------------


def test_a_shard_with_another_dimension_is_named(tmp_path: Path) -> None:
    X = np.ones((40, 8), dtype=np.float32)
    _shards(tmp_path, X[:20], [20])
    (tmp_path / "part-000.parquet").rename(tmp_path / "a.parquet")
    _shards(tmp_path, np.ones((20, 9), dtype=np.float32), [20])
    with pytest.raises(InputError, match=r"part-000.parquet: embeddings have 9 dimensions, .*a.parquet has 8"):
        ParquetSource(tmp_path, "embedding")


def test_a_list_of_another_length_is_named_by_shard_and_row(tmp_path: Path) -> None:
    rows = [[0.1] * 4] * 5 + [[0.2] * 3] + [[0.3] * 4] * 4
    pq.write_table(pa.table({"embedding": pa.array(rows, type=pa.list_(pa.float32()))}), tmp_path / "s.parquet")
    source = ParquetSource(tmp_path / "s.parquet", "embedding")
    with pytest.raises(InputError, match=r"s.parquet: row 6: column 'embedding' has 3 dimensions, expected 4"):
        list(source.iter_chunks(4))


def test_a_shard_without_the_column_is_named(tmp_path: Path) -> None:
    X = np.ones((30, 4), dtype=np.float32)
    _shards(tmp_path, X, [15, 15])
    _shards(tmp_path / "b", X[:10], [10], column="vector")
    (tmp_path / "b" / "part-000.parquet").rename(tmp_path / "part-002.parquet")
    with pytest.raises(InputError, match=r"part-002.parquet: no embedding column 'embedding' \(columns: id, vector\)"):
        ParquetSource(tmp_path, "embedding")


def test_an_unreadable_shard_is_named(tmp_path: Path) -> None:
    _shards(tmp_path, np.ones((10, 4), dtype=np.float32), [10])
    (tmp_path / "part-001.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"part-001.parquet: cannot read as Parquet"):
        ParquetSource(tmp_path, "embedding")


def test_nan_rows_are_named_by_shard_and_row(tmp_path: Path) -> None:
    X = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    X[37, 2] = np.nan
    _shards(tmp_path, X, [25, 25], row_group=4)
    with pytest.raises(InputError, match=r"part-001.parquet: row 13 has NaN or infinite values"):
        list(ParquetSource(tmp_path, "embedding").iter_chunks(10))
    X[37, 2] = np.inf
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(InputError, match=r"x.npy: row 38 has NaN or infinite values"):
        list(NpySource(tmp_path / "x.npy").iter_chunks(16))


def test_a_truncated_npy_is_named(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((100, 4), dtype=np.float32))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(data[:-40])
    with pytest.raises(InputError, match=r"x.npy: truncated: the header says 100 rows but the file holds 97"):
        NpySource(tmp_path / "x.npy")


def test_open_vectors_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no files match"):
        open_vectors(str(tmp_path / "*.parquet"), "embedding")
    with pytest.raises(InputError, match="name the embedding column"):
        open_vectors(tmp_path / "a.parquet")
    assert isinstance(open_vectors(np.ones((3, 2))), ArraySource)


# -- the command line ------------------------------------------------------------------------------


def _bbc_sample(tmp_path: Path, n: int = 700) -> tuple[Path, Path]:
    with gzip.open(ROOT / "data" / "bbc.jsonl.gz", "rt", encoding="utf-8") as fh:
        lines = [next(fh) for _ in range(n)]
    docs = tmp_path / "bbc.jsonl"
    docs.write_text("".join(lines), encoding="utf-8")
    np.save(tmp_path / "bbc.npy", np.load(ROOT / "data" / "bbc.minilm.npy")[:n])
    return docs, tmp_path / "bbc.npy"


def _masked_file(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    data["manifest"].pop("timings_s", None)
    data["manifest"].pop("created_at", None)
    for node in data["nodes"]:
        (node.get("label_meta") or {}).pop("created_at", None)
    return json.dumps(data, sort_keys=True)


def test_cli_streams_a_npy_to_the_in_memory_tree_file_bbc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled BBC vectors (a sample): the streamed build writes the in-memory build's tree file."""
    docs, npy = _bbc_sample(tmp_path)
    args = ["build", str(docs), "--embeddings", str(npy), "--layout", "anchored", "--no-cache", "-q"]
    done = invoke_cli(*args, "-o", str(tmp_path / "memory.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    monkeypatch.setattr(pipeline, "IN_MEMORY_BYTES", 0)  # every row streamed, the reduced ones in a scratch file
    done = invoke_cli(*args, "-o", str(tmp_path / "streamed.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _masked_file(tmp_path / "streamed.json") == _masked_file(tmp_path / "memory.json")


def test_cli_streams_a_parquet_embedding_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs, npy = _bbc_sample(tmp_path, 300)
    rows = [json.loads(line) for line in docs.read_text(encoding="utf-8").splitlines()]
    X = np.load(npy)
    table = pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows], "embedding": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), X.shape[1])})
    pq.write_table(table, tmp_path / "docs.parquet", row_group_size=64)
    jsonl = tmp_path / "plain.jsonl"
    jsonl.write_text("".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setattr(pipeline, "IN_MEMORY_BYTES", 0)
    done = invoke_cli("build", str(tmp_path / "docs.parquet"), "--embedding-column", "embedding", "--layout", "anchored", "--no-cache", "-q", "-o", str(tmp_path / "p.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = invoke_cli("build", str(jsonl), "--embeddings", str(npy), "--layout", "anchored", "--no-cache", "-q", "-o", str(tmp_path / "j.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    a, b = (json.loads(_masked_file(tmp_path / name)) for name in ("p.json", "j.json"))
    assert a["nodes"] == b["nodes"]
    assert "documents" not in a  # a Parquet input's tree keeps its documents in a Parquet sidecar
    from_parquet, from_jsonl = (load_tree(tmp_path / name).documents for name in ("p.json", "j.json"))
    assert [vars(d) for d in from_parquet] == [vars(d) for d in from_jsonl]  # the embedding column is not kept as metadata


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        ("rows", "x.npy: 299 embedding rows for 300 documents"),
        ("nan", "x.npy: row 201 has NaN or infinite values"),
    ],
)
def test_cli_bad_input_at_scale_is_one_line_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: str, fragment: str) -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 4)).astype(np.float32)
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"d{i}", "text": f"word{i % 7} thing{i % 5} item"}) + "\n" for i in range(300)), encoding="utf-8")
    monkeypatch.setattr(pipeline, "IN_MEMORY_BYTES", 0)
    if make == "rows":
        X = X[:299]
    else:
        X[200, 1] = np.nan
    np.save(tmp_path / "x.npy", X)
    done = invoke_cli("build", str(docs), "--embeddings", str(tmp_path / "x.npy"), "--no-cache", "-o", str(tmp_path / "out.json"), cwd=tmp_path)
    assert_clean_error(done, fragment)
    assert not (tmp_path / "out.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.json") or "topicmap-reduced" in p.name]
