"""label_meta.extra as a typed record (tree/provenance.py): the same JSON keys, old files load and save unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from topicmap.hierarchy.labels.label import LabelOptions, label_tree
from topicmap.hierarchy.llm.cache import AnswerCache
from topicmap.hierarchy.llm.prompting import resolve_prompts
from topicmap.hierarchy.tree.provenance import LabelProvenance, NodeProvenance
from topicmap.hierarchy.tree.topic_tree import LabelMeta, Node
from topicmap.hierarchy.tree.treefile import load_tree, save_tree
from tests.llm_fixtures import fake_server, fast_config  # noqa: F401 - fixture
from tests.openai_server import FakeOpenAIServer

BEFORE = Path(__file__).parent / "data" / "tree-v2-labelled.json"  # written before the record was typed


def test_a_file_written_before_loads_and_saves_unchanged(tmp_path: Path) -> None:
    tree = load_tree(BEFORE)
    save_tree(tree, tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text("utf-8")) == json.loads(BEFORE.read_text("utf-8"))


def test_old_keys_read_through_typed_fields() -> None:
    tree = load_tree(BEFORE)
    leaf = tree.node("0.0").label_meta.extra
    assert isinstance(leaf, LabelProvenance)
    assert (leaf.attempts, leaf.name_from_candidates, leaf.keyword_label) == (3, True, "exoplanet, transit, orbit")
    assert leaf.warning is not None and leaf.warning.startswith("kept after 3 tries")
    assert len(leaf.input or "") == 64 and leaf.prompt_tokens == 477 and leaf.reused_from is None
    assert tree.node("3").label_meta.extra.reused_from == "3.0"
    assert (tree.node("1.1").label_meta.extra.renamed_from, tree.node("1.1").label_meta.extra.distinct_prompt) == ("Bread Dough", "distinct_siblings@v1")
    failed = tree.node("2.1").label_meta
    assert failed.status == "failed" and (failed.extra.failed_prompt, failed.extra.failed_model) == ("label_leaf@v1", "fake-model")
    assert tree.node("0.1").label_meta.extra.stale is True and tree.node("0.1").label_meta.extra.size_at_label == 2
    assert tree.node("2.0").label_meta.extra.refreshed_by == "assign"
    # what this version does not know, or would not write there, is kept as read
    assert tree.node("2").label_meta.extra.other == {"written_by_a_newer_version": {"score": 0.5}}
    odd = tree.node("3.0").label_meta.extra
    assert odd.attempts is None and odd["attempts"] == "two" and "attempts" in odd


def test_an_old_files_inputs_still_mean_unchanged(fake_server: FakeOpenAIServer, tmp_path: Path) -> None:
    """The stored prompt keys decide which nodes a new run leaves alone: nodes labelled ok are kept, no request."""
    tree = load_tree(BEFORE)
    kept_before = {n.id for n in tree.iter_nodes() if n.label_meta.labeler == "llm" and n.label_meta.status == "ok" and n.label_meta.extra.input}
    report = label_tree(tree, fast_config(fake_server.base_url), LabelOptions(prompts=resolve_prompts(["v1"])), AnswerCache(tmp_path))
    assert len(kept_before) == 9 and report.failed == 0
    # the failed leaves 2.0 and 2.1 are asked again, then 2 and the root, whose children's labels changed
    assert report.label_calls == 4 and report.kept == len(kept_before - {"2", "root"}) and report.reused == 1


def test_the_record_is_also_the_mapping_of_its_keys() -> None:
    extra = LabelProvenance(input="k", attempts=2)
    assert extra == {"input": "k", "attempts": 2} and dict(extra) == {"input": "k", "attempts": 2} and len(extra) == 2
    extra["warning"] = "narrow"
    assert extra.warning == "narrow" and "warning" in extra and extra.get("stale") is None
    extra.update(stale=True, size_at_label=5)
    assert (extra.stale, extra.size_at_label) == (True, 5)
    del extra["attempts"]
    assert extra.attempts is None and "attempts" not in extra
    with pytest.raises(KeyError):
        extra["attempts"]
    assert list(extra) == ["input", "warning", "size_at_label", "stale"]  # the file's key order: the record's
    extra["size_at_label"] = "big"  # a value of another type is kept as given, out of the typed field
    assert extra.size_at_label is None and extra["size_at_label"] == "big" and extra.other == {"size_at_label": "big"}
    extra["size_at_label"] = 7
    assert extra.size_at_label == 7 and extra.other == {}


def test_label_meta_always_holds_a_record() -> None:
    meta = LabelMeta("llm", "m", "label_leaf@v2", "h", None, "ok", None, {"input": "k"})  # as older code built it
    assert isinstance(meta.extra, LabelProvenance) and meta.extra.input == "k"
    meta.extra = {"reused_from": "0.1"}
    assert isinstance(meta.extra, LabelProvenance) and meta.extra.reused_from == "0.1"
    assert LabelMeta.from_dict(meta.to_dict()) == meta
    assert "extra" not in LabelMeta().to_dict()  # an empty record is not written, as an empty dict was not
    copy = meta.extra.copy()
    copy.reused_from = "0.2"
    copy.other["x"] = 1
    assert meta.extra.reused_from == "0.1" and meta.extra.other == {}


# -- a node's own extra (labels/regroup.py writes it) ---------------------------------------------------
NODE_EXTRAS = {  # as the code before the typed record wrote them, and as a newer version might
    "0": {"grouped_by": "summaries"},
    "0.0": {"regrouped_from": "1.2"},
    "0.1": {"regrouped_from": "0.0", "note": "from a newer version"},
    "1": {"grouped_by": 3},  # a known key holding another type: kept as read
}


def test_node_extras_written_before_load_and_save_byte_for_byte(tmp_path: Path) -> None:
    save_tree(load_tree(BEFORE), tmp_path / "plain.json")
    text = (tmp_path / "plain.json").read_text("utf-8")
    for node_id, extra in NODE_EXTRAS.items():  # each node's empty extra replaced as json.dumps wrote a dict
        head = '{"id":' + json.dumps(node_id) + ","
        start = text.index(head)
        at = text.index('"extra":{}', start)
        text = text[:at] + '"extra":' + json.dumps(extra, ensure_ascii=False, separators=(",", ":")) + text[at + len('"extra":{}'):]
    (tmp_path / "before.json").write_text(text, encoding="utf-8")
    tree = load_tree(tmp_path / "before.json")
    assert tree.node("0").extra.grouped_by == "summaries" and tree.node("0.0").extra.regrouped_from == "1.2"
    assert tree.node("0.1").extra.other == {"note": "from a newer version"} and tree.node("1").extra.grouped_by is None
    assert tree.node("1").extra == {"grouped_by": 3} and isinstance(tree.root.extra, NodeProvenance)
    save_tree(tree, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "before.json").read_bytes()


def test_a_node_always_holds_a_record() -> None:
    node = Node("0", "root", 1, 5, extra={"regrouped_from": "2"})  # as older code built it
    assert isinstance(node.extra, NodeProvenance) and node.extra.regrouped_from == "2"
    node.extra = {"grouped_by": "summaries"}
    assert isinstance(node.extra, NodeProvenance) and node.extra == {"grouped_by": "summaries"}
    assert dict(Node("1", "root", 1, 5).extra) == {}  # written as "extra":{} as before
