"""The labeller split: planning (which nodes, the dry run's estimate) and execution (asking until an answer passes)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from topicmap.hierarchy.labels.ask import Asker, candidate_names, feedback, retry_temperature
from topicmap.hierarchy.labels.context import Rendered
from topicmap.hierarchy.labels.label import LabelOptions, RunReport, estimate_run, label_tree, start_report
from topicmap.hierarchy.labels.plan import EST_COMPLETION_TOKENS, Estimate, affected, label_copy, planned_order
from topicmap.hierarchy.labels.validate import InvalidAnswer
from topicmap.hierarchy.llm.cache import AnswerCache
from topicmap.hierarchy.llm.client import ChatClient
from topicmap.hierarchy.llm.prompting import resolve_prompts
from topicmap.hierarchy.tree.treefile import tree_to_dict
from tests.llm_fixtures import fake_server, fast_config, make_tree  # noqa: F401 - fixture
from tests.openai_server import FakeOpenAIServer


def options(**overrides: Any) -> LabelOptions:
    return LabelOptions(prompts=resolve_prompts(["v1"]), **overrides)


def rendered(text: str = "Name this topic.") -> Rendered:
    return Rendered(messages=[{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": text}])


# -- planning ------------------------------------------------------------------------------------
def test_the_plan_visits_children_before_parents_and_only_what_the_options_select() -> None:
    tree = make_tree(chain=True)
    order = planned_order(tree, options())
    assert sorted(order) == sorted(n.id for n in tree.iter_nodes())
    for node in tree.iter_nodes():
        if node.parent is not None:
            assert order.index(node.id) < order.index(node.parent)
    assert set(planned_order(tree, options(targets=frozenset({"1.1"})))) == {"1.1", "1", "root"} == affected(tree, frozenset({"1.1"}))
    assert planned_order(tree, options(targets=frozenset({"1.1", "2"}), with_ancestors=False)) == ["1.1", "2"]


def test_an_estimate_counts_a_request_and_knows_no_answer() -> None:
    report = RunReport("m", [])
    prompt = rendered()
    outcome = asyncio.run(Estimate(report).ask(prompt, lambda text, shown: pytest.fail("an estimate validates nothing"), None))
    assert (outcome.known, outcome.calls, outcome.value) == (False, 1, None)
    assert prompt.tokens > 0
    assert (report.calls, report.prompt_tokens, report.completion_tokens, report.call_prompt_tokens) == (1, prompt.tokens, EST_COMPLETION_TOKENS, [prompt.tokens])


def test_the_dry_run_predicts_the_real_runs_requests_and_changes_nothing(fake_server: FakeOpenAIServer, tmp_path: Path) -> None:
    tree = make_tree()  # no colliding labels: every request is foreseeable
    before = json.dumps(tree_to_dict(tree), sort_keys=True, default=str)
    cache = AnswerCache(tmp_path)
    estimate = estimate_run(tree, fast_config(fake_server.base_url), options(), cache)
    assert json.dumps(tree_to_dict(tree), sort_keys=True, default=str) == before and fake_server.chat_requests == []
    assert estimate.dry_run and estimate.requests == 0 and estimate.sibling_groups_unknown == 4  # root and 3 topics wait on new labels
    real = label_tree(tree, fast_config(fake_server.base_url), options(), cache)
    assert (estimate.planned, estimate.label_calls, estimate.calls) == (real.planned, real.label_calls, real.calls) == (10, 10, 10)
    assert real.sibling_calls == 0 and not real.dry_run
    again = estimate_run(tree, fast_config(fake_server.base_url), options(), cache)
    assert (again.calls, again.kept) == (0, 10)  # everything labelled and unchanged


def test_a_label_copy_shares_documents_but_not_labels() -> None:
    tree = make_tree()
    copy = label_copy(tree)
    copy.node("1.0").label = "changed"
    copy.node("1.0").label_meta.extra.warning = "changed"
    assert tree.node("1.0").label != "changed" and "warning" not in tree.node("1.0").label_meta.extra
    assert copy.documents is tree.documents


# -- execution -----------------------------------------------------------------------------------
def test_the_asker_retries_with_every_rejection_shown_and_counts_each_answer(fake_server: FakeOpenAIServer) -> None:
    fake_server.responder = lambda body: json.dumps({"label": f"Try {len(fake_server.chat_requests)}", "summary": "s"})
    seen: list[str] = []

    def validate(text: str, shown: Rendered) -> str:
        label = json.loads(text)["label"]
        seen.append(label)
        if label != "Try 3":
            raise InvalidAnswer(f"{label!r} is not it")
        return label

    async def go() -> tuple[Any, RunReport]:
        report = start_report(fast_config(fake_server.base_url), options())
        async with ChatClient(fast_config(fake_server.base_url, temperature=0.0)) as client:
            return await Asker(client, options(), report).ask(rendered(), validate, None), report

    outcome, report = asyncio.run(go())
    assert outcome.value == "Try 3" and outcome.calls == 3 and seen == ["Try 1", "Try 2", "Try 3"]
    assert report.calls == 3 and report.call_prompt_tokens and len(report.call_prompt_tokens) == 3
    last = fake_server.chat_requests[-1]
    assert [m["content"] for m in last["messages"] if m["role"] == "assistant"] == [json.dumps({"label": "Try 1", "summary": "s"}), json.dumps({"label": "Try 2", "summary": "s"})]
    assert "(1) 'Try 1' is not it; (2) 'Try 2' is not it" in last["messages"][-1]["content"]
    assert [r.get("temperature") for r in fake_server.chat_requests] == [0.0, 0.4, 0.8]


def test_the_asker_gives_up_after_max_attempts_with_the_reason(fake_server: FakeOpenAIServer) -> None:
    def never(text: str, shown: Rendered) -> str:
        raise InvalidAnswer("never good enough")

    async def go() -> Any:
        report = start_report(fast_config(fake_server.base_url), options())
        async with ChatClient(fast_config(fake_server.base_url)) as client:
            return await Asker(client, options(max_attempts=2), report).ask(rendered(), never, None)

    outcome = asyncio.run(go())
    assert outcome.value is None and outcome.calls == 2 and outcome.error == "invalid answer after 2 tries: never good enough"


def test_the_retry_helpers() -> None:
    assert [retry_temperature(0.0, a) for a in range(4)] == [None, 0.4, 0.8, 1.0]
    assert retry_temperature(0.9, 1) == 1.0 and retry_temperature(0.2, 1) == 0.6
    messages = feedback([("a", "too long"), ("b", "too vague")])
    assert [m["role"] for m in messages] == ["assistant", "user", "assistant", "user"]
    assert candidate_names('{"labels": [" One ", 2, "", "Two"]}') == ["One", "Two"] and candidate_names("no json") == []
