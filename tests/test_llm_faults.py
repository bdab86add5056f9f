"""A hostile chat server, a damaged answer cache and bad settings: failures are counted, reported, never tracebacks.

Everything goes through the real ``openai`` client against the scripted server on 127.0.0.1, and the
command line through its real entry point (``invoke_cli``) where the one-line error is the point.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest

from topicmap.hierarchy.base.errors import InputError, TopicmapError
from topicmap.hierarchy.labels.label import LabelOptions, RunReport, label_tree
from topicmap.hierarchy.llm.client import ChatClient, ChatResult, LLMConfig, LLMServerError, LLMSettingError
from topicmap.hierarchy.llm.cache import AnswerCache
from topicmap.hierarchy.llm.settings import resolve_settings
from topicmap.hierarchy.quality.navigate import LabellerChat, LLMNavigator, navigate, sample_targets
from topicmap.hierarchy.llm.prompting import resolve_prompts
from topicmap.hierarchy.tree.treefile import save_tree
from tests.cli_helpers import assert_clean_error, invoke_cli
from tests.eval_fixtures import HashEmbedder, hand_tree, hash_tree
from tests.llm_fixtures import fake_server, fast_config, make_tree  # noqa: F401 - fixture
from tests.openai_server import Fault, FakeOpenAIServer, first_user_message
from tests.test_label_cli import invoke

MESSAGES = [{"role": "system", "content": "Answer JSON."}, {"role": "user", "content": "Keywords: bread, dough, oven"}]
GOOD_CONTENT = json.dumps({"label": "Bread Baking", "summary": "Documents about bread."})

MALFORMED_ENVELOPES: dict[str, tuple[Any, str]] = {
    "empty choice": ({"choices": [{}]}, '"choices[0].message" is missing'),
    "null message": ({"choices": [{"message": None}]}, '"choices[0].message" is missing'),
    "choices is a string": ({"choices": "abc"}, '"choices" is "abc"'),
    "no choices": ({"choices": []}, '"choices" is an empty array'),
    "numeric content": ({"choices": [{"message": {"role": "assistant", "content": 123}}]}, '"choices[0].message.content" is 123'),
    "usage in words": (
        {"choices": [{"message": {"content": GOOD_CONTENT}}], "usage": {"prompt_tokens": "many", "completion_tokens": 3}},
        '"usage.prompt_tokens" is "many"',
    ),
    "negative usage": ({"choices": [{"message": {"content": GOOD_CONTENT}}], "usage": {"prompt_tokens": 5, "completion_tokens": -1}}, "usage.completion_tokens"),
    "usage is a string": ({"choices": [{"message": {"content": GOOD_CONTENT}}], "usage": "lots"}, '"usage" is "lots"'),
    "array body": ([{"choices": []}], "the body is a JSON array"),
    "html body": (b"<html>502 Bad Gateway</html>", "the body is not JSON"),
}


def run_label(tree: Any, config: LLMConfig, cache: AnswerCache) -> RunReport:
    """A label run with the v1 prompts, whose text names the node (as in test_label_run)."""
    return label_tree(tree, config, LabelOptions(prompts=resolve_prompts(["v1"])), cache)


def complete_all(config: LLMConfig, calls: int) -> tuple[list[ChatResult | BaseException], ChatClient]:
    async def go() -> tuple[list[ChatResult | BaseException], ChatClient]:
        async with ChatClient(config) as client:
            results = await asyncio.gather(*(client.complete(MESSAGES) for _ in range(calls)), return_exceptions=True)
            return list(results), client

    return asyncio.run(go())


# -- 6: malformed chat-completion envelopes ------------------------------------------------------
@pytest.mark.parametrize(("body", "reason"), MALFORMED_ENVELOPES.values(), ids=MALFORMED_ENVELOPES.keys())
def test_a_malformed_envelope_is_a_retried_and_counted_failure(fake_server: FakeOpenAIServer, body: Any, reason: str) -> None:
    fake_server.script(*[Fault("envelope", body=body)] * 3)
    (outcome,), client = complete_all(fast_config(fake_server.base_url, max_retries=2), 1)
    assert isinstance(outcome, LLMServerError) and not outcome.fatal, outcome
    assert "malformed response" in str(outcome) and reason in str(outcome) and "3 tries" in str(outcome)
    assert len(fake_server.chat_requests) == 3 and client.stats.errors == {"bad_response": 3} and client.stats.retries == 2


def test_a_malformed_envelope_then_a_good_one_is_an_answer(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(Fault("envelope", body={"choices": [{"message": None}]}))
    (result,), client = complete_all(fast_config(fake_server.base_url), 1)
    assert isinstance(result, ChatResult) and json.loads(result.text)["label"] == "Bread Dough" and result.attempts == 2
    assert client.stats.errors == {"bad_response": 1}


def test_label_records_a_malformed_envelope_as_the_nodes_failure(fake_server: FakeOpenAIServer, tmp_path: Path) -> None:
    broken = {"choices": [{"message": {"role": "assistant", "content": 123}}]}
    fake_server.fault_for = lambda body: Fault("envelope", body=broken) if "Cluster 0.0 holds" in first_user_message(body) else None
    tree = make_tree()
    report = run_label(tree, fast_config(fake_server.base_url, max_retries=2), AnswerCache(tmp_path / "cache"))
    assert report.aborted is None and report.failed == 1 and report.labelled == 9
    meta = tree.node("0.0").label_meta
    assert meta.status == "failed" and "malformed response" in meta.error and '"choices[0].message.content" is 123' in meta.error
    assert tree.node("0.0").label == "exoplanet, transit, orbit"  # the keyword label stays
    asked = [r for r in fake_server.chat_requests if "Cluster 0.0 holds" in first_user_message(r)]
    assert len(asked) == 3  # the first try and two retries


def test_llm_navigator_counts_a_malformed_envelope_as_a_miss() -> None:
    tree = hand_tree()
    targets = sample_targets(tree, 8)

    def fault(body: dict[str, Any]) -> Fault | None:
        return Fault("envelope", body={"choices": "abc"}) if "doc 0.0 0\n</document>" in body["messages"][-1]["content"] else None

    config = LLMConfig(model="m", max_retries=1, backoff_base=0.01, backoff_max=0.01, concurrency=2)
    with FakeOpenAIServer(responder=lambda body: '{"choice": 1}', fault_for=fault) as server:
        scores, results = navigate(tree, LLMNavigator(LabellerChat(LLMConfig(base_url=server.base_url, **_fields(config)))), targets)
    missed = {r.doc_id: r for r in results}["0.0-0"]
    assert missed.predicted_path == [] and missed.invalid_answer is not None
    assert "malformed response" in missed.invalid_answer and '"choices" is "abc"' in missed.invalid_answer
    assert scores.invalid_answers == 1 and scores.sample == 8


def _fields(config: LLMConfig) -> dict[str, Any]:
    return {k: v for k, v in vars(config).items() if k != "base_url"}


# -- 16: Retry-After pauses every request ---------------------------------------------------------
def test_retry_after_pauses_every_request_to_the_server(fake_server: FakeOpenAIServer) -> None:
    """The server's arrival log: after the 429, only requests already on their way arrive within its second."""
    concurrency = 4
    fake_server.script(Fault("status", status=429, retry_after="1"))
    fake_server.fault_for = lambda body: Fault("slow", delay=0.3)  # the others finish (and free a slot) during the pause
    results, client = complete_all(fast_config(fake_server.base_url, concurrency=concurrency, retry_after_max=5.0), 8)
    assert all(isinstance(r, ChatResult) for r in results), results
    arrived = list(fake_server.arrived_at)
    assert len(arrived) == 9 and client.stats.errors == {"429": 1}
    resume = arrived[0] + 1.0  # the 429 was the first request to arrive; the client learnt of it later still
    during_pause = [t for t in arrived[1:] if t < resume]
    assert len(during_pause) <= concurrency - 1, [round(t - arrived[0], 3) for t in arrived]


