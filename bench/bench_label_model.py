"""Labels from a real model: every node's label judged by rules, fidelity and two navigators.

Needs an OpenAI-compatible server with a real model (never run in CI). On this machine:

    pip install 'llama-cpp-python[server]'   # compiles for ~10 minutes
    python -m llama_cpp.server --model qwen2.5-coder-1.5b-q4km.gguf --host 127.0.0.1 --port 8765 --n_threads 2
    OPENAI_BASE_URL=http://127.0.0.1:8765/v1 python bench/bench_label_model.py --model qwen2.5-coder-1.5b

It builds the BBC demo tree (browse preset, 13 nodes) and the 56-abstract tree, labels each with the
given prompt version through ``topicmap label`` (the user's path), then runs ``topicmap evaluate`` on
the keyword-labelled and on the LLM-labelled tree with the embedding navigator and the LLM navigator.
Writes ``bench/results/label-model-<model>-<prompt>.md``: the run's time and failures, rule checks
(parents that copy or join a child, scaffolding in summaries, summary length), fidelity, navigation
per level, and a per-node table (keyword label, LLM label, summary) so a reader can judge the labels.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model  # noqa: E402

from topicmap.hierarchy.labels.validate import InvalidAnswer, check_parent_label, check_scaffolding  # noqa: E402
from topicmap.hierarchy.tree.treefile import load_tree  # noqa: E402

CORPORA = {
    "bbc": (ROOT / "data" / "bbc.jsonl.gz", ROOT / "data" / "bbc.minilm.npy", ["--preset", "browse", "--embedder", "minilm"]),
    "papers": (ROOT / "data" / "papers.jsonl", ROOT / "data" / "papers.minilm.npy", ["--preset", "browse", "--embedder", "minilm"]),
}


def topicmap(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    result = subprocess.run([sys.executable, "-m", "hierarchy", *args], capture_output=True, text=True, env=full_env)
    if result.returncode != 0:
        raise SystemExit(f"topicmap {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def rule_checks(tree_path: Path) -> dict[str, Any]:
    tree = load_tree(tree_path)
    joins, scaffolding, over = [], [], []
    for node in tree.iter_nodes():
        children = tree.children(node.id)
        if len(children) > 1 and node.label_meta.labeler == "llm":
            try:
                copied = check_parent_label(node.label, [c.label for c in children])
                if copied is not None:
                    joins.append(f"{node.id}: copies its child's label {copied!r}")
            except InvalidAnswer as exc:
                joins.append(f"{node.id}: {exc}")
        if node.label_meta.labeler == "llm":
            try:
                check_scaffolding(node.label, node.summary, "")
            except InvalidAnswer as exc:
                scaffolding.append(f"{node.id}: {exc}")
            if len(node.summary) > 300:
                over.append(node.id)
    failed = [n.id for n in tree.iter_nodes() if n.label_meta.status == "failed"]
    attempts = [int(n.label_meta.extra.get("attempts", 1)) for n in tree.iter_nodes() if n.label_meta.labeler == "llm"]
    return {"joins": joins, "scaffolding": scaffolding, "over_length": over, "failed": failed, "attempts": attempts}


def node_table(keyword_tree: Path, llm_tree: Path) -> list[str]:
    before, after = load_tree(keyword_tree), load_tree(llm_tree)
    rows = ["| node | docs | keyword label | LLM label | summary | status, tries |", "|---|---|---|---|---|---|"]
    for node in after.iter_nodes():
        meta = node.label_meta
        status = f"{meta.status}, {meta.extra.get('attempts', 1)}" + (f" ({(meta.error or '')[:80]})" if meta.status != "ok" else "")
        summary = node.summary.replace("|", "/")
        rows.append(f"| {node.id} | {node.size} | {before.node(node.id).label} | {node.label} | {summary} | {status} |")
    return rows


def evaluate(tree_path: Path, model: str, sample: int, env: dict[str, str]) -> dict[str, Any]:
    out = topicmap(
        "evaluate", str(tree_path), "--embedder", "minilm", "--navigator", "embedding", "--navigator", "llm", "--model", model,
        "--sample", str(sample), "--json", env=env,
    )
    return json.loads(out.stdout)


def navigation_rows(name: str, report: dict[str, Any]) -> list[str]:
    rows = []
    for nav in report.get("navigation", []):
        levels = " / ".join(f"{lv['accuracy']:.2f}" for lv in nav.get("levels", []))
        extra = f", {nav.get('invalid_answers', 0)} invalid answers" if "invalid_answers" in nav else ""
        rows.append(f"| {name} | {nav.get('navigator')} | {nav.get('exact_leaf_accuracy', 0):.3f} | {levels} | {nav.get('sample', '?')}{extra} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model name sent to the server (also names the results file)")
    parser.add_argument("--prompt", default="v2", help="prompt version for every prompt (default v2)")
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA), help="default: all")
    parser.add_argument("--sample", type=int, default=20, help="navigation targets (the LLM navigator makes ~2 requests each)")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--concurrency", type=int, default=1, help="a CPU llama.cpp server answers one request at a time")
    args = parser.parse_args()
    if not os.environ.get("OPENAI_BASE_URL"):
        raise SystemExit("set OPENAI_BASE_URL to the model server, e.g. http://127.0.0.1:8765/v1")
    env = {"OPENAI_BASE_URL": os.environ["OPENAI_BASE_URL"], "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY", "none")}
    lines = [
        f"# Labels from a real model: {args.model}, prompts {args.prompt}",
        "",
        f"Machine: {cpu_model()}; {os.cpu_count()} cores; Python {platform.python_version()}. Server: {env['OPENAI_BASE_URL']} "
        f"(concurrency {args.concurrency}, timeout {args.timeout:g} s). Command: `python bench/bench_label_model.py --model {args.model} "
        f"--prompt {args.prompt}`. One run per corpus (a run takes tens of minutes on 2 CPU cores).",
        "",
    ]
    work = ROOT / "bench" / "data" / "label-model"  # kept: a rerun takes every answer from the cache
    work.mkdir(parents=True, exist_ok=True)
    for name in args.corpus or sorted(CORPORA):
        docs, vectors, build_args = CORPORA[name]
        keyword_tree = work / f"{name}.keywords.json"
        topicmap("build", str(docs), "--embeddings", str(vectors), "-o", str(keyword_tree), "-q", *build_args)
        llm_tree = work / f"{name}.llm.json"
        started = time.perf_counter()
        label = topicmap(
            "label", str(keyword_tree), "-o", str(llm_tree), "-m", args.model, "--prompt", args.prompt,
            "--cache-dir", str(work / "cache"), "--no-progress", "--timeout", str(args.timeout), "--concurrency", str(args.concurrency),
            env=env,
        )
        seconds = time.perf_counter() - started
        checks = rule_checks(llm_tree)
        tree = load_tree(llm_tree)
        print(f"[{name}] labelled {len(tree)} nodes in {seconds:.0f} s", file=sys.stderr, flush=True)
        before = evaluate(keyword_tree, args.model, min(args.sample, len(tree.documents)), env)
        after = evaluate(llm_tree, args.model, min(args.sample, len(tree.documents)), env)
        tries = checks["attempts"]
        lines += [
            f"## {name}: {len(tree)} nodes, {len(tree.documents)} documents",
            "",
            f"Labelling: {seconds:.0f} s wall ({seconds / max(1, len(tree)):.0f} s per node); "
            f"{len(checks['failed'])} failed nodes {checks['failed'] or ''}; tries per LLM-labelled node: "
            f"{sum(tries)} for {len(tries)} nodes (max {max(tries, default=0)}).",
            "",
            "```",
            label.stdout.strip(),
            "```",
            "",
            f"- parents that copy or join a child: {len(checks['joins'])} {checks['joins'] or ''}",
            f"- summaries with scaffolding (cluster ids, counts, 'this cluster'): {len(checks['scaffolding'])} {checks['scaffolding'] or ''}",
            f"- summaries over 300 characters: {len(checks['over_length'])}",
            f"- label fidelity (label closer to its own documents than to any sibling's): keyword labels "
            f"{before['fidelity'].get('rate', '?')}, LLM labels {after['fidelity'].get('rate', '?')}",
            "",
            "| labels | navigator | exact leaf | accuracy per level | targets |",
            "|---|---|---|---|---|",
            *navigation_rows("keyword", before),
            *navigation_rows("LLM", after),
            "",
            *node_table(keyword_tree, llm_tree),
            "",
        ]
        write(lines, args)
    write(lines, args)


def write(lines: list[str], args: argparse.Namespace) -> None:
    out = ROOT / "bench" / "results" / f"label-model-{args.model.replace('/', '_')}-{args.prompt}.md"
    out.write_text("\n".join(lines) + "\n", "utf-8")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
