"""Sidecars that are a directory of Parquet parts (``format: parquet-parts``, docs/tree-file.md).

What a partitioned build (``--engine dask``: one part per partition, written by the workers) leaves
beside its tree file: the directory is named by the hash of its parts' hashes and appears whole or not
at all; the tree reads as one table across the parts; a cut, missing or swapped part is one line;
``assign`` adds its rows as a new part and leaves the old ones as they are (hard links, not copies).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.base.errors import TreeFileError
from topicmap.hierarchy.tree.documents_store import SIDECAR_NAME, PartFile, write_part, write_parts
from topicmap.hierarchy.tree.treefile import load_tree, save_tree
from tests.cli_helpers import assert_clean_error, invoke_cli
from tests.test_sidecar import dated_tree


def _sidecars(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if SIDECAR_NAME.fullmatch(p.name))


def _documents(path: Path) -> list[dict[str, object]]:
    return [vars(d) for d in load_tree(path).store.iter_documents()]


def test_parts_read_as_the_one_file_and_rewrites_keep_or_replace_the_directory(tmp_path: Path) -> None:
    tree = dated_tree()
    one = save_tree(tree, tmp_path / "one.json", sidecar=True)
    parted = save_tree(tree, tmp_path / "t.json", part_rows=10)
    pointer = json.loads(parted.read_text())["documents_file"]
    (directory,) = [p for p in _sidecars(tmp_path) if p.name.startswith("t.docs-")]
    assert directory.is_dir() and pointer["path"] == directory.name and pointer["format"] == "parquet-parts"
    assert [p["rows"] for p in pointer["parts"]] == [10, 10, 10, 6] and pointer["bytes"] == sum(p["bytes"] for p in pointer["parts"])
    assert _documents(parted) == _documents(one)
    loaded = load_tree(parted)
    assert loaded.store.find_ids(["doc-035", "doc-011"]) == {"doc-035": 35, "doc-011": 11}
    assert loaded.store.strings("leaf") == load_tree(one).store.strings("leaf")

    relabelled = load_tree(parted)
    relabelled.node("0").label = "Space"
    save_tree(relabelled, parted)  # only the JSON changes: the same directory, untouched
    assert _sidecars(tmp_path) == sorted([directory, *(p for p in _sidecars(tmp_path) if p.name.startswith("one."))])
    changed = load_tree(parted)
    changed.documents[3].text = "changed"
    save_tree(changed, parted)  # documents in memory now: a sidecar of one file replaces the directory
    assert not directory.exists() and load_tree(parted).store.document(3).text == "changed"

    copy = save_tree(load_tree(one), tmp_path / "c.json", part_rows=10)  # a sidecar already on disk keeps its form
    assert json.loads(copy.read_text())["documents_file"]["format"] == "parquet"
    export = invoke_cli("export", "t.json", "--format", "json", "-o", "single.json", cwd=tmp_path)
    assert export.returncode == 0, export.stderr


def test_a_cut_missing_or_swapped_part_is_one_line(tmp_path: Path) -> None:
    path = save_tree(dated_tree(), tmp_path / "t.json", part_rows=10)
    (directory,) = _sidecars(tmp_path)
    part = directory / "part-00001.parquet"
    data = part.read_bytes()
    part.write_bytes(data[:-10])
    with pytest.raises(TreeFileError, match="part-00001.parquet: has .* bytes, but .* recorded") as cut:
        load_tree(path)
    assert "\n" not in str(cut.value)
    part.write_bytes(data)
    pointer = json.loads(path.read_text())
    pointer["documents_file"]["parts"][0], pointer["documents_file"]["parts"][1] = pointer["documents_file"]["parts"][1], pointer["documents_file"]["parts"][0]
    path.write_text(json.dumps(pointer))
    with pytest.raises(TreeFileError, match="not the hash of its parts' hashes"):
        load_tree(path)
    pointer["documents_file"]["parts"][0], pointer["documents_file"]["parts"][1] = pointer["documents_file"]["parts"][1], pointer["documents_file"]["parts"][0]
    path.write_text(json.dumps(pointer))
    load_tree(path)
    part.unlink()
    assert_clean_error(invoke_cli("info", "t.json", cwd=tmp_path), "part-00001.parquet", "missing")
    pointer["documents_file"]["format"] = "parquet"  # a directory name where a file's is expected: the schema refuses
    path.write_text(json.dumps(pointer))
    with pytest.raises(TreeFileError, match="invalid at documents_file"):
        load_tree(path)


def test_a_failed_part_leaves_no_directory_and_no_tree_file(tmp_path: Path) -> None:
    def fill(folder: Path) -> list[PartFile]:
        first = write_part(folder, 0, [{"id": ["a"], "leaf": ["0"]}], [])
        raise OSError(f"disk full after {first.name}")

    with pytest.raises(Exception, match="disk full"):
        write_parts(tmp_path / "t.json", fill)
    assert os.listdir(tmp_path) == []  # neither the temp directory nor a renamed one


def test_assign_adds_a_part_and_links_the_old_ones(tmp_path: Path, topic_corpus) -> None:
    """Assign on a tree of three parts: the old parts are the same files (hard links), the new rows one more part,
    and the tree equals the one assign gives on a single-file sidecar."""
    docs, emb = topic_corpus
    assert invoke_cli("build", str(docs), "--embeddings", str(emb), "--levels", "3,6", "-o", "b.json", "-q", cwd=tmp_path).returncode == 0
    tree = load_tree(tmp_path / "b.json")
    (tmp_path / "p").mkdir()
    (tmp_path / "s").mkdir()
    parted = save_tree(tree, tmp_path / "p" / "t.json", part_rows=30)
    single = save_tree(tree, tmp_path / "s" / "t.json", sidecar=True)
    (before,) = _sidecars(parted.parent)
    inodes = {p.name: p.stat().st_ino for p in before.iterdir()}
    rows = [json.loads(line) for line in docs.read_text().splitlines()]
    (tmp_path / "new.jsonl").write_text("".join(json.dumps({**r, "id": "new-" + r["id"]}) + "\n" for r in rows[:20]))
    np.save(tmp_path / "new.npy", np.load(emb)[:20] + 0.01)
    for path in (parted, single):
        done = invoke_cli("assign", str(path), "new.jsonl", "--embeddings", "new.npy", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    (after,) = _sidecars(parted.parent)
    assert after != before and not before.exists()  # a new directory (new hash), the old one removed
    assert {p.name: p.stat().st_ino for p in after.iterdir() if p.name in inodes} == inodes  # the old parts were not rewritten
    assert sorted(p.name for p in after.iterdir()) == [f"part-0000{k}.parquet" for k in range(4)]
    assert json.loads(parted.read_text())["documents_file"]["parts"][-1]["rows"] == 20
    assert _documents(parted) == _documents(single)


def test_a_killed_writers_temp_directory_is_removed_by_the_next_write(tmp_path: Path) -> None:
    import subprocess
    import sys

    from topicmap.hierarchy.files.safe_write import HOST

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / f".t.docs.{dead.pid}.{HOST}.0123abcd.tmp"  # what a SIGKILLed build leaves mid-write
    left.mkdir()
    (left / "part-00000.parquet").write_bytes(b"half")
    save_tree(dated_tree(), tmp_path / "t.json", part_rows=10)
    assert not left.exists() and len(_sidecars(tmp_path)) == 1
