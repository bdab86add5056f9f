"""The v2 labelling rules against a scripted "small model": retries that change, and good labels never lost.

The scripted model misbehaves the way a 1.5B model did on BBC news (issue 11): at temperature 0 it
repeats itself, parents join their children's names, summaries leak the prompt's scaffolding or run
long. Every test runs the real client over HTTP against the fake server on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from topicmap.hierarchy.labels.label import LabelOptions, RunReport, label_tree, select_nodes
from topicmap.hierarchy.labels.validate import content_words
from topicmap.hierarchy.llm.cache import AnswerCache
from topicmap.hierarchy.llm.prompting import resolve_prompts
from topicmap.hierarchy.tree.topic_tree import TopicTree
from topicmap.hierarchy.tree.treefile import load_tree, save_tree
from tests.test_label_cli import invoke
from tests.llm_fixtures import fast_config, make_tree
from tests.openai_server import FakeOpenAIServer, first_user_message, keyword_label

_CHILDREN = re.compile(r"^- (.+?) \(<?\d+%\)", re.MULTILINE)
_KEYWORDS = re.compile(r"^Keywords of the topic: (.+)$", re.MULTILINE)


def children_in(body: dict[str, Any]) -> list[str]:
    return _CHILDREN.findall(first_user_message(body))


def keywords_in(body: dict[str, Any]) -> list[str]:
    match = _KEYWORDS.search(first_user_message(body))
    return [k.strip() for k in match.group(1).split(",")] if match else []


def cold(body: dict[str, Any]) -> bool:
    return float(body.get("temperature", 0.0)) < 0.5


def small_model(misbehave: Callable[[dict[str, Any]], str | None]) -> Callable[[dict[str, Any]], str]:
    """The fake model's answer unless ``misbehave`` returns another one for this request."""
    return lambda body: misbehave(body) or keyword_label(body)


@pytest.fixture
def server_box() -> Iterator[list[FakeOpenAIServer]]:
    box: list[FakeOpenAIServer] = []
    yield box
    for server in box:
        server.stop()


def serve(box: list[FakeOpenAIServer], misbehave: Callable[[dict[str, Any]], str | None]) -> FakeOpenAIServer:
    server = FakeOpenAIServer(responder=small_model(misbehave)).start()
    box.append(server)
    return server


def run(tree: TopicTree, server: FakeOpenAIServer, cache_dir: Path, **options: Any) -> RunReport:
    return label_tree(tree, fast_config(server.base_url), LabelOptions(prompts=resolve_prompts(), **options), AnswerCache(cache_dir))


def test_retries_never_repeat_a_request_and_end_with_a_parent_that_does_not_join_its_children(
    server_box: list[FakeOpenAIServer], tmp_path: Path
) -> None:
    """Cold, the model joins the two largest children's names (a repeated request gets a repeated answer)."""

    def joins(body: dict[str, Any]) -> str | None:
        names = children_in(body)
        if len(names) >= 2 and cold(body):
            return json.dumps({"label": f"{names[0]} and {names[1]}", "summary": f"Reports on {names[0].lower()}."})
        return None

    server = serve(server_box, joins)
    tree = make_tree()
    report = run(tree, server, tmp_path / "cache")
    assert report.failed == 0 and report.aborted is None
    by_parent: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for body in server.chat_requests:
        if children_in(body):
            by_parent.setdefault(tuple(children_in(body)), []).append(body)
    assert len(by_parent) == 4  # three topics and the root
    for tries in by_parent.values():
        assert [t.get("temperature") for t in tries] == [0.0, 0.4, 0.8]
        sent = [json.dumps(t, sort_keys=True) for t in tries]
        assert len(set(sent)) == len(sent), "two tries of one node sent the same request"
        last = tries[-1]["messages"][-1]["content"]
        assert "(1)" in last and "(2)" in last and "joins the subtopic names" in last
    for node in tree.iter_nodes():
        children = tree.children(node.id)
        if len(children) > 1:
            words = content_words(node.label)
            assert sum(1 for c in children if content_words(c.label) <= words) < 2, node.label
            assert node.label_meta.status == "ok" and node.label_meta.extra["attempts"] == 3


