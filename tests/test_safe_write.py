"""Writing files without losing data (issue 12, cases 1-4), with real processes, signals and files.

1. an output that is one of the command's inputs is refused before any work;
2. one writer per file: a second writer is told who holds the file, or waits with --wait;
3. an overwrite keeps the file's mode and writes through a symlink; new files honour the umask;
4. SIGTERM mid-write removes the temp file; a SIGKILLed writer's temp file goes at the next write.
"""

from __future__ import annotations

import json
import os
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from topicmap.hierarchy.cli import assign as cli_assign, core as cli_core, evaluate as cli_evaluate, label as cli_label
from topicmap.hierarchy.base.errors import OutputError
from topicmap.hierarchy.files.file_lock import FileBusyError, FileLock, lock_path_for
from topicmap.hierarchy.files.safe_write import refuse_same_file, write_text_atomic
from topicmap.hierarchy.tree.treefile import load_tree, save_tree
from tests.cli_helpers import REPO, assert_clean_error, invoke_cli
from tests.llm_fixtures import make_tree
from tests.openai_server import FakeOpenAIServer, first_user_message

LLM = ["-m", "fake-model", "-j", "1", "--no-progress", "--timeout", "20"]


def cli_env(cwd: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment ``run_cli`` gives the command line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["XDG_CACHE_HOME"] = str(cwd / ".cache-test")
    return env | (extra or {})


def start_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -m hierarchy ARGS`` started in the background (``run_cli`` waits for it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "hierarchy", *args], cwd=cwd, env=cli_env(cwd, env), text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def tree_file(tmp_path: Path) -> Path:
    path = tmp_path / "tree.json"
    save_tree(make_tree(), path)
    return path


# -- 1. an output that is an input --------------------------------------------------------------
def full_app() -> typer.Typer:
    """Every command that writes files, to run in this process (the subprocess tests cover the real entry point)."""
    app = typer.Typer()
    for module in (cli_core, cli_label, cli_evaluate, cli_assign):
        module.register(app)
    return app


ISSUE_CASES = {  # as the issue reported them: each destroyed its input and exited 0
    "build docs -o docs": (["build", "docs.jsonl", "--embeddings", "docs.npy", "-o", "docs.jsonl"], "docs.jsonl", "docs.jsonl"),
    "build --embeddings e -o e": (["build", "docs.jsonl", "--embeddings", "docs.npy", "-o", "docs.npy"], "docs.npy", "docs.npy"),
    "export -o tree": (["export", "tree.json", "-f", "csv", "-o", "tree.json"], "tree.json", "tree.json"),
    "evaluate -o tree": (["evaluate", "tree.json", "-o", "tree.json"], "tree.json", "tree.json"),
}
MORE_CASES = {
    "build -o hard link of docs": (["build", "docs.jsonl", "--embeddings", "docs.npy", "-o", "hard.jsonl"], "docs.jsonl", "hard.jsonl"),
    "export -o symlink to tree": (["export", "tree.json", "-f", "nested", "-o", "link.json"], "tree.json", "link.json"),
    "assign -o the new documents": (["assign", "tree.json", "docs.jsonl", "--embeddings", "docs.npy", "-o", "docs.jsonl"], "docs.jsonl", "docs.jsonl"),
    "label -o its config file": (["label", "tree.json", "--config", "llm.toml", "-o", "llm.toml"], "llm.toml", "llm.toml"),
    "relabel -o its prompt file": (["relabel", "tree.json", "--prompt", "label_leaf=leaf.j2", "-o", "leaf.j2"], "leaf.j2", "leaf.j2"),
}


@pytest.fixture
def inputs_and_aliases(tmp_path: Path, topic_corpus: tuple[Path, Path], tree_file: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """The inputs the cases name, a hard link and a symlink to two of them; the files' contents before the command."""
    os.link(tmp_path / "docs.jsonl", tmp_path / "hard.jsonl")
    os.symlink("tree.json", tmp_path / "link.json")
    (tmp_path / "llm.toml").write_text('[llm]\nmodel = "m"\n')
    (tmp_path / "leaf.j2").write_text("Name these: {{ keywords }}\n")
    monkeypatch.chdir(tmp_path)
    return {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}


def assert_nothing_written(folder: Path, before: dict[str, bytes]) -> None:
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before  # nothing written, nothing left behind
    assert (folder / "link.json").is_symlink()


@pytest.mark.parametrize("case", list(ISSUE_CASES))
def test_an_output_that_is_an_input_is_refused_before_any_work(tmp_path: Path, inputs_and_aliases: dict[str, bytes], case: str) -> None:
    args, victim, output = ISSUE_CASES[case]
    assert_clean_error(invoke_cli(*args, cwd=tmp_path), f"-o {output} is the same file as", victim)
    assert_nothing_written(tmp_path, inputs_and_aliases)


@pytest.mark.parametrize("case", list(MORE_CASES))
def test_an_output_that_is_a_link_to_an_input_or_a_settings_file_is_refused(tmp_path: Path, inputs_and_aliases: dict[str, bytes], case: str) -> None:
    args, victim, output = MORE_CASES[case]
    result = CliRunner().invoke(full_app(), args, env={"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None})
    assert isinstance(result.exception, OutputError), (case, result.exception, result.output)
    assert f"-o {output} is the same file as" in str(result.exception) and victim in str(result.exception), case
    assert_nothing_written(tmp_path, inputs_and_aliases)


def test_same_file_check_sees_through_links_and_skips_stdout(tmp_path: Path) -> None:
    source = tmp_path / "a.json"
    source.write_text("{}")
    os.link(source, tmp_path / "hard.json")
    os.symlink(source, tmp_path / "soft.json")
    for alias in ("hard.json", "soft.json", "./sub/../a.json"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(OutputError, match="is the same file as"):
            refuse_same_file({"the input": source}, {"-o": tmp_path / alias})
    refuse_same_file({"the input": source}, {"-o": "-", "--other": None, "--new": tmp_path / "new.json"})


# -- 2. one writer per file --------------------------------------------------------------------
class Gate:
    """Holds the first chat request whose prompt mentions ``word`` until the test opens the gate (at most a minute)."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.reached = threading.Event()
        self.opened = threading.Event()
        self._guard = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> None:
        with self._guard:
            first = self.word in first_user_message(body) and not self.reached.is_set()
            if first:
                self.reached.set()
        if first:
            self.opened.wait(60)


def holds_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (Linux /proc)."""
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(str(path)) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="watches the waiting process through /proc")
def test_two_relabels_of_one_tree_take_turns_and_keep_both_labels(tree_file: Path, tmp_path: Path) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache")]
    lock = lock_path_for(tree_file)
    gate = Gate("exoplanet")  # leaf 0.0
    with FakeOpenAIServer(fault_for=gate) as server:
        env = {"OPENAI_BASE_URL": server.base_url}
        first = start_cli("relabel", str(tree_file), "--nodes", "0.0", *LLM, *cache, cwd=tmp_path, env=env)
        try:
            assert gate.reached.wait(60), finish(first)  # the first run holds the lock and has read the tree
            busy = invoke_cli("relabel", str(tree_file), "--nodes", "1.0", *LLM, *cache, cwd=tmp_path, env=env)
            assert_clean_error(busy, str(tree_file), f"pid {first.pid}", "'topicmap relabel'", "since", "--wait")
            waiter = start_cli("relabel", str(tree_file), "--nodes", "1.0", "--wait", "120", *LLM, *cache, cwd=tmp_path, env=env)
            assert wait_for(lambda: holds_open(waiter.pid, lock) or waiter.poll() is not None)
            assert waiter.poll() is None  # waiting for the lock, not finished
        finally:
            gate.opened.set()
        first_code, _, first_err = finish(first)
        waiter_code, waiter_out, waiter_err = finish(waiter)
    assert first_code == 0 and waiter_code == 0, (first_err, waiter_err)
    labelled = {n.id for n in load_tree(tree_file).iter_nodes() if n.label_meta.labeler == "llm"}
    assert {"0.0", "1.0"} <= labelled  # neither run lost the other's work
    assert not lock.exists()


def test_a_lock_left_by_a_killed_writer_is_taken_over(tree_file: Path, tmp_path: Path) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache")]
    gate = Gate("exoplanet")
    with FakeOpenAIServer(fault_for=gate) as server:
        env = {"OPENAI_BASE_URL": server.base_url}
        killed = start_cli("relabel", str(tree_file), "--nodes", "0.0", *LLM, *cache, cwd=tmp_path, env=env)
        try:
            assert gate.reached.wait(60), finish(killed)
            killed.send_signal(signal.SIGKILL)
            finish(killed, timeout=30)
        finally:
            gate.opened.set()
        assert json.loads(lock_path_for(tree_file).read_text())["pid"] == killed.pid  # its record outlives it
        again = invoke_cli("relabel", str(tree_file), "--nodes", "0.0", *LLM, *cache, cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert f"locked by pid {killed.pid}" in again.stderr and "took over" in again.stderr
    assert load_tree(tree_file).node("0.0").label_meta.labeler == "llm"
    assert not lock_path_for(tree_file).exists()


def every_writer(tree_file: Path, folder: Path) -> dict[str, list[str]]:
    docs = folder / "new.jsonl"
    docs.write_text("".join(json.dumps({"id": f"n{i}", "text": f"note {i}"}) + "\n" for i in range(3)))
    vectors = folder / "new.npy"
    np.save(vectors, np.ones((3, 2), dtype=np.float32))
    tree = str(tree_file)
    return {
        "label": ["label", tree, "--cache-dir", str(folder / "c")],
        "relabel": ["relabel", tree, "--nodes", "0.0", "--cache-dir", str(folder / "c")],
        "assign": ["assign", tree, str(docs), "--embeddings", str(vectors)],
        "build -o": ["build", str(docs), "--embeddings", str(vectors), "-o", tree, "-q"],
        "export -o": ["export", tree, "-f", "json", "-o", str(folder / "copy.json")],
        "evaluate -o": ["evaluate", tree, "-o", str(folder / "report.json")],
    }


def test_every_command_that_writes_a_file_takes_its_lock_first(tree_file: Path, tmp_path: Path) -> None:
    app = full_app()
    for name, args in every_writer(tree_file, tmp_path).items():
        target = Path(args[args.index("-o") + 1]) if "-o" in args else tree_file
        before = target.read_bytes() if target.exists() else None
        with FileLock(target, "a test holding the file"):
            result = CliRunner().invoke(app, args, env={"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None})
        assert isinstance(result.exception, FileBusyError), (name, result.exception, result.output)
        assert "'a test holding the file'" in str(result.exception) and f"pid {os.getpid()}" in str(result.exception), name
        assert (target.read_bytes() if target.exists() else None) == before, name


def test_wait_is_bounded(tmp_path: Path) -> None:
    target = tmp_path / "t.json"
    with FileLock(target, "holder"):
        with pytest.raises(FileBusyError, match=r"after waiting 0.3 s"):
            FileLock(target, "second", wait=0.3).acquire()
    with FileLock(target, "second", wait=0.3) as lock:  # free again: no wait
        assert json.loads(lock.lock_path.read_text())["command"] == "second"
    assert not lock.lock_path.exists()


# -- 3. modes and symlinks ---------------------------------------------------------------------
def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_overwrites_keep_the_mode_and_new_files_honour_the_umask(tmp_path: Path, topic_corpus: tuple[Path, Path]) -> None:
    docs, emb = topic_corpus
    build = ["build", str(docs), "--embeddings", str(emb), "--min-leaf-size", "5", "-q"]
    tree = tmp_path / "private.json"
    previous_umask = os.umask(0o077)
    try:
        result = invoke_cli(*build, "-o", str(tree), cwd=tmp_path)
        assert result.returncode == 0 and mode(tree) == 0o600, result.stderr  # a new file: 0666 under the umask
        os.umask(0o022)
        assert invoke_cli(*build, "-o", str(tree), cwd=tmp_path).returncode == 0  # built again under umask 022
        assert mode(tree) == 0o600
        new_docs = tmp_path / "new.jsonl"
        new_docs.write_text("".join(json.dumps({**json.loads(line), "id": f"new-{i}"}) + "\n" for i, line in enumerate(docs.read_text().splitlines()[:5])))
        np.save(tmp_path / "new.npy", np.load(emb)[:5])
        result = invoke_cli("assign", str(tree), str(new_docs), "--embeddings", str(tmp_path / "new.npy"), "-q", cwd=tmp_path)
        assert result.returncode == 0 and mode(tree) == 0o600, result.stderr
    finally:
        os.umask(previous_umask)

    app = typer.Typer()
    cli_label.register(app)
    with FakeOpenAIServer() as server:
        result = CliRunner().invoke(app, ["label", str(tree), *LLM, "--cache-dir", str(tmp_path / "c")], env={"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": None})
    assert result.exit_code == 0 and mode(tree) == 0o600, result.output
    assert all(n.label_meta.labeler == "llm" for n in load_tree(tree).iter_nodes())


def test_writing_to_a_symlink_replaces_the_file_it_points_to(tmp_path: Path, topic_corpus: tuple[Path, Path]) -> None:
    docs, emb = topic_corpus
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "t.json"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    result = invoke_cli("build", str(docs), "--embeddings", str(emb), "--min-leaf-size", "5", "-q", "-o", str(link), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert len(load_tree(real).documents) == 72 and mode(real) == 0o640
    assert temp_files(tmp_path) == temp_files(real.parent) == []


# -- 4. temp files -----------------------------------------------------------------------------
WRITER = """
import sys
from pathlib import Path
from topicmap.hierarchy.cli.main import run_command
from topicmap.hierarchy.files.safe_write import write_chunks_atomic

def chunks():
    yield b"x" * 1_000_000
    print("mid-write", flush=True)
    sys.stdin.readline()  # the write stays open until the test says go (or a signal comes)
    yield b"end"

run_command(lambda: write_chunks_atomic(Path(sys.argv[1]), chunks()))
"""


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Callable[[Path], subprocess.Popen[str]]]:
    """Starts processes that stop in the middle of writing a file; kills any left at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(target: Path) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], cwd=tmp_path, env=cli_env(tmp_path), text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started.append(proc)
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready and proc.stdout is not None and proc.stdout.readline().strip() == "mid-write", proc.stderr
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def test_sigterm_mid_write_removes_the_temp_file_and_says_so(tmp_path: Path, writer: Callable[[Path], subprocess.Popen[str]]) -> None:
    target = tmp_path / "t.json"
    target.write_text("old")
    proc = writer(target)
    assert len(temp_files(tmp_path)) == 1 and str(proc.pid) in temp_files(tmp_path)[0]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.strip().count("\n") == 0 and err.startswith("error: stopped by SIGTERM while writing") and str(target) in err
    assert temp_files(tmp_path) == [] and target.read_text() == "old"


def test_the_next_write_removes_temp_files_of_dead_writers_only(tmp_path: Path, tree_file: Path, writer: Callable[[Path], subprocess.Popen[str]]) -> None:
    target = tmp_path / "copy.json"
    killed = writer(target)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=30)
    leftover = temp_files(tmp_path)
    assert len(leftover) == 1 and str(killed.pid) in leftover[0]
    old = tmp_path / ".copy.json.ab12cd34.tmp"  # the name older versions used, untouched for two days
    recent = tmp_path / ".copy.json.ef56gh78.tmp"
    for path in (old, recent):
        path.write_text("x" * 100)
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    other = tmp_path / ".other.json.1.host.0123abcd.tmp"  # another file's temp: not ours to judge
    other.write_text("x")
    live = writer(target)
    live_temp = [name for name in temp_files(tmp_path) if f".{live.pid}." in name]

    result = invoke_cli("export", str(tree_file), "-f", "json", "-o", str(target), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert temp_files(tmp_path) == sorted([*live_temp, recent.name, other.name])  # the dead writer's and the stale one are gone
    assert live.stdin is not None
    live.stdin.write("go\n")
    live.stdin.flush()
    live.communicate(timeout=30)
    assert live.returncode == 0 and target.read_bytes().endswith(b"end")  # the live writer finished undisturbed


def test_atomic_text_write_honours_the_umask_for_new_files(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        write_text_atomic(tmp_path / "new.txt", "x")
    finally:
        os.umask(previous)
    assert mode(tmp_path / "new.txt") == 0o640