# -- 17: the LLM navigator stops when the server keeps failing --------------------------------------
def test_evaluate_llm_navigator_stops_and_fails_when_every_request_fails(tmp_path: Path, topic_corpus: tuple[Path, Path]) -> None:
    docs, _ = topic_corpus
    tree_file = tmp_path / "t.json"
    save_tree(hash_tree(docs, HashEmbedder()), tree_file)
    config = tmp_path / "llm.toml"
    config.write_text("[llm]\nmax_retries = 0\ntimeout = 5\n", "utf-8")
    with FakeOpenAIServer(fault_for=lambda body: Fault("status", status=500)) as server:
        env = {"OPENAI_BASE_URL": server.base_url, "TOPICMAP_CONFIG": str(config)}
        result = invoke_cli("evaluate", str(tree_file), "--navigator", "llm", "--model", "fake", "--sample", "40", "--no-cache", cwd=tmp_path, env=env)
        sent = len(server.chat_requests)
    assert_clean_error(result, "8 requests in a row failed", "HTTP 500")
    assert "exact leaf" not in result.stdout
    assert 8 <= sent < 40  # stopped after the streak (plus what was in flight), not one failure per target


def test_one_failing_target_is_a_miss_but_a_streak_stops_the_navigation() -> None:
    tree = hand_tree()
    targets = sample_targets(tree, 8)
    config = dict(model="m", max_retries=0, backoff_base=0.01, backoff_max=0.01, concurrency=1, max_consecutive_failures=3)
    with FakeOpenAIServer(responder=lambda body: '{"choice": 1}', fault_for=lambda body: Fault("status", status=503)) as server:
        with pytest.raises(TopicmapError, match="3 requests in a row failed"):
            navigate(tree, LLMNavigator(LabellerChat(LLMConfig(base_url=server.base_url, **config))), targets)  # type: ignore[arg-type]
        assert len(server.chat_requests) == 3


