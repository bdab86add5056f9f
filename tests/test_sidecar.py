"""Tree files whose documents live in a Parquet sidecar (schema version 3, docs/tree-file.md).

Round trips in both forms (the form forced by the size threshold), old files, the single-file
export, lazy page reads, the dashboard's full-text index and map sample, and failures: a missing or
corrupt sidecar is one line naming the file, and a failed write leaves nothing half-written.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.base.errors import TreeFileError
from topicmap.hierarchy.tree import documents_store
from topicmap.hierarchy.tree.documents_store import ParquetStore, write_batches
from topicmap.hierarchy.tree.topic_tree import Document, Node, TopicTree
from topicmap.hierarchy.tree.treefile import SCHEMA_VERSION, SIDECAR_VERSION, load_tree, save_tree, single_file_chunks
from tests.cli_helpers import assert_clean_error, invoke_cli
from tests.viz_fixtures import small_tree

DATA = Path(__file__).parent / "data"


FORMS = pytest.mark.parametrize("form", [{"sidecar": True}, {"part_rows": 10}], ids=["file", "parts"])  # one file, or a directory of 10-row parts


def _sidecars(folder: Path) -> list[Path]:
    """Sidecars in ``folder``: files, or directories of parts (not their search indexes)."""
    return sorted(p for p in folder.iterdir() if documents_store.SIDECAR_NAME.fullmatch(p.name))


def _same_documents(a: TopicTree, b: TopicTree) -> None:
    assert [vars(d) for d in a.store.iter_documents()] == [vars(d) for d in b.store.iter_documents()]


def dated_tree() -> TopicTree:
    """small_tree with times and metadata of several kinds on some documents."""
    tree = small_tree()
    for row, doc in enumerate(tree.documents):
        doc.time = 1.7e9 + 86400 * row if row % 3 else None
        if row % 2:
            doc.metadata = {"source": f"s{row % 4}", "score": row / 7, "tags": ["a", row], "nested": {"k": None}}
    return tree


# -- the two forms -------------------------------------------------------------------------------
def test_small_trees_stay_one_file_and_big_ones_get_a_sidecar(tmp_path: Path) -> None:
    tree = dated_tree()
    small = save_tree(tree, tmp_path / "small.json")  # 36 documents: below the default threshold
    data = json.loads(small.read_text())
    assert data["schema_version"] == SCHEMA_VERSION == 2 and len(data["documents"]) == 36
    assert _sidecars(tmp_path) == []

    big = save_tree(tree, tmp_path / "big.tree.json", threshold=10)  # the threshold stands in for 50,000
    pointer = json.loads(big.read_text())
    assert pointer["schema_version"] == SIDECAR_VERSION and "documents" not in pointer
    (sidecar,) = _sidecars(tmp_path)
    assert sidecar.name == pointer["documents_file"]["path"] and sidecar.name.startswith("big.tree.docs-")
    assert pointer["documents_file"]["rows"] == 36 and pointer["documents_file"]["bytes"] == sidecar.stat().st_size

    loaded = load_tree(big)
    assert loaded._documents is None and loaded.n_documents == 36  # nothing read into memory yet
    _same_documents(loaded, load_tree(small))  # what the single file keeps (coordinates to 5 decimals), the sidecar keeps
    assert loaded.manifest == tree.manifest and [vars(n)["id"] for n in loaded.iter_nodes()] == [n.id for n in tree.iter_nodes()]
    assert loaded.store.document(5).metadata == tree.documents[5].metadata  # nested JSON values survive
    # the single-file form written from the sidecar tree is byte for byte the one written from memory
    assert "".join(single_file_chunks(loaded)) == small.read_text()


def test_rewriting_keeps_or_replaces_the_sidecar_and_removes_the_old_one(tmp_path: Path) -> None:
    path = save_tree(dated_tree(), tmp_path / "t.json", sidecar=True)
    (first,) = _sidecars(tmp_path)
    tree = load_tree(path)
    tree.node("0").label = "Relabelled"  # what label does: nodes change, documents do not
    save_tree(tree, path)
    assert _sidecars(tmp_path) == [first] and tree._documents is None  # same documents, same file, never read
    assert load_tree(path).node("0").label == "Relabelled"
    tree.documents[0].title = "Changed"  # documents changed: a new content-addressed file, the old one gone
    save_tree(tree, path)
    (second,) = _sidecars(tmp_path)
    assert second != first and load_tree(path).store.document(0).title == "Changed"
    save_tree(load_tree(path), path, sidecar=False)  # back to one file: the sidecar goes
    assert _sidecars(tmp_path) == [] and json.loads(path.read_text())["schema_version"] == 2


def test_a_parquet_input_gives_a_sidecar(tmp_path: Path) -> None:
    tree = small_tree()
    tree.manifest = {"input": {"source": "docs.parquet", "sha256": "0" * 64}}
    save_tree(tree, tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text())["schema_version"] == SIDECAR_VERSION


@pytest.mark.parametrize("name", ["tree-v1.json", "tree-v2-labelled.json"])
def test_old_single_files_load_and_convert(tmp_path: Path, name: str) -> None:
    old = load_tree(DATA / name)
    again = load_tree(save_tree(old, tmp_path / "t.json", sidecar=True))
    _same_documents(old, again)
    assert json.loads((tmp_path / "t.json").read_text())["schema_version"] == SIDECAR_VERSION


def test_a_single_file_is_written_back_byte_for_byte(tmp_path: Path) -> None:
    first = save_tree(load_tree(DATA / "tree-v2-labelled.json"), tmp_path / "a.json")
    assert save_tree(load_tree(first), tmp_path / "b.json").read_bytes() == first.read_bytes()
    via_sidecar = save_tree(load_tree(first), tmp_path / "c.json", sidecar=True)
    assert save_tree(load_tree(via_sidecar), tmp_path / "d.json", sidecar=False).read_bytes() == first.read_bytes()


@FORMS
def test_export_writes_the_single_file_form(form: dict[str, object], tmp_path: Path) -> None:
    save_tree(dated_tree(), tmp_path / "t.json", **form)
    result = invoke_cli("export", "t.json", "--format", "json", "-o", "one.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    one = json.loads((tmp_path / "one.json").read_text())
    assert one["schema_version"] == 2 and len(one["documents"]) == 36
    _same_documents(load_tree(tmp_path / "one.json"), load_tree(tmp_path / "t.json"))
    csv = invoke_cli("export", "t.json", "--format", "csv", cwd=tmp_path)
    assert csv.returncode == 0 and csv.stdout.count("\n") == 37
    nested = json.loads(invoke_cli("export", "t.json", cwd=tmp_path).stdout)
    assert sum(len(c["documents"]) for top in nested["tree"]["children"] for c in top["children"]) == 36


# -- lazy reads ----------------------------------------------------------------------------------
@FORMS
def test_pages_read_only_their_row_groups(form: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents_store, "ROW_GROUP_ROWS", 5)  # 8 row groups for 36 documents
    tree = dated_tree()
    loaded = load_tree(save_tree(tree, tmp_path / "t.json", **form))
    store = loaded.store
    assert isinstance(store, ParquetStore) and len(store._where) == 8
    rows = [35, 0, 17, 17, 6]
    assert [d.id for d in store.rows(rows)] == [tree.documents[r].id for r in rows]
    assert len(store._groups) == 4  # groups 7, 0, 3 and 1: nothing else was decoded
    assert [d.id for d in loaded.documents_of("1.1")] == [d.id for d in tree.documents_of("1.1")]
    x, y = store.xy()
    assert np.allclose(x, [d.x for d in tree.documents]) and np.allclose(y, [d.y for d in tree.documents])
    times = store.times()
    assert np.isnan(times[0]) and times[1] == tree.documents[1].time
    assert store.find_ids(["d5", "nope", tree.documents[7].id]) == {tree.documents[7].id: 7, **({"d5": 5} if tree.documents[5].id == "d5" else {})}
    assert loaded._documents is None  # none of this read every document
    assert len(loaded.documents) == 36 and loaded._documents is not None  # asking for all of them does


def test_write_batches_streams_dicts_and_record_batches(tmp_path: Path) -> None:
    import pyarrow as pa

    nodes = [Node("root", None, 0, 4), Node("0", "root", 1, 2), Node("1", "root", 1, 2)]

    def batches():
        yield {"id": ["a", "b"], "leaf": ["0", "1"], "x": [0.5, 1.5], "y": [0.0, 1.0], "text": ["alpha one", "beta two"]}
        yield pa.record_batch({"id": ["c", "d"], "leaf": ["0", "1"], "x": [2.0, 3.0], "y": [1.0, 2.0], "text": ["gamma", "delta"]})

    store = write_batches(tmp_path / "s.tree.json", batches())
    tree = TopicTree(nodes, store, manifest={"built": "streaming"})
    path = save_tree(tree, tmp_path / "s.tree.json")
    assert _sidecars(tmp_path) == [store.path]  # the JSON points at the file already written
    loaded = load_tree(path)
    assert [d.id for d in loaded.documents_of("1")] == ["b", "d"] and loaded.store.document(2).text == "gamma"
    twice = write_batches(tmp_path / "dup.tree.json", iter([{"id": ["a", "b", "a", "c"], "leaf": ["0", "1", "0", "1"]}]))
    with pytest.raises(TreeFileError, match="document id 'a' appears twice \\(row 2\\)"):
        TopicTree(nodes, twice)  # fresh batches are checked (a sidecar named by a tree file was, when written)


# -- failures ------------------------------------------------------------------------------------
def test_a_missing_or_corrupt_sidecar_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = save_tree(small_tree(), tmp_path / "t.json", sidecar=True)
    (sidecar,) = _sidecars(tmp_path)
    data = sidecar.read_bytes()
    sidecar.write_bytes(data[: len(data) // 2])
    with pytest.raises(TreeFileError) as cut:
        load_tree(path)
    assert str(sidecar) in str(cut.value) and "\n" not in str(cut.value)
    pointer = json.loads(path.read_text())
    pointer["documents_file"]["bytes"] = len(data) // 2  # the recorded size agrees: Parquet itself refuses
    path.write_text(json.dumps(pointer))
    with pytest.raises(TreeFileError, match="not a readable Parquet documents file") as foreign:
        load_tree(path)
    assert str(sidecar) in str(foreign.value)
    sidecar.unlink()
    with pytest.raises(TreeFileError, match="documents file of .* is missing") as missing:
        load_tree(path)
    assert str(sidecar) in str(missing.value)
    assert_clean_error(invoke_cli("info", "t.json", cwd=tmp_path), sidecar.name, "missing")


def test_a_sidecar_path_cannot_leave_the_tree_folder(tmp_path: Path) -> None:
    path = save_tree(small_tree(), tmp_path / "t.json", sidecar=True)
    pointer = json.loads(path.read_text())
    pointer["documents_file"]["path"] = "../elsewhere.docs-0123456789abcdef.parquet"
    path.write_text(json.dumps(pointer))
    with pytest.raises(TreeFileError, match="invalid at documents_file/path"):
        load_tree(path)


def test_failed_writes_leave_nothing_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def bad_batches():
        yield {"id": ["a"], "leaf": ["0"]}
        yield {"id": ["b"], "leaf": ["0"], "surprise": [1]}

    with pytest.raises(ValueError, match="surprise"):
        write_batches(tmp_path / "t.json", bad_batches())
    assert os.listdir(tmp_path) == []  # no temp file, no sidecar

    path = save_tree(small_tree(), tmp_path / "t.json", sidecar=True)
    before = path.read_bytes()
    (old,) = _sidecars(tmp_path)
    from topicmap.hierarchy.tree import treefile

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    changed = small_tree()
    changed.documents[0].text = "new text"
    monkeypatch.setattr(treefile, "write_chunks_atomic", fail)
    with pytest.raises(OSError):
        save_tree(changed, path)
    assert path.read_bytes() == before and old.exists()  # the JSON still points at a whole sidecar
    load_tree(path)


# -- commands on a sidecar tree ------------------------------------------------------------------
def test_commands_read_a_tree_built_from_parquet(tmp_path: Path, topic_corpus) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    docs, emb = topic_corpus
    rows = [json.loads(line) for line in docs.read_text().splitlines()]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "docs.parquet")
    built = invoke_cli("build", "docs.parquet", "--embeddings", str(emb), "--levels", "3,6", "-o", "t.json", "-q", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert json.loads((tmp_path / "t.json").read_text())["schema_version"] == SIDECAR_VERSION and len(_sidecars(tmp_path)) == 1
    info = invoke_cli("info", "t.json", cwd=tmp_path)
    assert info.returncode == 0 and "72 documents" in info.stdout
    cross = invoke_cli("crosstab", "t.json", "t.json", cwd=tmp_path)
    assert cross.returncode == 0, cross.stderr
    evaluated = invoke_cli("evaluate", "t.json", "--labels", "top", "--embeddings", str(emb), "--navigator", "none", "--json", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["references"][0]["dendrogram_purity"] > 0.7
    (tmp_path / "new.jsonl").write_text("".join(json.dumps({**r, "id": "new-" + r["id"]}) + "\n" for r in rows[:5]))
    np.save(tmp_path / "new.npy", np.load(emb)[:5] + 0.01)
    assigned = invoke_cli("assign", "t.json", "new.jsonl", "--embeddings", "new.npy", "-o", "u.json", cwd=tmp_path)
    assert assigned.returncode == 0, assigned.stderr
    updated = load_tree(tmp_path / "u.json")
    assert updated.n_documents == 77 and updated.store.lazy  # built from Parquet: still a sidecar tree


@FORMS
def test_trends_read_the_time_column_of_a_sidecar_tree(form: dict[str, object], tmp_path: Path) -> None:
    from topicmap.hierarchy.analysis.trends import tree_has_times, tree_trends

    tree = load_tree(save_tree(dated_tree(), tmp_path / "t.json", **form))
    assert tree_has_times(tree)
    trends = tree_trends(tree, "month")
    assert trends is not None and tree._documents is None
    assert tree_trends(dated_tree(), "month").counts.tolist() == trends.counts.tolist()


# -- the dashboard -------------------------------------------------------------------------------
@FORMS
def test_full_text_index_is_built_once_beside_the_sidecar(form: dict[str, object], tmp_path: Path) -> None:
    from topicmap.viz.index import TreeIndex
    from topicmap.viz.search_index import index_path

    tree = small_tree()
    lazy = load_tree(save_tree(tree, tmp_path / "t.json", **form))
    index = TreeIndex(lazy)
    built = index_path(lazy.store)  # type: ignore[arg-type]
    assert built.is_file() and built.name.startswith(_sidecars(tmp_path)[0].name)
    stamp = built.stat().st_mtime_ns
    inline = TreeIndex(tree)
    for query in ("brine", "Brine vinegar", "cucumbers"):  # whole words: the same rows as the substring scan
        assert index.search(query).doc_rows.tolist() == inline.search(query).doc_rows.tolist(), query
        assert index.search(query).node_hits == inline.search(query).node_hits
    assert index.search("pickle").doc_rows.tolist() == []  # "pickled" is another word (the scan finds it) ...
    assert index.search("pickle*").doc_rows.tolist() == inline.search("pickle").doc_rows.tolist()  # ... unless a prefix is asked for
    assert index.search("brin").doc_rows.tolist() == []
    assert index.search("brin*").doc_rows.tolist() == inline.search("brine").doc_rows.tolist()  # ... unless asked for
    assert index.search('" OR * NEAR(').doc_rows.tolist() == []  # user text is never FTS5 syntax
    assert index.search("pickle").label_matches == inline.search("pickle").label_matches
    TreeIndex(load_tree(tmp_path / "t.json"))
    assert built.stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert lazy._documents is None


@FORMS
def test_a_big_map_draws_a_stratified_sample_and_says_so(form: dict[str, object], tmp_path: Path) -> None:
    from topicmap.viz.figures import map_point_rows, map_spec
    from topicmap.viz.index import TreeIndex

    tree = load_tree(save_tree(small_tree(), tmp_path / "t.json", **form))
    index = TreeIndex(tree, map_sample_max=12)
    assert index.map_sampled and 12 <= len(index.map_order) < 36
    leaves = [p for p, kids in enumerate(index.children_pos) if not kids]
    assert all(index.map_hi[p] > index.map_lo[p] for p in leaves)  # every topic keeps points
    spec = map_spec(index)
    assert "a sample of" in spec["layout"]["legend"]["title"]["text"]
    drawn = sum(len(base64.b64decode(t["x"]["bdata"])) // 2 if isinstance(t["x"], dict) else len(t["x"]) for t in spec["data"])
    assert drawn == len(index.map_order)
    picked = map_point_rows(index, [{"curveNumber": 0, "pointIndex": 0}])
    assert picked.tolist() and index._drawn[picked].all()
    assert not TreeIndex(tree).map_sampled  # under the limit: every point, no notice
    assert "sample" not in map_spec(TreeIndex(tree))["layout"]["legend"]["title"]["text"]


def test_a_read_only_tree_folder_puts_the_search_index_in_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from topicmap.hierarchy.base.errors import OutputError
    from topicmap.viz import search_index
    from topicmap.viz.index import TreeIndex

    (tmp_path / "tree").mkdir()
    tree = load_tree(save_tree(small_tree(), tmp_path / "tree" / "t.json", sidecar=True))
    real = search_index.build_index

    def refuse_beside_the_tree(store, path, quiet=False):  # what a read-only folder does (root ignores chmod)
        if path.parent == tmp_path / "tree":
            raise OutputError(f"{path}: cannot write here (Permission denied)")
        return real(store, path, quiet)

    monkeypatch.setattr(search_index, "build_index", refuse_beside_the_tree)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    index = TreeIndex(tree)
    assert index.search_index is not None and index.search_index.path.parent == tmp_path / "cache" / "topicmap" / "search"
    assert index.search("brine").doc_rows.size == 3


def test_rewriting_a_copied_tree_file_never_removes_the_original_sidecar(tmp_path: Path) -> None:
    import shutil

    original = save_tree(small_tree(), tmp_path / "a.tree.json", sidecar=True)
    (sidecar,) = _sidecars(tmp_path)
    assert sidecar.name.startswith("a.tree.docs-")
    copy = tmp_path / "b.tree.json"
    shutil.copyfile(original, copy)  # points at a's sidecar
    tree = load_tree(copy)
    tree.documents[0].text = "changed in the copy"
    save_tree(tree, copy)
    assert sidecar.exists() and load_tree(original).store.document(0).text != "changed in the copy"
    assert load_tree(copy).store.document(0).text == "changed in the copy"
    assert {p.name.split(".docs-")[0] for p in _sidecars(tmp_path)} == {"a.tree", "b.tree"}
