"""`python app.py tree.json` for real: a subprocess that serves the page; clean start-up errors from the
script's ``main`` in this process (the same function ``python app.py`` exits with)."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from topicmap.hierarchy.tree.treefile import save_tree
from tests.viz_fixtures import small_tree

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(60)


def _app_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``python app.py ARGV`` run in this process: the script's ``main`` (its exit status) and its stderr."""
    spec = importlib.util.spec_from_file_location("topicmap_app_script", ROOT / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    capsys.readouterr()
    code = module.main(argv)
    return code, capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_app_py_serves_on_loopback(tmp_path: Path) -> None:
    path = tmp_path / "tree.json"
    save_tree(small_tree(), path)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), str(path), "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        body = b""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    body = response.read()
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"app.py exited early: {proc.stderr.read() if proc.stderr else ''}")
                time.sleep(0.2)
        assert b"topicmap" in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_dash-layout", timeout=5) as response:
            assert b"Astronomy" in response.read()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    err = proc.stderr.read() if proc.stderr else ""
    assert f"http://127.0.0.1:{port}/" in err
    assert "Debug mode: on" not in err and "Debugger is active" not in err


@pytest.mark.parametrize("content", [None, "{not json", '{"format": "something-else"}'])
def test_app_py_bad_tree_is_one_line_and_exit_2(tmp_path: Path, content: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tree.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, err = _app_main([str(path)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0]
    assert "Traceback" not in err


def test_topicmap_serve_is_registered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the real `topicmap` entry point (needs the lead's cli_core, present after merge)."""
    pytest.importorskip("topicmap.hierarchy.cli.core", reason="topicmap.hierarchy.cli.core lands with the core branch")
    from topicmap.hierarchy.cli import main as cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", str(tmp_path / "missing.json")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no such tree file" in err


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_app_py_bad_port_is_one_line_and_exit_2(tmp_path: Path, port: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tree.json"
    save_tree(small_tree(), path)
    code, err = _app_main([str(path), "--port", port], capsys)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [f"error: --port {port}: must be between 1 and 65535"]


def test_topicmap_serve_bad_port_is_checked_before_the_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from topicmap.hierarchy.cli import main as cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", str(tmp_path / "missing.json"), "--port", "70000"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == "error: --port 70000: must be between 1 and 65535"
