"""Benchmark of the prompt layer: our own overhead labelling a ~1,000-node tree, and the warm cache.

Run: ``python bench/bench_label.py`` (from the repository root). The fake OpenAI-compatible server
from the test suite runs in a subprocess and answers instantly, so what is measured is our side:
prompt building, the ``openai`` client and HTTP, validation, cache, checkpoint and the final save
(plus the fake server competing for the same CPU cores). Writes ``bench/results/label.md``.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model  # noqa: E402

from topicmap.hierarchy.labels.label import LabelOptions, RunReport, label_tree  # noqa: E402
from topicmap.hierarchy.llm.client import LLMConfig  # noqa: E402
from topicmap.hierarchy.llm.cache import AnswerCache  # noqa: E402
from topicmap.hierarchy.llm.prompting import resolve_prompts  # noqa: E402
from topicmap.hierarchy.tree.topic_tree import Document, Node, TopicTree  # noqa: E402
from topicmap.hierarchy.tree.treefile import load_tree, save_tree  # noqa: E402

RUNS = 3
CONCURRENCY = 16
SYLLABLES = ["ka", "lo", "mi", "ren", "tor", "vue", "sal", "pen", "dri", "mon", "gat", "hel", "or", "sti", "bra", "cu"]


def word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))


def make_tree(seed: int = 0, branching: tuple[int, ...] = (10, 10, 9), docs_per_leaf: int = 10) -> TopicTree:
    """root -> 10 -> 100 -> 900 leaves (1,011 nodes), ~9,000 short documents, and one giant leaf."""
    rng = random.Random(seed)
    vocab = sorted({word(rng) for _ in range(3000)})
    nodes: list[Node] = [Node("root", None, 0, 0, keywords=rng.sample(vocab, 8))]
    documents: list[Document] = []
    frontier = [nodes[0]]
    for depth, fan in enumerate(branching, start=1):
        next_frontier = []
        for parent in frontier:
            for i in range(fan):
                node_id = str(i) if parent.id == "root" else f"{parent.id}.{i}"
                node = Node(node_id, parent.id, depth, 0, keywords=rng.sample(vocab, 8))
                node.label = ", ".join(node.keywords[:3])
                nodes.append(node)
                next_frontier.append(node)
        frontier = next_frontier
    families: dict[str, list[Node]] = {}
    for leaf in frontier:
        families.setdefault(str(leaf.parent), []).append(leaf)
    for family in families.values():  # some families: two siblings with the same top keywords (a sibling pass)
        if len(family) > 1 and rng.random() < 0.15:
            family[1].keywords[:2] = family[0].keywords[:2]
    for leaf_index, leaf in enumerate(frontier):
        n_docs = 500 if leaf_index == 0 else docs_per_leaf  # one huge node: its prompt must stay bounded
        length = 400 if leaf_index == 0 else 60
        for j in range(n_docs):
            text = " ".join(rng.choice(leaf.keywords) if rng.random() < 0.3 else rng.choice(vocab) for _ in range(length))
            documents.append(Document(f"{leaf.id}/{j}", leaf.id, text=text, title=f"doc {leaf.id}/{j}"))
        leaf.representative_ids = [f"{leaf.id}/{j}" for j in range(min(5, n_docs))]
    by_id = {n.id: n for n in nodes}
    for doc in documents:
        node = by_id[doc.leaf]
        while node is not None:
            node.size += 1
            node = by_id.get(node.parent) if node.parent else None
    return TopicTree(nodes, documents)


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "openai_server.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"fake server did not start: {base_url!r}")
    return proc, base_url


def server_requests(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url}/stats", timeout=5) as response:  # noqa: S310 - 127.0.0.1 only
        return int(json.load(response)["requests"])


def one_run(tree: TopicTree, config: LLMConfig, cache: AnswerCache, out: Path, base_url: str) -> tuple[RunReport, float, float, int]:
    before = server_requests(base_url)
    options = LabelOptions(prompts=resolve_prompts())
    cpu = time.process_time()
    wall = time.perf_counter()
    report = label_tree(tree, config, options, cache, checkpoint=lambda: save_tree(tree, out))
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    return report, wall, cpu, server_requests(base_url) - before


def machine() -> str:
    model = cpu_model()
    import openai

    return f"{model}; {os.cpu_count()} cores; Python {platform.python_version()}; openai {openai.__version__}; {platform.system()} {platform.release()}"


def main() -> None:
    load_before = os.getloadavg()[0]
    base_tree = make_tree()
    n_nodes = len(base_tree)
    proc, base_url = start_server()
    config = LLMConfig(model="fake-model", base_url=base_url, api_key="bench", timeout=30, concurrency=CONCURRENCY)
    cold: list[tuple[RunReport, float, float, int]] = []
    warm: list[tuple[RunReport, float, float, int]] = []
    kept: list[tuple[RunReport, float, float, int]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            save_tree(base_tree, tmp_path / "unlabelled.json")
            for i in range(RUNS):
                cache = AnswerCache(tmp_path / f"cache{i}")
                tree = load_tree(tmp_path / "unlabelled.json")
                cold.append(one_run(tree, config, cache, tmp_path / f"cold{i}.json", base_url))
                print(f"cold run {i + 1}: {cold[-1][1]:.2f} s, {cold[-1][3]} requests", flush=True)
            cache = AnswerCache(tmp_path / "cache0")
            for i in range(RUNS):
                tree = load_tree(tmp_path / "unlabelled.json")  # same tree, nothing labelled: all from the cache
                warm.append(one_run(tree, config, cache, tmp_path / f"warm{i}.json", base_url))
                print(f"warm-cache run {i + 1}: {warm[-1][1]:.2f} s, {warm[-1][3]} requests", flush=True)
            for i in range(RUNS):
                tree = load_tree(tmp_path / "cold0.json")  # the labelled tree, no cache: inputs unchanged
                kept.append(one_run(tree, config, AnswerCache(None), tmp_path / f"kept{i}.json", base_url))
                print(f"re-run on labelled tree {i + 1}: {kept[-1][1]:.2f} s, {kept[-1][3]} requests", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    first = cold[0][0]
    tokens = sorted(first.call_prompt_tokens)
    med = statistics.median
    lines = [
        "# Benchmark: LLM labelling (prompt layer)",
        "",
        f"Machine: {machine()}; 1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
        "(other work on the machine inflates wall times)",
        "",
        f"Tree: {n_nodes} nodes ({len(base_tree.leaves())} leaves, depth {base_tree.depth}), {len(base_tree.documents):,} documents; "
        "one leaf holds 500 documents of 400 words (to show the prompt bound). Fake OpenAI-compatible server in a "
        f"subprocess on 127.0.0.1, answering instantly; concurrency {CONCURRENCY}; median of {RUNS} runs. Times include "
        "the openai client and HTTP on 127.0.0.1, prompt rendering, validation, cache writes and the final atomic save of "
        "the tree file; the fake server competes for the same cores.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| cold run (empty cache): wall time, our overhead | {med(r[1] for r in cold):.2f} s (runs: {', '.join(f'{r[1]:.2f}' for r in cold)}) |",
        f"| cold run: CPU time of our process | {med(r[2] for r in cold):.2f} s |",
        f"| cold run: requests seen by the server | {med(r[3] for r in cold):.0f} |",
        f"| warm cache, unlabelled tree: wall time | {med(r[1] for r in warm):.2f} s (runs: {', '.join(f'{r[1]:.2f}' for r in warm)}) |",
        f"| warm cache: CPU time of our process | {med(r[2] for r in warm):.2f} s |",
        f"| warm cache: requests seen by the server | {max(r[3] for r in warm)} |",
        f"| re-run on the labelled tree, no cache: wall time | {med(r[1] for r in kept):.2f} s, {max(r[3] for r in kept)} requests |",
        f"| LLM calls per tree (cold) | {first.calls} for {n_nodes} nodes = {first.calls / n_nodes:.3f} per node |",
        f"| of which node labels / sibling passes | {first.label_calls} / {first.sibling_calls} ({first.renamed} labels renamed) |",
        f"| single-child nodes reusing their child's label | {first.reused} |",
        f"| prompt tokens per call (server-reported) | max {tokens[-1]}, median {med(tokens):.0f}, min {tokens[0]} (budget 2,000) |",
        f"| prompt tokens per run | {first.prompt_tokens:,} prompt + {first.completion_tokens:,} completion |",
        "",
        "Calls are at most one per node plus one per sibling group whose labels collided: the fake model names a node "
        "after its first two keywords, and about 15% of the leaf families were built with two leaves sharing them, so "
        f"{first.sibling_calls} sibling passes renamed {first.renamed} labels. Prompt tokens are bounded by the budget whatever "
        "the node size: the 500-document leaf's prompt is cut to fit like every other.",
        "",
    ]
    out = ROOT / "bench" / "results" / "label.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), "utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
