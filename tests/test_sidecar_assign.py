"""``assign``, ``evaluate`` and ``TopicMap.document_info`` on a sidecar tree (docs/tree-file.md).

Each gives what it gives on the same tree in the single-file form, and reads only the columns it
needs: the stores are wrapped so that reading every document (or a column that is not wanted)
fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from topicmap.hierarchy.builder.assign import assign_documents
from topicmap.hierarchy.inputs.documents import Corpus
from topicmap.hierarchy.inputs.embed import cache_path
from topicmap.hierarchy.inputs.documents import embedding_text
from topicmap.hierarchy.quality.evaluate import EvaluateOptions, evaluate_tree
from topicmap.hierarchy.quality.navigate import EmbeddingNavigator
from topicmap.hierarchy.quality.refs import references_from_metadata
from topicmap.hierarchy.tree.documents_store import ParquetStore
from topicmap.hierarchy.tree.topic_tree import TopicTree
from topicmap.hierarchy.tree.treefile import SIDECAR_VERSION, load_tree, node_to_dict, save_tree
from tests.cli_helpers import assert_clean_error, invoke_cli
from tests.eval_fixtures import HashEmbedder, hash_tree


def _sidecars(folder: Path) -> list[Path]:
    """Sidecar files, or directories of parts, in ``folder``."""
    from topicmap.hierarchy.tree.documents_store import SIDECAR_NAME

    return sorted(p for p in folder.iterdir() if SIDECAR_NAME.fullmatch(p.name))


def _masked(value: Any) -> Any:
    """A tree file's content with its creation times taken out (they differ between any two runs)."""
    if isinstance(value, dict):
        return {k: ("T" if k == "created_at" else _masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _state(tree: TopicTree) -> tuple[Any, Any, list[dict[str, Any]]]:
    nodes = _masked([node_to_dict(n) for n in tree.iter_nodes()])
    return nodes, _masked(tree.manifest), [vars(d) for d in tree.store.iter_documents()]


class _Reads:
    """Columns a ParquetStore reads; reading whole documents (every row, or a page) fails."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, allow_rows: bool = False) -> None:
        self.columns: set[str] = set()
        original = ParquetStore._read

        def read(store: ParquetStore, columns: Any) -> Any:
            self.columns.update(columns)
            return original(store, columns)

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("every document of the sidecar was read")

        monkeypatch.setattr(ParquetStore, "_read", read)
        monkeypatch.setattr(ParquetStore, "iter_batches", refuse)
        monkeypatch.setattr(ParquetStore, "materialise", refuse)
        if not allow_rows:
            monkeypatch.setattr(ParquetStore, "rows", refuse)


@pytest.fixture
def two_forms(tmp_path: Path, topic_corpus) -> dict[str, Any]:
    """The topic corpus built once, saved in each form in its own folder (one file, a sidecar, a sidecar of
    three parts), and 30 new documents with a new metadata key."""
    docs, emb = topic_corpus
    built = tmp_path / "built.json"
    assert invoke_cli("build", str(docs), "--embeddings", str(emb), "--levels", "3,6", "-o", str(built), "-q", cwd=tmp_path).returncode == 0
    tree = load_tree(built)
    (tmp_path / "inline").mkdir()
    (tmp_path / "side").mkdir()
    (tmp_path / "parts").mkdir()
    inline = save_tree(tree, tmp_path / "inline" / "t.json", sidecar=False)
    side = save_tree(tree, tmp_path / "side" / "t.json", sidecar=True)
    parts = save_tree(tree, tmp_path / "parts" / "t.json", part_rows=30)
    rows = [json.loads(line) for line in docs.read_text().splitlines()]
    new_docs = tmp_path / "new.jsonl"
    new_docs.write_text("".join(json.dumps({**r, "id": "new-" + r["id"], "desk": f"d{i % 3}"}) + "\n" for i, r in enumerate(rows[:30])))
    new_emb = tmp_path / "new.npy"
    vectors = np.load(emb)
    np.save(new_emb, vectors[:30] + 0.01)
    return {"inline": inline, "side": side, "parts": parts, "new_docs": new_docs, "new_emb": new_emb, "vectors": vectors, "tmp": tmp_path}


@pytest.mark.parametrize("threshold", ["0.2", "5"])  # keywords refreshed for drifted nodes, or none drifted
def test_assign_on_a_sidecar_tree_equals_assign_on_the_single_file(two_forms: dict[str, Any], threshold: str) -> None:
    f = two_forms
    for form in ("inline", "side", "parts"):
        result = invoke_cli("assign", str(f[form]), str(f["new_docs"]), "--embeddings", str(f["new_emb"]), "--stale-threshold", threshold, cwd=f["tmp"])
        assert result.returncode == 0, result.stderr
    inline, side, parts = load_tree(f["inline"]), load_tree(f["side"]), load_tree(f["parts"])
    assert _state(parts) == _state(inline)
    (directory,) = _sidecars(f["parts"].parent)  # the new rows are a fourth part; the old parts gained the new key's column
    assert sorted(p.name for p in directory.iterdir()) == [f"part-0000{k}.parquet" for k in range(4)]
    assert parts.store.metadata_values("desk")[-1] == "d2" and parts.store.metadata_values("desk")[0] is None
    assert json.loads(f["side"].read_text())["schema_version"] == SIDECAR_VERSION and isinstance(side.store, ParquetStore)
    (sidecar,) = _sidecars(f["side"].parent)  # the new sidecar, the old one removed
    assert sidecar.name == json.loads(f["side"].read_text())["documents_file"]["path"]
    assert _state(side) == _state(inline)
    assert side.n_documents == 72 + 30 and side.store.metadata_values("desk")[-1] == "d2" and side.store.metadata_values("desk")[0] is None
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(sidecar).metadata
    assert meta.num_rows == 102 and meta.row_group(0).num_rows == 102  # old rows and new ones in whole row groups


def test_assign_reads_only_the_columns_it_needs(two_forms: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    f = two_forms
    from topicmap.hierarchy.inputs.documents import read_documents

    corpus = read_documents(f["new_docs"])
    vectors = np.load(f["new_emb"])
    reads = _Reads(monkeypatch)
    tree = load_tree(f["side"])
    result = assign_documents(tree, corpus, vectors, threshold=5.0)  # nothing drifts: no keywords to count
    save_tree(result.tree, f["side"])
    assert reads.columns <= {"id", "leaf", "x", "y", "time"}, reads.columns
    reads.columns.clear()
    tree = load_tree(f["side"])
    more = Corpus([f"more-{i}" for i in range(30)], corpus.texts, corpus.titles, [{} for _ in range(30)], "more.jsonl", "0" * 64)
    result = assign_documents(tree, more, vectors, threshold=0.0)  # every node on a path drifts: texts are counted
    assert result.refreshed
    save_tree(result.tree, f["side"])
    assert reads.columns <= {"id", "leaf", "x", "y", "time", "title", "text"}, reads.columns
    assert load_tree(f["side"]).n_documents == 72 + 60 and len(_sidecars(f["side"].parent)) == 1


def test_bad_input_on_a_sidecar_tree_is_todays_one_line_and_touches_nothing(two_forms: dict[str, Any]) -> None:
    f = two_forms
    dup = f["tmp"] / "dup.jsonl"
    dup.write_text(f["new_docs"].read_text().replace('"new-football-3"', '"football-3"'))
    wide = f["tmp"] / "wide.npy"
    np.save(wide, np.ones((30, 7), dtype=np.float32))
    before = {p: p.read_bytes() for p in f["side"].parent.iterdir()}
    messages = {}
    for form in ("inline", "side"):
        for name, args in (("dup", [str(dup), "--embeddings", str(f["new_emb"])]), ("wide", [str(f["new_docs"]), "--embeddings", str(wide)])):
            result = invoke_cli("assign", str(f[form]), *args, cwd=f["tmp"])
            assert_clean_error(result)
            messages[form, name] = result.stderr.strip().splitlines()[-1]
    assert messages["side", "dup"] == messages["inline", "dup"] and "document id 'football-3' is already in the tree (row 4)" in messages["side", "dup"]
    assert messages["side", "wide"] == messages["inline", "wide"] and "have 7 dimensions, the tree's have 32" in messages["side", "wide"]
    assert {p: p.read_bytes() for p in f["side"].parent.iterdir()} == before


def test_a_failed_write_leaves_the_old_tree_and_no_new_sidecar(two_forms: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    f = two_forms
    from topicmap.hierarchy.inputs.documents import read_documents
    from topicmap.hierarchy.tree import treefile

    before = {p: p.read_bytes() for p in f["side"].parent.iterdir()}
    result = assign_documents(load_tree(f["side"]), read_documents(f["new_docs"]), np.load(f["new_emb"]))

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(treefile, "write_chunks_atomic", fail)
    with pytest.raises(OSError):
        save_tree(result.tree, f["side"])
    assert {p: p.read_bytes() for p in f["side"].parent.iterdir()} == before
    monkeypatch.undo()
    load_tree(f["side"])


def test_evaluate_on_a_sidecar_tree_equals_the_single_file(tmp_path: Path, topic_corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    docs, _ = topic_corpus
    embedder = HashEmbedder()
    tree = hash_tree(docs, embedder)
    inline = save_tree(tree, tmp_path / "inline.json", sidecar=False)
    side = save_tree(tree, tmp_path / "side.json", sidecar=True)
    cache = tmp_path / "cache"

    def report(path: Path, cache_dir: Path | None) -> dict[str, Any]:
        loaded = load_tree(path)
        options = EvaluateOptions(
            references=references_from_metadata(loaded, ["sub", "top"]),
            embedder=embedder,
            navigators=[EmbeddingNavigator(embedder)],
            sample=30,
            silhouette_sample=40,
            cache_dir=cache_dir,
        )
        out = evaluate_tree(loaded, str(path.name), options).to_dict()
        out.pop("tree")
        return out

    expected = report(inline, None)
    reads = _Reads(monkeypatch, allow_rows=True)  # a page of sampled rows may be read, never all of them
    assert report(side, None) == expected
    assert "text" not in reads.columns and "title" not in reads.columns
    # with the whole corpus's vectors in the embedding cache, both forms find them (the sidecar hashes its texts batch by batch)
    loaded = load_tree(inline)
    texts = [embedding_text(d.title, d.text) for d in loaded.documents]
    entry = cache_path(cache, embedder.name, texts)
    entry.parent.mkdir(parents=True)
    np.save(entry, embedder.embed(texts) * 0.5 + 0.01)  # distinguishable from a fresh embedding of the sample
    cached = report(inline, cache)
    assert cached["cohesion"] != expected["cohesion"]
    assert report(side, cache) == cached


def test_document_info_of_a_sidecar_tree_reads_columns(two_forms: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from topicmap._tables import document_columns

    f = two_forms
    expected = document_columns(load_tree(f["inline"]))
    reads = _Reads(monkeypatch)
    assert document_columns(load_tree(f["side"])) == expected
    assert reads.columns <= {"id", "leaf", "title", "x", "y"}, reads.columns
    assert list(expected)[:4] == ["id", "title", "leaf", "label"] and list(expected)[-2:] == ["x", "y"]


def test_a_big_trees_keyword_refresh_reads_the_drifted_nodes_rows_and_a_sample(two_forms: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from topicmap.hierarchy.builder import assign as assign_module
    from topicmap.hierarchy.inputs.documents import read_documents

    f = two_forms
    monkeypatch.setattr(assign_module, "EXACT_KEYWORD_ROWS", 50)  # the 72 + 30 documents stand for millions
    monkeypatch.setattr(assign_module, "KEYWORD_SAMPLE_ROWS", 20)
    corpus, vectors = read_documents(f["new_docs"]), np.load(f["new_emb"])
    inline = assign_documents(load_tree(f["inline"]), corpus, vectors, threshold=0.2)
    reads = _Reads(monkeypatch, allow_rows=True)
    asked: list[int] = []
    original_rows = ParquetStore.rows

    def rows(store: ParquetStore, wanted: Any) -> Any:
        asked.append(len(wanted))
        return original_rows(store, wanted)

    monkeypatch.setattr(ParquetStore, "rows", rows)
    side = assign_documents(load_tree(f["side"]), corpus, vectors, threshold=0.2)
    assert "text" not in reads.columns and "title" not in reads.columns
    assert asked and sum(asked) < 72  # the old documents under drifted nodes and a sample of the rest, not all
    monkeypatch.undo()
    assert side.refreshed and side.refreshed == inline.refreshed
    assert _state(side.tree) == _state(inline.tree)  # the same seeded rows on both forms
    exact = assign_documents(load_tree(f["inline"]), corpus, vectors, threshold=0.2)  # every text counted
    assert exact.refreshed == inline.refreshed
    assert [exact.tree.node(i).keywords for i in exact.refreshed] != [inline.tree.node(i).keywords for i in inline.refreshed]
