"""A built tree's documents are answered from the corpus, made a batch at a time, and saved the same."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from topicmap.hierarchy.builder.built_documents import BuiltDocuments
from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs, build_tree
from topicmap.hierarchy.inputs.documents import read_documents
from topicmap.hierarchy.tree.documents_store import InlineStore
from topicmap.hierarchy.tree.topic_tree import TopicTree
from topicmap.hierarchy.tree.treefile import load_tree, save_tree


def _dated_corpus(folder: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(5)
    rows, vectors = [], []
    for topic in range(4):
        centre = rng.normal(size=16) * 4
        for i in range(30):
            row = {"id": f"t{topic}-{i}", "title": f"story {i}" if i % 3 else "", "text": f"word{topic} topic{topic} item {i}", "day": f"2024-0{1 + i % 9}-1{topic}"}
            if i % 2:
                row["source"] = ["wire", "desk"][topic % 2]
            rows.append(row)
            vectors.append(centre + rng.normal(size=16) * 0.3)
    docs = folder / "docs.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return docs, np.asarray(vectors, dtype=np.float32)


def _built(folder: Path, **overrides: object) -> TopicTree:
    docs, vectors = _dated_corpus(folder)
    corpus = read_documents(docs, time_column="day")
    return build_tree(corpus, vectors, BuildConfig(min_leaf_size=5, layout="pca", **overrides), BuildInputs(str(docs), corpus.sha256))  # type: ignore[arg-type]


def test_a_built_tree_keeps_its_documents_unmade_and_answers_like_a_list(tmp_path: Path) -> None:
    tree = _built(tmp_path)
    store = tree.store
    assert isinstance(store, BuiltDocuments)
    made = store.materialise()
    listed = InlineStore(made)
    assert len(store) == len(made) == 120
    assert store.rows([5, 0, 119]) == [made[5], made[0], made[119]]
    assert [d for batch in store.iter_batches(7) for d in batch] == made
    for got, want in zip(store.xy(), listed.xy()):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(store.times(), listed.times())
    for name in ("id", "leaf", "title", "text"):
        assert store.strings(name) == listed.strings(name)
    assert store.metadata_values("source") == listed.metadata_values("source")
    assert store.metadata_keys == listed_keys(made)
    index = {node.id: i for i, node in enumerate(tree.iter_nodes())}
    np.testing.assert_array_equal(store.leaf_codes(index), listed.leaf_codes(index))
    assert store.find_ids(["t2-3", "nope", "t0-0"]) == listed.find_ids(["t2-3", "nope", "t0-0"])
    assert store.first_duplicate_id() is None and store.has_text() and store.has_times()
    assert tree.documents == made  # asking for the list makes it once; the tree then holds the list
    assert isinstance(tree.store, InlineStore)


def test_no_text_builds_keep_no_text(tmp_path: Path) -> None:
    store = _built(tmp_path, store_text=False).store
    assert store.strings("text") == [""] * len(store)
    assert all(d.text == "" for d in store.materialise())


def test_a_built_tree_saves_the_same_files_as_its_documents_in_a_list(tmp_path: Path) -> None:
    for form in (False, True):
        built = _built(tmp_path)
        listed = TopicTree(list(built.iter_nodes()), built.store.materialise(), manifest=built.manifest)
        a, b = tmp_path / f"a{form}" / "t.tree.json", tmp_path / f"b{form}" / "t.tree.json"
        a.parent.mkdir()
        b.parent.mkdir()
        save_tree(built, a, sidecar=form)
        save_tree(listed, b, sidecar=form)
        assert a.read_bytes() == b.read_bytes()
        assert sorted(p.name for p in a.parent.iterdir()) == sorted(p.name for p in b.parent.iterdir())
        for sidecar in b.parent.glob("*.parquet"):
            assert (a.parent / sidecar.name).read_bytes() == sidecar.read_bytes()
        assert load_tree(a).documents == load_tree(b).documents


def listed_keys(documents: list) -> list[str]:
    keys: dict[str, None] = {}
    for doc in documents:
        keys.update(dict.fromkeys(doc.metadata))
    return list(keys)
