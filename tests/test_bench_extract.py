"""bench/bench_extract.py runs end to end (here against the scripted server; the numbers come from a real model)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.cli_helpers import REPO
from tests.openai_server import FakeOpenAIServer


def test_bench_extract_writes_its_table(tmp_path: Path) -> None:
    out = tmp_path / "extract.md"
    with FakeOpenAIServer() as server:
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "PYTHONPATH": str(REPO)}
        result = subprocess.run(
            [sys.executable, str(REPO / "bench" / "bench_extract.py"), "--model", "fake-model", "--corpus", "papers", "--limit", "3",
             "--concurrency", "2", "--out", str(out), "--work", str(tmp_path), "--cache-dir", str(tmp_path / "cache")],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert len(server.chat_requests) == 3
    text = out.read_text("utf-8")
    assert "# Facet extraction with a real model: fake-model" in text
    assert "| papers | papers@v1 | extract_facets@v2 | 3 |" in text and "| 1.00 | 0 (0%) | 0 of 9 | 0 | 0 | json_schema |" in text
    assert "| title | problem | method | finding |" in text
    assert re.search(r"\| papers \| 3 \| \d+ \| \d+ \| \d+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|", text), text  # s per document, load average
