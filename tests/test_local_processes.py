"""A streamed local build's passes on two forked processes (engine.local_processes): the tree of one process, to the bit.

The claims: with the reduced rows in memory or in a scratch file, from a .npy read again by each child, the
leaves, centres, centroids, representatives and map equal the single process's; a bad row read by a child is
named by file and row as it is here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.builder.engine import each_block, local_processes
from topicmap.hierarchy.builder.pipeline import BuildConfig, build_parts, resolve_preset
from topicmap.hierarchy.inputs.vector_source import NpySource


@pytest.fixture(scope="module")
def npy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """140,000 rows (three 65,536-row blocks, the last short) of 25 blobs in 12 dimensions."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((25, 12)) * 3
    path = tmp_path_factory.mktemp("forked") / "x.npy"
    np.save(path, (centres[rng.integers(0, 25, 140_000)] + rng.standard_normal((140_000, 12))).astype(np.float32))
    return path


@pytest.mark.parametrize("budget", [4 << 20, 1 << 20], ids=["reduced-in-memory", "reduced-in-scratch"])
def test_two_forked_processes_give_the_one_process_tree(npy: Path, budget: int) -> None:
    asked = BuildConfig(preset="browse", layout="anchored", seed=0, n_components=8, n_init=1, sample_size=4096)
    config = resolve_preset(asked, 140_000)
    one, two = (build_parts(NpySource(npy), None, asked, config, "x", "x", memory_budget=budget, processes=p) for p in (1, 2))
    assert one.streamed and two.streamed
    assert two.shape.node_ids == one.shape.node_ids
    assert np.array_equal(two.shape.doc_leaf, one.shape.doc_leaf)
    assert np.array_equal(two.shape.centres, one.shape.centres)
    assert np.array_equal(two.centroids, one.centroids)
    assert np.array_equal(two.coords, one.coords)
    assert two.representatives.keys() == one.representatives.keys()
    assert all(np.array_equal(two.representatives[k], one.representatives[k]) for k in one.representatives)


def test_blocks_come_back_in_row_order_and_a_bad_row_is_named(npy: Path, tmp_path: Path) -> None:
    with local_processes(2):
        firsts = list(each_block(lambda start, block: (start, block.shape[0]), NpySource(npy)))
    assert firsts == [(0, 65_536), (65_536, 65_536), (131_072, 8_928)]
    X = np.load(npy)
    X[100_000, 5] = np.inf
    np.save(tmp_path / "bad.npy", X)
    with local_processes(2), pytest.raises(InputError, match=r"bad\.npy: row 100001 has NaN or infinite values"):
        list(each_block(lambda start, block: None, NpySource(tmp_path / "bad.npy")))


def test_keyword_passes_over_texts_on_forked_processes_are_the_one_process_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Texts as a list, and read lazily from the corpus's scratch file (each child reads it at its own position:
    in small batches, so two children reading one file position would soon read each other's bytes)."""
    import json

    from topicmap.hierarchy.builder.term_counts import node_counts, term_vocabulary
    from topicmap.hierarchy.inputs import lazy_corpus
    from topicmap.hierarchy.inputs.documents import open_documents

    monkeypatch.setattr(lazy_corpus, "BATCH_ROWS", 256)

    rng = np.random.default_rng(3)
    words = np.array([f"w{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}x" for i in range(600)])
    texts = [" ".join(words[rng.integers(0, 600, 12)]) for _ in range(140_000)]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    lazy = open_documents(path, lazy=True)
    assert lazy.embedding_texts().fork_safe  # read with pread: what children read moves nothing of the parent's
    leaf = rng.integers(0, 9, len(texts))
    members = [leaf // 3, leaf]
    try:
        results = []
        for rows, processes in [(texts, 1), (texts, 2), (lazy.embedding_texts(), 2)]:
            os.lseek(lazy._scratch._file.fileno(), 0, os.SEEK_SET)  # as a child closing an inherited buffered file would
            with local_processes(processes):
                vocabulary = term_vocabulary(rows, len(texts), max_features=300)
                counts = node_counts(rows, members, [3, 9], vocabulary)
            results.append((vocabulary.tolist(), [c.toarray() for c in counts]))
            assert list(lazy.embedding_texts()) == texts  # the parent still reads the file right
    finally:
        lazy.close()
    for vocabulary, counts in results[1:]:
        assert vocabulary == results[0][0]
        assert all(np.array_equal(a, b) for a, b in zip(counts, results[0][1]))


def _dies_at_the_second_block(start: int, block: np.ndarray) -> int:
    if start == 65_536:
        os._exit(3)  # as the kernel's OOM killer would end a child: no exception, no result
    return block.shape[0]


def test_a_forked_process_that_dies_is_an_error_not_a_hang(npy: Path) -> None:
    with local_processes(2), pytest.raises(RuntimeError, match="stopped without its result \\(exit code 3\\)"):
        list(each_block(_dies_at_the_second_block, NpySource(npy)))
    with local_processes(2):  # and the next pass forks afresh
        assert [n for n in each_block(lambda start, block: block.shape[0], NpySource(npy))] == [65_536, 65_536, 8_928]


class _NeedsTwo(Exception):
    def __init__(self, first: str, second: str) -> None:  # pickles, but cannot be rebuilt from its args
        super().__init__(f"{first} and {second}")


def _fails_at_the_second_block(start: int, block: np.ndarray) -> int:
    if start == 65_536:
        raise ValueError(f"block at {start} is bad")
    return block.shape[0]


def _fails_oddly_at_the_second_block(start: int, block: np.ndarray) -> int:
    if start == 65_536:
        raise _NeedsTwo("this", "that")
    return block.shape[0]


def test_a_childs_error_comes_back_with_its_traceback_or_at_least_its_text(npy: Path) -> None:
    with local_processes(2), pytest.raises(ValueError, match="block at 65536 is bad") as caught:
        list(each_block(_fails_at_the_second_block, NpySource(npy)))
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "in a forked process of the build" in notes and "_fails_at_the_second_block" in notes
    with local_processes(2), pytest.raises(RuntimeError, match="_NeedsTwo: this and that"):
        list(each_block(_fails_oddly_at_the_second_block, NpySource(npy)))


KILLED_PARENT = """
import sys, time
import numpy as np
import multiprocessing
from pathlib import Path
from topicmap.hierarchy.builder.engine import each_block, local_processes
from topicmap.hierarchy.inputs.vector_source import NpySource

def big(start, block):
    return np.zeros(400_000)  # 3.2 MB: more than a pipe holds, so a child waits in its write

with local_processes(2):
    for i, _ in enumerate(each_block(big, NpySource(sys.argv[1]))):
        if i == 0:
            Path(sys.argv[2]).write_text(" ".join(str(c.pid) for c in multiprocessing.active_children()))
        time.sleep(60)  # a slow reader, killed here
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_children_end_when_the_parent_is_killed(npy: Path, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    pids_file = tmp_path / "children"
    parent = subprocess.Popen([sys.executable, "-c", KILLED_PARENT, str(npy), str(pids_file)])
    try:
        deadline = time.monotonic() + 60
        while not pids_file.exists() and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.1)
        assert pids_file.exists(), "the pass never delivered its first result"
        children = [int(p) for p in pids_file.read_text().split()]
        assert children
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 15
    while any(_running(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in children if _running(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, "children blocked writing to a dead parent stayed alive"
