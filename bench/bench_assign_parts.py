"""A sidecar of one file against a directory of parts: writing it, and ``assign`` into it.

``python bench/bench_assign_parts.py [--docs 1000000] [--new 10000] [--part-rows 131072] [--runs 3]``

The synthetic sidecar tree of bench/bench_assign_sidecar.py (written once under ``--data``) is
copied into parts of ``--part-rows`` rows (the Dask engine's partition size; not timed). Then, per run:

- writing: the tree's documents streamed from the one-file sidecar into a new one-file sidecar, and into
  a directory of parts written one after another in this process (what ``build`` on the local engine
  would do with parts; ``--engine dask`` writes the parts on the workers instead);
- assign: ``topicmap assign TREE NEW.jsonl --embeddings NEW.npy`` into a fresh copy of each form, as a
  child process (wall seconds and peak RSS by ``wait4``): the one file is rewritten with the new rows,
  the directory gains one part and keeps its old parts as hard links.

Medians of ``--runs``; the machine is shared, so each row records the 1-minute load average before
and after. Writes ``bench/results/assign-parts.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_assign_sidecar import DEFAULT_DATA, ensure_tree, new_documents  # noqa: E402
from bench.machine import cpu_model, memory_gib, report_head, write_report  # noqa: E402


def parted_copy(tree_file: Path, part_rows: int) -> Path:
    """The tree with its documents re-cut into parts of ``part_rows`` rows, in a folder of its own (written once)."""
    from topicmap.hierarchy.tree.documents_store import ROW_GROUP_ROWS, write_part, write_parts
    from topicmap.hierarchy.tree.topic_tree import TopicTree
    from topicmap.hierarchy.tree.treefile import load_tree, save_tree

    target = tree_file.parent.parent / f"{tree_file.parent.name}-parts-{part_rows}" / tree_file.name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tree = load_tree(tree_file)
    store = write_parts(target, lambda folder: _cut(folder, tree.store, part_rows, ROW_GROUP_ROWS, write_part))
    store.ids_checked = True
    save_tree(TopicTree(list(tree.iter_nodes()), store, manifest=tree.manifest), target)
    return target


def _cut(folder: Path, store, part_rows: int, group_rows: int, write_part) -> list:  # type: ignore[no-untyped-def]
    """The store's record batches as parts of ``part_rows`` rows each (``part_rows`` a multiple of ``group_rows``)."""
    keys = list(store.metadata_keys)
    out, pending = [], []
    for batch in store.iter_record_batches(group_rows):
        pending.append({name: batch.column(name) for name in batch.schema.names})
        if sum(len(p["id"]) for p in pending) >= part_rows:
            out.append(write_part(folder, len(out), pending, keys))
            pending = []
    if pending:
        out.append(write_part(folder, len(out), pending, keys))
    return out


def time_writes(tree_file: Path, part_rows: int, scratch: Path) -> tuple[float, float]:
    """Seconds to write the tree's documents as one file and as parts (here, one part after another)."""
    from topicmap.hierarchy.tree.documents_store import ROW_GROUP_ROWS, remove_sidecar, write_batches, write_part, write_parts
    from topicmap.hierarchy.tree.treefile import load_tree

    store = load_tree(tree_file).store
    scratch.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    one = write_batches(scratch / "one.json", ({n: b.column(n) for n in b.schema.names} for b in store.iter_record_batches(ROW_GROUP_ROWS)), list(store.metadata_keys))
    single = time.perf_counter() - started
    started = time.perf_counter()
    parts = write_parts(scratch / "parts.json", lambda folder: _cut(folder, store, part_rows, ROW_GROUP_ROWS, write_part))
    parted = time.perf_counter() - started
    remove_sidecar(one.path)
    remove_sidecar(parts.path)
    return single, parted