# -- 10: a damaged answer cache is a miss, re-validated like a fresh answer --------------------------
IMG_LABEL = "<img src=x onerror=alert(1)>" + "A" * 3000

CORRUPTIONS: dict[str, bytes] = {
    "answer without a label": json.dumps({"answer": {"summary": "x"}, "prompt_tokens": 1, "completion_tokens": 1}).encode(),
    "answer without token counts": json.dumps({"answer": {"summary": "x"}}).encode(),
    "a 3,028-character img label": json.dumps({"answer": {"label": IMG_LABEL, "summary": "Fine."}, "prompt_tokens": 1, "completion_tokens": 1}).encode(),
    "wrong types": json.dumps({"answer": "Bread", "prompt_tokens": "many", "completion_tokens": None}).encode(),
    "label of the wrong type": json.dumps({"answer": {"label": ["A", "B"], "labels": [1], "summary": 5}, "prompt_tokens": 1, "completion_tokens": 1}).encode(),
    "boolean token counts": json.dumps({"answer": {"label": "Bread Baking", "summary": "S."}, "prompt_tokens": True, "completion_tokens": 1}).encode(),
    "not JSON": b"\x00\xff not json at all",
    "truncated": b'{"answer": {"label": "Bre',
    "a JSON array": b"[1, 2, 3]",
}


