"""Names that read closer to a sibling's documents than to their own are sent back while labelling.

The scripted model first names the exoplanet leaf "Space Science", a name that (in the fake embedding
space below) sits nearer the black-hole sibling's documents; the check states that and the next try
must do better. The real client runs over HTTP against the fake server on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from topicmap.hierarchy.quality.evaluate import label_fidelity
from topicmap.hierarchy.labels.label import LabelOptions, RunReport, label_tree
from topicmap.hierarchy.labels.fidelity import FidelityCheck, fidelity_check_for
from topicmap.hierarchy.llm.cache import AnswerCache
from topicmap.hierarchy.llm.prompting import resolve_prompts
from topicmap.hierarchy.tree.topic_tree import TopicTree
from tests.llm_fixtures import fast_config, make_tree
from tests.openai_server import FakeOpenAIServer, first_user_message, keyword_label

# A 3-d toy space: axis 0 is the exoplanet leaf's documents, axis 1 the black-hole leaf's, axis 2 the rest.
NAMES = {
    "space science": (0.3, 0.9, 0.0),  # reads like the black-hole leaf
    "space physics": (0.6, 0.8, 0.0),  # still closer to it, by less
}


def toy_embed(texts: list[str]) -> np.ndarray:
    rows = []
    for text in texts:
        lowered = text.casefold()
        if lowered in NAMES:
            row = NAMES[lowered]
        elif "exoplanet" in lowered:
            row = (1.0, 0.1, 0.0)
        elif "black" in lowered:
            row = (0.1, 1.0, 0.0)
        else:
            row = (0.0, 0.0, 1.0)
        rows.append(row)
    vectors = np.asarray(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def space_tree() -> TopicTree:
    tree = make_tree()
    tree.node("0.0").centroid = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    tree.node("0.1").centroid = np.array([0.0, 1.0, 0.0], dtype=np.float32)
    return tree


def exoplanet_prompt(body: dict[str, Any]) -> bool:
    return "Keywords of the topic: exoplanet" in first_user_message(body)


@pytest.fixture
def servers() -> Iterator[list[FakeOpenAIServer]]:
    box: list[FakeOpenAIServer] = []
    yield box
    for server in box:
        server.stop()


def serve(box: list[FakeOpenAIServer], names_by_try: list[str]) -> FakeOpenAIServer:
    """The exoplanet leaf is named ``names_by_try[k]`` on try k (told apart by temperature); the rest by keywords."""

    def answer(body: dict[str, Any]) -> str:
        if exoplanet_prompt(body):
            attempt = round(float(body.get("temperature") or 0.0) / 0.4)
            name = names_by_try[min(attempt, len(names_by_try) - 1)]
            return json.dumps({"label": name, "summary": "Reports on planets found around other stars."})
        return keyword_label(body)

    server = FakeOpenAIServer(responder=answer).start()
    box.append(server)
    return server


def run(tree: TopicTree, server: FakeOpenAIServer, cache: Path, check: FidelityCheck | None) -> RunReport:
    options = LabelOptions(prompts=resolve_prompts(), fidelity=check)
    return label_tree(tree, fast_config(server.base_url), options, AnswerCache(cache))


def test_a_name_closer_to_a_sibling_is_sent_back_with_the_reason_and_the_next_try_is_kept(servers: list[FakeOpenAIServer], tmp_path: Path) -> None:
    server = serve(servers, ["Space Science", "Exoplanet Transits"])
    tree = space_tree()
    report = run(tree, server, tmp_path / "cache", FidelityCheck(toy_embed, "toy"))
    tries = [body for body in server.chat_requests if exoplanet_prompt(body)]
    assert len(tries) == 2
    feedback = tries[1]["messages"][-1]["content"]
    assert "'Space Science' reads closer to a neighbouring topic (about black, hole, accretion, jet)" in feedback
    assert "their keywords: exoplanet, transit, orbit, star" in feedback
    leaf = tree.node("0.0")
    assert leaf.label == "Exoplanet Transits" and leaf.label_meta.status == "ok" and "warning" not in leaf.label_meta.extra
    assert report.unfaithful == 0 and report.failed == 0
    assert label_fidelity(tree, {n.id: toy_embed([n.label])[0] for n in tree.iter_nodes()}).misses == []


def test_without_the_check_the_first_name_stands_and_evaluation_counts_it_as_a_miss(servers: list[FakeOpenAIServer], tmp_path: Path) -> None:
    server = serve(servers, ["Space Science", "Exoplanet Transits"])
    tree = space_tree()
    run(tree, server, tmp_path / "cache", None)
    assert tree.node("0.0").label == "Space Science"
    fidelity = label_fidelity(tree, {n.id: toy_embed([n.label])[0] for n in tree.iter_nodes()})
    assert [m.node for m in fidelity.misses] == ["0.0"]


def test_when_every_try_reads_closer_to_a_sibling_the_least_bad_name_is_kept_with_a_warning(servers: list[FakeOpenAIServer], tmp_path: Path) -> None:
    server = serve(servers, ["Space Science", "Space Physics", "Space Science"])
    tree = space_tree()
    report = run(tree, server, tmp_path / "cache", FidelityCheck(toy_embed, "toy"))
    tries = [b for b in server.chat_requests if exoplanet_prompt(b)]
    assert len(tries) == 4  # three tries, then one request for a list of names, answered here with one name again
    assert "list 5 different candidate names" in tries[3]["messages"][-1]["content"]
    leaf = tree.node("0.0")
    assert leaf.label == "Space Physics"  # margin 0.6 - 0.8 beats 0.3 - 0.9, though the last try said "Space Science"
    assert leaf.label_meta.status == "ok" and "reads closer to a neighbouring topic" in leaf.label_meta.extra["warning"]
    assert "name_from_candidates" not in leaf.label_meta.extra
    assert report.unfaithful == 1 and report.failed == 0 and report.candidate_calls == 1 and report.from_candidates == 0


def serve_with_candidates(box: list[FakeOpenAIServer], names_by_try: list[str], candidates: list[str]) -> FakeOpenAIServer:
    """Like :func:`serve`, and a request for a list of names gets ``candidates``."""

    def answer(body: dict[str, Any]) -> str:
        if exoplanet_prompt(body) and "candidate names" in body["messages"][-1]["content"]:
            return json.dumps({"labels": candidates})
        if exoplanet_prompt(body):
            attempt = round(float(body.get("temperature") or 0.0) / 0.4)
            name = names_by_try[min(attempt, len(names_by_try) - 1)]
            return json.dumps({"label": name, "summary": f"Reports on planets found around other stars ({attempt})."})
        return keyword_label(body)

    server = FakeOpenAIServer(responder=answer).start()
    box.append(server)
    return server


def test_after_every_try_fails_the_first_faithful_name_from_a_list_is_taken(servers: list[FakeOpenAIServer], tmp_path: Path) -> None:
    server = serve_with_candidates(servers, ["Space Science", "Space Physics", "Space Science"], ["Space Science", "Exoplanet Surveys", "Exoplanet Transits"])
    tree = space_tree()
    report = run(tree, server, tmp_path / "cache", FidelityCheck(toy_embed, "toy"))
    leaf = tree.node("0.0")
    assert leaf.label == "Exoplanet Surveys"  # "Space Science", listed first, is still rejected
    assert leaf.label_meta.extra["name_from_candidates"] is True and "warning" not in leaf.label_meta.extra
    assert leaf.summary == "Reports on planets found around other stars (1)."  # the summary of the best try (Space Physics)
    assert report.unfaithful == 0 and report.candidate_calls == 1 and report.from_candidates == 1
    again = space_tree()
    before = len(server.chat_requests)
    rerun = run(again, server, tmp_path / "cache", FidelityCheck(toy_embed, "toy"))
    assert len(server.chat_requests) == before and rerun.cache_hits > 0  # the picked name is cached like any answer
    assert again.node("0.0").label == "Exoplanet Surveys"


def test_a_cached_name_that_breaks_the_check_is_asked_again_unless_it_was_the_best_of_its_tries(servers: list[FakeOpenAIServer], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = serve(servers, ["Space Science", "Exoplanet Transits"])
    run(space_tree(), first, cache, None)  # cached without the check: "Space Science"

    second = serve(servers, ["Space Science", "Exoplanet Transits"])
    tree = space_tree()
    report = run(tree, second, cache, FidelityCheck(toy_embed, "toy"))
    assert len([b for b in second.chat_requests if exoplanet_prompt(b)]) == 2  # asked again, the rule fed back
    assert tree.node("0.0").label == "Exoplanet Transits" and report.unfaithful == 0

    stubborn = tmp_path / "stubborn"
    third = serve(servers, ["Space Science"])
    run(space_tree(), third, stubborn, FidelityCheck(toy_embed, "toy"))  # every try and the list fail: kept, marked
    fourth = serve(servers, ["Exoplanet Transits"])
    kept = space_tree()
    run(kept, fourth, stubborn, FidelityCheck(toy_embed, "toy"))
    assert fourth.chat_requests == []  # the best of a full set of tries is not asked for again
    assert kept.node("0.0").label == "Space Science" and "reads closer" in kept.node("0.0").label_meta.extra["warning"]


def test_the_check_is_off_when_asked_and_explains_why_it_cannot_run() -> None:
    tree = make_tree()
    assert fidelity_check_for(tree, False) == (None, "off (--no-check-fidelity)")
    check, note = fidelity_check_for(tree, None)  # no embedder recorded in the manifest: nothing to embed names with
    assert check is None and note.startswith("not checked: ")
    from topicmap.hierarchy.base.errors import TopicmapError

    with pytest.raises(TopicmapError, match="--check-fidelity needs the tree's embedder"):
        fidelity_check_for(tree, True)


def test_a_minilm_tree_is_checked_with_minilm_by_default(papers_paths: tuple[Path, Path]) -> None:
    from topicmap.hierarchy.inputs.documents import read_documents
    from tests.eval_fixtures import build

    docs, vectors = papers_paths
    tree = build(read_documents(docs), np.load(vectors), embedder_name="sentence-transformers/all-MiniLM-L6-v2")
    check, note = fidelity_check_for(tree, None)
    assert check is not None and note == "checked with sentence-transformers/all-MiniLM-L6-v2"
    node = next(n for n in tree.iter_nodes() if n.depth == 1)
    own = check.embed([" ".join(node.keywords[:3])])[0]
    assert own.shape == node.centroid.shape and abs(float(np.linalg.norm(own)) - 1.0) < 1e-4
