"""The core commands end to end through the real CLI: build, info, export, demo, and bad input.

Commands run in this process through the CLI's entry point (``invoke_cli``); one build runs as a real
subprocess (``run_cli``), which also checks that a fresh process builds the same tree as this one."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.tree.treefile import load_tree
from tests.cli_helpers import assert_clean_error, invoke_cli, run_cli


def test_build_info_export_on_papers(tmp_path: Path, papers_paths: tuple[Path, Path]) -> None:
    docs, emb = papers_paths
    out = tmp_path / "papers.tree.json"
    result = run_cli("build", str(docs), "--embeddings", str(emb), "-o", str(out), "--min-leaf-size", "4", "--seed", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    tree = load_tree(out)
    assert len(tree.documents) == 56 and tree.root.size == 56
    assert len(tree.children("root")) >= 2
    assert all(n.keywords and n.label for n in tree.iter_nodes())
    assert all(n.label_meta.labeler == "keywords" for n in tree.iter_nodes())
    assert all(len(n.representative_ids) >= 1 for n in tree.iter_nodes())
    manifest = tree.manifest
    assert manifest["seed"] == 3 and manifest["clustering"]["min_leaf_size"] == 4
    assert manifest["input"]["n_documents"] == 56 and len(manifest["input"]["sha256"]) == 64
    assert manifest["embedder"]["dimensions"] == 384 and manifest["timings_s"]["total"] > 0
    xs = np.array([d.x for d in tree.documents])
    assert np.isfinite(xs).all() and xs.std() > 0
    # the same build in this process (another hash seed, other state, its own cache) makes the same tree
    env = {"XDG_CACHE_HOME": str(tmp_path / "other-cache")}
    again = invoke_cli("build", str(docs), "--embeddings", str(emb), "-o", "again.json", "--min-leaf-size", "4", "--seed", "3", "-q", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    same = load_tree(tmp_path / "again.json")
    assert [(d.leaf, d.x, d.y) for d in same.documents] == [(d.leaf, d.x, d.y) for d in tree.documents]
    assert [(n.id, n.label, n.keywords) for n in same.iter_nodes()] == [(n.id, n.label, n.keywords) for n in tree.iter_nodes()]

    info = invoke_cli("info", str(out), cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert "56 documents" in info.stdout and "root" in info.stdout
    short = invoke_cli("info", str(out), "--lines", "3", cwd=tmp_path)  # the outline: root, its largest topic, "... N more"
    assert short.returncode == 0, short.stderr
    assert short.stdout.rstrip().splitlines()[-1].strip().startswith("... ")

    nested = tmp_path / "nested.json"
    assert invoke_cli("export", str(out), "--format", "nested", "-o", str(nested), cwd=tmp_path).returncode == 0
    top = json.loads(nested.read_text(encoding="utf-8"))["tree"]
    assert top["size"] == 56 and sum(c["size"] for c in top["children"]) == 56

    paths = tmp_path / "paths.csv"
    assert invoke_cli("export", str(out), "--format", "csv", "-o", str(paths), cwd=tmp_path).returncode == 0
    rows = list(csv.DictReader(paths.open(encoding="utf-8")))
    assert len(rows) == 56 and all(r["path"].startswith("root/") and r["path"].endswith(r["leaf"]) for r in rows)

    page = tmp_path / "map.html"
    assert invoke_cli("export", str(out), "--format", "html", "-o", str(page), cwd=tmp_path).returncode == 0
    html = page.read_text(encoding="utf-8")
    assert "sunburst" in html and "<script src=\"http" not in html  # plotly.js inline: opens with no server


FORMULA_IDS = ['=HYPERLINK("http://example.invalid/x","click")', "+1+2", "-3", "@SUM(A1)", "\tindented", "\rreturn", "plain-id"]


def test_csv_export_keeps_formulas_as_text(tmp_path: Path) -> None:
    from topicmap.hierarchy.tree.topic_tree import Document, Node, TopicTree
    from topicmap.hierarchy.tree.treefile import save_tree

    nodes = [
        Node("root", None, 0, 7, label="all"),
        Node("0", "root", 1, 4, label="=1+2"),
        Node("1", "root", 1, 3, label="@cmd|' /C calc'!A0"),
    ]
    docs = [Document(doc_id, "0" if k < 4 else "1", text=f"text {k}") for k, doc_id in enumerate(FORMULA_IDS)]
    tree_file = tmp_path / "t.json"
    save_tree(TopicTree(nodes, docs), tree_file)
    out = tmp_path / "paths.csv"
    result = invoke_cli("export", str(tree_file), "--format", "csv", "-o", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert [r["doc_id"] for r in rows] == ["'" + i if i[0] in "=+-@\t\r" else i for i in FORMULA_IDS]
    assert {r["leaf_label"] for r in rows} == {"'=1+2", "'@cmd|' /C calc'!A0"}
    assert all(r["leaf"] in ("0", "1") and r["path"].startswith("root/") for r in rows)
    assert "spreadsheet" in invoke_cli("export", "--help").stdout


def test_same_seed_same_tree_and_levels_schedule(tmp_path: Path, topic_corpus: tuple[Path, Path]) -> None:
    docs, emb = topic_corpus
    for name in ("a", "b"):  # a fresh process builds the same tree too: test_build_info_export_on_papers
        assert invoke_cli("build", str(docs), "--embeddings", str(emb), "-o", f"{name}.json", "--min-leaf-size", "5", "-q", cwd=tmp_path).returncode == 0
    a, b = (load_tree(tmp_path / f"{n}.json") for n in ("a", "b"))
    assert [d.leaf for d in a.documents] == [d.leaf for d in b.documents]
    assert [(n.id, n.label) for n in a.iter_nodes()] == [(n.id, n.label) for n in b.iter_nodes()]
    # every leaf holds one known subtopic only
    for leaf in a.leaves():
        assert len({d.metadata["sub"] for d in a.documents_of(leaf.id)}) == 1, leaf.id

    result = invoke_cli("build", str(docs), "--embeddings", str(emb), "-o", "lv.json", "--levels", "3,6", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lv = load_tree(tmp_path / "lv.json")
    assert len(lv.level(1)) == 3 and len(lv.level(2)) == 6

    result = invoke_cli("build", str(docs), "--embeddings", str(emb), "-o", "deep.json", "--preset", "deep", "--min-leaf-size", "5", "--descent-rounds", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "preset deep" in result.stdout and "1 descent rounds" in result.stdout
    deep = load_tree(tmp_path / "deep.json")
    assert deep.manifest["clustering"]["max_depth"] == 10 and len(deep.leaves()) > len(a.leaves())

    result = invoke_cli("build", str(docs), "--embeddings", str(emb), "-o", "few.json", "--leaves", "3", "--max-depth", "1", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(load_tree(tmp_path / "few.json").leaves()) == 3
    result = invoke_cli("info", str(tmp_path / "a.json"), cwd=tmp_path)
    assert "preset map" in result.stdout and "6 leaf clusters" in result.stdout and "smoothed over 3 neighbours" in result.stdout


def test_tfidf_embedder_and_embedding_cache(tmp_path: Path, topic_corpus: tuple[Path, Path]) -> None:
    docs, _ = topic_corpus
    first = invoke_cli("build", str(docs), "--embedder", "tfidf", "-o", "t.json", "--min-leaf-size", "5", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    cached = list((tmp_path / ".cache-test" / "topicmap" / "embeddings").glob("*.npy"))
    assert len(cached) == 1
    second = invoke_cli("build", str(docs), "--embedder", "tfidf", "-o", "t2.json", "--min-leaf-size", "5", cwd=tmp_path)
    assert "reused from cache" in second.stderr
    assert load_tree(tmp_path / "t2.json").manifest["embedder"]["name"].startswith("tfidf")


@pytest.fixture
def bad_input_files(tmp_path: Path, topic_corpus: tuple[Path, Path]) -> dict[str, str]:
    """Broken variants of the topic corpus beside it; the paths the cases below name as {docs} and {emb}."""
    docs, emb = topic_corpus
    rows = [json.loads(line) for line in docs.read_text(encoding="utf-8").splitlines()]
    variants = {"empty.jsonl": [], "blank.jsonl": rows[:3] + [{"id": "z", "text": ""}], "dup.jsonl": rows[:3] + [rows[1]], "tiny.jsonl": rows[:3]}
    for name, items in variants.items():
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    np.save(tmp_path / "nan.npy", np.where(np.arange(72)[:, None] == 5, np.nan, np.load(emb)))
    np.save(tmp_path / "short.npy", np.load(emb)[:10])
    return {"docs": str(docs), "emb": str(emb)}


@pytest.mark.parametrize(
    "args, fragments",
    [
        pytest.param(["missing.jsonl"], ["missing.jsonl: no such file"], id="missing file"),
        pytest.param(["{docs}", "--text-column", "body"], ["no column 'body'"], id="no such text column"),
        pytest.param(["empty.jsonl"], ["empty.jsonl: no documents"], id="no documents"),
        pytest.param(["blank.jsonl"], ["line 4: field 'text' is empty"], id="empty text"),
        pytest.param(["dup.jsonl"], ["line 4: duplicate id"], id="duplicate id"),
        pytest.param(["{docs}", "--embeddings", "nan.npy"], ["nan.npy: row 6 has NaN"], id="NaN in the embeddings"),
        pytest.param(["{docs}", "--embeddings", "short.npy"], ["10 embedding rows for 72 documents"], id="too few embedding rows"),
        pytest.param(["tiny.jsonl", "--embedder", "tfidf"], ["3 documents is fewer than the minimum leaf size (10)"], id="fewer documents than a leaf"),
        pytest.param(["{docs}", "--embeddings", "{emb}", "--levels", "6,3"], ["--levels"], id="levels decreasing"),
        pytest.param(["{docs}", "--embeddings", "{emb}", "--levels", "1,6"], ["the first level needs at least 2 nodes"], id="a first level of 1"),
        pytest.param(["{docs}", "--embeddings", "{emb}", "-o", "no/such/dir/t.json"], ["no/such/dir/t.json", "does not exist"], id="output folder missing"),
    ],
)
def test_bad_inputs_give_one_line_and_write_nothing(tmp_path: Path, bad_input_files: dict[str, str], args: list[str], fragments: list[str]) -> None:
    args = ["build", *(arg.format(**bad_input_files) for arg in args)]
    before = set(os.listdir(tmp_path))
    result = invoke_cli(*args, "-o" if "-o" not in args else "--quiet", *(["out.json"] if "-o" not in args else []), cwd=tmp_path)
    assert_clean_error(result, *fragments)
    assert set(os.listdir(tmp_path)) - before <= {".cache-test"}, args


def test_corrupt_tree_file_for_info_and_export(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text('{"format": "topicmap-tree", "schema_version": 1, "nodes": [', encoding="utf-8")
    assert_clean_error(invoke_cli("info", "t.json", cwd=tmp_path), "t.json: not valid JSON")
    assert_clean_error(invoke_cli("export", "t.json", "--format", "csv", "-o", "x.csv", cwd=tmp_path), "t.json")
    assert not (tmp_path / "x.csv").exists()


def test_help_teaches() -> None:
    result = invoke_cli("build", "--help")
    assert result.returncode == 0
    for phrase in ("--embeddings", "--levels", "--min-leaf-size", "--max-depth", "--seed", "Example"):
        assert phrase in result.stdout


@pytest.mark.slow
def test_demo_builds_the_bbc_map(tmp_path: Path) -> None:
    result = invoke_cli("demo", "--no-serve", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    tree = load_tree(tmp_path / "out" / "bbc.tree.json")
    assert len(tree.documents) == 2225
    assert 3 <= len(tree.children("root")) <= 10
    # it opens on the labelled semantic map: UMAP coordinates (cached), the top level's names drawn on them
    assert tree.manifest["clustering"]["layout"] == "auto" and tree.manifest["clustering"]["layout_used"] == "umap"
    assert len(list((tmp_path / ".cache-test" / "topicmap" / "layouts").glob("*.npy"))) == 1
    from topicmap.viz.figures import map_spec
    from topicmap.viz.index import TreeIndex

    names = {a["name"] for a in map_spec(TreeIndex(tree))["layout"]["annotations"]}
    assert names and names <= {node.id for node in tree.children("root")}


def test_demo_builds_and_serves_the_dashboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README's first command: `topicmap demo` builds the map and serves it on 127.0.0.1 (in this process:
    real HTTP to the served app, see tests/serve_helpers.py; test_app_entry.py serves from a real process)."""
    from tests.serve_helpers import dash_run_visits, fetch, free_port

    port = free_port()
    pages: dict[str, str] = {}

    def visit(url: str) -> None:
        pages["/"] = fetch(f"{url}/")
        pages["layout"] = fetch(f"{url}/_dash-layout")

    with dash_run_visits(monkeypatch, visit) as runs:
        result = invoke_cli("demo", "--corpus", "papers", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert runs == [{"host": "127.0.0.1", "port": port, "debug": False, "dev_tools_ui": False, "dev_tools_hot_reload": False}]
    assert f"http://127.0.0.1:{port}/" in result.stderr
    assert "<title>" in pages["/"] and "topicmap" in pages["/"]
    # with the recorded extraction shipped in data/, the papers demo serves its three facet trees together
    for facet in ("problem", "method", "finding"):
        assert load_tree(tmp_path / "out" / f"papers.{facet}.tree.json").n_documents == 56
    assert '"facet":"problem"' in pages["layout"]
    assert '"options":[{"label":"problem","value":"problem"},{"label":"method","value":"method"},{"label":"finding","value":"finding"}]' in pages["layout"]


def test_build_with_the_openai_embedder_against_a_local_server(tmp_path: Path, topic_corpus: tuple[Path, Path]) -> None:
    from tests.openai_server import FakeOpenAIServer

    docs, _ = topic_corpus
    with FakeOpenAIServer() as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"}
        result = invoke_cli("build", str(docs), "--embedder", "openai", "--embedding-model", "fake-embed", "--min-leaf-size", "5", "-o", "t.json", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        # the documents, then (one request) the distinct keyword candidates that steer each node's keywords,
        # then (one request per depth with sibling groups) the candidate texts of routed keywords (topicmap.hierarchy.builder.routed_keywords)
        assert len(server.requests) >= 3 and len(server.requests[0]["input"]) == 72
        words = server.requests[1]["input"]
        assert words == sorted(set(words)) and all(" " not in w for w in words)
        assert all(": " in text for request in server.requests[2:] for text in request["input"])
    tree = load_tree(tmp_path / "t.json")
    assert tree.manifest["clustering"]["keywords_steered"] is True
    assert tree.manifest["embedder"] == {"name": "openai/fake-embed", "kind": "openai", "dimensions": 8}
    assert_clean_error(invoke_cli("build", str(docs), "--embedder", "openai", "-o", "u.json", cwd=tmp_path), "needs OPENAI_API_KEY")


def test_build_records_which_model_made_given_embeddings(tmp_path: Path, papers_paths: tuple[Path, Path]) -> None:
    """--embedder beside --embeddings names the model, so later steps embed new text into the same space."""
    from topicmap.hierarchy.tree.embedder import resolve_tree_embedder

    docs, emb = papers_paths
    out = tmp_path / "t.json"
    result = invoke_cli("build", str(docs), "--embeddings", str(emb), "--embedder", "minilm", "-o", str(out), "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    tree = load_tree(out)
    assert tree.manifest["embedder"]["name"] == "sentence-transformers/all-MiniLM-L6-v2" and tree.manifest["embedder"]["source"] == str(emb)
    assert resolve_tree_embedder(tree).name == "sentence-transformers/all-MiniLM-L6-v2"
    # the named model also chooses the keywords (as when the build embeds the texts); unnamed vectors keep plain c-TF-IDF
    assert tree.manifest["clustering"]["keywords_steered"] is True
    unnamed = invoke_cli("build", str(docs), "--embeddings", str(emb), "-o", str(tmp_path / "plain.json"), cwd=tmp_path)
    assert unnamed.returncode == 0, unnamed.stderr
    plain = load_tree(tmp_path / "plain.json")
    assert plain.manifest["clustering"]["keywords_steered"] is False and "keywords:" not in unnamed.stderr
    assert [d.leaf for d in plain.documents] == [d.leaf for d in tree.documents]  # same clustering, other words
    assert any(a.keywords != b.keywords for a, b in zip(plain.iter_nodes(), tree.iter_nodes()))
    told = invoke_cli("build", str(docs), "--embeddings", str(emb), "--embedder", "minilm", "-o", str(tmp_path / "told.json"), cwd=tmp_path)
    assert "keywords: chosen with sentence-transformers/all-MiniLM-L6-v2 (named by --embedder)" in told.stderr
    fast = invoke_cli("build", str(docs), "--embeddings", str(emb), "--embedder", "minilm", "--plain-keywords", "-o", str(tmp_path / "fast.json"), cwd=tmp_path)
    assert fast.returncode == 0 and "keywords:" not in fast.stderr, fast.stderr
    kept = load_tree(tmp_path / "fast.json")  # the model is still recorded, only the keywords are plain
    assert kept.manifest["embedder"]["name"] == "sentence-transformers/all-MiniLM-L6-v2" and kept.manifest["clustering"]["keywords_steered"] is False
    assert [n.keywords for n in kept.iter_nodes()] == [n.keywords for n in plain.iter_nodes()]
    refused = invoke_cli("build", str(docs), "--embeddings", str(emb), "--embedder", "tfidf", "-o", str(tmp_path / "u.json"), cwd=tmp_path)
    assert_clean_error(refused, "--embedder tfidf cannot have made the given embeddings")
    assert not (tmp_path / "u.json").exists()
