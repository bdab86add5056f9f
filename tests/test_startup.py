"""The command line loads only what a command needs: ``--help``, usage errors and a missing input file
never import NumPy, nor the clustering, plotting or LLM stack (issue 13). Checked as behaviour (which modules a fresh
interpreter ends up with), not as timing; bench/bench_startup.py measures the seconds.

One fresh interpreter imports the CLI and registers its commands (what the ``topicmap`` script does
first, whatever the arguments) and reports what that loaded; then, for every command line below, a
forked copy of that still untouched process runs the command and reports what it loaded. A fork starts
from exactly the state a fresh ``topicmap ARGS`` process has at that point, without paying the
interpreter's start-up and the command modules' imports once per case.

Also here: the console script pip installs runs (``topicmap --help``), as a real process.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import REPO

HEAVY = (
    "numpy", "networkx", "jinja2", "sklearn", "scipy", "plotly", "dash", "openai", "umap", "jsonschema", "pandas", "pyarrow", "torch",
)

CASES = [
    ["--help"],
    ["build", "--help"],
    ["label", "--help"],
    ["evaluate", "--help"],
    ["extract", "--help"],
    ["build", "docs.jsonl", "--no-such-option"],
    ["build", "missing.jsonl"],
    ["build", "docs.jsonl", "--levels", "5,3"],
    ["build", "docs.jsonl", "--leaves", "0"],
    ["build", "docs.jsonl", "--preset", "tiny"],
    ["build", "folder"],
    ["info", "missing.tree.json"],
    ["info", "folder"],
    ["export", "missing.tree.json"],
    ["serve", "missing.tree.json"],
    ["serve", "missing.tree.json", "missing.tree.json"],
    ["assign", "missing.tree.json", "docs.jsonl"],
    ["assign", "missing.tree.json", "docs.jsonl", "--seed", "-1"],
    ["evaluate", "missing.tree.json"],
    ["compare", "missing.tree.json", "missing.tree.json"],
    ["extract", "missing.jsonl"],
    ["label", "missing.tree.json"],
    ["label", "missing.tree.json", "--dry-run"],
    ["relabel", "missing.tree.json"],
    ["regroup", "missing.tree.json"],
    ["trends", "missing.tree.json"],
    ["crosstab", "missing.tree.json", "missing.tree.json"],
]

PROBE = """
import json, os, sys
HEAVY = set(json.loads(sys.argv[1]))
cases = json.loads(sys.argv[2])
from topicmap.hierarchy.cli.main import _register_commands, main
_register_commands()  # what main() does first in every process
def heavy():
    return sorted({name.split(".")[0] for name in sys.modules} & HEAVY)
reports = {"import": {"heavy": heavy()}, "cases": []}
children = []
for k, args in enumerate(cases):  # all forked from the untouched parent, running side by side
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: the command, as a fresh `topicmap ARGS` would run it after its import
        for fd, name in ((1, "out"), (2, "err")):
            os.dup2(os.open(f"case{k}.{name}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        os.chdir(f"dir{k}")  # a folder of its own: cases running side by side never see each other's lock files
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code
        else:
            code = 0
        sys.stdout.flush(); sys.stderr.flush()
        with open(f"../case{k}.json", "w") as fh:
            json.dump({"code": code, "heavy": heavy()}, fh)
        os._exit(0)
    children.append(pid)
for k, pid in enumerate(children):
    os.waitpid(pid, 0)
    with open(f"case{k}.json") as fh:
        report = json.load(fh)
    with open(f"case{k}.err") as fh:
        report["stderr"] = fh.read()
    reports["cases"].append(report)
print(json.dumps(reports))
"""


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the CLI's import and each case's command loaded, from one fresh interpreter (see the docstring)."""
    cwd = tmp_path_factory.mktemp("startup")
    for k in range(len(CASES)):
        (cwd / f"dir{k}" / "folder").mkdir(parents=True)
        (cwd / f"dir{k}" / "docs.jsonl").write_text('{"text": "a"}\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY), json.dumps(CASES)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_cli_and_its_commands_loads_no_heavy_package(probed: dict[str, Any]) -> None:
    assert probed["import"]["heavy"] == []


@pytest.mark.parametrize("case", range(len(CASES)), ids=[" ".join(args) for args in CASES])
def test_help_and_early_errors_import_no_heavy_package(probed: dict[str, Any], case: int) -> None:
    args, report = CASES[case], probed["cases"][case]
    code, stderr = report["code"], report["stderr"]
    assert code == (0 if "--help" in args else 2), stderr
    assert report["heavy"] == [], (args, report["heavy"])
    if code == 2 and "--no-such-option" not in args:
        assert stderr.strip().startswith("error: "), stderr


def test_the_installed_console_script_runs() -> None:
    """`topicmap --help` through the script pip installs beside the interpreter (the entry point in pyproject.toml)."""
    script = Path(sys.executable).with_name("topicmap")
    assert script.exists(), f"no console script at {script}: install the project first (pip install -e '.[test]')"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")  # this checkout, as in the other tests
    result = subprocess.run([str(script), "--help"], env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "Typical session" in result.stdout and "topicmap demo" in result.stdout


@pytest.mark.parametrize(
    ("args", "path", "read"),
    [
        (["info", "missing.tree.json"], "missing.tree.json", "tree"),
        (["info", "folder"], "folder", "tree"),
        (["build", "missing.jsonl"], "missing.jsonl", "table"),
        (["build", "folder"], "folder", "table"),
    ],
    ids=["missing tree", "tree is a folder", "missing table", "table is a folder"],
)
def test_the_early_check_says_what_the_reader_would(probed: dict[str, Any], args: list[str], path: str, read: str, tmp_path: Path) -> None:
    """files/readable.py answers before the readers load; its words are theirs (load_tree, read_documents)."""
    from topicmap.hierarchy.base.errors import TopicmapError
    from topicmap.hierarchy.inputs.documents import read_documents
    from topicmap.hierarchy.tree.treefile import load_tree

    (tmp_path / "folder").mkdir()
    with pytest.raises(TopicmapError) as raised, contextlib.chdir(tmp_path):
        (load_tree if read == "tree" else read_documents)(path)
    assert probed["cases"][CASES.index(args)]["stderr"] == f"error: {raised.value}\n"