@pytest.mark.parametrize("content", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_damaged_answer_cache_entry_is_asked_again_and_overwritten(
    fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    cache_dir = tmp_path / "cache"
    first = make_tree(collide=True)
    run_label(first, fast_config(fake_server.base_url), AnswerCache(cache_dir))
    entries = sorted(cache_dir.rglob("*.json"))
    assert len(entries) == 11  # 10 labels and one sibling pass
    for entry in entries:
        entry.write_bytes(content)
    sent = len(fake_server.chat_requests)
    capsys.readouterr()

    again = make_tree(collide=True)
    report = run_label(again, fast_config(fake_server.base_url), AnswerCache(cache_dir))
    assert report.failed == 0 and report.cache_hits == 0 and len(fake_server.chat_requests) - sent == 11
    assert {n.id: n.label for n in again.iter_nodes()} == {n.id: n.label for n in first.iter_nodes()}
    assert all("<img" not in n.label and len(n.label) < 100 for n in again.iter_nodes())
    err = capsys.readouterr().err
    assert err.count("warning: ignoring the LLM cache entry") == 11 and "asking again" in err
    assert all(entry.read_bytes() != content for entry in entries)  # overwritten with the fresh answers
    third = make_tree(collide=True)
    report = run_label(third, fast_config(fake_server.base_url), AnswerCache(cache_dir))
    assert report.cache_hits == 11 and report.requests == 0


# -- 5: an unwritable cache directory stops the run before the first request ------------------------
def test_unwritable_cache_dir_is_an_error_before_any_request(tmp_path: Path, fake_server: FakeOpenAIServer) -> None:
    tree_file = tmp_path / "tree.json"
    save_tree(make_tree(), tree_file)
    before = tree_file.read_bytes()
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should go", "utf-8")
    args = [str(tree_file), "-m", "fake-model", "--cache-dir", str(blocker / "cache"), "--no-progress"]
    env = {"OPENAI_BASE_URL": fake_server.base_url}
    assert_clean_error(invoke_cli("label", *args, cwd=tmp_path, env=env), "cannot write the cache directory", str(blocker / "cache"), "--no-cache")
    relabel = invoke(["relabel", *args, "--nodes", "0.1"], env)
    assert relabel.code == 2 and "cannot write the cache directory" in relabel.err
    assert fake_server.chat_requests == [] and tree_file.read_bytes() == before
    assert invoke(["label", *args, "--no-cache"], env).code == 0  # the way out the message names


def test_unwritable_cache_dir_stops_evaluate_with_the_llm_navigator(tmp_path: Path) -> None:
    tree_file = tmp_path / "t.json"
    save_tree(hand_tree(), tree_file)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", "utf-8")
    with FakeOpenAIServer(responder=lambda body: '{"choice": 1}') as server:
        result = invoke_cli("evaluate", str(tree_file), "--navigator", "llm", "--model", "fake", "--sample", "4", "--cache-dir", str(blocker),
                            cwd=tmp_path, env={"OPENAI_BASE_URL": server.base_url})
        assert_clean_error(result, "cannot write the cache directory")
        assert server.chat_requests == []


# -- 11: settings are checked before any request ---------------------------------------------------
BAD_SETTINGS: dict[str, tuple[dict[str, Any], dict[str, str], str]] = {
    "timeout 0": ({"timeout": 0.0}, {}, "--timeout 0: must be greater than 0"),
    "timeout -5": ({"timeout": -5.0}, {}, "--timeout -5: must be greater than 0"),
    "timeout inf": ({"timeout": math.inf}, {}, "--timeout inf: must be a finite number"),
    "temperature nan": ({"temperature": math.nan}, {}, "--temperature nan: must be a finite number"),
    "temperature inf": ({"temperature": math.inf}, {}, "--temperature inf: must be a finite number"),
    "temperature -1": ({"temperature": -1.0}, {}, "--temperature -1: must be between 0 and 2"),
    "temperature 2.5": ({"temperature": 2.5}, {}, "--temperature 2.5: must be between 0 and 2"),
    "concurrency 0": ({"concurrency": 0}, {}, "--concurrency 0: must be at least 1"),
    "max retries -1": ({"max_retries": -1}, {}, "--max-retries -1: must be at least 0"),
    "max prompt tokens 10": ({"max_prompt_tokens": 10}, {}, "--max-prompt-tokens 10: must be at least 500"),
    "port 99999": ({}, {"OPENAI_BASE_URL": "http://127.0.0.1:99999/v1"}, "OPENAI_BASE_URL 'http://127.0.0.1:99999/v1': is not a valid URL"),
    "port 0": ({}, {"OPENAI_BASE_URL": "http://127.0.0.1:0/v1"}, "has port 0, which must be between 1 and 65535"),
    "port not a number": ({"base_url": "http://127.0.0.1:eighty/v1"}, {}, "--base-url 'http://127.0.0.1:eighty/v1': is not a valid URL"),
    "no scheme": ({"base_url": "localhost:11434/v1"}, {}, "--base-url 'localhost:11434/v1': must start with http:// or https://"),
    "ftp": ({}, {"OPENAI_BASE_URL": "ftp://example.org/v1"}, "must start with http:// or https://"),
    "no host": ({"base_url": "http:///v1"}, {}, "has no host name"),
    "a space": ({"base_url": "http://local host/v1"}, {}, "must be a URL without spaces"),
}


@pytest.mark.parametrize(("cli", "env", "message"), BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_bad_settings_are_one_error_naming_the_option(cli: dict[str, Any], env: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as info:
        resolve_settings(cli, env)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_settings_in_a_config_file_name_the_file(tmp_path: Path) -> None:
    config = tmp_path / "llm.toml"
    config.write_text('[llm]\ntimeout = "soon"\n', "utf-8")
    with pytest.raises(InputError, match=r"timeout in .*llm\.toml 'soon': must be a number"):
        resolve_settings({}, {}, config)
    config.write_text("[llm]\nconcurrency = 2.5\n", "utf-8")
    with pytest.raises(InputError, match=r"concurrency in .*llm\.toml 2\.5: must be a whole number"):
        resolve_settings({}, {}, config)
    config.write_text("[llm]\ntemperature = 9\n", "utf-8")
    with pytest.raises(InputError, match=r"temperature in .*llm\.toml 9: must be between 0 and 2"):
        resolve_settings({}, {}, config)


def test_llm_config_refuses_bad_values_itself() -> None:
    """Library callers get the same checks as the command line, before any request."""
    with pytest.raises(LLMSettingError, match="timeout 0: must be greater than 0"):
        LLMConfig(model="m", timeout=0)
    with pytest.raises(LLMSettingError, match="base_url"):
        LLMConfig(model="m", base_url="http://127.0.0.1:99999/v1")
    with pytest.raises(LLMSettingError, match="max_consecutive_failures"):
        LLMConfig(model="m", max_consecutive_failures=0)


def test_bad_settings_on_the_command_line_send_nothing(tmp_path: Path, fake_server: FakeOpenAIServer) -> None:
    tree_file = tmp_path / "tree.json"
    save_tree(make_tree(), tree_file)
    args = ["label", str(tree_file), "-m", "fake-model", "--no-progress", "--cache-dir", str(tmp_path / "cache")]
    env = {"OPENAI_BASE_URL": fake_server.base_url}
    bad_port = invoke_cli(*args, cwd=tmp_path, env={"OPENAI_BASE_URL": "http://127.0.0.1:99999/v1"})
    assert_clean_error(bad_port, "OPENAI_BASE_URL 'http://127.0.0.1:99999/v1': is not a valid URL")
    for flags, fragment in [
        (["--timeout", "0"], "--timeout 0: must be greater than 0"),
        (["--timeout", "-5"], "--timeout -5: must be greater than 0"),
        (["--temperature", "nan"], "--temperature nan: must be a finite number"),
        (["--concurrency", "0"], "--concurrency 0: must be at least 1"),
    ]:
        result = invoke([*args, *flags], env)
        assert result.code == 2 and fragment in result.err, (flags, result)
    assert fake_server.chat_requests == []