def test_scaffolding_is_sent_back_and_long_summaries_are_trimmed_without_a_retry(
    server_box: list[FakeOpenAIServer], tmp_path: Path
) -> None:
    def leaks(body: dict[str, Any]) -> str | None:
        words = keywords_in(body)
        if not words:
            return None
        if "bread" in words and not body.get("temperature"):  # only the first try
            return json.dumps({"label": "Bread Baking", "summary": "This cluster contains 3 documents about bread."})
        long = f"Notes on {words[0]} and {words[1]}. " + " ".join(["More about the same subject, told at length."] * 12)
        return json.dumps({"label": f"{words[0].title()} {words[1].title()}", "summary": long})

    server = serve(server_box, leaks)
    tree = make_tree()
    report = run(tree, server, tmp_path / "cache")
    assert report.failed == 0
    bread = tree.node("1.0")
    assert bread.label_meta.extra["attempts"] == 2 and "cluster" not in bread.summary.casefold()
    for leaf in tree.leaves():
        assert len(leaf.summary) <= 300 and leaf.summary.endswith(".")
        if leaf.id != "1.0":
            assert "attempts" not in leaf.label_meta.extra  # trimmed, not failed and retried


def test_a_node_that_fails_keeps_its_previous_llm_label_and_only_it_is_retried(
    server_box: list[FakeOpenAIServer], tmp_path: Path
) -> None:
    good = serve(server_box, lambda body: None)
    tree = make_tree()
    run(tree, good, tmp_path / "cache")
    before = {n.id: (n.label, n.summary) for n in tree.iter_nodes()}
    assert tree.node("2").label_meta.labeler == "llm"

    broken = serve(server_box, lambda body: "I cannot answer that." if children_in(body) else None)
    targets = select_nodes(tree, ["2*"])
    report = run(tree, broken, tmp_path / "cache", targets=targets, force=True, refresh=True)
    assert report.failed == 1 and report.kept >= 1  # topic 2; the root's input (the label of 2) did not change
    for node_id in ("2", "root"):
        node = tree.node(node_id)
        assert (node.label, node.summary) == before[node_id], "a failed retry replaced a good LLM label"
    for node_id in ("2",):
        node = tree.node(node_id)
        meta = node.label_meta
        assert meta.labeler == "llm" and meta.status == "failed" and "not a JSON object" in (meta.error or "")
        assert meta.extra["failed_prompt"] == "label_parent@v2"
    assert select_nodes(tree, None, only_failed=True) == {"2"}


def test_relabel_only_failed_asks_exactly_the_failed_nodes_and_the_dry_run_says_so(server_box: list[FakeOpenAIServer], tmp_path: Path) -> None:
    failing = {"on": True}

    def crypto_fails(body: dict[str, Any]) -> str | None:
        return "no idea" if failing["on"] and "bitcoin" in keywords_in(body) else None

    server = serve(server_box, crypto_fails)
    env = {"OPENAI_BASE_URL": server.base_url}
    path = tmp_path / "t.json"
    save_tree(make_tree(), path)
    common = ["--cache-dir", str(tmp_path / "cache"), "--no-progress", "-m", "fake-model"]
    result = invoke(["label", str(path), *common], env)
    assert result.code == 0 and "1 failed" in result.out, result.err
    assert load_tree(path).node("2.1").label_meta.status == "failed"
    failing["on"] = False
    dry = invoke(["relabel", str(path), "--only-failed", "--dry-run", *common], env)
    assert dry.code == 0 and "dry run for 1 nodes" in dry.out and "would make about 1 calls" in dry.out, dry.out
    sent = len(server.chat_requests)
    result = invoke(["relabel", str(path), "--only-failed", *common], env)
    assert result.code == 0, result.err
    assert len(server.chat_requests) - sent == 1
    tree = load_tree(path)
    assert tree.node("2.1").label_meta.status == "ok" and tree.node("2.1").label == "Bitcoin Crypto"
    wide = invoke(["relabel", str(path), "--nodes", "2.1", "--with-ancestors", "--dry-run", "--refresh", *common], env)
    assert "dry run for 3 nodes" in wide.out  # 2.1, 2 and the root


