"""build --engine dask against a real distributed.LocalCluster: two worker processes on 127.0.0.1.

One cluster serves the whole file (starting one takes seconds). The claims: for the same seed a build
whose passes ran on the workers gives the local build's tree file, byte for byte (times and the engine
entry masked), over one partition (the BBC corpus) and over three partitions of 65,536-row blocks;
texts are embedded on the workers; a wrong or missing scheduler is one line.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.cli_helpers import assert_clean_error, invoke_cli
from topicmap.hierarchy.base.errors import OutputError

distributed = pytest.importorskip("distributed", reason="the dask extra (pip install 'topicmap[dask]') is part of the test extras")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A 2-worker LocalCluster (processes, one thread each); its scheduler's address."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as local:
        yield local.scheduler_address


def _masked(path: Path) -> str:
    """The tree file's JSON without what differs between any two runs (timings, creation times) or says where the
    passes ran, and without its documents (inline, or the sidecar the workers wrote: compared by :func:`_documents`)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in ("timings_s", "created_at", "engine"):
        data["manifest"].pop(key, None)
    for node in data["nodes"]:
        (node.get("label_meta") or {}).pop("created_at", None)
    for update in data["manifest"].get("updates", []):  # assign's
        update.pop("created_at", None)
    for key in ("schema_version", "documents", "documents_file"):
        data.pop(key, None)
    return json.dumps(data, sort_keys=True)


def _documents(path: Path) -> list[dict[str, object]]:
    """Every document of the tree file as read back (id, leaf, x, y, title, text, metadata, time)."""
    from topicmap.hierarchy.tree.treefile import load_tree

    return [vars(doc) for doc in load_tree(path).store.iter_documents()]


def _parts(path: Path) -> list[str]:
    pointer = json.loads(path.read_text(encoding="utf-8"))["documents_file"]
    assert pointer["format"] == "parquet-parts"
    return sorted(p.name for p in (path.parent / pointer["path"]).iterdir())


