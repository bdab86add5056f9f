"""Untrusted text: control characters removed where text is kept, made visible where it is printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from topicmap.hierarchy.base.progress import Stages, counter
from topicmap.hierarchy.base.safe_text import clip, one_line, printable, strip_controls
from topicmap.hierarchy.tree.topic_tree import Document, Node, TopicTree
from topicmap.hierarchy.tree.treefile import save_tree
from tests.cli_helpers import assert_clean_error, invoke_cli


def test_escape_sequences_go_whole_and_controls_are_removed_or_shown() -> None:
    assert strip_controls("\x1b[1;31mRed\x1b[0m \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \x1b(Bok") == "Red link ok"
    assert strip_controls("a\x00b\x7fc\x85d\te\nf\rg") == "abcd\te\nfg"
    assert one_line("  Red\t\tGiants\r\n \x0b") == "Red Giants"
    assert printable("\x1b[2Jgone\rover\x9b\tx\ny") == "\\x1b[2Jgone\\rover\\x9b\tx\\ny"
    assert printable("a\nb", keep_newlines=True) == "a\nb"
    assert clip("x" * 200, 120) == "x" * 119 + "…" and clip("short", 120) == "short"


def test_progress_descriptions_are_printed_safely(capsys: pytest.CaptureFixture[str]) -> None:
    bar = counter(2, "embed \x1b]0;pwned\x07", "doc")
    bar.update(2)
    bar.close()
    stages = Stages(["read \x1b[2J"])
    with stages.stage("read \x1b[2J"):
        pass
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "embed \\x1b]0;pwned\\x07" in err and "\\x1b[2J" in err


def test_info_and_errors_print_untrusted_text_safely(tmp_path: Path) -> None:
    nodes = [
        Node("root", None, 0, 4, label="all"),
        Node("0", "root", 1, 2, label="A" * 3000),
        Node("1", "root", 1, 2, label="Red\x1b[0m Giants"),
    ]
    docs = [Document(f"d{k}", "0" if k < 2 else "1", text=f"text {k}") for k in range(4)]
    manifest = {"input": {"source": "docs\x1b]0;pwned\x07.jsonl\r", "sha256": "ab" * 32}}
    tree_file = tmp_path / "t.json"
    save_tree(TopicTree(nodes, docs, manifest=manifest), tree_file)
    info = invoke_cli("info", str(tree_file), cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    for char in ("\x1b", "\x07", "\r"):
        assert char not in info.stdout
    assert "input: docs\\x1b]0;pwned\\x07.jsonl\\r" in info.stdout  # shown, not executed
    assert "Red Giants" in info.stdout  # cleaned when the tree was loaded
    assert "A" * 119 + "…" in info.stdout and max(len(line) for line in info.stdout.splitlines()) < 200
    missing = invoke_cli("info", str(tmp_path / "no\x1b[2Jsuch\rfile.json"), cwd=tmp_path)
    assert_clean_error(missing, "no\\x1b[2Jsuch\\rfile.json")
    assert "\x1b" not in missing.stderr and "\r" not in missing.stderr
