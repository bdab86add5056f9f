"""The faster ways a corpus is read and its sidecar written give what the plain ways give.

JSONL lines are parsed a chunk at a time (falling back to one line at a time), metadata cells are
encoded without ``json.dumps``'s per-call setup, and a lazy corpus keeps each metadata value as its JSON
text, which the sidecar stores as it is. Each is checked here against the plain way on awkward input.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.base.jsontext import JSONTooDeep, dumps_compact, loads, loads_lines
from topicmap.hierarchy.builder.built_documents import BuiltDocuments
from topicmap.hierarchy.inputs import documents
from topicmap.hierarchy.inputs.documents import corpus_from_rows, iter_rows, open_documents, read_documents
from topicmap.hierarchy.inputs.lazy_corpus import LazyCorpus, read_lazily
from topicmap.hierarchy.tree.documents_store import META_PREFIX, write_store

AWKWARD_VALUES: list[Any] = [
    "plain", "", "é ü 漢字 🙂", 'quote " backslash \\ slash /', "tab\t newline\n cr\r bell\x07 nul\x00", "\u2028\u2029\x85",
    "[{not json}]", 0, -0, 7, 2**80, -(2**70), 0.1, -0.0, 1e300, 2.5e-320, True, False, None,
    [], {}, [1, [2, [3, {"a": None}]]], {"k": "v", "n": [1.5, "x\"y"], "é": {}},
]


@pytest.mark.parametrize("value", AWKWARD_VALUES)
def test_a_metadata_cell_is_what_json_dumps_writes(value: Any) -> None:
    assert dumps_compact(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_lines_parsed_together_are_the_lines_parsed_alone() -> None:
    lines = [json.dumps({"id": i, "v": v}, ensure_ascii=i % 2 == 0) + ("\r\n" if i % 3 == 0 else "\n") for i, v in enumerate(AWKWARD_VALUES)]
    lines += ['  {"a": "\\\\", "b": "\\\\\\"[", "c": ["]", "{"]}  \r', '{"no": "newline at the end"}', '"not an object"\n', "[1, 2]\n"]
    assert loads_lines(lines) == [json.loads(line) for line in lines]
    assert loads_lines([]) == []


@pytest.mark.parametrize(
    "lines",
    [
        ['{"a": 1}, {"b": 2}\n', '{"c": [{}\n', "{}]}\n"],  # as many values as lines, but not one per line
        ['{"a": 1}\n', '{"b": \n'],  # invalid
        ['{"a": 1}\n', "\ufeff{}\n"],  # a byte order mark inside the file
        ['{"a": NaN}\n', '{"b": [' * 150 + "]" * 150 + "}\n"],  # too deep for the limit
        ["[" * 5000 + "]" * 5000 + "\n"],  # deeper than the parser's own recursion
    ],
)
def test_lines_one_parse_cannot_stand_for_are_left_to_parse_alone(lines: list[str]) -> None:
    assert loads_lines(lines) is None


def test_the_depth_limit_is_the_one_a_line_alone_meets() -> None:
    line = '{"a": ' + "[" * 99 + "]" * 99 + "}\n"  # 100 levels: allowed
    assert loads_lines([line]) == [loads(line)]
    deeper = '{"a": ' + "[" * 100 + "]" * 100 + "}\n"
    with pytest.raises(JSONTooDeep):
        loads(deeper)
    assert loads_lines([deeper]) is None


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("chunk", [1, 2, 3, 4_096])
def test_jsonl_rows_read_in_chunks_are_the_rows_read_line_by_line(tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "JSONL_CHUNK_LINES", chunk)
    lines = [json.dumps({"id": f"d{i}", "text": f"t {i}", "meta": v}) + "\n" for i, v in enumerate(AWKWARD_VALUES)]
    lines.insert(4, "   \n")
    lines.insert(9, '{"id": "x", "text": "two on a line"}, {"id": "y", "text": "z"}\n')  # parsed alone: named as invalid
    path = _write_lines(tmp_path / "d.jsonl", lines)
    rows: list[tuple[str, dict[str, Any]]] = []
    with pytest.raises(InputError) as info:
        for pair in iter_rows(path):
            rows.append(pair)
    assert str(info.value) == f"{path}: line 10: not valid JSON (Extra data)"
    expected = [(f"line {n}", json.loads(line)) for n, line in enumerate(lines[:9], start=1) if line.strip()]
    assert rows == expected


def test_rows_before_undecodable_text_come_first(tmp_path: Path) -> None:
    """A duplicate id before a line that is not UTF-8 is the error named, in memory and lazily (as line by line)."""
    lines = [json.dumps({"id": "d0" if i == 2 else f"d{i}", "text": f"t {i}"}) + "\n" for i in range(2_000)]  # the bad line well past the first block decoded
    path = tmp_path / "d.jsonl"
    path.write_bytes("".join(lines).encode("utf-8") + b'{"id": "z", "text": "na\xefve"}\n')
    expected = f"{path}: line 3: duplicate id 'd0' (first at line 1)"
    for read in (lambda: read_documents(path), lambda: open_documents(path, lazy=True)):
        with pytest.raises(InputError) as info:
            read()
        assert str(info.value) == expected
    path.write_bytes("".join(lines[:2]).encode("utf-8") + b'{"id": "z", "text": "na\xefve"}\n')
    with pytest.raises(InputError, match="not UTF-8 text"):
        open_documents(path, lazy=True)


def test_metadata_under_keys_that_are_not_text_is_kept_as_the_lists_keep_it() -> None:
    rows = [("row 1", {"text": "a", 1: "int key", "1": "text key", "k": math.nan}), ("row 2", {"text": "b", "k": [1, (2, 3)]})]
    lazy = read_lazily(lambda: iter(rows), "rows", lambda: "")
    listed = corpus_from_rows(iter(rows), "rows")
    assert lazy.rows_between(0, 2).metadata == listed.metadata == [{"1": "text key", "k": None}, {"k": [1, [2, 3]]}]
    assert lazy.metadata_keys() == listed.metadata_keys() == ["1", "k"]
    lazy.close()


def test_a_lazy_corpus_sidecar_stores_each_value_as_json_dumps_writes_it(tmp_path: Path) -> None:
    rows = []
    for i in range(300):
        row: dict[str, Any] = {"id": f"d{i}", "text": f"text {i}"}
        if i % 4:
            row["meta"] = AWKWARD_VALUES[i % len(AWKWARD_VALUES)]
        if i % 7 == 0:
            row["other"] = {"i": i, "s": "é\t"}
        rows.append(row)
    path = _write_lines(tmp_path / "d.jsonl", [json.dumps(r) + "\n" for r in rows])
    rng = np.random.default_rng(0)
    leaf, coords = rng.integers(0, 3, size=300), rng.normal(size=(300, 2))
    written = []
    for name, lazy in (("lists", False), ("lazy", True)):
        corpus = open_documents(path, lazy=lazy)
        assert isinstance(corpus, LazyCorpus) == lazy
        (tmp_path / name).mkdir()
        written.append(write_store(tmp_path / name / "t.json", BuiltDocuments(corpus, ["a", "b", "c"], leaf, coords, store_text=True)))
    assert written[0].path.read_bytes() == written[1].path.read_bytes()
    table = pq.read_table(written[1].path)
    for key in ("meta", "other"):
        expected = [json.dumps(r[key], ensure_ascii=False, separators=(",", ":")) if key in r else None for r in rows]
        assert table.column(META_PREFIX + key).to_pylist() == expected
    assert table.column("text").to_pylist() == [r["text"] for r in rows]


BAD_ROWS: list[tuple[list[dict[str, Any]], dict[str, Any]]] = [
    ([{"id": "a", "text": "x"}, {"id": "b", "text": "y"}, {"id": "a", "text": "z"}], {}),
    ([{"id": "a", "text": "x"}, {"id": "b", "text": "   "}, {"id": "c", "text": "z"}], {}),
    ([{"id": "a", "text": "x"}, {"id": "b", "text": 5}], {}),
    ([{"id": "a", "text": "x"}, {"id": " ", "text": "y"}], {}),
    ([{"id": "a", "text": "x"}, {"text": "y"}], {}),
    ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}, {"id": "c", "text": ""}], {}),
    ([{"id": "a", "text": "x"}, {"id": "b", "text": ""}, {"id": "a", "text": "y"}], {}),
    ([{"id": "a", "text": "x"}, {"id": "b", "text": "y"}, {"id": "a", "text": "z"}], {"id_column": "text"}),
    ([{"text": "x"}, {"text": " "}, {"text": None}], {"skip_empty": True}),
]


@pytest.mark.parametrize("chunk", [1, 2, 4_096])
@pytest.mark.parametrize(("rows", "kwargs"), BAD_ROWS)
def test_rows_taken_a_chunk_at_a_time_stop_at_the_row_they_stop_at_one_by_one(
    tmp_path: Path, chunk: int, rows: list[dict[str, Any]], kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "JSONL_CHUNK_LINES", chunk)
    rows = [{"id": f"p{i}", "text": f"padding {i}"} if "id" in rows[0] else {"text": f"padding {i}"} for i in range(5)] + rows
    lines = [json.dumps(r) + "\n" for r in rows]
    lines.insert(len(lines) - 1, '{"id": "late", "text": "a line too far"\n')  # invalid: named only if no row before it stops the pass
    path = _write_lines(tmp_path / "d.jsonl", lines)
    with pytest.raises(InputError) as listed:
        read_documents(path, **kwargs)
    with pytest.raises(InputError) as lazy:
        open_documents(path, lazy=True, **kwargs)
    assert str(lazy.value) == str(listed.value)


@pytest.mark.parametrize("chunk", [1, 3, 7, 4_096])
def test_a_lazy_corpus_read_a_chunk_at_a_time_holds_the_rows_the_lists_hold(tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_lazy_corpus import _rows, _same_rows

    from topicmap.hierarchy.inputs import lazy_corpus

    monkeypatch.setattr(documents, "JSONL_CHUNK_LINES", chunk)
    monkeypatch.setattr(lazy_corpus, "BATCH_ROWS", 16)  # chunks cut at the scratch batches' edges
    rows = _rows(200)
    rows[17]["text"] = "  "  # left out, with its position kept
    rows[30]["title"] = None
    rows[31]["title"] = 12
    for i in (40, 41, 90):
        rows[i]["id"] = 1000 + i  # numbers as ids: checked one by one
    path = _write_lines(tmp_path / "d.jsonl", [json.dumps(r) + "\n" for r in rows])
    whole: list[int] = []
    check_many = documents.RowChecker.check_many

    def counted(self: documents.RowChecker, index: int, chunk: Any) -> Any:
        taken = check_many(self, index, chunk)
        whole.extend([len(chunk)] if taken is not None else [])
        return taken

    monkeypatch.setattr(documents.RowChecker, "check_many", counted)
    for kwargs in ({"skip_empty": True, "time_column": "day"}, {"skip_empty": True, "title_column": "day"}):
        lazy = open_documents(path, lazy=True, **kwargs)
        listed = read_documents(path, **kwargs)
        assert isinstance(lazy, LazyCorpus)
        _same_rows(lazy, listed)
        assert lazy.any_title() == listed.any_title()
        if "time_column" in kwargs:
            assert lazy.time is not None and listed.time is not None
            np.testing.assert_array_equal(lazy.time.times, listed.time.times)
        lazy.close()
    assert sum(whole) > 100  # most rows were taken a chunk at a time
    no_ids = _write_lines(tmp_path / "n.jsonl", [json.dumps({"text": r["text"], "n": i}) + "\n" for i, r in enumerate(rows)])
    lazy, listed = open_documents(no_ids, lazy=True, skip_empty=True), read_documents(no_ids, skip_empty=True)
    _same_rows(lazy, listed)  # ids numbered by row, the left-out row counted
    lazy.close()


def test_metadata_cells_added_a_chunk_at_a_time_are_those_added_row_by_row() -> None:
    from topicmap.hierarchy.inputs.lazy_corpus import MetadataCells

    rows: list[dict[Any, Any]] = [{"text": "a", "b": 1, "a": "x"}, {"text": "b"}, {"c": [1.5, math.inf], 2: "int key", "2": "text"}, {"a": None, "d": "é"}]
    one, many = MetadataCells(), MetadataCells()
    seen_one: dict[str, None] = {}
    seen_many: dict[str, None] = {"z": None}
    for row in rows:
        one.add(row, {"text"}, seen_one)
    many.add_many(rows, {"text"}, seen_many)
    assert (many.keys, many.cells, list(many.ends)) == (one.keys, one.cells, list(one.ends))
    assert list(seen_many) == ["z", *seen_one] == ["z", "b", "a", "c", "2", "d"]
    assert one.cells[:2] == ["1", '"x"'] and one.cells[2:4] == ["[1.5,null]", '"text"']


@pytest.mark.parametrize(("field", "escape"), [("text", "\\udc00"), ("tag", "\\ud800"), ("tag", "\\uDBFF x")])
@pytest.mark.parametrize("form", ["jsonl-lists", "jsonl-lazy", "json"])
def test_an_unpaired_surrogate_escape_is_named_by_row_and_field(tmp_path: Path, field: str, escape: str, form: str) -> None:
    """JSON decodes it to a code point no UTF-8 text can hold: one line naming the row and field, whichever way the
    file is read; a whole pair (an emoji written as two escapes) is text and passes."""
    rows = [{"id": f"d{i}", "text": f"words about topic {i % 4} \\ud83d\\ude00", "tag": "ok"} for i in range(9000)]
    rows[5000][field] = f"bad {escape} here"
    lines = [json.dumps(r).replace("\\\\", "\\") for r in rows]  # the escapes as escapes, not escaped backslashes
    if form == "json":
        path = tmp_path / "docs.json"
        path.write_text("[" + ",\n".join(lines) + "]", encoding="utf-8")
        where = "item 5001"
    else:
        path = tmp_path / "docs.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        where = "line 5001"
    with pytest.raises(InputError) as caught:
        open_documents(path, lazy=True) if form == "jsonl-lazy" else read_documents(path)
    assert str(caught.value) == f"{path}: {where}: field {field!r} holds an unpaired surrogate escape (\\ud800-\\udfff without its pair), which is not text; fix or remove that escape"
    rows[5000][field] = "fine"
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(r).replace("\\\\", "\\") for r in rows) + "\n", encoding="utf-8")
    assert read_documents(good).texts[0].endswith("\U0001f600")