def test_bbc_on_the_cluster_gives_the_local_tree_file(cluster: str, tmp_path: Path) -> None:
    """The bundled BBC corpus and vectors; the scheduler named by DASK_SCHEDULER_ADDRESS alone."""
    args = ["build", str(ROOT / "data" / "bbc.jsonl.gz"), "--embeddings", str(ROOT / "data" / "bbc.minilm.npy"), "--layout", "anchored", "--no-cache", "-q"]
    local = invoke_cli(*args, "-o", str(tmp_path / "local.json"), cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    on_cluster = invoke_cli(*args, "--engine", "dask", "-o", str(tmp_path / "dask.json"), cwd=tmp_path, env={"DASK_SCHEDULER_ADDRESS": cluster})
    assert on_cluster.returncode == 0, on_cluster.stderr
    engine = json.loads((tmp_path / "dask.json").read_text(encoding="utf-8"))["manifest"]["engine"]
    assert engine == {"name": "dask", "partitions": 1}
    assert _masked(tmp_path / "dask.json") == _masked(tmp_path / "local.json")
    assert _parts(tmp_path / "dask.json") == ["part-00000.parquet"]  # the worker wrote the documents
    assert _documents(tmp_path / "dask.json") == _documents(tmp_path / "local.json")
    for command in (["info", "dask.json"], ["export", "dask.json", "--format", "csv", "-o", "d.csv"]):
        assert invoke_cli(*command, cwd=tmp_path).returncode == 0


def test_workers_write_one_part_per_partition_and_a_failure_leaves_nothing(cluster: str, tmp_path: Path) -> None:
    """The BBC tree's documents written by the workers in three parts read back as the local build's (dates and
    metadata included); a partition a worker cannot write is one line, and neither a tree file nor a
    directory of parts (finished or temp) is left."""
    from topicmap.hierarchy.builder.dask_engine import DaskEngine
    from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs, build_tree
    from topicmap.hierarchy.cli.engine_build import save_with_parts_on_workers
    from topicmap.hierarchy.inputs.documents import read_documents
    from topicmap.hierarchy.tree.treefile import save_tree

    docs = tmp_path / "d.jsonl"
    with gzip.open(ROOT / "data" / "bbc.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(next(fh)) for _ in range(600)]
    for i, row in enumerate(rows):
        row["when"] = f"20{10 + i % 12}-0{1 + i % 9}-1{i % 10}" if i % 5 else ""
        row["meta"] = {"n": i, "odd": bool(i % 2)} if i % 3 else None
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    corpus = read_documents(docs, time_column="when", skip_bad_dates=True)
    vectors = np.load(ROOT / "data" / "bbc.minilm.npy")[:600]
    tree = build_tree(corpus, vectors, BuildConfig(layout="anchored"), BuildInputs(str(docs), corpus.sha256))
    save_tree(tree, tmp_path / "local.json")
    bounds = np.array([0, 200, 400, 600])
    with distributed.Client(cluster, set_as_default=False) as client:
        engine = DaskEngine(client, 65_536)
        save_with_parts_on_workers(engine, tree, bounds, tmp_path / "dask.json")
        assert _parts(tmp_path / "dask.json") == [f"part-0000{k}.parquet" for k in range(3)]
        assert _documents(tmp_path / "dask.json") == _documents(tmp_path / "local.json")

        broken = np.array(tree.store.doc_leaf)
        broken[450] = 10**6  # a leaf number no node has: the worker writing part 2 fails
        tree.store.doc_leaf = broken
        with pytest.raises(OutputError, match="part-00002.parquet: the worker writing this part") as failed:
            save_with_parts_on_workers(engine, tree, bounds, tmp_path / "bad.json")
    assert "\n" not in str(failed.value)
    assert not (tmp_path / "bad.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [json.loads((tmp_path / "dask.json").read_text())["documents_file"]["path"]]


def test_three_partitions_across_block_edges_give_the_in_memory_tree(cluster: str, tmp_path: Path) -> None:
    """136,000 rows in partitions of one 65,536-row block each, read by the workers from a .npy: every pass's
    blocks and sums are the in-memory build's, so leaves, centroids, representatives and the map agree to the bit,
    whether the reduced rows are held in memory or (a small memory budget) in scratch files on the workers and here."""
    from topicmap.hierarchy.builder.dask_engine import DaskEngine
    from topicmap.hierarchy.builder.engine import FileRows
    from topicmap.hierarchy.builder.pipeline import BuildConfig, build_parts, resolve_preset
    from topicmap.hierarchy.inputs.vector_source import ArraySource, NpySource

    n, dim = 136_000, 12
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((25, dim)) * 3
    X = (centres[rng.integers(0, 25, n)] + rng.standard_normal((n, dim))).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    asked = BuildConfig(preset="browse", layout="anchored", seed=0, n_components=8)
    config = resolve_preset(asked, n)
    local = build_parts(ArraySource(X), None, asked, config, "x", "x")
    with distributed.Client(cluster, set_as_default=False) as client:
        rows = DaskEngine(client, 65_536).load(NpySource(tmp_path / "x.npy"))
        assert len(rows.parts) == 3 and rows.bounds.tolist() == [0, 65_536, 131_072, n]
        assert all(isinstance(part, FileRows) for part in rows.parts)  # handles the workers read, not rows sent to them
        remotes = [build_parts(rows, None, asked, config, "x", "x", memory_budget=budget) for budget in (None, 1 << 20)]
    for remote in remotes:
        assert remote.streamed and not local.streamed
        assert remote.shape.node_ids == local.shape.node_ids
        assert np.array_equal(remote.shape.doc_leaf, local.shape.doc_leaf)
        assert np.array_equal(remote.shape.centres, local.shape.centres)
        assert np.array_equal(remote.centroids, local.centroids)
        assert np.array_equal(remote.coords, local.coords)
        assert remote.representatives.keys() == local.representatives.keys()
        assert all(np.array_equal(remote.representatives[k], local.representatives[k]) for k in local.representatives)
        assert remote.warnings == local.warnings


def test_reduced_rows_stay_in_scratch_files_on_the_workers_that_made_them(cluster: str, tmp_path: Path) -> None:
    """With scratch, each worker keeps its partitions' reduced rows in a file of its own; later tasks on a
    partition run where it is, and its rows, brought here, are the ones this process reduces."""
    from topicmap.hierarchy.builder.dask_engine import DaskEngine
    from topicmap.hierarchy.builder.streaming import reduce_source
    from topicmap.hierarchy.inputs.vector_source import NpySource

    X = np.random.default_rng(4).standard_normal((140_000, 10)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    here, _, _ = reduce_source(NpySource(tmp_path / "x.npy"), "pca", 6, 0, 65_536, scratch=False)
    with distributed.Client(cluster, set_as_default=False) as client:
        engine = DaskEngine(client, 65_536)
        reduced, _, kept = reduce_source(engine.load(NpySource(tmp_path / "x.npy")), "pca", 6, 0, 65_536, scratch=True)
        assert kept is not None and len(kept.parts) == 3
        kinds = client.gather([client.submit(lambda part: type(part).__name__, part, pure=False) for part in kept.parts])
        held = client.who_has(kept.parts)
        assert kinds == ["ReducedRows"] * 3 and all(len(held[part.key]) == 1 for part in kept.parts)
        picked = np.array([5, 65_535, 65_536, 139_999])
        assert np.array_equal(kept.take(picked), here[picked])
        assert np.array_equal(reduced[0:140_000], here)


def test_texts_are_embedded_on_the_workers(cluster: str) -> None:
    """The openai embedder on the workers, against a real local server: each row is its text's vector, in order."""
    from tests.openai_server import FakeOpenAIServer, embedding_of
    from topicmap.hierarchy.builder import dask_engine
    from topicmap.hierarchy.builder.dask_engine import DaskEngine

    texts = [f"document {i} about {'rivers' if i % 2 else 'markets'}" for i in range(1200)]
    with FakeOpenAIServer() as server, distributed.Client(cluster, set_as_default=False) as client:
        rows = DaskEngine(client, 65_536).embed(texts, "openai", "fake-embed", "test-key", server.base_url, "texts")
        vectors = rows.take(np.arange(len(texts)))
        served = len(server.requests)
    assert served >= -(-len(texts) // dask_engine.EMBED_TASK_TEXTS)  # one task per few hundred texts, spread over the workers
    assert vectors.shape == (len(texts), 8)
    assert np.allclose(vectors, np.asarray([embedding_of(t) for t in texts]), atol=1e-6)


def test_an_unreachable_scheduler_is_one_line_within_the_timeout(tmp_path: Path) -> None:
    docs = tmp_path / "d.jsonl"
    with gzip.open(ROOT / "data" / "bbc.jsonl.gz", "rt", encoding="utf-8") as fh:
        docs.write_text("".join(next(fh) for _ in range(60)), encoding="utf-8")
    np.save(tmp_path / "d.npy", np.load(ROOT / "data" / "bbc.minilm.npy")[:60])
    began = time.monotonic()
    done = invoke_cli(
        "build", str(docs), "--embeddings", str(tmp_path / "d.npy"), "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9", "-o", str(tmp_path / "t.json"),
        cwd=tmp_path, env={"TOPICMAP_DASK_TIMEOUT": "2"},
    )
    assert time.monotonic() - began < 60  # the 2 s timeout, plus reading the documents; not distributed's default of 30 s and retries
    assert_clean_error(done, "--scheduler tcp://127.0.0.1:9", "cannot reach a Dask scheduler within 2 s")
    assert not (tmp_path / "t.json").exists()


def test_umap_reduction_and_a_missing_scheduler_are_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    docs = ROOT / "data" / "bbc.jsonl.gz"
    umap = invoke_cli("build", str(docs), "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9", "--reducer", "umap", cwd=tmp_path)
    assert_clean_error(umap, "--reducer umap", "--reducer pca")
    missing = invoke_cli("build", str(docs), "--engine", "dask", cwd=tmp_path, env={"DASK_SCHEDULER_ADDRESS": None})
    assert_clean_error(missing, "--engine dask needs a scheduler", "DASK_SCHEDULER_ADDRESS")


def test_keyword_counts_in_blocks_equal_the_whole_matrix_here_and_on_the_workers(cluster: str) -> None:
    """70,000 texts (two blocks), a vocabulary cut to its 300 most frequent terms (ties included): the counts
    per node from blocks, read here or on the workers, are the ones the whole documents x terms matrix gives."""
    from topicmap.hierarchy.builder.dask_engine import DaskEngine
    from topicmap.hierarchy.builder.engine import Partitions
    from topicmap.hierarchy.builder.keywords import node_term_counts
    from topicmap.hierarchy.builder.term_counts import count_terms
    from topicmap.hierarchy.builder.term_counts import node_counts, term_vocabulary

    rng = np.random.default_rng(5)
    words = np.array([f"w{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}x" for i in range(900)])
    n = 70_000
    texts = [" ".join(words[rng.zipf(1.3, size=6) % words.size]) for _ in range(n)]
    top = rng.integers(0, 7, n)
    members = [top, np.where(top < 6, 5 * top + rng.integers(0, 5, n), -1)]  # nested: texts of top node 6 end at depth 0
    counts, expected = count_terms(texts, max_features=300)
    wanted = [node_term_counts(counts, m, size) for m, size in zip(members, (7, 30))]
    vocabulary = term_vocabulary(texts, n, max_features=300)
    assert vocabulary.tolist() == expected.tolist()
    with distributed.Client(cluster, set_as_default=False) as client:
        engine = DaskEngine(client, 65_536)
        remote = engine.load_texts(texts, Partitions(engine, [None, None], np.array([0, 65_536, n])))
        assert term_vocabulary(remote, n, max_features=300).tolist() == expected.tolist()
        on_workers = node_counts(remote, members, (7, 30), vocabulary)
    for got in (node_counts(texts, members, (7, 30), vocabulary), on_workers):
        for a, b in zip(got, wanted):
            assert (a != b).nnz == 0 and np.array_equal(a.indices, b.indices) and np.array_equal(a.indptr, b.indptr)


def test_bad_rows_read_by_a_worker_are_one_line(cluster: str, tmp_path: Path) -> None:
    """A NaN in the .npy the workers read is named by file and row, as in a local build, and nothing is written."""
    docs = tmp_path / "d.jsonl"
    docs.write_text("".join(json.dumps({"id": f"d{i}", "text": f"text number {i} about {i % 7}"}) + "\n" for i in range(120)), encoding="utf-8")
    X = np.random.default_rng(0).standard_normal((120, 16)).astype(np.float32)
    X[77, 3] = np.nan
    np.save(tmp_path / "d.npy", X)
    done = invoke_cli(
        "build", str(docs), "--embeddings", str(tmp_path / "d.npy"), "--engine", "dask", "--scheduler", cluster, "-o", str(tmp_path / "t.json"), cwd=tmp_path,
    )
    assert_clean_error(done, "d.npy", "row 78", "NaN")
    assert not (tmp_path / "t.json").exists()


def test_openai_on_the_workers_fills_the_embedding_cache_a_local_build_reads(cluster: str, tmp_path: Path) -> None:
    """build --embedder openai --engine dask: the workers call the server, the vectors land in the embedding
    cache; a second build on either engine reads them from there (no request), and the trees are the same."""
    from tests.openai_server import FakeOpenAIServer

    docs = tmp_path / "d.jsonl"
    topics = ["rivers flood the valley", "markets fall on rates", "the team wins the cup", "a new vaccine trial"]
    docs.write_text("".join(json.dumps({"id": f"d{i}", "text": f"{topics[i % 4]} story {i}"}) + "\n" for i in range(80)), encoding="utf-8")
    args = ["build", str(docs), "--embedder", "openai", "--embedding-model", "fake-embed", "--cache-dir", str(tmp_path / "cache"), "--layout", "anchored", "-q"]
    with FakeOpenAIServer() as server:
        env = {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": server.base_url, "DASK_SCHEDULER_ADDRESS": cluster}
        first = invoke_cli(*args, "--engine", "dask", "-o", str(tmp_path / "dask.json"), cwd=tmp_path, env=env)
        assert first.returncode == 0, first.stderr
        asked = len([r for r in server.requests if "input" in r])
        again = invoke_cli(*args, "--engine", "dask", "-o", str(tmp_path / "again.json"), cwd=tmp_path, env=env)
        local = invoke_cli(*args, "-o", str(tmp_path / "local.json"), cwd=tmp_path, env=env)
        assert again.returncode == 0 and local.returncode == 0, (again.stderr, local.stderr)
        embedding_requests = len([r for r in server.requests if "input" in r])
    assert asked >= 1 and embedding_requests == asked  # the second and third builds asked the server for no vectors
    shapes = [np.load(path).shape for path in (tmp_path / "cache" / "embeddings").glob("*.npy")]
    assert (80, 8) in shapes  # the documents' vectors (the others are the steered keywords' words)
    assert _masked(tmp_path / "dask.json") == _masked(tmp_path / "local.json") == _masked(tmp_path / "again.json")


def test_assign_on_the_workers_gives_the_local_result(cluster: str, tmp_path: Path) -> None:
    """assign --engine dask: the new documents are embedded by the workers (openai, a local server) and placed there;
    the updated tree is local assign's. On the workers' partitioned sidecar the new rows are one more part."""
    from tests.openai_server import FakeOpenAIServer

    docs = tmp_path / "d.jsonl"
    topics = ["rivers flood the valley", "markets fall on rates", "the team wins the cup", "a new vaccine trial"]
    docs.write_text("".join(json.dumps({"id": f"d{i}", "text": f"{topics[i % 4]} story {i}"}) + "\n" for i in range(80)), encoding="utf-8")
    new = tmp_path / "new.jsonl"
    new.write_text("".join(json.dumps({"id": f"n{i}", "text": f"{topics[(i + 1) % 4]} update {i}"}) + "\n" for i in range(700)), encoding="utf-8")
    build = ["build", str(docs), "--embedder", "openai", "--embedding-model", "fake-embed", "--no-cache", "--layout", "anchored", "-q"]
    with FakeOpenAIServer() as server:
        env = {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": server.base_url, "DASK_SCHEDULER_ADDRESS": cluster}
        assert invoke_cli(*build, "--engine", "dask", "-o", str(tmp_path / "parts.json"), cwd=tmp_path, env=env).returncode == 0
        assert invoke_cli(*build, "-o", str(tmp_path / "local.json"), cwd=tmp_path, env=env).returncode == 0
        before = _parts(tmp_path / "parts.json")
        asked = len(server.requests)
        on_workers = invoke_cli("assign", "parts.json", str(new), "--no-cache", "--stale-threshold", "0.5", "--engine", "dask", cwd=tmp_path, env=env)
        assert on_workers.returncode == 0, on_workers.stderr
        assert len(server.requests) - asked >= 2  # 700 texts in tasks of 512: the workers asked for them
        here = invoke_cli("assign", "local.json", str(new), "--no-cache", "--stale-threshold", "0.5", cwd=tmp_path, env=env)
        assert here.returncode == 0, here.stderr
    assert on_workers.stdout.splitlines()[-1].replace("parts.json", "X") == here.stdout.splitlines()[-1].replace("local.json", "X")
    assert _masked(tmp_path / "parts.json") == _masked(tmp_path / "local.json")
    assert _documents(tmp_path / "parts.json") == _documents(tmp_path / "local.json")
    assert _parts(tmp_path / "parts.json") == [*before, "part-00001.parquet"]