def test_a_name_too_narrow_for_its_documents_is_sent_back_and_accepted_only_on_the_last_try(
    server_box: list[FakeOpenAIServer], tmp_path: Path
) -> None:
    def one_story(body: dict[str, Any]) -> str | None:
        if "bitcoin" in keywords_in(body):
            return json.dumps({"label": "Hardware Wallet Security", "summary": "Keeping crypto keys offline."})
        return None

    server = serve(server_box, one_story)
    tree = make_tree(injection="Crypto exchanges listed three new coins this week.")  # leaf 2.1 shows 4 documents
    report = run(tree, server, tmp_path / "cache")
    assert report.failed == 0
    leaf = tree.node("2.1")
    tries = [b for b in server.chat_requests if "bitcoin" in keywords_in(b)]
    assert len(tries) == 4 and "fits only 1 of the 4 documents" in tries[2]["messages"][-1]["content"]
    assert "candidate names" in tries[3]["messages"][-1]["content"]  # then a list is asked for (answered here with one name)
    assert leaf.label == "Hardware Wallet Security" and leaf.label_meta.status == "ok"
    assert "fits only 1 of the 4" in leaf.label_meta.extra["warning"]


def test_a_name_too_narrow_on_every_try_is_replaced_by_a_broad_one_from_a_list(server_box: list[FakeOpenAIServer], tmp_path: Path) -> None:
    def one_story(body: dict[str, Any]) -> str | None:
        if "bitcoin" in keywords_in(body) and "candidate names" in body["messages"][-1]["content"]:
            return json.dumps({"labels": ["Hardware Wallet Security", "Cryptocurrency Markets"]})
        if "bitcoin" in keywords_in(body):
            return json.dumps({"label": "Hardware Wallet Security", "summary": "Keeping crypto keys offline."})
        return None

    server = serve(server_box, one_story)
    tree = make_tree(injection="Crypto exchanges listed three new coins this week.")
    report = run(tree, server, tmp_path / "cache")
    leaf = tree.node("2.1")
    assert leaf.label == "Cryptocurrency Markets" and "warning" not in leaf.label_meta.extra
    assert leaf.label_meta.extra["name_from_candidates"] is True and report.from_candidates == 1


@pytest.mark.parametrize("parent_answer", ["Astronomy", "The Astronomy"])  # the same words count as the same label
def test_a_parent_that_keeps_a_childs_label_gets_it_and_the_child_is_renamed_apart(
    server_box: list[FakeOpenAIServer], tmp_path: Path, parent_answer: str
) -> None:
    """A small model calls the black-hole leaf "Astronomy", then rightly calls its parent "Astronomy" too."""

    def broad_child(body: dict[str, Any]) -> str | None:
        if "black" in keywords_in(body):
            return json.dumps({"label": "Astronomy", "summary": "Black holes, their jets and accretion discs."})
        if "Astronomy" in children_in(body) and "Exoplanet Transit" in children_in(body):
            return json.dumps({"label": parent_answer, "summary": "Exoplanets and black holes."})
        return None

    server = serve(server_box, broad_child)
    tree = make_tree()
    cache = tmp_path / "cache"
    report = run(tree, server, cache)
    assert report.failed == 0
    parent, child = tree.node("0"), tree.node("0.1")
    assert parent.label == parent_answer and parent.label_meta.extra["attempts"] == 3 and "copies the subtopic" in parent.label_meta.extra["warning"]
    assert child.label != "Astronomy" and child.label.startswith("Astronomy") and child.label_meta.extra["renamed_from"] == "Astronomy"
    assert any("Rename:" in first_user_message(b) or "rename" in first_user_message(b).casefold() for b in server.chat_requests)
    sent = len(server.chat_requests)
    again = run(tree, server, cache)  # the parent's input moved with its child's new name: nothing to ask
    assert len(server.chat_requests) == sent and again.kept == len(tree)
    fresh = make_tree()
    run(fresh, server, cache)  # an unlabelled copy with the warm cache ends the same, with no request
    assert len(server.chat_requests) == sent
    assert {n.id: n.label for n in fresh.iter_nodes()} == {n.id: n.label for n in tree.iter_nodes()}
