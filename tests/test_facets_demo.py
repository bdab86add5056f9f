"""`topicmap demo --corpus papers` with facets: with a recorded extraction in the data folder it builds one
tree per facet and serves them together; without one it says so and serves the plain tree.

The facets file here is a stand-in written by the test (each abstract's first, middle and last sentence
as problem, method and finding), not a model's output; its vectors are made up too, so no model runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.analysis.facet_trees import load_facet_trees
from topicmap.hierarchy.tree.treefile import load_tree
from tests.cli_helpers import invoke_cli
from tests.conftest import DATA


def stand_in_data(folder: Path) -> Path:
    """A data folder: the shipped abstracts and vectors, plus a stand-in facets file and facet vectors."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("papers.jsonl", "papers.minilm.npy"):
        shutil.copy(DATA / name, folder / name)
    rows = [json.loads(line) for line in (DATA / "papers.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    base = np.load(DATA / "papers.minilm.npy")
    rng = np.random.default_rng(0)
    out = []
    for row in rows:
        sentences = [s.strip() for s in row["text"].split(". ") if s.strip()]
        out.append({**row, "problem": sentences[0], "method": sentences[len(sentences) // 2], "finding": sentences[-1]})
    (folder / "papers.facets.jsonl").write_text("".join(json.dumps(r) + "\n" for r in out), encoding="utf-8")
    for k, facet in enumerate(("problem", "method", "finding")):  # the abstracts' vectors, turned differently per facet
        turn = np.linalg.qr(rng.normal(size=(base.shape[1], base.shape[1])))[0] if k else np.eye(base.shape[1])
        np.save(folder / f"papers.facets.{facet}.minilm.npy", (base @ turn + rng.normal(size=base.shape) * 0.01 * k).astype(np.float32))
    return folder


def test_demo_builds_the_facet_trees_from_a_recorded_extraction(tmp_path: Path) -> None:
    data = stand_in_data(tmp_path / "data")
    result = invoke_cli("demo", "--corpus", "papers", "--no-serve", "--data-dir", str(data), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert (out / "papers.tree.json").exists()  # the plain tree, as before
    paths = [out / f"papers.{facet}.tree.json" for facet in ("problem", "method", "finding")]
    facets = load_facet_trees(paths)  # same documents, named by their text column
    assert [f.name for f in facets] == ["problem", "method", "finding"]
    for facet in facets:
        assert len(facet.tree.documents) == 56 and facet.tree.manifest["input"]["source"] == str(data / "papers.facets.jsonl")
    problem = load_tree(paths[0])
    first = json.loads((data / "papers.facets.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert next(d for d in problem.documents if d.id == first["id"]).text == first["problem"]
    for path in paths:
        assert f"wrote {path.relative_to(tmp_path)}" in result.stdout or f"wrote {path}" in result.stdout
    # --no-facets: the plain tree alone
    again = invoke_cli("demo", "--corpus", "papers", "--no-serve", "--no-facets", "--data-dir", str(data), "-o", "plain/p.tree.json", cwd=tmp_path)
    assert again.returncode == 0 and not list((tmp_path / "plain").glob("papers.*.tree.json"))


def test_demo_without_a_recorded_extraction_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("papers.jsonl", "papers.minilm.npy"):
        shutil.copy(DATA / name, data / name)
    result = invoke_cli("demo", "--corpus", "papers", "--no-serve", "--data-dir", str(data), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no recorded facet extraction" in result.stderr and "topicmap extract data/papers.jsonl --facets problem,method,finding" in result.stderr
    assert (tmp_path / "out" / "papers.tree.json").exists() and not list((tmp_path / "out").glob("papers.problem*"))


def test_demo_serves_the_facet_trees_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The served demo answers with the facet page, and each facet's explorer is on the same port (real HTTP
    to the app the command serves, in this process: tests/serve_helpers.py)."""
    from tests.serve_helpers import dash_run_visits, fetch, free_port

    data = stand_in_data(tmp_path / "data")
    port = free_port()
    pages: dict[str, str] = {}

    def visit(url: str) -> None:
        pages["layout"] = fetch(f"{url}/_dash-layout")
        pages["facet 3"] = fetch(f"{url}/facet/3/_dash-layout")

    with dash_run_visits(monkeypatch, visit) as runs:
        result = invoke_cli("demo", "--corpus", "papers", "--data-dir", str(data), "--port", str(port), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [(run["host"], run["port"], run["debug"]) for run in runs] == [("127.0.0.1", port, False)]
    assert "serving 3 facet trees" in result.stderr
    assert "facet-choice" in pages["layout"] and all(f in pages["layout"] for f in ("problem", "method", "finding"))
    assert '"doc-map"' in pages["facet 3"]


SHIPPED = DATA / "papers.facets.jsonl"


@pytest.mark.skipif(not SHIPPED.exists(), reason="no recorded extraction shipped yet (python tools/ship_facet_demo.py FILE)")
def test_the_shipped_extraction_is_complete() -> None:
    """data/papers.facets.jsonl (a real model's notes, tools/ship_facet_demo.py): every paper, in order, every note
    filled and its own, no error column; the facet vectors beside it are MiniLM-shaped unit vectors."""
    papers = [json.loads(line) for line in (DATA / "papers.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [json.loads(line) for line in SHIPPED.read_text(encoding="utf-8").splitlines() if line.strip()]
    facets = ("problem", "method", "finding")
    assert [r["id"] for r in rows] == [p["id"] for p in papers]
    assert all(set(r) == {"id", "title", "text", *facets} for r in rows)  # no _extract_errors, nothing else
    assert all(r["title"] == p["title"] and r["text"] == p["text"] for r, p in zip(rows, papers))
    notes = [r[f] for r in rows for f in facets]
    assert all(isinstance(n, str) and len(n.strip()) > 20 for n in notes)
    assert len({n.casefold() for n in notes}) == len(notes)  # no note repeated, within a paper or across papers
    assert not any(n.strip().casefold() == r["title"].strip().casefold() for r in rows for n in (r[f] for f in facets))
    for facet in facets:
        vectors = np.load(DATA / f"papers.facets.{facet}.minilm.npy")
        assert vectors.shape == (56, 384) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
