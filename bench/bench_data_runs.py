"""What leaving data runs out of keyword terms changes: ``python bench/bench_data_runs.py`` (from the repo root).

Data runs (``hierarchy/builder/block_terms.py``): stretches of ASCII characters between spaces that are 40+
characters long or hold ``@`` or ``://`` (uuencoded or base64 lines, rules, hashes, e-mail addresses, URLs).
For each corpus of ``bench/bench_quality.py`` that is present: how many runs there are; the vocabulary with and
without them (the terms that came only from them); the default plain-keyword tree (seed 0; the clustering does
not read texts, so both builds have the same nodes) with and without them: how many labels and keyword slots hold
such a term, and the top-level labels; and the time to cut the corpus's texts into terms with and without the
mask (alternating, medians). "Without" is the code with the rule switched off in this process (the byte mask and
the regex preprocessor replaced by no-ops), not an older checkout. Writes ``bench/results/data-runs.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_navigation import CORPORA, LAYOUT, MINILM, build  # noqa: E402
from bench.bench_quality import machine  # noqa: E402
from topicmap.hierarchy.builder import block_terms  # noqa: E402
from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs  # noqa: E402
from topicmap.hierarchy.builder.term_counts import count_terms  # noqa: E402
from topicmap.hierarchy.inputs.documents import load_embeddings, read_documents  # noqa: E402


@contextmanager
def rule_off() -> Iterator[None]:
    """Data runs cut into terms like any text (the behaviour before the rule), in this process only."""
    mask, prose = block_terms._outside_data_runs, block_terms.lowercase_prose
    block_terms._outside_data_runs = lambda raw: None
    block_terms.lowercase_prose = str.lower
    try:
        yield
    finally:
        block_terms._outside_data_runs, block_terms.lowercase_prose = mask, prose


def corpus_row(name: str, runs: int) -> list[str] | None:
    docs_file, emb_file, _ = CORPORA[name]
    if not docs_file.exists() or not emb_file.exists():
        print(f"[{name}] skipped: {docs_file} not found", file=sys.stderr, flush=True)
        return None
    corpus = read_documents(docs_file)
    texts = corpus.embedding_texts()
    found = [block_terms._DATA_RUN.findall(t.lower()) for t in texts]
    n_runs, with_runs = sum(map(len, found)), sum(1 for f in found if f)
    share = sum(len(r) for f in found for r in f) / max(sum(map(len, texts)), 1)
    vocabulary = set(map(str, count_terms(texts)[1]))
    with rule_off():
        before_vocabulary = set(map(str, count_terms(texts)[1]))
    only_runs = before_vocabulary - vocabulary

    X = load_embeddings(emb_file, len(corpus))
    config = replace(BuildConfig(), seed=0, layout=LAYOUT)
    inputs = BuildInputs(corpus.source, corpus.sha256, {"name": MINILM})
    trees = {}
    for state in ("off", "on"):
        print(f"[{name}] plain build, rule {state}", file=sys.stderr, flush=True)
        if state == "off":
            with rule_off():
                trees[state] = build(corpus, X, config, inputs, "plain")[0]
        else:
            trees[state] = build(corpus, X, config, inputs, "plain")[0]

    def junk(tree: Any) -> tuple[int, int, int, int, str]:
        nodes = [n for n in tree.iter_nodes() if n.depth >= 1]
        labels = sum(any(w in only_runs for w in n.keywords[:3]) for n in nodes)
        slots = sum(len(n.keywords) for n in nodes)
        bad = sum(w in only_runs for n in nodes for w in n.keywords)
        return labels, len(nodes), bad, slots, "; ".join(n.label for n in nodes if n.depth == 1)

    cut: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(runs):
        for state in ("off", "on"):
            start = time.perf_counter()
            if state == "off":
                with rule_off():
                    block_terms.block_terms(texts)
            else:
                block_terms.block_terms(texts)
            cut[state].append(time.perf_counter() - start)
    off, on = junk(trees["off"]), junk(trees["on"])
    return [
        name, f"{len(texts):,}", f"{n_runs:,} in {with_runs:,} texts ({share:.1%} of characters)",
        f"{len(before_vocabulary):,} -> {len(vocabulary):,} ({len(only_runs):,} only from runs)",
        f"{off[0]} / {off[1]} -> {on[0]} / {on[1]}", f"{off[2] / max(off[3], 1):.1%} -> {on[2] / max(on[3], 1):.1%}",
        f"{off[4]} -> {on[4]}", f"{statistics.median(cut['off']):.2f} -> {statistics.median(cut['on']):.2f}",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed cuts of the texts per state (alternating)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "data-runs.md")
    args = parser.parse_args(argv)
    started = datetime.now(timezone.utc)
    rows = [r for r in (corpus_row(name, args.runs) for name in CORPORA) if r is not None]
    info = machine()
    header = ["corpus", "texts", "data runs", "vocabulary: rule off -> on", "plain labels holding a run-only term (off -> on)",
              "plain keyword slots holding one", "top-level labels (off -> on)", f"cutting all texts into terms, s (median of {args.runs})"]
    lines = [
        "# Data runs left out of keyword terms", "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, `python bench/bench_data_runs.py --runs {args.runs}`. Machine: {info['cpu']}, {info['cores']} cores, "
        f"load average at the end {' / '.join(f'{x:.1f}' for x in info['load_avg'])}; Python {info['versions']['python']}, numpy {info['versions']['numpy']}.", "",
        "Rule off: this code with the data-run mask and preprocessor switched off in the process (what the keywords were before). "
        "Trees: the default plain-keyword build, seed 0 (same clustering either way).", "",
        "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
    ] + ["| " + " | ".join(r) + " |" for r in rows]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
