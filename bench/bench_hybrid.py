"""Summary-grouped upper levels (``topicmap regroup``, the hybrid) against centroid grouping (the map preset).

One command (from the repo root)::

    python bench/bench_hybrid.py                    # BBC, 20 Newsgroups, Wikipedia vital; writes bench/results/hybrid.md
    python bench/bench_hybrid.py --corpus bbc --seeds 1 --sample 200

For each corpus and build seed: the default map tree (centroid grouping), then the same tree regrouped
(:func:`topicmap.hierarchy.labels.regroup.regroup_tree`, the code behind ``topicmap regroup``) with both weightings,
at the map tree's own level counts, so both trees have the same leaves, the same documents and about
as many nodes per level. Every tree is scored by :func:`topicmap.hierarchy.quality.evaluate.evaluate_tree`, the code
behind ``topicmap evaluate``: dendrogram purity and NMI of the top level against the reference
categories, label fidelity, and navigation accuracy of the embedding navigator (``--sample`` seeded targets).

Texts that are grouped: with ``OPENAI_BASE_URL`` (or ``OPENAI_API_KEY``) and ``TOPICMAP_BENCH_MODEL``
set, the map tree is labelled by the LLM labeller, and the hybrid's new groups are named by it level by
level (the real hybrid). Without a server there are no LLM summaries, and two stand-ins are measured
instead (``--texts``): ``keywords``, each node's keyword label and c-TF-IDF keywords (what ``topicmap
regroup --names keywords`` groups), and ``titles``, the keyword label plus the titles of the node's
first representative documents, an extractive stand-in for a written summary (bench only). Title
summaries are removed again before scoring, so every tree is navigated and scored on keyword labels
and the difference between the rows is the grouping alone. The report says which texts ran. With a
model, ``--llm-nav N`` also runs the LLM navigator (``topicmap evaluate --navigator llm``) on N seeded
targets per tree; ``--preset browse`` builds small trees (few leaves, so few label requests) for a
model on a CPU.

Corpora: BBC (``data/``), 20 Newsgroups (``../shared/data``), Wikipedia vital articles
(``bench/data``, made by ``python bench/prepare_corpus.py``; skipped if absent).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.machine import cpu_model, memory_gib  # noqa: E402

from topicmap.hierarchy.inputs.embed import SentenceTransformerEmbedder  # noqa: E402
from topicmap.hierarchy.quality.evaluate import EvaluateOptions, evaluate_tree  # noqa: E402
from topicmap.hierarchy.inputs.documents import Corpus, load_embeddings, read_documents  # noqa: E402
from topicmap.hierarchy.quality.navigate import EmbeddingNavigator  # noqa: E402
from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs, build_tree  # noqa: E402
from topicmap.hierarchy.labels.regroup import RegroupOptions, regroup_tree, tree_level_counts  # noqa: E402
from topicmap.hierarchy.files.safe_write import write_text_atomic  # noqa: E402
from topicmap.hierarchy.tree.topic_tree import TopicTree  # noqa: E402
from topicmap.hierarchy.tree.embedder import embed_texts  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
LOCAL = REPO / "bench" / "data"
CORPORA: dict[str, tuple[Path, Path, list[str]]] = {
    "bbc": (REPO / "data/bbc.jsonl.gz", REPO / "data/bbc.minilm.npy", ["category"]),
    "20news": (SHARED / "20news/train.jsonl", SHARED / "20news/train.minilm.npy", ["top", "newsgroup"]),
    "wikivital": (LOCAL / "wikivital/wikivital.jsonl", LOCAL / "wikivital/wikivital.minilm.npy", ["topic"]),
}
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
RESULTS = REPO / "bench" / "results"
TITLES = 5  # representative titles in a stand-in summary
TEXT_NAMES = {"keywords": "by keyword texts", "titles": "by representative titles"}


@dataclass
class Row:
    corpus: str
    method: str
    seed: int
    shape: str
    seconds: float
    dp: dict[str, float] = field(default_factory=dict)
    top_nmi: dict[str, float] = field(default_factory=dict)  # NMI of depth 1 against each reference
    fidelity: float = 0.0
    fidelity_top: float = 0.0  # at depth 1
    nav_exact: float = 0.0
    nav_match: float = 0.0
    nav_top: float = 0.0  # depth-1 accuracy
    llm_nav_targets: int = 0  # LLM navigator (--llm-nav): targets, exact leaf, path share, invalid answers, seconds
    llm_nav_exact: float = float("nan")
    llm_nav_match: float = float("nan")
    llm_nav_invalid: int = 0
    llm_nav_seconds: float = 0.0
    llm_requests: int = 0  # label (or naming) requests made for this tree, and the nodes whose label failed
    llm_failed: int = 0


def llm_settings() -> Any:
    """The labeller's settings when a server and TOPICMAP_BENCH_MODEL are given, else None (keyword texts)."""
    if not (os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY")) or not os.environ.get("TOPICMAP_BENCH_MODEL"):
        return None
    from topicmap.hierarchy.llm.settings import environment, resolve_settings

    return resolve_settings({"model": os.environ["TOPICMAP_BENCH_MODEL"]}, environment())


def shape_of(tree: TopicTree) -> str:
    return " / ".join(str(len(tree.level(d))) for d in range(1, tree.depth + 1))


def score(corpus: str, method: str, seed: int, tree: TopicTree, seconds: float, refs: dict[str, np.ndarray], embedder: Any, sample: int, X: np.ndarray, cache: Path) -> Row:
    options = EvaluateOptions(
        references=refs, embedder=embedder, navigators=[EmbeddingNavigator(embedder, cache)], sample=min(sample, len(tree.documents)), seed=0,
        vectors=X, silhouette_sample=200, cache_dir=cache,
    )
    report = evaluate_tree(tree, f"{corpus}-{method}", options).to_dict()
    row = Row(corpus, method, seed, shape_of(tree), round(seconds, 2))
    for ref in report["references"]:
        row.dp[ref["name"]] = ref["dendrogram_purity"]
        top = next((lv for lv in ref["levels"] if lv["depth"] == 1), None)
        row.top_nmi[ref["name"]] = top["nmi"] if top else float("nan")
    fidelity = report["fidelity"]
    row.fidelity = fidelity["rate"]
    row.fidelity_top = next((lv["rate"] for lv in fidelity["levels"] if lv["depth"] == 1), float("nan"))
    nav = report["navigation"][0]
    row.nav_exact, row.nav_match = nav["exact_leaf_accuracy"], nav["node_match"]
    row.nav_top = next((lv["accuracy"] for lv in nav["levels"] if lv["depth"] == 1), float("nan"))
    return row


def llm_navigation(row: Row, tree: TopicTree, settings: Any, targets: int, cache: Path) -> None:
    """The LLM navigator (as ``topicmap evaluate --navigator llm``) on ``targets`` seeded documents; answers cached."""
    from topicmap.hierarchy.llm.cache import AnswerCache
    from topicmap.hierarchy.quality.navigate import LabellerChat, LLMNavigator, navigate, sample_targets

    config = settings.config
    navigator = LLMNavigator(LabellerChat(config), model=config.model, seed=0, cache=AnswerCache(cache / "navigate"))
    start = time.perf_counter()
    scores, _ = navigate(tree, navigator, sample_targets(tree, min(targets, len(tree.documents)), 0), seed=0)
    row.llm_nav_seconds = round(time.perf_counter() - start, 1)
    row.llm_nav_targets, row.llm_nav_exact, row.llm_nav_match = scores.sample, scores.exact_leaf_accuracy, scores.node_match
    row.llm_nav_invalid = scores.invalid_answers


def title_summary(tree: TopicTree, node_id: str, by_id: dict[str, Any], n: int = TITLES) -> str:
    """An extractive stand-in for a written summary: the titles (else first words) of a node's representatives."""
    parts = []
    for doc_id in tree.node(node_id).representative_ids[:n]:
        doc = by_id[doc_id]
        parts.append(doc.title.strip() or " ".join(doc.text.split()[:12]))
    return "; ".join(parts)


def with_title_summaries(tree: TopicTree) -> Any:
    """A namer that writes title summaries on the nodes it is given (the leaves get theirs first)."""
    by_id = {d.id: d for d in tree.documents}
    for leaf in tree.leaves():
        leaf.summary = title_summary(tree, leaf.id, by_id)

    def namer(work: TopicTree, ids: list[str]) -> None:
        for node_id in ids:
            work.node(node_id).summary = title_summary(work, node_id, by_id)

    return namer


def clear_summaries(*trees: TopicTree) -> None:
    """Title summaries were only for grouping: evaluate every tree on the same kind of texts (keyword labels)."""
    for tree in trees:
        for node in tree.iter_nodes():
            if node.label_meta.labeler == "keywords":
                node.summary = ""


def run_corpus(
    name: str, seeds: int, sample: int, embedder: Any, settings: Any, cache: Path, texts: list[str], done: Callable[[Row], None],
    preset: str = "map", llm_nav: int = 0,
) -> list[Row]:
    docs, vectors_path, ref_columns = CORPORA[name]
    corpus: Corpus = read_documents(docs)
    X = load_embeddings(vectors_path, len(corpus))
    refs = {col: np.array([str(m.get(col, "")) for m in corpus.metadata]) for col in ref_columns}
    rows: list[Row] = []
    for seed in range(seeds):
        start = time.perf_counter()
        tree = build_tree(corpus, X, BuildConfig(seed=seed, preset=preset), BuildInputs(corpus.source, corpus.sha256, {"name": MINILM}))
        built = time.perf_counter() - start
        llm_namer = None
        if settings is not None:
            from topicmap.hierarchy.cli.label import plan_run
            from topicmap.hierarchy.labels.label import label_tree
            from topicmap.hierarchy.labels.regroup_llm import LLMNamer

            options, answers = plan_run(settings, True, False)
            labelled = label_tree(tree, settings.config, options, answers)
            if labelled.aborted:
                raise SystemExit(f"labelling stopped: {labelled.aborted}")
            llm_namer = LLMNamer(settings.config, options, answers)
        rows.append(score(name, f"centroids ({preset})", seed, tree, built, refs, embedder, sample, X, cache))
        if settings is not None:
            rows[-1].llm_requests, rows[-1].llm_failed = labelled.requests, labelled.failed
            if llm_nav:
                llm_navigation(rows[-1], tree, settings, llm_nav, cache)
        done(rows[-1])
        print(f"  {name} seed {seed}: map {shape_of(tree)} levels {tree_level_counts(tree)}", flush=True)
        variants = [("llm", "LLM summaries")] if llm_namer is not None else [(t, TEXT_NAMES[t]) for t in texts]
        for kind, described in variants:
            for weighting in ("equal", "size"):
                namer = llm_namer if kind == "llm" else (with_title_summaries(tree) if kind == "titles" else None)
                named_before = len(llm_namer.reports) if llm_namer is not None else 0
                start = time.perf_counter()
                hybrid, _ = regroup_tree(
                    tree, lambda texts: embed_texts(texts, embedder, tree, cache, "names"), namer,
                    RegroupOptions(weighting=weighting, names="llm" if kind == "llm" else "keywords"), embedder.name,
                )
                seconds = time.perf_counter() - start
                clear_summaries(tree, hybrid)
                method = f"{described}, {weighting}"
                rows.append(score(name, method, seed, hybrid, seconds, refs, embedder, sample, X, cache))
                if kind == "llm":
                    reports = llm_namer.reports[named_before:]
                    rows[-1].llm_requests, rows[-1].llm_failed = sum(r.requests for r in reports), sum(r.failed for r in reports)
                    if llm_nav:
                        llm_navigation(rows[-1], hybrid, settings, llm_nav, cache)
                done(rows[-1])
                print(f"  {name} seed {seed}: {method} {shape_of(hybrid)} in {seconds:.1f} s", flush=True)
    return rows


def median_rows(rows: list[Row]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    keys = list(dict.fromkeys((r.corpus, r.method) for r in rows))
    for corpus, method in keys:
        group = [r for r in rows if r.corpus == corpus and r.method == method]

        def med(values: list[float]) -> float:
            return round(statistics.median(values), 4)

        out.append({
            "corpus": corpus, "method": method, "seeds": len(group), "shape": group[0].shape,
            "seconds": med([r.seconds for r in group]),
            "dp": {k: med([r.dp[k] for r in group]) for k in group[0].dp},
            "top_nmi": {k: med([r.top_nmi[k] for r in group]) for k in group[0].top_nmi},
            "fidelity": med([r.fidelity for r in group]), "fidelity_top": med([r.fidelity_top for r in group]),
            "nav_exact": med([r.nav_exact for r in group]), "nav_match": med([r.nav_match for r in group]), "nav_top": med([r.nav_top for r in group]),
            "per_seed_dp": {k: [r.dp[k] for r in group] for k in group[0].dp},
            "llm_nav_targets": group[0].llm_nav_targets,
            "llm_nav_exact": med([r.llm_nav_exact for r in group]), "llm_nav_match": med([r.llm_nav_match for r in group]),
            "llm_nav_invalid": sum(r.llm_nav_invalid for r in group), "llm_nav_seconds": med([r.llm_nav_seconds for r in group]),
            "llm_requests": sum(r.llm_requests for r in group), "llm_failed": sum(r.llm_failed for r in group),
        })
    return out


def report(medians: list[dict[str, Any]], args: argparse.Namespace, texts: str, started: float) -> str:
    memory = memory_gib()
    lines = [
        "# Summary-grouped upper levels (the hybrid) vs centroid grouping",
        "",
        f"Command: `python bench/bench_hybrid.py {' '.join(sys.argv[1:])}`".rstrip(),
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {f'{memory:.0f} GiB' if memory else 'memory unknown'} "
        f"(shared; load average at start {args.load:.1f}), {platform.platform()}. "
        f"Run {datetime.now(UTC).isoformat(timespec='minutes')}, {time.perf_counter() - started:.0f} s (corpora may run side by side, see the command).",
        "",
        f"**Texts grouped: {texts}.**",
        "",
        f"Same leaves, same documents: the centroid tree (`--preset {args.preset}` build; the build seeds 0, 1, ... in the `seeds` column) and that tree regrouped by "
        "`topicmap regroup` at the map tree's own level counts. Scores from `evaluate_tree` (the code of "
        "`topicmap evaluate`): dendrogram purity (DP) per reference, NMI of the top level (depth 1), label fidelity "
        "(all levels / depth 1), and the embedding navigator on {} seeded targets (exact leaf, mean share of the path "
        "followed, depth-1 accuracy). Cells are medians over the seeds; `seconds` is the build (map) or the regrouping "
        "(hybrid, embedding included; a loaded shared machine, so timings are rough).".format(args.sample),
        "",
        "| corpus | upper levels | seeds | shape | DP | top-level NMI | fidelity (all / top) | nav exact | nav path | nav top | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in medians:
        dp = ", ".join(f"{k} {v:.3f}" for k, v in m["dp"].items())
        nmi = ", ".join(f"{k} {v:.3f}" for k, v in m["top_nmi"].items())
        lines.append(
            f"| {m['corpus']} | {m['method']} | {m['seeds']} | {m['shape']} | {dp} | {nmi} | {m['fidelity']:.3f} / {m['fidelity_top']:.3f} | "
            f"{m['nav_exact']:.3f} | {m['nav_match']:.3f} | {m['nav_top']:.3f} | {m['seconds']:.1f} |"
        )
    if any(m.get("llm_nav_targets") or m.get("llm_requests") for m in medians):
        lines += [
            "",
            "With the model: label (naming) requests and failed labels summed over the seeds; the LLM navigator on its own "
            "seeded targets (`--llm-nav`), medians over the seeds.",
            "",
            "| corpus | upper levels | label requests | failed labels | LLM nav targets | LLM nav exact | LLM nav path | invalid answers | LLM nav seconds |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for m in medians:
            lines.append(
                f"| {m['corpus']} | {m['method']} | {m.get('llm_requests', 0)} | {m.get('llm_failed', 0)} | {m.get('llm_nav_targets', 0)} | "
                f"{m.get('llm_nav_exact', float('nan')):.3f} | {m.get('llm_nav_match', float('nan')):.3f} | {m.get('llm_nav_invalid', 0)} | {m.get('llm_nav_seconds', 0):.0f} |"
            )
    lines += ["", *args.note] if getattr(args, "note", None) else []
    lines += ["", "DP per seed:", ""]
    for m in medians:
        lines.append(f"- {m['corpus']}, {m['method']}: " + "; ".join(f"{k} {v}" for k, v in m["per_seed_dp"].items()))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA), help="corpus (repeatable; default: every one available)")
    parser.add_argument("--seeds", type=int, default=3, help="build seeds 0..N-1 (default 3)")
    parser.add_argument("--sample", type=int, default=500, help="navigation targets per tree (default 500)")
    parser.add_argument("--preset", choices=["map", "browse", "deep"], default="map", help="build preset of the trees (browse: few leaves, few label requests)")
    parser.add_argument("--llm-nav", type=int, default=0, metavar="N", help="with a model: the LLM navigator on N seeded targets per tree (default 0: not run)")
    parser.add_argument("--output", type=Path, default=RESULTS / "hybrid.md")
    parser.add_argument("--texts", action="append", choices=sorted(TEXT_NAMES), help="stand-in texts without an LLM (repeatable; default both)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "topicmap-bench-hybrid", help="embedding cache (queries and labels are embedded once)")
    parser.add_argument("--merge", type=Path, nargs="+", help="write the report from the .json files of earlier runs (e.g. one per corpus run side by side)")
    parser.add_argument("--note", action="append", default=[], help="a line to add under the table (e.g. the commands merged)")
    args = parser.parse_args()
    started = time.perf_counter()
    args.load = os.getloadavg()[0]
    if args.merge:
        runs = [json.loads(path.read_text("utf-8")) for path in args.merge]
        rows = [Row(**r) for run in runs for r in run["rows"]]
        args.seeds = max(r.seed for r in rows) + 1
        args.sample = runs[0].get("sample", args.sample)
        args.load = runs[0].get("load", args.load)
        args.preset = runs[0].get("preset", "map")
        elapsed = max(run.get("seconds", 0.0) for run in runs)
        write_text_atomic(args.output, report(median_rows(rows), args, runs[0]["texts"], time.perf_counter() - elapsed))
        write_text_atomic(args.output.with_suffix(".json"), json.dumps({**runs[0], "rows": [r.__dict__ for r in rows], "medians": median_rows(rows)}, indent=1) + "\n")
        print(f"wrote {args.output}")
        return
    names = args.corpus or [n for n, (docs, _, _) in CORPORA.items() if docs.exists()]
    settings = llm_settings()
    texts = (f"LLM names and summaries ({settings.config.model})" if settings is not None
             else "no LLM server (OPENAI_BASE_URL and TOPICMAP_BENCH_MODEL unset), so NOT LLM summaries but two stand-ins: "
                  "keyword texts (each node's keyword label and its c-TF-IDF keywords) and representative titles "
                  f"(the keyword label plus the titles, else first 12 words, of the node's first {TITLES} representative documents)")
    embedder = SentenceTransformerEmbedder("minilm")
    rows: list[Row] = []

    def save(row: Row | None = None) -> None:
        """Every finished tree is saved at once (the .json; --merge reports what a stopped run finished)."""
        if row is not None:
            rows.append(row)
        record = {"texts": texts, "sample": args.sample, "load": args.load, "preset": args.preset, "seconds": round(time.perf_counter() - started, 1),
                  "medians": median_rows(rows), "rows": [r.__dict__ for r in rows]}
        write_text_atomic(args.output.with_suffix(".json"), json.dumps(record, indent=1) + "\n")

    for name in names:
        print(f"{name} ...", flush=True)
        run_corpus(name, args.seeds, args.sample, embedder, settings, args.cache, args.texts or ["keywords", "titles"], save, args.preset, args.llm_nav)
    write_text_atomic(args.output, report(median_rows(rows), args, texts, started))
    save()
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