def assign_once(cli: str, tree_file: Path, docs: Path, vectors: Path, scratch: Path) -> tuple[float, float, int, int]:
    """Seconds, peak RSS (MiB), documents after and bytes written, for one assign into a fresh copy of the tree."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    for item in tree_file.parent.iterdir():
        if item.name.endswith(".sqlite") or not item.name.startswith(tree_file.name[: -len(".json")]):
            continue
        (shutil.copytree if item.is_dir() else shutil.copyfile)(item, scratch / item.name)
    target = scratch / tree_file.name
    pointer = json.loads(target.read_text())["documents_file"]
    started = time.perf_counter()
    child = subprocess.Popen([cli, "assign", str(target), str(docs), "--embeddings", str(vectors), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    _, err = child.communicate()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cli} assign failed: {err.decode()[-500:]}")
    after = json.loads(target.read_text())["documents_file"]
    if after.get("format") == "parquet-parts":
        old = {p["sha256"] for p in pointer.get("parts", [])}
        written = sum(p["bytes"] for p in after["parts"] if p["sha256"] not in old)
    else:
        written = after["bytes"]
    return seconds, usage.ru_maxrss / 1024, after["rows"], written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--part-rows", type=int, default=131_072)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "assign-parts.md")
    args = parser.parse_args()
    tree_file = ensure_tree(args.data, args.docs)
    parted = parted_copy(tree_file, args.part_rows)
    docs, vectors = new_documents(args.data, tree_file, args.new)
    cli = str(Path(sys.executable).parent / "topicmap")

    writes: list[tuple[float, float, float]] = []
    for run in range(args.runs):
        load = os.getloadavg()[0]
        single, parts = time_writes(tree_file, args.part_rows, args.data / "scratch-writes")
        writes.append((single, parts, load))
        print(f"write run {run + 1}: one file {single:.1f} s, parts {parts:.1f} s (load {load:.1f})", flush=True)
    shutil.rmtree(args.data / "scratch-writes", ignore_errors=True)

    rows = []
    for name, path in (("one file", tree_file), (f"parts of {args.part_rows:,} rows", parted)):
        seconds, rss, loads = [], [], []
        for run in range(args.runs):
            loads.append(os.getloadavg()[0])
            s, r, n, written = assign_once(cli, path, docs, vectors, args.data / "scratch")
            seconds.append(s)
            rss.append(r)
            print(f"assign into {name}: run {run + 1}: {s:.1f} s, {r:.0f} MiB, {n:,} documents, {written / 2**20:.2f} MiB written", flush=True)
        rows.append((name, statistics.median(seconds), max(rss), n, written, min(loads), max(loads)))
    shutil.rmtree(args.data / "scratch", ignore_errors=True)

    lines = report_head(f"# A sidecar of one file or of parts: writing {args.docs:,} documents, assigning {args.new:,} more", "bench_assign_parts.py")
    lines += [
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {memory_gib() or 0:.0f} GiB; shared with other jobs (1-minute load average per row).",
        "Synthetic tree of bench/bench_assign_sidecar.py (16 words a document, no metadata).",
        "",
        "## Writing the documents (streamed from the one-file sidecar)",
        "",
        "| form | median s | runs (s) | load (1 min) |",
        "| --- | ---: | --- | --- |",
        f"| one file | {statistics.median(w[0] for w in writes):.1f} | {', '.join(f'{w[0]:.1f}' for w in writes)} | {min(w[2] for w in writes):.1f}-{max(w[2] for w in writes):.1f} |",
        f"| parts of {args.part_rows:,} rows, one after another here | {statistics.median(w[1] for w in writes):.1f} | {', '.join(f'{w[1]:.1f}' for w in writes)} | {min(w[2] for w in writes):.1f}-{max(w[2] for w in writes):.1f} |",
        "",
        "## `topicmap assign` (child process, fresh copy of the tree each run)",
        "",
        "| form | median s | peak RSS MiB | documents after | bytes of documents written | load (1 min) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, s, r, n, written, lo, hi in rows:
        lines.append(f"| {name} | {s:.1f} | {r:.0f} | {n:,} | {written / 2**20:.2f} MiB | {lo:.1f}-{hi:.1f} |")
    write_report(args.out, lines, final_newline=True)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
