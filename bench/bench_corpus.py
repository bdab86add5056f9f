"""Builds with texts at scale (issue 16): wall time and peak RSS of `topicmap build` on a JSONL corpus.

    python bench/bench_corpus.py --rows 200000 1000000 --runs 3 --checkout /work/main --label before
    python bench/bench_corpus.py --rows 200000 1000000 --runs 3 --label after
    python bench/bench_corpus.py --rows 10000000 --runs 1 --label after

Each run is a fresh child process, `python -m hierarchy build DOCS.jsonl --embeddings X.npy --no-cache -q`
(with ``--named-model`` also `--embedder minilm`: keywords steered and routed with MiniLM, uncached) from the checkout named (default: this one), timed by `/usr/bin/time -v` (peak RSS of the child). The
vectors are the first N rows of `/work/bench-data-ooc/x{1,10}M.npy` (bench/scale_data.py: 384-d float32,
2,000 synthetic topics), so nothing is embedded; the texts are made here (:func:`write_corpus`): seeded,
24 words each from a vocabulary of 30,000 made-up words (each row's words from its topic's 300, plus
common words), a title on two rows in three and a `source` metadata field: about 240 bytes a line. The
whole build is timed: reading and checking the corpus, clustering, keyword counts over the texts,
representatives, layout, and writing the tree file and its Parquet sidecar (texts included). Rows are
appended to `bench/results/corpus.md` with the 1-minute load average before and after every run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model, memory_gib  # noqa: E402

TOPIC_WORDS = 300
VOCABULARY = 30_000
WORDS_PER_TEXT = 24


def write_corpus(path: Path, n: int, seed: int = 0) -> None:
    """``n`` JSONL rows of made-up texts (see the module's docstring), written a block at a time."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(4, 10, VOCABULARY)
    words = np.array(["".join(rng.choice(letters, k)) for k in lengths], dtype=object)
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8") as fh:
        for lo in range(0, n, 100_000):
            m = min(n, lo + 100_000) - lo
            topics = rng.integers(0, 2000, m)
            picks = (topics[:, None] * 97 + (rng.zipf(1.3, (m, WORDS_PER_TEXT)) % TOPIC_WORDS)) % VOCABULARY
            common = rng.random((m, WORDS_PER_TEXT)) < 0.25
            picks[common] = rng.integers(0, 200, int(common.sum()))
            texts = words[picks]
            lines = []
            for k in range(m):
                i = lo + k
                title = f'"title":"{words[picks[k, 0]]} {words[picks[k, 1]]} {i}",' if i % 3 else ""
                lines.append(f'{{"id":"d{i}",{title}"text":"{" ".join(texts[k])}","source":"s{i % 7}"}}\n')
            fh.write("".join(lines))
    tmp.replace(path)


def vectors_for(n: int, data: Path) -> Path:
    """The first ``n`` rows of the smallest bench matrix that has them (a new .npy only for sizes without one)."""
    exact = data / f"x{n}.npy"
    if exact.exists():
        return exact
    bigger = sorted((p for p in data.glob("x*.npy") if re.fullmatch(r"x\d+\.npy", p.name) and int(p.stem[1:]) >= n), key=lambda p: int(p.stem[1:]))
    if not bigger:
        raise SystemExit(f"no matrix of {n:,} rows or more in {data} (make one with bench/scale_data.py)")
    out = data / f"texts-x{n}.npy"
    if not out.exists():
        np.save(out, np.load(bigger[0], mmap_mode="r")[:n])
    return out


def run_once(checkout: Path, docs: Path, vectors: Path, work: Path, named: bool = False) -> dict:
    out = work / "out" / "t.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    for old in out.parent.iterdir():
        old.unlink()
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "hierarchy", "build", str(docs), "--embeddings", str(vectors), "--no-cache", "-q", "-o", str(out)] + (["--embedder", "minilm"] if named else [])
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    err = work / "out" / "stderr.txt"
    with err.open("w") as stderr:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, cwd=work, env={**os.environ, "PYTHONPATH": str(checkout), "TMPDIR": str(work)})
        pss_peak = 0
        while child.poll() is None:  # forked keyword passes share pages with the build: their sum of PSS is the memory used
            pss_peak = max(pss_peak, sum(_pss_kb(pid) for pid in _tree(child.pid)))
            time.sleep(1.0)
    wall = time.perf_counter() - started
    text = err.read_text(encoding="utf-8", errors="replace")
    if child.returncode != 0:
        raise SystemExit(f"child failed ({child.returncode}): {text[-3000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", text).group(1)) for kind in ("User", "System"))
    manifest = json.loads(out.read_text(encoding="utf-8"))["manifest"]
    sidecar = sum(p.stat().st_size for p in out.parent.glob("*.parquet"))
    return {"wall": wall, "cpu": cpu, "peak_gb": peak_kb / 1024**2, "pss_gb": pss_peak / 1024**2, "load_before": load_before, "load_after": os.getloadavg()[0], "timings": manifest.get("timings_s", {}), "sidecar_gb": sidecar / 1e9}


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    found = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
                found += [p for child in fh.read().split() for p in _tree(int(child))]
    except OSError:
        pass
    return found


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("Pss:")), 0)
    except OSError:
        return 0


