"""Benchmark of the command line's start-up: ``--help``, ``build --help`` and early errors, wall time per call.

Run: ``python bench/bench_startup.py`` (from the repository root); add ``--compare /path/to/other/checkout`` to
time another checkout of topicmap the same way, in alternating order (e.g. the code before a change). Every
call is a fresh ``python -m hierarchy ...`` with the checkout first on PYTHONPATH, in an empty temporary
folder; the table gives the median of ``--runs`` calls and, from one more call under ``-X importtime``,
the heavy packages the command imported. Writes ``bench/results/startup.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model  # noqa: E402

COMMANDS: list[tuple[str, list[str]]] = [
    ("topicmap --help", ["--help"]),
    ("topicmap build --help", ["build", "--help"]),
    ("error: a missing input (build missing.jsonl)", ["build", "missing.jsonl"]),
    ("error: a bad option (build docs.jsonl --bogus)", ["build", "docs.jsonl", "--bogus"]),
    ("error: a bad build value (build docs.jsonl --leaves 0)", ["build", "docs.jsonl", "--leaves", "0"]),
    ("error: a missing tree (info missing.tree.json)", ["info", "missing.tree.json"]),
    ("error: a folder as the tree (info .)", ["info", "."]),
    ("error: a missing tree (label missing.tree.json)", ["label", "missing.tree.json"]),
    ("error: a missing tree (crosstab missing.tree.json a.tree.json)", ["crosstab", "missing.tree.json", "a.tree.json"]),
]
HEAVY = ("numpy", "scipy", "sklearn", "networkx", "jsonschema", "jinja2", "pandas", "pyarrow", "openai", "plotly", "dash", "umap", "torch")


def run_once(checkout: Path, args: list[str], folder: Path, importtime: bool = False) -> tuple[float, float, str]:
    """Wall and CPU (user + system) seconds of one ``python -m hierarchy ARGS`` call, and its stderr.

    CPU seconds hardly move with other work on the machine; wall seconds do."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(checkout)
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "hierarchy", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), result.stderr


def heavy_imports(importtime_log: str) -> list[str]:
    """Top-level packages from HEAVY that an ``-X importtime`` log shows as imported."""
    names = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", importtime_log, flags=re.MULTILINE))
    return [name for name in HEAVY if name in names]


Timings = tuple[list[float], list[float], list[str]]  # wall seconds, CPU seconds, heavy imports


def measure(checkouts: dict[str, Path], runs: int) -> dict[str, dict[str, Timings]]:
    """Per checkout and command: the wall and CPU times of ``runs`` calls (checkouts alternate) and the heavy imports."""
    results: dict[str, dict[str, Timings]] = {name: {} for name in checkouts}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "docs.jsonl").write_text('{"text": "a document"}\n', encoding="utf-8")
        for label, args in COMMANDS:
            times: dict[str, list[float]] = {name: [] for name in checkouts}
            cpus: dict[str, list[float]] = {name: [] for name in checkouts}
            for name, checkout in checkouts.items():
                run_once(checkout, args, folder)  # warm the file cache; not counted
            for _ in range(runs):
                for name, checkout in checkouts.items():
                    wall, cpu, _ = run_once(checkout, args, folder)
                    times[name].append(wall)
                    cpus[name].append(cpu)
            for name, checkout in checkouts.items():
                _, _, log = run_once(checkout, args, folder, importtime=True)
                results[name][label] = (times[name], cpus[name], heavy_imports(log))
    return results


def git_describe(checkout: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h %s"], capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    if not out:
        return "not a git checkout"
    return (out if len(out) <= 72 else out[:69] + "...") + (" (with uncommitted changes)" if dirty else "")


def report(command: str, checkouts: dict[str, Path], results: dict[str, dict[str, Timings]], runs: int, load_before: float, load_after: float) -> str:
    names = list(checkouts)
    lines = [
        "# Benchmark: command-line start-up",
        "",
        f"Machine: {cpu_model()}; {os.cpu_count()} cores; Python {platform.python_version()}; {platform.system()} {platform.release()}; "
        f"1-minute load average {load_before:.1f} before, {load_after:.1f} after (other work on the machine inflates wall times)",
        "",
        f"Command: `{command}`. Each cell is the median wall time (and CPU time, user + system, which other work on the "
        f"machine hardly changes) of {runs} fresh `python -m hierarchy ...` calls (checkouts alternating, after one uncounted "
        "warm-up call), in an empty temporary folder; *heavy imports* come from one more call under `python -X importtime`.",
        "",
        *[f"- *{name}*: `{path}` ({git_describe(path)})" for name, path in checkouts.items()],
        "",
        "| command | " + " | ".join(f"{name}: median wall s (min-max) | {name}: CPU s | {name}: heavy imports" for name in names) + " |",
        "| --- | " + " | ".join("---: | ---: | ---" for _ in names) + " |",
    ]
    for label, _ in COMMANDS:
        cells = []
        for name in names:
            times, cpus, heavy = results[name][label]
            cells.append(f"{statistics.median(times):.2f} ({min(times):.2f}-{max(times):.2f})")
            cells.append(f"{statistics.median(cpus):.2f}")
            cells.append(", ".join(heavy) or "none")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=Path, help="another checkout of topicmap to time the same way (e.g. before a change)")
    parser.add_argument("--runs", type=int, default=7, help="calls per command and checkout")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "startup.md")
    options = parser.parse_args()
    checkouts = {"this checkout": ROOT}
    if options.compare is not None:
        checkouts = {"compared": options.compare.resolve(), "this checkout": ROOT}
    load_before = os.getloadavg()[0]
    results = measure(checkouts, options.runs)
    command = "python bench/bench_startup.py" + (f" --compare {options.compare}" if options.compare else "") + (f" --runs {options.runs}" if options.runs != 7 else "")
    text = report(command, checkouts, results, options.runs, load_before, os.getloadavg()[0])
    options.output.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
