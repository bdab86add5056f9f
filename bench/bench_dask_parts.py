"""Writing a built tree's documents: one file here, against one part per partition on a LocalCluster's workers.

``python bench/bench_dask_parts.py [--docs 1000000] [--runs 3] [--workers 2]``

The documents are those of bench/bench_assign_sidecar.py's synthetic tree (16 words a document,
written once under ``--data``), held here as a corpus (ids, titles, texts) with their leaves and map
positions, as at the end of a build. Timed, per run:

- local: ``save_tree`` writing them as one sidecar file in this process (what ``build`` does locally);
- dask: ``save_with_parts_on_workers``: each 131,072-row partition's columns sent to a worker of a
  ``distributed.LocalCluster`` (processes, one thread each), which writes and hashes its part; then
  the directory rename and the JSON here (what ``build --engine dask`` does).

Both read back to the same documents (checked once). The workers share this machine's two cores
with the client, so the numbers say what the hand-over costs here, not what a cluster gains. Medians of
``--runs``; the 1-minute load average before each run. Writes ``bench/results/dask-parts.md``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_assign_sidecar import DEFAULT_DATA, ensure_tree  # noqa: E402
from bench.machine import cpu_model, memory_gib, report_head, write_report  # noqa: E402


def built_tree(tree_file: Path):  # type: ignore[no-untyped-def]
    """The synthetic tree's documents as a just-built tree holds them (a corpus, leaf numbers, positions)."""
    import numpy as np

    from topicmap.hierarchy.builder.built_documents import BuiltDocuments
    from topicmap.hierarchy.inputs.documents import Corpus
    from topicmap.hierarchy.tree.topic_tree import TopicTree
    from topicmap.hierarchy.tree.treefile import load_tree

    tree = load_tree(tree_file)
    store = tree.store
    ids, titles, texts = store.strings("id"), store.strings("title"), store.strings("text")
    corpus = Corpus(ids, texts, titles, [{} for _ in ids], "synthetic", "0" * 64)
    arrays = tree.arrays
    x, y = store.xy()
    built = BuiltDocuments(corpus, list(arrays.node_ids), arrays.doc_leaf.astype(np.int64), np.column_stack([x, y]), True)
    return TopicTree(list(tree.iter_nodes()), built, manifest=tree.manifest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dask-parts.md")
    args = parser.parse_args()
    import distributed
    import numpy as np

    from topicmap.hierarchy.builder.dask_engine import PARTITION_ROWS, DaskEngine
    from topicmap.hierarchy.builder.engine import partition_bounds
    from topicmap.hierarchy.cli.engine_build import save_with_parts_on_workers
    from topicmap.hierarchy.tree.treefile import load_tree, save_tree

    tree_file = ensure_tree(args.data, args.docs)
    tree = built_tree(tree_file)
    bounds = partition_bounds(args.docs, PARTITION_ROWS)
    out = args.data / "scratch-dask-parts"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    local, dask, loads = [], [], []
    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster, set_as_default=False) as client:
            engine = DaskEngine(client)
            for run in range(args.runs):
                loads.append(os.getloadavg()[0])
                started = time.perf_counter()
                save_tree(tree, out / f"local{run}.json", sidecar=True)
                local.append(time.perf_counter() - started)
                started = time.perf_counter()
                save_with_parts_on_workers(engine, tree, bounds, out / f"dask{run}.json")
                dask.append(time.perf_counter() - started)
                print(f"run {run + 1}: one file here {local[-1]:.1f} s, parts on {args.workers} workers {dask[-1]:.1f} s (load {loads[-1]:.1f})", flush=True)
    a, b = load_tree(out / "local0.json").store, load_tree(out / "dask0.json").store
    same = a.strings("id") == b.strings("id") and a.strings("leaf") == b.strings("leaf") and a.strings("text") == b.strings("text")
    same = same and all(np.array_equal(p, q) for p, q in zip(a.xy(), b.xy()))
    parts = len(b.part_files())
    shutil.rmtree(out, ignore_errors=True)
    lines = report_head(f"# Writing {args.docs:,} built documents: one file here, or one part per partition on {args.workers} Dask workers", "bench_dask_parts.py")
    lines += [
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {memory_gib() or 0:.0f} GiB; shared with other jobs (1-minute load average before each run:",
        f"{', '.join(f'{v:.1f}' for v in loads)}). The LocalCluster's {args.workers} worker processes share the same cores with the client.",
        "",
        "| writer | median s | runs (s) |",
        "| --- | ---: | --- |",
        f"| one file, this process (`build`) | {statistics.median(local):.1f} | {', '.join(f'{v:.1f}' for v in local)} |",
        f"| {parts} parts on {args.workers} workers (`build --engine dask`) | {statistics.median(dask):.1f} | {', '.join(f'{v:.1f}' for v in dask)} |",
        "",
        f"Same documents read back (ids, leaves, texts, x, y): {'yes' if same else 'NO'}.",
    ]
    write_report(args.out, lines, final_newline=True)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