def commit_of(checkout: Path) -> str:
    done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
    return done.stdout.strip() + ("+changes" if dirty else "")


def add_checkout_options(parser: argparse.ArgumentParser, output: Path) -> None:
    """The options every synthetic-corpus bench shares: which code, what to call it, where data and results go."""
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the code to time (a git worktree)")
    parser.add_argument("--label", default="", help="what the rows are called in the table (before, after, ...)")
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data-ooc"))
    parser.add_argument("--work", type=Path, default=Path("/work/bench-data-ooc/corpus-bench"), help="texts, tree files and scratch files")
    parser.add_argument("--output", type=Path, default=output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    add_checkout_options(parser, ROOT / "bench" / "results" / "corpus.md")
    parser.add_argument("--named-model", action="store_true", help="add --embedder minilm: the vectors are named as MiniLM's, so the build also steers and routes its keywords with the model (the vectors are synthetic, so the words it picks mean nothing; what it costs is the point)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    commit = commit_of(args.checkout)
    lines = []
    for n in args.rows:
        docs = args.work / f"docs-{n}.jsonl"
        if not docs.exists():
            made = time.perf_counter()
            write_corpus(docs, n)
            print(f"wrote {docs} ({docs.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - made:.0f}s", file=sys.stderr)
        vectors = vectors_for(n, args.data)
        runs = []
        for r in range(args.runs):
            result = run_once(args.checkout, docs, vectors, args.work, args.named_model)
            print(f"{args.label} {n:,}: run {r + 1}: {result['wall']:.1f}s (CPU {result['cpu']:.0f}s), peak {result['peak_gb']:.2f} GiB (PSS of all processes {result['pss_gb']:.2f}), load {result['load_before']:.2f}->{result['load_after']:.2f}, {result['timings']}", file=sys.stderr)
            runs.append(result)
        middle = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
        t = middle["timings"]
        stages = ", ".join(f"{k} {v:.0f}" for k, v in t.items() if k != "total")
        walls = ", ".join(f"{r['wall']:.0f}" for r in runs)
        loads = ", ".join(f"{r['load_before']:.1f}-{r['load_after']:.1f}" for r in runs)
        lines.append(
            f"| {args.label} | {commit} | {n:,} | {docs.stat().st_size / 1e9:.2f} GB | {len(runs)} | {statistics.median(r['wall'] for r in runs):.0f} s ({walls}) | "
            f"{statistics.median(r['cpu'] for r in runs):.0f} s | {statistics.median(r['peak_gb'] for r in runs):.2f} GiB ({statistics.median(r['pss_gb'] for r in runs):.2f}) | {stages} | {middle['sidecar_gb']:.2f} GB | {loads} |"
        )
    if not args.output.exists():
        head = [
            "# Builds with texts at scale (issue 16)",
            "",
            f"Machine: {cpu_model()}, {os.cpu_count()} cores, {memory_gib() or 0:.0f} GiB, shared (a llama.cpp server keeps one core busy; "
            "other helpers' jobs: see the load averages). Command: `python bench/bench_corpus.py --rows N ... --runs R --label L "
            "[--checkout PATH]` (bench/bench_corpus.py says how the texts are made).",
            "",
            "`topicmap build docs.jsonl --embeddings x.npy --no-cache -q` in a fresh process, map preset, seed 0, 384-d vectors streamed "
            "from a `.npy`, keywords counted over the texts, tree file + Parquet sidecar with the texts written. Peak RSS of the child "
            "(`/usr/bin/time -v`); medians over the runs; stage seconds (the manifest's timings) from the median run; they do not include "
            "reading the corpus or writing the files, which the wall time does.",
            "",
            "| code | commit | rows | JSONL | runs | wall (median; each) | CPU user+sys | peak RSS | stages (s) | sidecar | load 1-min (before-after) |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
        ]
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text("\n".join(head) + "\n", encoding="utf-8")
    with args.output.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"appended to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
