"""Reading documents and embeddings: every bad input is one clear error naming file, row and field."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.inputs.documents import load_embeddings, read_documents


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_reads_jsonl_with_ids_titles_and_metadata(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "title": "T", "text": "hello world", "cat": "x"}, {"id": "b", "text": "more text"}])
    corpus = read_documents(path)
    assert corpus.ids == ["a", "b"]
    assert corpus.titles == ["T", ""]
    assert corpus.metadata[0] == {"cat": "x"}
    assert corpus.embedding_texts()[0] == "T\nhello world"
    assert len(corpus.sha256) == 64


def test_reads_csv_tsv_gzip_and_parquet_alike(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "d.csv").write_text('doc,body\n1,"first, with comma"\n2,second\n', encoding="utf-8")
    (tmp_path / "d.tsv").write_text("doc\tbody\n1\tfirst, with comma\n2\tsecond\n", encoding="utf-8")
    with gzip.open(tmp_path / "d.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"doc": "1", "body": "first, with comma"}) + "\n" + json.dumps({"doc": 2, "body": "second"}) + "\n")
    pq.write_table(pa.table({"doc": ["1", "2"], "body": ["first, with comma", "second"]}), tmp_path / "d.parquet")
    for name in ("d.csv", "d.tsv", "d.jsonl.gz", "d.parquet"):
        corpus = read_documents(tmp_path / name, text_column="body", id_column="doc")
        assert corpus.ids == ["1", "2"], name
        assert corpus.texts == ["first, with comma", "second"], name


def test_generates_ids_when_absent(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a b"}, {"text": "c d"}])
    assert read_documents(path).ids == ["row-1", "row-2"]


def test_embedding_column(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "v": [1, 0]}, {"text": "b", "v": "[0, 1]"}])
    corpus = read_documents(path, embedding_column="v")
    assert corpus.embeddings.tolist() == [[1.0, 0.0], [0.0, 1.0]]


@pytest.mark.parametrize(
    ("rows", "kwargs", "expected"),
    [
        ([{"body": "x"}], {}, "no column 'text' (columns: body); choose one with --text-column"),
        ([{"text": "x"}], {"id_column": "key"}, "no column 'key'"),
        ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}], {}, "line 2: duplicate id 'a' (first at line 1)"),
        ([{"id": "a", "text": "x"}, {"id": "b", "text": "   "}], {}, "line 2: field 'text' is empty"),
        ([{"id": "a", "text": 5}], {}, "line 1: field 'text' is int, expected text"),
        ([{"id": "", "text": "x"}], {}, "line 1: field 'id' is empty"),
        ([{"text": "a", "v": [1, 2]}, {"text": "b", "v": [1]}], {"embedding_column": "v"}, "line 2: field 'v' has 1 dimensions, the first row has 2"),
        ([{"text": "a", "v": [1, float("nan")]}], {"embedding_column": "v"}, "line 1: field 'v' contains NaN"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, rows: list[dict], kwargs: dict, expected: str) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(InputError) as info:
        read_documents(path, **kwargs)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_file_empty_corpus_bad_json_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_documents(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="no documents"):
        read_documents(tmp_path / "empty.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2: not valid JSON"):
        read_documents(tmp_path / "bad.jsonl")
    (tmp_path / "d.xlsx").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="unsupported file type"):
        read_documents(tmp_path / "d.xlsx")


def test_skip_empty_reports_rows_and_loses_nothing_else(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a"}, {"text": ""}, {"text": "c"}])
    corpus = read_documents(path, skip_empty=True)
    assert corpus.texts == ["a", "c"]
    assert corpus.skipped_rows == [2]


def test_embeddings_file_checks(tmp_path: Path) -> None:
    good = tmp_path / "good.npy"
    np.save(good, np.ones((3, 4), dtype=np.float32))
    assert load_embeddings(good, 3).shape == (3, 4)
    with pytest.raises(InputError, match="3 embedding rows for 5 documents"):
        load_embeddings(good, 5)
    with pytest.raises(InputError, match="4 dimensions, expected 8"):
        load_embeddings(good, 3, expected_dim=8)
    bad = np.ones((3, 4), dtype=np.float32)
    bad[2, 1] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    with pytest.raises(InputError, match="row 3 has NaN or infinite values"):
        load_embeddings(tmp_path / "inf.npy", 3)
    np.save(tmp_path / "flat.npy", np.ones(3))
    with pytest.raises(InputError, match="2-D matrix"):
        load_embeddings(tmp_path / "flat.npy", 3)
    np.save(tmp_path / "ragged.npy", np.array([[1.0, 2.0], [3.0]], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="ragged.npy"):
        load_embeddings(tmp_path / "ragged.npy", 2)
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(InputError, match="junk.npy"):
        load_embeddings(tmp_path / "junk.npy", 2)
    with pytest.raises(InputError, match="no such embeddings file"):
        load_embeddings(tmp_path / "missing.npy", 2)


def test_byte_order_mark_npz_and_gzipped_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "excel.csv").write_bytes("text,id\nhello world,1\n".encode("utf-8-sig"))
    assert read_documents(tmp_path / "excel.csv").ids == ["1"]  # Excel's "CSV UTF-8" starts with a BOM
    pq.write_table(pa.table({"text": ["a b", "c d"]}), tmp_path / "d.parquet")
    with open(tmp_path / "d.parquet", "rb") as src, gzip.open(tmp_path / "d.parquet.gz", "wb") as dst:
        dst.write(src.read())
    assert read_documents(tmp_path / "d.parquet.gz").texts == ["a b", "c d"]
    np.savez(tmp_path / "e.npz", a=np.zeros((2, 3)))
    with pytest.raises(InputError, match="e.npz: a .npz archive"):
        load_embeddings(tmp_path / "e.npz", 2)
