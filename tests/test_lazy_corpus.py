"""A corpus read lazily (checked in one pass, read back a batch at a time) gives the rows, the errors and the tree files of one read into lists."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.builder import pipeline
from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs, build_tree
from topicmap.hierarchy.inputs import lazy_corpus
from topicmap.hierarchy.inputs.documents import open_documents, read_documents
from topicmap.hierarchy.inputs.lazy_corpus import LazyCorpus
from topicmap.hierarchy.inputs.vector_source import NpySource
from topicmap.hierarchy.tree.treefile import save_tree

from cli_helpers import invoke_cli


def write_jsonl(path: Path, rows: list[dict[str, Any]], blank_after: int | None = None) -> Path:
    lines = [json.dumps(r) + "\n" for r in rows]
    if blank_after is not None:
        lines.insert(blank_after, "\n")  # JSONL errors name the line, which is then not the row
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _rows(n: int, seed: int = 3) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(60)]
    out = []
    for i in range(n):
        topic = i % 4
        text = " ".join(rng.choice(words[topic * 15 : topic * 15 + 15], 8).tolist())
        row: dict[str, Any] = {"id": f"d{i}", "text": text, "day": f"2023-{1 + i % 12:02d}-0{1 + i % 9}"}
        if i % 3:
            row["title"] = f"title {i}"
        if i % 2:
            row["source"] = ["wire", {"desk": [1, 2.5, None]}][i % 4 // 2]
        if i % 5 == 0:
            row["score"] = 0.1 * i
        out.append(row)
    return out


def _same_rows(lazy: LazyCorpus, listed: Any) -> None:
    n = len(listed)
    assert len(lazy) == n and list(lazy.ids) == listed.ids
    every = lazy.rows_between(0, n)
    assert (every.ids, every.texts, every.titles, every.metadata) == (listed.ids, listed.texts, listed.titles, listed.metadata)
    assert list(lazy.embedding_texts()) == listed.embedding_texts()
    assert lazy.embedding_texts()[3:7] == listed.embedding_texts()[3:7]
    assert lazy.embedding_texts()[n:2:-7] == listed.embedding_texts()[n:2:-7] and lazy.ids[::-5] == listed.ids[::-5]
    picked = lazy.rows_at([n - 1, 0, 5])
    assert picked.ids == [listed.ids[r] for r in (n - 1, 0, 5)] and picked.metadata == [listed.metadata[r] for r in (n - 1, 0, 5)]
    assert lazy.metadata_keys() == listed.metadata_keys()
    assert lazy.skipped_rows == listed.skipped_rows and lazy.sha256 == listed.sha256


@pytest.mark.parametrize("form", ["jsonl", "jsonl.gz", "csv", "parquet"])
def test_the_lazy_corpus_holds_the_rows_the_lists_hold(tmp_path: Path, form: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lazy_corpus, "BATCH_ROWS", 64)  # several scratch batches, read across their edges
    rows = _rows(300)
    rows[17]["text"] = "  "
    path = tmp_path / f"d.{form}"
    if form == "jsonl":
        write_jsonl(path, rows, blank_after=40)
    elif form == "jsonl.gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write("".join(json.dumps(r) + "\n" for r in rows))
    elif form == "csv":
        import csv

        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, ["id", "title", "text", "day", "source", "score"])
            writer.writeheader()
            writer.writerows({k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in r.items()} for r in rows)
    else:
        pq.write_table(pa.Table.from_pylist([{**r, "source": json.dumps(r.get("source"))} for r in rows]), path, row_group_size=50)
    kwargs: dict[str, Any] = {"skip_empty": True, "time_column": "day"}
    lazy = open_documents(path, lazy=True, **kwargs)
    listed = read_documents(path, **kwargs)
    assert isinstance(lazy, LazyCorpus)
    _same_rows(lazy, listed)
    assert lazy.time is not None and listed.time is not None
    np.testing.assert_array_equal(lazy.time.times, listed.time.times)
    assert lazy.time.format == listed.time.format
    lazy.close()


def _error(call: Any) -> str:
    with pytest.raises(InputError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize(
    ("rows", "kwargs", "blank_after"),
    [
        ([{"body": "x"}], {}, None),
        ([{"text": "x"}], {"id_column": "key"}, None),
        ([{"id": "a", "text": "x"}, {"id": "b", "text": "y"}, {"id": "a", "text": "z"}], {}, 1),
        ([{"id": "a", "text": "x"}, {"id": "b", "text": "   "}], {}, None),
        ([{"id": "a", "text": 5}], {}, None),
        ([{"id": "", "text": "x"}], {}, None),
        ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}, {"id": "c", "text": ""}], {}, None),  # the duplicate comes first
        ([{"id": "a", "text": "x"}, {"id": "b", "text": ""}, {"id": "a", "text": "y"}], {}, None),  # the empty text comes first
        ([{"text": ""}, {"text": " "}], {"skip_empty": True}, None),
        ([{"text": "a", "t": "2024-01-01"}, {"text": "b", "t": "yesterday"}], {"time_column": "t"}, 1),
        ([{"text": "a", "t": "soon"}, {"text": "b", "t": "later"}], {"time_column": "t"}, None),
        ([{"text": "a", "t": "soon"}, {"text": "b", "t": "2024"}], {"time_column": "t", "skip_bad_dates": True, "skip_empty": True}, None),
    ],
)
def test_bad_rows_are_named_as_when_read_into_lists(tmp_path: Path, rows: list[dict[str, Any]], kwargs: dict[str, Any], blank_after: int | None) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", rows, blank_after)
    try:
        listed = read_documents(path, **kwargs)
    except InputError as exc:
        assert _error(lambda: open_documents(path, lazy=True, **kwargs)) == str(exc)
        return
    lazy = open_documents(path, lazy=True, **kwargs)  # the last case passes: undated rows kept
    assert isinstance(lazy, LazyCorpus) and lazy.time is not None and listed.time is not None
    assert lazy.time.bad == listed.time.bad


def test_a_duplicate_among_many_batches_names_both_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lazy_corpus, "BATCH_ROWS", 16)
    rows = [{"id": f"d{i}", "text": f"text {i}"} for i in range(200)]
    rows[150]["id"] = "d33"
    rows[170]["id"] = "d12"
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    message = _error(lambda: open_documents(path, lazy=True))
    assert message == _error(lambda: read_documents(path))
    assert message.endswith("line 151: duplicate id 'd33' (first at line 34)")


def test_unreadable_input_is_named_as_when_read_into_lists(tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"id": "a", "text": "ok"}\n{"id": "a", "text": "again"}\n{"text": \n', encoding="utf-8")
    assert _error(lambda: open_documents(bad_json, lazy=True)) == _error(lambda: read_documents(bad_json))  # the duplicate at line 2
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text\nna\xefve\n".encode("latin-1"))
    assert _error(lambda: open_documents(latin, lazy=True)) == _error(lambda: read_documents(latin))
    wide = tmp_path / "wide.csv"
    wide.write_text("id,text\n1,a\n2,b,extra\n", encoding="utf-8")
    assert _error(lambda: open_documents(wide, lazy=True)) == _error(lambda: read_documents(wide))
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    assert _error(lambda: open_documents(broken, lazy=True)) == _error(lambda: read_documents(broken))


def _masked(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    data["manifest"].pop("timings_s", None)
    data["manifest"].pop("created_at", None)
    for node in data["nodes"]:
        (node.get("label_meta") or {}).pop("created_at", None)
    return json.dumps(data, sort_keys=True)


def _sidecar_bytes(tree_file: Path) -> bytes:
    pointer = json.loads(tree_file.read_text(encoding="utf-8"))["documents_file"]
    return (tree_file.parent / pointer["path"]).read_bytes()


@pytest.mark.parametrize("sidecar", [False, True])
def test_a_streamed_build_from_the_lazy_corpus_writes_the_same_files(tmp_path: Path, sidecar: bool) -> None:
    rows = _rows(1200)
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 12)) * 3
    np.save(tmp_path / "x.npy", (centres[np.arange(1200) % 4] + rng.normal(size=(1200, 12))).astype(np.float32))
    config = BuildConfig(layout="anchored", min_leaf_size=5)
    written = []
    for name, lazy in (("lists", False), ("lazy", True)):
        corpus = open_documents(path, lazy=lazy, time_column="day")
        tree = build_tree(corpus, NpySource(tmp_path / "x.npy"), config, BuildInputs(str(path), corpus.sha256), memory_budget=0, chunk_rows=500, scratch_dir=tmp_path)
        out = tmp_path / name / "t.json"
        out.parent.mkdir()
        save_tree(tree, out, sidecar=sidecar)
        written.append(out)
    assert _masked(written[0]) == _masked(written[1])
    if sidecar:
        assert _sidecar_bytes(written[0]) == _sidecar_bytes(written[1])


def test_the_cli_builds_the_same_tree_file_from_a_lazily_read_parquet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _rows(400)
    X = (np.random.default_rng(1).normal(size=(4, 8))[np.arange(400) % 4] + np.random.default_rng(2).normal(size=(400, 8)) * 0.5).astype(np.float32)
    table = pa.Table.from_pylist([{**r, "source": json.dumps(r.get("source"))} for r in rows])
    table = table.append_column("embedding", pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), 8))
    pq.write_table(table, tmp_path / "docs.parquet", row_group_size=100)
    args = ["build", str(tmp_path / "docs.parquet"), "--embedding-column", "embedding", "--layout", "anchored", "--no-cache", "-q", "--time-column", "day"]
    for name in ("lists", "lazy"):
        (tmp_path / name).mkdir()
    done = invoke_cli(*args, "-o", str(tmp_path / "lists" / "t.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    monkeypatch.setattr(lazy_corpus, "LAZY_FROM_BYTES", 0)
    monkeypatch.setattr(lazy_corpus, "BATCH_ROWS", 128)
    monkeypatch.setattr(pipeline, "IN_MEMORY_BYTES", 0)
    done = invoke_cli(*args, "-o", str(tmp_path / "lazy" / "t.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lists, lazy = tmp_path / "lists" / "t.json", tmp_path / "lazy" / "t.json"
    assert _masked(lazy) == _masked(lists)
    assert _sidecar_bytes(lazy) == _sidecar_bytes(lists)


def test_parquet_shards_are_read_as_one_corpus_and_named_by_shard_and_row(tmp_path: Path) -> None:
    rows = _rows(90)
    table = pa.Table.from_pylist([{**r, "source": json.dumps(r.get("source"))} for r in rows])
    folder = tmp_path / "shards"
    folder.mkdir()
    for k, lo in enumerate(range(0, 90, 40)):
        pq.write_table(table.slice(lo, 40), folder / f"part-{k}.parquet", row_group_size=16)
    whole = tmp_path / "whole.parquet"
    pq.write_table(table, whole)
    one = read_documents(whole, time_column="day")
    for location in (folder, tmp_path / "shards" / "*.parquet"):
        lazy = open_documents(location, time_column="day")  # shards: always read lazily
        assert isinstance(lazy, LazyCorpus)
        assert (list(lazy.ids), lazy.rows_between(0, 90).metadata) == (one.ids, one.metadata)
        assert read_documents(location).texts == one.texts
    pq.write_table(table.slice(0, 10).set_column(0, "id", pa.array(["d0"] * 10)), folder / "part-3.parquet")
    message = _error(lambda: open_documents(folder))
    assert message == _error(lambda: read_documents(folder))
    assert message.endswith("part-3.parquet: row 1: duplicate id 'd0' (first at part-0.parquet: row 1)")
    pq.write_table(table.slice(0, 10).drop_columns(["text"]), folder / "part-3.parquet")
    assert _error(lambda: open_documents(folder)).endswith("part-3.parquet: no column 'text', which " + str(folder / "part-0.parquet") + " has; every shard needs the same columns")


def test_the_cli_builds_from_a_directory_of_shards_with_their_embedding_column(tmp_path: Path) -> None:
    rows = _rows(300)
    X = (np.random.default_rng(1).normal(size=(4, 8))[np.arange(300) % 4] + np.random.default_rng(2).normal(size=(300, 8)) * 0.5).astype(np.float32)
    table = pa.Table.from_pylist([{"id": r["id"], "text": r["text"]} for r in rows])
    table = table.append_column("embedding", pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), 8))
    (tmp_path / "shards").mkdir()
    for k, lo in enumerate(range(0, 300, 100)):
        pq.write_table(table.slice(lo, 100), tmp_path / "shards" / f"p{k}.parquet")
    pq.write_table(table, tmp_path / "whole.parquet")
    for name in ("shards", "whole.parquet"):
        (tmp_path / f"out-{name}").mkdir()
        done = invoke_cli("build", str(tmp_path / name), "--embedding-column", "embedding", "--layout", "anchored", "--no-cache", "-q", "-o", str(tmp_path / f"out-{name}" / "t.json"), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    a, b = (json.loads(_masked(tmp_path / f"out-{name}" / "t.json")) for name in ("shards", "whole.parquet"))
    assert a["nodes"] == b["nodes"]
