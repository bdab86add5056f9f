"""``topicmap label`` / ``relabel`` end to end: flags, environment, config file, messages, exit codes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from topicmap.hierarchy.cli import label as cli_label
from topicmap.hierarchy.base.errors import TopicmapError
from topicmap.hierarchy.tree.treefile import load_tree, save_tree
from tests.llm_fixtures import fake_server, make_tree  # noqa: F401 - fixture
from tests.openai_server import Fault, FakeOpenAIServer

CLEAN_ENV = {"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None, "TOPICMAP_MODEL": None, "TOPICMAP_CONFIG": None}


@dataclass
class Result:
    code: int
    out: str
    err: str


def invoke(args: list[str], env: dict[str, str | None] | None = None) -> Result:
    """Run the commands as ``topicmap`` does: a TopicmapError prints one line and exits 2."""
    app = typer.Typer()
    cli_label.register(app)
    result = CliRunner().invoke(app, args, env={**CLEAN_ENV, **(env or {})})
    if isinstance(result.exception, TopicmapError):
        return Result(2, result.stdout, f"error: {result.exception}")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def tree_file(tmp_path: Path) -> Path:
    path = tmp_path / "tree.json"
    save_tree(make_tree(collide=True), path)
    return path


def common(tmp_path: Path) -> list[str]:
    return ["--cache-dir", str(tmp_path / "cache"), "--no-progress", "--timeout", "2"]


def test_no_llm_configured_keeps_keyword_labels_and_says_so(tree_file: Path, tmp_path: Path) -> None:
    before = tree_file.read_bytes()
    result = invoke(["label", str(tree_file), *common(tmp_path)])
    assert result.code == 0 and "keeps its keyword labels" in result.out and "OPENAI_BASE_URL" in result.out
    assert tree_file.read_bytes() == before
    out = tmp_path / "copy.json"
    result = invoke(["label", str(tree_file), "-o", str(out), *common(tmp_path)])
    assert result.code == 0 and load_tree(out).node("0.0").label == "exoplanet, transit, orbit"


def test_label_in_place_then_again_with_zero_requests(tree_file: Path, tmp_path: Path, fake_server: FakeOpenAIServer) -> None:
    env = {"OPENAI_BASE_URL": fake_server.base_url}
    result = invoke(["label", str(tree_file), "-m", "fake-model", *common(tmp_path)], env)
    assert result.code == 0, result.err
    assert "label run over 10 nodes with fake-model" in result.out and "label_leaf@v2" in result.out and f"wrote {tree_file}" in result.out
    tree = load_tree(tree_file)
    assert all(n.label_meta.labeler == "llm" for n in tree.iter_nodes())
    record = tree.manifest["labelling"]
    assert record["model"] == "fake-model" and record["calls"] == 11 and record["prompt_tokens"] > 0 and "estimated_cost_usd" not in record
    assert "names against their siblings' documents: not checked: the tree was built from precomputed embeddings" in result.out
    assert record["fidelity_check"].startswith("not checked: ") and record["unfaithful"] == 0
    sent = len(fake_server.chat_requests)
    result = invoke(["label", str(tree_file), "-m", "fake-model", *common(tmp_path)], env)
    assert result.code == 0 and "0 HTTP requests" in result.out and len(fake_server.chat_requests) == sent
    # an unlabelled copy with the warm cache: zero requests too
    fresh = tmp_path / "fresh.json"
    save_tree(make_tree(collide=True), fresh)
    result = invoke(["label", str(fresh), "-o", str(tmp_path / "out.json"), "-m", "fake-model", *common(tmp_path)], env)
    assert "0 HTTP requests" in result.out and "answers from the cache" in result.out and len(fake_server.chat_requests) == sent


def test_check_fidelity_asked_for_a_tree_without_an_embedder_is_a_clear_error(tree_file: Path, tmp_path: Path, fake_server: FakeOpenAIServer) -> None:
    before = tree_file.read_bytes()
    result = invoke(["label", str(tree_file), "-m", "fake-model", "--check-fidelity", *common(tmp_path)], {"OPENAI_BASE_URL": fake_server.base_url})
    assert result.code == 2 and "--check-fidelity needs the tree's embedder" in result.err and "--embedder" in result.err
    assert fake_server.chat_requests == [] and tree_file.read_bytes() == before


def test_dry_run_estimates_without_sending(tree_file: Path, tmp_path: Path, fake_server: FakeOpenAIServer) -> None:
    before = tree_file.read_bytes()
    result = invoke(["label", str(tree_file), "--dry-run", "--base-url", fake_server.base_url, *common(tmp_path)])
    assert result.code == 0 and "nothing was sent" in result.out
    assert "would make about 10 calls" in result.out and "estimated cost $" in result.out  # default model gpt-4o-mini
    assert fake_server.chat_requests == [] and tree_file.read_bytes() == before
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."my-local"]\ninput = 1000\noutput = 0\n', "utf-8")
    result = invoke(["label", str(tree_file), "--dry-run", "-m", "my-local", "--prices", str(prices), *common(tmp_path)])
    assert "estimated cost $" in result.out and "no OPENAI_API_KEY or OPENAI_BASE_URL" in result.out
    result = invoke(["label", str(tree_file), "--dry-run", "-m", "unknown-model", *common(tmp_path)])
    assert "no price known for unknown-model" in result.out



def test_dry_run_of_two_thousand_leaves_counts_every_node(tmp_path: Path) -> None:
    """The new default trees have thousands of nodes: the estimate covers each of them (speed is not asserted here)."""
    from topicmap.viz.synthetic import synthetic_tree

    path = tmp_path / "many.json"
    tree = synthetic_tree(n_docs=2_500, schedule=(8, 7, 7, 5), seed=1)  # 2,417 nodes, 1,960 leaves (few documents: reading them back is slow)
    save_tree(tree, path)
    result = invoke(["label", str(path), "--dry-run", "-m", "gpt-4o-mini", *common(tmp_path)])
    assert result.code == 0, result.err
    assert f"dry run for {len(tree):,} nodes" in result.out and f"would make about {len(tree):,} calls" in result.out
    assert "estimated cost $" in result.out and "nothing was sent" in result.out

def test_relabel_only_failed_and_bad_node_ids(tree_file: Path, tmp_path: Path, fake_server: FakeOpenAIServer) -> None:
    env = {"OPENAI_BASE_URL": fake_server.base_url}
    fake_server.fault_for = lambda body: Fault("malformed_content") if "Cluster 2.1 holds" in body["messages"][1]["content"] else None
    result = invoke(["label", str(tree_file), "-m", "fake-model", "--prompt", "v1", *common(tmp_path)], env)
    assert result.code == 0 and "1 failed" in result.out and "--only-failed" in result.out
    assert load_tree(tree_file).node("2.1").label_meta.status == "failed"
    fake_server.fault_for = None
    out = tmp_path / "relabelled.json"
    result = invoke(["relabel", str(tree_file), "--only-failed", "-o", str(out), "-m", "fake-model", "--prompt", "v1", *common(tmp_path)], env)
    assert result.code == 0, result.err
    relabelled = load_tree(out)
    assert relabelled.node("2.1").label_meta.status == "ok" and relabelled.node("2.1").label == "Bitcoin Crypto"
    assert [n.id for n in relabelled.iter_nodes()] == [n.id for n in load_tree(tree_file).iter_nodes()]
    result = invoke(["relabel", str(out), "--only-failed", *common(tmp_path)], env)
    assert result.code == 0 and "nothing to relabel" in result.out
    result = invoke(["relabel", str(out), "--nodes", "7.7", *common(tmp_path)], env)
    assert result.code == 2 and "no node '7.7'" in result.err


def test_server_gone_mid_run_then_resume(tree_file: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer(die_after=3) as dying:
        result = invoke(["label", str(tree_file), "-m", "fake-model", "-j", "1", "--max-retries", "1", *common(tmp_path)], {"OPENAI_BASE_URL": dying.base_url})
    assert result.code == 2 and "cannot reach" in result.err and "run the same command again to resume" in result.err
    assert len(result.err.splitlines()) == 1  # one line, as every user error
    assert sum(n.label_meta.labeler == "llm" for n in load_tree(tree_file).iter_nodes()) == 3
    with FakeOpenAIServer() as healthy:
        result = invoke(["label", str(tree_file), "-m", "fake-model", *common(tmp_path)], {"OPENAI_BASE_URL": healthy.base_url})
        assert result.code == 0 and len(healthy.chat_requests) == 11 - 3  # 10 labels + 1 sibling pass in all
    assert all(n.label_meta.labeler == "llm" for n in load_tree(tree_file).iter_nodes())


def test_wrong_model_is_a_clear_error(tree_file: Path, tmp_path: Path, fake_server: FakeOpenAIServer) -> None:
    fake_server.fault_for = lambda body: Fault("status", status=404, message="model 'nope' not found")
    result = invoke(["label", str(tree_file), "-m", "nope", *common(tmp_path)], {"OPENAI_BASE_URL": fake_server.base_url})
    assert result.code == 2 and "model 'nope' not found" in result.err and "--model" in result.err
    assert len(fake_server.chat_requests) <= 6  # the leaves in flight at once; a 404 is never retried


def test_config_file_and_precedence(tree_file: Path, tmp_path: Path, fake_server: FakeOpenAIServer) -> None:
    config = tmp_path / "topicmap.toml"
    config.write_text(f'[llm]\nmodel = "from-config"\nbase_url = "{fake_server.base_url}"\nconcurrency = 2\n', "utf-8")
    result = invoke(["label", str(tree_file), "--config", str(config), *common(tmp_path)])
    assert result.code == 0 and "with from-config" in result.out
    assert {b["model"] for b in fake_server.chat_requests} == {"from-config"}
    result = invoke(["label", str(tree_file), "--dry-run", *common(tmp_path)], {"TOPICMAP_CONFIG": str(config), "TOPICMAP_MODEL": "from-env"})
    assert "with from-env" in result.out
    result = invoke(["label", str(tree_file), "--dry-run", "-m", "from-flag", *common(tmp_path)], {"TOPICMAP_CONFIG": str(config), "TOPICMAP_MODEL": "from-env"})
    assert "with from-flag" in result.out
    config.write_text('[llm]\nmodle = "typo"\n', "utf-8")
    result = invoke(["label", str(tree_file), "--config", str(config), *common(tmp_path)])
    assert result.code == 2 and "unknown key(s) in [llm]: modle" in result.err


def test_user_prompt_file(tree_file: Path, tmp_path: Path, fake_server: FakeOpenAIServer) -> None:
    mine = tmp_path / "mine.user.j2"
    mine.write_text("Cluster {{ node.id }} holds {{ node.size }} documents.\nKeywords: {{ node.keywords|reverse|join(', ') }}\n", "utf-8")
    result = invoke(["label", str(tree_file), "--prompt", f"label_leaf={mine}", "-m", "m", *common(tmp_path)], {"OPENAI_BASE_URL": fake_server.base_url})
    assert result.code == 0, result.err
    tree = load_tree(tree_file)
    assert tree.node("0.0").label == "Star Orbit" and tree.node("0.0").label_meta.prompt.startswith("label_leaf@file-")
    result = invoke(["label", str(tree_file), "--prompt", "label_leaf@v9", *common(tmp_path)], {"OPENAI_BASE_URL": fake_server.base_url})
    assert result.code == 2 and "no version 'v9'" in result.err


def test_broken_parent_template_fails_before_any_request(tree_file: Path, tmp_path: Path, fake_server: FakeOpenAIServer) -> None:
    mine = tmp_path / "parent.user.j2"
    mine.write_text("Topic {{ node.id }}: {{ node.no_such_field }}", "utf-8")
    result = invoke(["label", str(tree_file), "--prompt", f"label_parent={mine}", *common(tmp_path)], {"OPENAI_BASE_URL": fake_server.base_url})
    assert result.code == 2 and "no_such_field" in result.err and "parent.user.j2" in result.err
    assert fake_server.chat_requests == []


def test_unwritable_output_fails_before_any_request(tree_file: Path, tmp_path: Path, fake_server: FakeOpenAIServer) -> None:
    result = invoke(["label", str(tree_file), "-o", str(tmp_path / "no" / "such" / "dir.json"), *common(tmp_path)], {"OPENAI_BASE_URL": fake_server.base_url})
    assert result.code == 2 and "does not exist" in result.err and fake_server.chat_requests == []


def test_help_teaches() -> None:
    for command in ("label", "relabel"):
        result = invoke([command, "--help"])
        assert result.code == 0
        text = " ".join(result.out.split())
        assert "Examples" in text and "OPENAI_BASE_URL" in text and "--dry-run" in text
    assert "--only-failed" in invoke(["relabel", "--help"]).out


def test_ctrl_c_keeps_finished_labels_and_the_next_run_resumes(tree_file: Path, tmp_path: Path) -> None:
    """A real SIGINT to a real process: labels written so far survive, the next run asks only for the rest."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[1]
    script = "import typer; from topicmap.hierarchy.cli import label as cli_label; app = typer.Typer(); cli_label.register(app); app()"
    args = [sys.executable, "-c", script, "label", str(tree_file), "-m", "fake-model", "-j", "1", *common(tmp_path)]
    requests_seen = [0]

    def slow_then_slower(body: dict[str, object]) -> Fault:
        # after the 4th request each answer takes 5 s: on a loaded machine the run cannot finish before the signal
        requests_seen[0] += 1
        return Fault("slow", delay=0.15 if requests_seen[0] <= 4 else 5.0)

    with FakeOpenAIServer(fault_for=slow_then_slower) as server:
        env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV} | {"OPENAI_BASE_URL": server.base_url, "PYTHONPATH": str(root)}
        # Ctrl+C as a terminal sends it, even where this test runs with SIGINT ignored (a background job of a
        # non-interactive shell), which the child would inherit
        proc = subprocess.Popen(args, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 30
        while server.answered < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        at_signal = server.answered  # with one request in flight, all answers but the last were processed
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        answered = server.answered
    assert proc.returncode == 130 and "interrupted" in err and "run the same command again to resume" in err
    kept = sum(n.label_meta.labeler == "llm" for n in load_tree(tree_file).iter_nodes())
    assert at_signal - 1 <= kept <= answered < 11
    with FakeOpenAIServer() as healthy:
        result = invoke(["label", str(tree_file), "-m", "fake-model", *common(tmp_path)], {"OPENAI_BASE_URL": healthy.base_url})
        assert result.code == 0 and len(healthy.chat_requests) <= 11 - kept
    assert all(n.label_meta.labeler == "llm" for n in load_tree(tree_file).iter_nodes())


def test_progress_bar_shows_calls_cache_failures_and_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    from topicmap.hierarchy.labels.label import RunReport

    bar = cli_label._Progress(enabled=True)
    report = RunReport("m", [], planned=4, done=2, calls=3, cache_hits=1, failed=1, prompt_tokens=1200, completion_tokens=34)
    bar.update(report)
    bar.close()
    err = capsys.readouterr().err
    assert "2/4" in err and "calls=3" in err and "cached=1" in err and "failed=1" in err and "tokens=1,234" in err


def test_settings_resolution(tmp_path: Path) -> None:
    from topicmap.hierarchy.base.errors import InputError
    from topicmap.hierarchy.llm.settings import resolve_settings

    none = resolve_settings({}, {})
    assert not none.configured and none.config.model == "gpt-4o-mini" and none.config.concurrency == 8
    remote = resolve_settings({}, {"OPENAI_BASE_URL": "http://gpu-box.lan:8000/v1"})
    assert remote.configured and remote.config.timeout == 300 and remote.config.concurrency == 4
    for url in ("http://localhost:11434/v1", "http://127.0.0.1:8765/v1", "http://[::1]:8080/v1"):
        local = resolve_settings({}, {"OPENAI_BASE_URL": url})  # this machine: one request at a time, slowly
        assert local.configured and local.config.timeout == 900 and local.config.concurrency == 2, url
    assert resolve_settings({"concurrency": 6}, {"OPENAI_BASE_URL": "http://localhost:11434/v1"}).config.concurrency == 6
    keyed = resolve_settings({}, {"OPENAI_API_KEY": "sk-test"})
    assert keyed.configured and keyed.config.api_key == "sk-test" and keyed.config.base_url is None
    config = tmp_path / "c.toml"
    config.write_text('[llm]\napi_key_env = "MY_KEY"\ncache_dir = "cache"\nprompt = ["label_leaf@v1"]\ntimeout = 5\n', "utf-8")
    chosen = resolve_settings({"timeout": 9.0}, {"MY_KEY": "k", "OPENAI_API_KEY": "other"}, config)
    assert chosen.config.api_key == "k" and chosen.config.timeout == 9.0
    assert chosen.cache_dir == (tmp_path / "cache").resolve() and chosen.prompts == ["label_leaf@v1"]
    config.write_text('[llm]\nprompt = "v1"\n', "utf-8")
    assert resolve_settings({}, {}, config).prompts == ["v1"]
    config.write_text('[llm]\napi_key = "sk-secret"\n', "utf-8")
    with pytest.raises(InputError, match="do not put API keys in files"):
        resolve_settings({}, {}, config)
    with pytest.raises(InputError, match="--concurrency 0: must be at least 1"):
        resolve_settings({"concurrency": 0}, {})
    with pytest.raises(InputError, match="no such config file"):
        resolve_settings({}, {}, tmp_path / "missing.toml")


def test_relabel_only_stale_asks_for_just_the_flagged_nodes(tree_file: Path, tmp_path: Path, fake_server: FakeOpenAIServer) -> None:
    env = {"OPENAI_BASE_URL": fake_server.base_url}
    assert invoke(["label", str(tree_file), "-m", "fake-model", "--prompt", "v1", *common(tmp_path)], env).code == 0
    tree = load_tree(tree_file)
    tree.node("2.1").label_meta.extra.update(stale=True, size_at_label=1)  # as 'topicmap assign' flags it
    save_tree(tree, tree_file)
    before = len(fake_server.chat_requests)
    result = invoke(["relabel", str(tree_file), "--only-stale", "--refresh", "-m", "fake-model", "--prompt", "v1", *common(tmp_path)], env)
    assert result.code == 0, result.err
    asked = fake_server.chat_requests[before:]
    assert asked and all("Cluster 2.1 holds" in r["messages"][1]["content"] for r in asked if "Cluster" in r["messages"][1]["content"])
    assert any("Cluster 2.1 holds" in r["messages"][1]["content"] for r in asked)
    assert "stale" not in load_tree(tree_file).node("2.1").label_meta.extra
    assert "nothing to relabel" in invoke(["relabel", str(tree_file), "--only-stale", *common(tmp_path)], env).out
    same = tmp_path / "same.json"  # with -o, a script still gets its file: the unchanged tree
    assert invoke(["relabel", str(tree_file), "--only-stale", "-o", str(same), *common(tmp_path)], env).code == 0
    assert [n.label for n in load_tree(same).iter_nodes()] == [n.label for n in load_tree(tree_file).iter_nodes()]
