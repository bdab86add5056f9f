"""Where the routed keyword fit spends its time at scale: the greedy proposal, embedding the options, the choice.

    python bench/bench_keyword_fit.py --rows 200000 --checkout /path/to/old/worktree --label before
    python bench/bench_keyword_fit.py --rows 200000 --label after

Each run is a fresh child process running `topicmap build DOCS.jsonl --embeddings X.npy --embedder minilm
--no-cache -q` from the checkout named (default: this one) with
:func:`topicmap.hierarchy.builder.routed_keywords.greedy_lists`, ``choose_options`` and the option-embedding
call wrapped in timers. Corpus and vectors as in ``bench/bench_corpus.py`` (synthetic texts, the first N rows of
the 10M bench matrix; made there when missing). The map preset caps a tree at 2,000 leaves, which it reaches
from 80,000 documents, so from then on the fit has the same number of groups and texts, and only the documents
per node (at most 300 sampled) grow. The made-up words split into several word pieces each, so option texts
are longer in tokens than real keywords and their embedding costs more than it would on real text.
Rows are appended to ``bench/results/keyword-fit.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_corpus import add_checkout_options, commit_of, vectors_for, write_corpus  # noqa: E402
from bench.machine import cpu_model  # noqa: E402

CHILD = r'''
import collections, json, sys, time
import topicmap.hierarchy.builder.routed_keywords as rk

spent = collections.defaultdict(float)
groups = []
greedy, choose, fit = rk.greedy_lists, rk.choose_options, rk.fit_node_keywords

def timed_greedy(pools, starts, docs, keep, *args, **kwargs):
    start = time.perf_counter()
    out = greedy(pools, starts, docs, keep, *args, **kwargs)
    groups.append([len(pools), int(sum(len(d) for d in docs)), time.perf_counter() - start])
    spent["greedy"] += groups[-1][2]
    return out

def timed_choose(*args, **kwargs):
    start = time.perf_counter()
    try:
        return choose(*args, **kwargs)
    finally:
        spent["choose"] += time.perf_counter() - start

def timed_fit(pool, steered, nodes, word_vectors, doc_vectors, embed_texts, mean, keep):
    def timed_embed(texts):
        start = time.perf_counter()
        try:
            return embed_texts(texts)
        finally:
            spent["embed"] += time.perf_counter() - start
            spent["texts"] += len(texts)
    start = time.perf_counter()
    try:
        return fit(pool, steered, nodes, word_vectors, doc_vectors, timed_embed, mean, keep)
    finally:
        spent["fit"] += time.perf_counter() - start

rk.greedy_lists, rk.choose_options, rk.fit_node_keywords = timed_greedy, timed_choose, timed_fit
from topicmap.hierarchy.cli.main import main
start = time.perf_counter()
try:
    main(sys.argv[2:])
except SystemExit as exc:
    if exc.code:
        raise
spent["build"] = time.perf_counter() - start
widest = max(groups, key=lambda g: g[1]) if groups else [0, 0, 0.0]
json.dump({"spent": spent, "groups": len(groups), "widest": widest}, open(sys.argv[1], "w"))
'''


def run_once(checkout: Path, docs: Path, vectors: Path, work: Path) -> dict:
    out = work / "fit-out"
    out.mkdir(parents=True, exist_ok=True)
    report = out / "fit.json"
    command = [sys.executable, "-c", CHILD, str(report), "build", str(docs), "--embeddings", str(vectors), "--embedder", "minilm", "--no-cache", "-q", "-o", str(out / "t.json")]
    load_before = os.getloadavg()[0]
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(checkout), "TMPDIR": str(work)})
    if done.returncode != 0:
        raise SystemExit(f"child failed ({done.returncode}): {done.stderr[-3000:]}")
    result = json.loads(report.read_text(encoding="utf-8"))
    result["load"] = (load_before, os.getloadavg()[0])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=1)
    add_checkout_options(parser, ROOT / "bench" / "results" / "keyword-fit.md")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    docs = args.work / f"docs-{args.rows}.jsonl"
    if not docs.exists():
        write_corpus(docs, args.rows)
    vectors = vectors_for(args.rows, args.data)
    if not args.output.exists():
        args.output.write_text(
            "# The routed keyword fit at scale (`python bench/bench_keyword_fit.py`)\n\n"
            f"Machine: {cpu_model()}, {os.cpu_count()} cores. Seconds of one build with `--embedder minilm` (synthetic corpus, "
            "see the script's docstring); greedy = the proposal, embed = the option texts, choose = the choice among them.\n\n"
            "| code | commit | rows | run | build s | fit s | greedy s | embed s (texts) | choose s | groups | widest group (siblings, documents, greedy s) | load 1-min (before-after) |\n"
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n",
            encoding="utf-8",
        )
    commit = commit_of(args.checkout)
    for run in range(args.runs):
        result = run_once(args.checkout, docs, vectors, args.work)
        s = result["spent"]
        siblings, points, seconds = result["widest"]
        line = (f"| {args.label} | {commit} | {args.rows:,} | {run + 1} | {s['build']:.0f} | {s['fit']:.0f} | {s['greedy']:.0f} | "
                f"{s['embed']:.0f} ({int(s['texts']):,}) | {s['choose']:.0f} | {result['groups']} | {siblings}, {points:,}, {seconds:.1f} | "
                f"{result['load'][0]:.1f}-{result['load'][1]:.1f} |\n")
        with args.output.open("a", encoding="utf-8") as fh:
            fh.write(line)
        print(line, end="", flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main()
