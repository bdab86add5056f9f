"""Facet extraction with a real model: time per document, failure rate, what the notes look like.

Needs an OpenAI-compatible server with a real model (never run in CI; the tests use the scripted
server). On this machine, for example:

    pip install 'llama-cpp-python[server]'   # compiles for 10-30 minutes
    python -m llama_cpp.server --model qwen2.5-1.5b-instruct-q4_k_m.gguf --host 127.0.0.1 --port 8765 --n_threads 2
    OPENAI_BASE_URL=http://127.0.0.1:8765/v1 python bench/bench_extract.py --model qwen2.5-1.5b

It runs ``topicmap extract`` (the user's path) on the 56 bundled paper abstracts with the ``papers``
facets and on the first BBC articles with the ``general`` facets, each with a fresh answer cache so
every document is really asked (``--cache-dir`` reuses one, e.g. to finish an interrupted run). Writes
``bench/results/extract-<model>-<prompt>.md``: model, prompt and facet-set versions, the server's
structured-output form, wall time per document, requests per document, the failure rate (documents
and notes), notes "not stated", repaired answers, and a sample of notes for a reader to judge.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import subprocess
import sys
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model  # noqa: E402

CORPORA = {  # name: (documents, facet set, default number of documents)
    "papers": (ROOT / "data" / "papers.jsonl", "papers", 56),
    "bbc": (ROOT / "data" / "bbc.jsonl.gz", "general", 30),
}
SAMPLE_ROWS = 6


def read_rows(path: Path, limit: int) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
            if len(rows) >= limit:
                break
    return rows


class LoadSampler:
    """The 1-minute load average every ``every`` seconds while a run goes on (the machine is shared)."""

    def __init__(self, every: float = 30.0) -> None:
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])


def answer_times(cache_dir: Path, since: float) -> list[float]:
    """Seconds per document answered in this run, from the answers cache: each validated answer is stored the
    moment it arrives, so with concurrency 1 the gaps between the new files' times are the documents' times
    (retries included; a failed document is not stored, so its time goes to the next one)."""
    stamps = sorted(p.stat().st_mtime for p in cache_dir.rglob("*.json") if p.stat().st_mtime >= since)
    return [b - a for a, b in zip([since, *stamps], stamps)]


def run_extract(docs: Path, out: Path, args: argparse.Namespace, facet_set: str, cache_dir: Path) -> tuple[float, str]:
    command = [
        sys.executable, "-m", "hierarchy", "extract", str(docs), "-o", str(out), "--facet-set", facet_set, "-m", args.model,
        "--cache-dir", str(cache_dir), "--no-progress", "--timeout", str(args.timeout), "--concurrency", str(args.concurrency),
        "--max-retries", "1", *(["--prompt", args.prompt] if args.prompt else []), *([] if args.json_schema else ["--no-json-schema"]),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"topicmap extract failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout


def number(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    return int(match.group(1).replace(",", "")) if match else -1


def measure(name: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    source, facet_set, default_limit = CORPORA[name]
    rows = read_rows(source, args.limit or default_limit)
    docs = work / f"{name}.jsonl"
    docs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    out = work / f"{name}.facets.jsonl"
    cache = Path(args.cache_dir) if args.cache_dir else Path(tempfile.mkdtemp(prefix="bench-extract-cache-"))
    since = time.time()
    with LoadSampler() as load:
        seconds, summary = run_extract(docs, out, args, facet_set, cache)
    per_doc = answer_times(cache, since)
    print(f"[{name}] {len(rows)} documents in {seconds:.0f} s", file=sys.stderr, flush=True)
    back = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    facets = re.search(r"facets (.+?) from (\S+)\)", summary)
    names = facets.group(1).split(", ") if facets else []
    failed_docs = [r for r in back if r.get("_extract_errors")]
    failed_notes = sum(len(r["_extract_errors"].split(" | ")) for r in failed_docs)  # groups; a lower bound on notes
    lengths = [len(r[n]) for r in back for n in names if r.get(n)]
    return {
        "corpus": name,
        "documents": len(rows),
        "seconds": seconds,
        "run_seconds": float((re.search(r"\) in ([\d.]+) s\n", summary) or [None, "nan"])[1]),
        "requests": number(r"in ([\d,]+) HTTP requests", summary),
        "answers": number(r"([\d,]+) answers in", summary),
        "repaired": number(r"\(([\d,]+) repaired JSON\)", summary),
        "not_stated": number(r"([\d,]+) notes 'not stated'", summary),
        "cached": number(r"([\d,]+) answers from the cache", summary),
        "failed_docs": len(failed_docs),
        "failed_groups": failed_notes,
        "empty_notes": sum(1 for r in back for n in names if not r.get(n)),
        "notes": len(back) * len(names),
        "mean_chars": sum(lengths) / max(1, len(lengths)),
        "format": (re.search(r"output constrained by: ([^;]+);", summary) or [None, "?"])[1],
        "prompt": (re.search(r"\((extract_facets@v\d+)", summary) or [None, "?"])[1],
        "facet_set": facets.group(2) if facets else "?",
        "facets": names,
        "rows": back,
        "errors": [(r.get("id", "?"), r["_extract_errors"]) for r in failed_docs],
        "summary": summary.strip(),
        "per_doc": per_doc,
        "load": load.samples,
    }


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    base_url = os.environ["OPENAI_BASE_URL"]
    lines = [
        f"# Facet extraction with a real model: {args.model}",
        "",
        f"Machine: {cpu_model()}; {os.cpu_count()} cores; Python {platform.python_version()}. Server: {base_url} "
        f"(concurrency {args.concurrency}, timeout {args.timeout:g} s, JSON schema {'on' if args.json_schema else 'off'}). "
        f"Command: `python bench/bench_extract.py {' '.join(sys.argv[1:])}`. "
        + (
            f"Answers cache: `{args.cache_dir}` (reused: documents answered by an earlier, interrupted run come from it, "
            "so time is given per request made, not per document). "
            if args.cache_dir
            else "One run per corpus, every document asked (fresh cache). "
        )
        + "Times are the run's own (without the command's start-up; wall s includes it).",
        "",
        "| corpus | facets | prompt | documents | answers from the cache | wall s | s per request made (run only) | requests made per document asked | failed documents | empty notes | 'not stated' | repaired JSON | output constrained by | mean note chars |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        docs = max(1, r["documents"])
        asked = max(1, r["documents"] - r["cached"])
        lines.append(
            f"| {r['corpus']} | {r['facet_set']} | {r['prompt']} | {r['documents']} | {r['cached']} | {r['seconds']:.0f} | "
            f"{r['run_seconds'] / max(1, r['requests']):.1f} | {r['requests'] / asked:.2f} | {r['failed_docs']} ({100 * r['failed_docs'] / docs:.0f}%) | {r['empty_notes']} of {r['notes']} | "
            f"{r['not_stated']} | {r['repaired']} | {r['format']} | {r['mean_chars']:.0f} |"
        )
    lines += [
        "",
        "| corpus | documents answered in this run | s per document: median | min | max | 1-min load average: median | min | max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        t, load = r["per_doc"], r["load"]
        cells = [f"{statistics.median(t):.0f}", f"{min(t):.0f}", f"{max(t):.0f}"] if t else ["-", "-", "-"]
        lines.append(f"| {r['corpus']} | {len(t)} | {' | '.join(cells)} | {statistics.median(load):.1f} | {min(load):.1f} | {max(load):.1f} |")
    lines += [
        "",
        "Seconds per document come from the answers cache (each validated answer is stored as it arrives, "
        "concurrency 1): retries are included, a failed document's time is counted in the next one's. "
        "The load average is sampled every 30 s during the run.",
    ]
    for r in results:
        lines += ["", f"## {r['corpus']}", "", "```", r["summary"], "```", ""]
        if r["errors"]:
            lines += ["Failures:", ""] + [f"- {doc}: {err[:300]}" for doc, err in r["errors"][:15]] + [""]
        header = ["title", *r["facets"]]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in r["rows"][:SAMPLE_ROWS]:
            cells = [str(row.get("title", row.get("id", "")))[:80]] + [str(row.get(n) or "").replace("|", "/") for n in r["facets"]]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model name sent to the server (also names the results file)")
    parser.add_argument("--prompt", default=None, help="extraction prompt version, e.g. extract_facets@v1 (default: latest)")
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA), help="default: all")
    parser.add_argument("--limit", type=int, default=None, help="documents per corpus (default: papers 56, bbc 30)")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--concurrency", type=int, default=1, help="a CPU llama.cpp server answers one request at a time")
    parser.add_argument("--no-json-schema", dest="json_schema", action="store_false", help="plain JSON mode instead of a schema")
    parser.add_argument("--cache-dir", default=None, help="reuse this answer cache (default: a fresh one, so every document is asked)")
    parser.add_argument("--out", default=None, help="results file (default: bench/results/extract-<model>-<prompt>.md)")
    parser.add_argument("--work", default=str(ROOT / "bench" / "data" / "extract"), help="where the inputs and outputs go")
    args = parser.parse_args()
    if not os.environ.get("OPENAI_BASE_URL"):
        raise SystemExit("set OPENAI_BASE_URL to the model server, e.g. http://127.0.0.1:8765/v1")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = [measure(name, args, work) for name in (args.corpus or sorted(CORPORA, reverse=True))]
    prompt = results[0]["prompt"].split("@")[-1] if results else "v1"
    safe_model = re.sub(r"[^A-Za-z0-9._-]+", "-", args.model)
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"extract-{safe_model}-{prompt}.md"
    out.write_text("\n".join(report(results, args)) + "\n", "utf-8")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
