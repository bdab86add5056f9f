"""``topicmap assign`` of new documents into a big sidecar tree: ``python bench/bench_assign_sidecar.py``.

A synthetic sidecar tree (``topicmap.viz.synthetic.synthetic_sidecar_tree``: 4,900 leaves, 16 words a
document, rows in shuffled order; ``--docs``, default 1,000,000) is written under ``--data`` once and
given seeded 32-dimensional centroids (leaves random unit vectors, parents the mean of their
children); ``--new`` documents (default 10,000) are drawn near random leaves' centroids, so they
spread over the tree; the smallest leaves and their parents drift past the default stale threshold
(50 nodes at 1M), so their keywords are refreshed (beyond 200,000 documents from their rows and a
weighted sample of the rest: ``hierarchy/builder/assign.py``). Each run
copies the tree to a fresh folder (not timed) and times the command as a child process: wall
seconds and the child's peak RSS (``wait4``). ``--cli`` adds rows for another ``topicmap``
executable (main's, to compare with the version that read every document). Writes
``bench/results/assign-sidecar.md``. The machine is shared: the table records the 1-minute load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model, memory_gib  # noqa: E402

DEFAULT_DATA = Path("/work/bench-data-assign")
DIM = 32


def ensure_tree(data: Path, n_docs: int) -> Path:
    """The synthetic sidecar tree with centroids (written once)."""
    import numpy as np

    from topicmap.hierarchy.tree.treefile import load_tree, save_tree
    from topicmap.viz.synthetic import synthetic_sidecar_tree

    path = data / f"tree-{n_docs}" / "synthetic.tree.json"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    synthetic_sidecar_tree(path, n_docs)
    tree = load_tree(path)
    rng = np.random.default_rng(0)
    for node in tree.iter_bottom_up():
        kids = tree.children(node.id)
        vector = rng.normal(size=DIM) if not kids else np.mean([k.centroid for k in kids], axis=0)
        node.centroid = (vector / np.linalg.norm(vector)).astype(np.float32)
    tree.manifest.setdefault("embedder", {})["dimensions"] = DIM
    save_tree(tree, path)  # the JSON only: the sidecar is kept as it is
    return path


def new_documents(data: Path, tree_file: Path, n_new: int) -> tuple[Path, Path]:
    import numpy as np

    from topicmap.hierarchy.tree.treefile import load_tree

    docs, vectors = data / f"new-{n_new}.jsonl", data / f"new-{n_new}.npy"
    if docs.is_file() and vectors.is_file():
        return docs, vectors
    tree = load_tree(tree_file)
    leaves = tree.leaves()
    rng = np.random.default_rng(1)
    picks = rng.integers(0, len(leaves), size=n_new)
    out = np.stack([leaves[p].centroid for p in picks]) + rng.normal(0, 0.05, size=(n_new, DIM))
    np.save(vectors, out.astype(np.float32))
    with open(docs, "w", encoding="utf-8") as fh:
        for i, p in enumerate(picks.tolist()):
            words = " ".join(leaves[p].keywords[:8])
            fh.write(json.dumps({"id": f"new-{i}", "title": f"new {i}", "text": f"{words} fresh report {i}"}) + "\n")
    return docs, vectors


def run_once(cli: str, tree_file: Path, docs: Path, vectors: Path, scratch: Path) -> tuple[float, float, int]:
    """Seconds, peak RSS (MiB) and documents in the result, for one assign into a fresh copy of the tree."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    for item in tree_file.parent.iterdir():
        if item.name.startswith("synthetic.tree") and not item.name.endswith(".sqlite"):
            shutil.copyfile(item, scratch / item.name)
    target = scratch / tree_file.name
    started = time.perf_counter()
    child = subprocess.Popen([cli, "assign", str(target), str(docs), "--embeddings", str(vectors), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    out, err = child.communicate()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cli} assign failed: {err.decode()[-500:]}")
    rows = json.loads(target.read_text())["documents_file"]["rows"]
    return seconds, usage.ru_maxrss / 1024, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cli", action="append", default=[], help="another topicmap executable to time (NAME=PATH)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "assign-sidecar.md")
    args = parser.parse_args()
    tree_file = ensure_tree(args.data, args.docs)
    docs, vectors = new_documents(args.data, tree_file, args.new)
    clis = [("this branch", str(Path(sys.executable).parent / "topicmap"))] + [tuple(c.split("=", 1)) for c in args.cli]  # type: ignore[misc]
    rows = []
    for name, cli in clis:
        seconds, rss, loads = [], [], []
        for run in range(args.runs):
            loads.append(os.getloadavg()[0])
            s, r, n = run_once(cli, tree_file, docs, vectors, args.data / "scratch")
            seconds.append(s)
            rss.append(r)
            print(f"{name}: run {run + 1}: {s:.1f} s, {r:.0f} MiB peak RSS, {n:,} documents after", flush=True)
        rows.append((name, statistics.median(seconds), max(rss), min(loads), max(loads), n))
    shutil.rmtree(args.data / "scratch", ignore_errors=True)
    lines = [
        f"# assign {args.new:,} new documents into a {args.docs:,}-document sidecar tree",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {memory_gib() or 0:.0f} GiB, Python {platform.python_version()}; shared with other jobs "
        f"(1-minute load average per row). `python bench/bench_assign_sidecar.py --docs {args.docs} --new {args.new} --runs {args.runs}`.",
        "Each run: `topicmap assign TREE NEW.jsonl --embeddings NEW.npy` into a fresh copy of the tree (JSON + sidecar), as a child process;",
        "wall time includes start-up, loading the tree, placing, writing the new sidecar (old row groups streamed, then the new rows) and the JSON.",
        "",
        "| code | median s | peak RSS MiB | documents after | load (1 min) |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, s, r, lo, hi, n in rows:
        lines.append(f"| {name} | {s:.1f} | {r:.0f} | {n:,} | {lo:.1f}-{hi:.1f} |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
