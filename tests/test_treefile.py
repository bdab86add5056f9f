"""The tree file: round trip, schema, refusal of broken or newer files, atomic writes, exports."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.base.errors import OutputError, TreeFileError
from topicmap.hierarchy.tree.topic_tree import Document, LabelMeta, Node, TopicTree
from topicmap.hierarchy.tree.treefile import (
    NEWEST_VERSION,
    SCHEMA_VERSION,
    assignments_csv,
    load_schema,
    load_tree,
    nested_dict,
    save_tree,
    tree_to_dict,
)
from topicmap.hierarchy.files.safe_write import write_chunks_atomic, write_text_atomic


def small_tree() -> TopicTree:
    nodes = [
        Node("root", None, 0, 3, label="all", centroid=np.array([0.5, 0.5], dtype=np.float32)),
        Node("0", "root", 1, 2, label="sport", keywords=["goal", "match"], keyword_scores=[0.9, 0.5], representative_ids=["a"]),
        Node("1", "root", 1, 1, label="money", label_meta=LabelMeta(labeler="llm", model="m", prompt="label_leaf@v1", prompt_hash="abc")),
        Node("0.0", "0", 2, 1, label="football"),
        Node("0.1", "0", 2, 1, label="tennis"),
    ]
    for node, direction in zip(nodes[1:], ([1, 0], [0, 1], [1, 0.2], [1, -0.2])):
        node.centroid = np.array(direction, dtype=np.float32)
    docs = [Document("a", "0.0", text="goal", title="A", x=0.1, y=0.2), Document("b", "0.1", text="serve"), Document("c", "1", text="shares", metadata={"cat": "biz"})]
    return TopicTree(nodes, docs, manifest={"seed": 1})


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    tree = small_tree()
    path = save_tree(tree, tmp_path / "t.json")
    loaded = load_tree(path)
    assert tree_to_dict(loaded) == tree_to_dict(tree)
    assert loaded.node("1").label_meta.prompt == "label_leaf@v1"
    assert np.allclose(loaded.root.centroid, [0.5, 0.5])
    assert [d.id for d in loaded.documents_of("0")] == ["a", "b"]
    assert loaded.document_path(0) == ["root", "0", "0.0"]


def test_flat_nodes_map_onto_plotly_sunburst(tmp_path: Path) -> None:
    data = tree_to_dict(small_tree())
    ids = [n["id"] for n in data["nodes"]]
    parents = [n["parent"] for n in data["nodes"]]
    assert parents[0] == "" and ids[0] == "root"
    assert all(p in ids for p in parents[1:])
    by_id = {n["id"]: n for n in data["nodes"]}
    for node in data["nodes"]:  # branchvalues="total": a parent's value is the sum of its children
        kids = [n["size"] for n in data["nodes"] if n["parent"] == node["id"]]
        if kids:
            assert sum(kids) == by_id[node["id"]]["size"]


def test_schema_file_is_valid_json_schema() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(load_schema())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema_version=NEWEST_VERSION + 1), "newer than this topicmap understands"),
        (lambda d: d.pop("nodes"), "'nodes' is a required property"),
        (lambda d: d["nodes"][1].update(size=5), "node '0' has size 5, but 2 documents lie under it"),
        (lambda d: d["nodes"][3].update(parent="9"), "names parent '9', which does not exist"),
        (lambda d: d["documents"][0].update(leaf="0"), "is assigned to '0', which is not a leaf"),
        (lambda d: d["documents"][1].update(id="a"), "document id 'a' appears twice"),
        (lambda d: d["nodes"][2].update(depth=3), "node '1' has depth 3, expected 1"),
        (lambda d: d["nodes"][1].update(id="bad id"), "invalid at nodes/1/id"),
        (lambda d: d.update(format="something-else"), "invalid at format"),
    ],
)
def test_broken_trees_are_refused_with_a_clear_message(tmp_path: Path, mutate, message: str) -> None:
    data = tree_to_dict(small_tree())
    mutate(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(TreeFileError) as info:
        load_tree(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_not_json_missing_and_directory(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text('{"format": "topicmap-tree", ', encoding="utf-8")
    with pytest.raises(TreeFileError, match=r"not valid JSON \(line 1"):
        load_tree(tmp_path / "t.json")
    with pytest.raises(TreeFileError, match="no such tree file"):
        load_tree(tmp_path / "missing.json")
    with pytest.raises(TreeFileError, match="is a directory"):
        load_tree(tmp_path)


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "t.json"
    target.write_text("old", encoding="utf-8")

    class Boom(Exception):
        pass

    def chunks():  # noqa: ANN202 - fails after part of the file was written
        yield "new start"
        raise Boom()

    with pytest.raises(Boom):
        write_chunks_atomic(target, chunks())
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]
    with pytest.raises(OutputError, match="does not exist"):
        write_text_atomic(tmp_path / "no" / "t.json", "x")


def test_streamed_file_is_the_same_json_as_the_dict(tmp_path: Path) -> None:
    tree = small_tree()
    save_tree(tree, tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text(encoding="utf-8")) == json.loads(json.dumps(tree_to_dict(tree)))


def test_nested_and_csv_exports() -> None:
    tree = small_tree()
    nested = nested_dict(tree)["tree"]
    assert nested["id"] == "root" and [c["id"] for c in nested["children"]] == ["0", "1"]
    assert nested["children"][0]["children"][0]["documents"] == ["a"]
    rows = list(csv.DictReader(io.StringIO(assignments_csv(tree))))
    assert rows[0] == {"doc_id": "a", "leaf": "0.0", "path": "root/0/0.0", "level_1": "0", "level_2": "0.0", "leaf_label": "football"}
    assert rows[2]["path"] == "root/1" and rows[2]["level_2"] == ""


def test_spreadsheet_cells_neutralise_text_formulas_and_keep_numbers() -> None:
    from topicmap.hierarchy.files.spreadsheet import csv_text, safe_cell

    assert [safe_cell(v) for v in ("=1+2", "+1", "-1", "@A1", "\tx", "\rx", "a=b", "", None)] == [
        "'=1+2", "'+1", "'-1", "'@A1", "'\tx", "'\rx", "a=b", "", ""]
    assert [safe_cell(v) for v in (-3, -2.5, 0, 1e-9)] == [-3, -2.5, 0, 1e-9]  # numbers stay numbers
    rows = list(csv.reader(io.StringIO(csv_text(["id", "size", "x"], [["=cmd", 12, -0.25]]))))
    assert rows == [["id", "size", "x"], ["'=cmd", "12", "-0.25"]]


def test_labels_keywords_and_summaries_from_a_file_lose_control_characters(tmp_path: Path) -> None:
    from topicmap.hierarchy.builder.keywords import keyword_label

    data = tree_to_dict(small_tree())
    sport = data["nodes"][1]
    sport["label"] = "\x1b]0;pwned\x07Sport\x1b[2J\x1b[H"
    sport["keywords"] = ["goal\x1b[5m", "mat\x00ch"]
    sport["summary"] = "Line one\nline\x1b[31m two\x9b"
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    node = load_tree(path).node("0")
    assert node.label == "Sport" and node.keywords == ["goal", "match"] and node.summary == "Line one\nline two"
    assert keyword_label(["\x1b[1mfilm", "award\r\n", "actor"]) == "film · award · actor"
