"""Run the real ``topicmap`` command line: in a subprocess, as a user would (``run_cli``), or through the
same entry point in this process (``invoke_cli``), which skips a fresh interpreter's seconds of imports."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``python -m hierarchy ARGS`` with this checkout first on the path; no network variables leak in."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    if cwd is not None:  # else the test session's own cache folder (tests/conftest.py)
        full_env["XDG_CACHE_HOME"] = str(cwd / ".cache-test")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "hierarchy", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def invoke_cli(*args: str, cwd: Path | None = None, env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
    """``topicmap ARGS`` through :func:`topicmap.hierarchy.cli.main.main` in this process, answered like :func:`run_cli`.

    The command runs in ``cwd`` with stdin empty and stdout/stderr captured; the environment gets the same
    changes as in ``run_cli`` (no OPENAI_* variables, a cache under ``cwd`` when given) and is restored afterwards. The
    exit status is what ``main`` exits with; an exception that escapes it is printed as a traceback with
    status 1, as the interpreter would. Use ``run_cli`` where the process itself matters: signals, start-up,
    what gets imported, ``python -m hierarchy``.
    """
    from typer.testing import CliRunner

    from topicmap.hierarchy.cli.main import main

    overrides: dict[str, str | None] = {key: None for key in os.environ if key.startswith("OPENAI_")}
    if cwd is not None:  # else the test session's own cache folder (tests/conftest.py)
        overrides["XDG_CACHE_HOME"] = str(cwd / ".cache-test")
    overrides.update(env or {})
    with contextlib.chdir(cwd or Path.cwd()), CliRunner().isolation(env=overrides) as (stdout, stderr, _):
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception:  # noqa: BLE001 - reported as the interpreter would, for the test to see
            traceback.print_exc(file=sys.stderr)
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = stdout.getvalue().decode("utf-8", "replace"), stderr.getvalue().decode("utf-8", "replace")
    return subprocess.CompletedProcess(["topicmap", *args], code, out, err)


def assert_clean_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit code 2, one readable line on stderr, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert len([line for line in lines if line.startswith("error: ")]) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])
