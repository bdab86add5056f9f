"""The command line loads only what a command needs: ``--help``, usage errors and a missing input file
never import the clustering, plotting or LLM stack (issue 13). Checked as behaviour (which modules a fresh
interpreter ends up with), not as timing; bench/bench_startup.py measures the seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import REPO

HEAVY = ("sklearn", "scipy", "plotly", "dash", "openai", "umap", "jsonschema", "pandas", "pyarrow", "torch")

PROBE = """
import json, sys
from topicmap.hierarchy.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(HEAVY)))
print(json.dumps({"code": code, "heavy": heavy}), file=sys.__stdout__)
"""


def modules_after(args: list[str], cwd: Path) -> tuple[int, list[str], str]:
    """Run ``topicmap ARGS`` in a fresh interpreter; its exit code and the heavy packages it imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    probe = PROBE.replace("HEAVY", repr(json.dumps(HEAVY)))
    result = subprocess.run(
        [sys.executable, "-c", probe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report["code"], report["heavy"], result.stderr


def test_importing_the_cli_loads_no_heavy_package() -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import sys, topicmap.hierarchy.cli.main; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r})))"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["build", "--help"],
        ["label", "--help"],
        ["evaluate", "--help"],
        ["extract", "--help"],
        ["build", "docs.jsonl", "--no-such-option"],
        ["build", "missing.jsonl"],
        ["build", "docs.jsonl", "--levels", "5,3"],
        ["info", "missing.tree.json"],
        ["export", "missing.tree.json"],
        ["serve", "missing.tree.json"],
        ["assign", "missing.tree.json", "docs.jsonl"],
        ["evaluate", "missing.tree.json"],
        ["extract", "missing.jsonl"],
    ],
    ids=lambda args: " ".join(args),
)
def test_help_and_early_errors_import_no_heavy_package(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "docs.jsonl").write_text('{"text": "a"}\n', encoding="utf-8")
    code, heavy, stderr = modules_after(args, tmp_path)
    assert code == (0 if "--help" in args else 2), stderr
    assert heavy == [], (args, heavy)
    if code == 2 and "--no-such-option" not in args:
        assert stderr.strip().startswith("error: "), stderr
