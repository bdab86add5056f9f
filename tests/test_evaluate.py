"""The evaluation report: reference-free measures, reference metrics, the evaluate/compare commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.base.errors import InputError, TopicmapError
from topicmap.hierarchy.quality.evaluate import (
    EvaluateOptions,
    evaluate_tree,
    label_distinctness,
    label_fidelity,
    require_labels,
    shape_levels,
    size_spread,
    cohesion_levels,
)
from topicmap.hierarchy.quality.refs import reference_scores, references_from_file, references_from_metadata
from topicmap.hierarchy.quality.report import render_comparison, render_report
from topicmap.hierarchy.inputs.documents import read_documents
from topicmap.hierarchy.quality.navigate import EmbeddingNavigator
from topicmap.hierarchy.tree.treefile import save_tree
from tests.cli_helpers import assert_clean_error, invoke_cli
from tests.eval_fixtures import HashEmbedder, build, hand_tree, hash_tree


@pytest.fixture
def topic_tree(topic_corpus):
    docs, emb = topic_corpus
    corpus = read_documents(docs)
    vectors = np.load(emb)
    return build(corpus, vectors), vectors


@pytest.fixture(scope="module")
def minilm():
    from topicmap.hierarchy.inputs.embed import SentenceTransformerEmbedder

    model = SentenceTransformerEmbedder("minilm")
    model.embed(["warm up"])
    return model


# -- reference-free ---------------------------------------------------------------------------
def test_shape_and_leaf_sizes_describe_the_tree(topic_tree):
    tree, _ = topic_tree
    shape = shape_levels(tree)
    assert [lv.nodes for lv in shape] == [len(tree.level(d)) for d in range(1, tree.depth + 1)]
    assert shape[0].branching_mean == len(tree.children("root"))
    spread = size_spread(tree, tiny_threshold=13)
    assert spread.count == len(tree.leaves())
    assert spread.min <= spread.median <= spread.max
    assert spread.tiny == sum(1 for n in tree.iter_nodes() if n.id != "root" and n.size < 13)
    assert spread.singletons == 0


def test_silhouette_is_high_on_well_separated_topics(topic_tree):
    tree, vectors = topic_tree
    levels = cohesion_levels(tree, vectors, sample=72)
    assert levels[0].silhouette is not None and levels[0].silhouette > 0.5
    assert all(0 < lv.cohesion <= 1 for lv in levels)
    with pytest.raises(InputError, match="row-aligned"):
        cohesion_levels(tree, vectors[:10])


def test_label_distinctness_finds_duplicate_and_near_duplicate_siblings():
    tree = hand_tree({"0": "Sport", "1": "sport!", "0.0": "football · goal · league", "0.1": "football · goal · cup", "1.0": "markets", "1.1": "banks"})
    result = label_distinctness(tree)
    assert result.sibling_pairs == 3
    assert (result.duplicates, result.near_duplicates) == (1, 1)
    assert {(ex.a, ex.b, ex.kind) for ex in result.examples} == {("0", "1", "duplicate"), ("0.0", "0.1", "near-duplicate")}
    assert result.distinct_share == pytest.approx(1 / 3, abs=1e-3)


def test_label_fidelity_compares_each_label_with_its_siblings_documents():
    tree = hand_tree()
    own = {n.id: n.centroid / max(np.linalg.norm(n.centroid), 1e-9) for n in tree.iter_nodes() if n.id != "root"}
    good = label_fidelity(tree, own)
    assert (good.nodes, good.faithful, good.rate) == (6, 6, 1.0)
    swapped = dict(own)
    swapped["0.0"], swapped["0.1"] = own["0.1"], own["0.0"]
    bad = label_fidelity(tree, swapped)
    assert bad.faithful == 4
    assert {m.node for m in bad.misses} == {"0.0", "0.1"}
    assert [lv.rate for lv in bad.levels] == [1.0, 0.5]


def test_a_tree_without_labels_is_refused():
    tree = hand_tree({"0": "sport", "1": "money"})
    with pytest.raises(TopicmapError, match="have no label"):
        require_labels(tree, "t.json")


# -- references -------------------------------------------------------------------------------
def test_reference_scores_on_a_tree_that_matches_its_categories():
    tree = hand_tree()
    arrays = tree.arrays
    refs = references_from_metadata(tree, ["sub", "top"])
    sub = reference_scores(arrays, "sub", refs["sub"])
    top = reference_scores(arrays, "top", refs["top"])
    assert sub.dendrogram_purity == 1.0 and top.dendrogram_purity == 1.0
    assert (sub.best_depth, sub.nmi, sub.ari) == (2, 1.0, 1.0)
    assert (top.best_depth, top.nmi) == (1, 1.0)
    assert top.mixed_nodes == 0
    assert sub.mixed_nodes == 2  # the two top nodes each hold two sub categories
    assert sub.levels[0].mixed_nodes == 2 and sub.levels[1].mixed_nodes == 0


def test_reference_scores_count_mixed_nodes():
    tree = hand_tree()
    classes = np.array(["x", "y"] * 4, dtype=object)  # every leaf holds one x and one y
    result = reference_scores(tree.arrays, "alt", classes)
    assert result.mixed_nodes == 6
    assert result.dendrogram_purity == pytest.approx(0.5)


def test_references_from_metadata_name_a_missing_row():
    tree = hand_tree()
    tree.documents[3].metadata.pop("sub")
    with pytest.raises(InputError, match=r"'sub': missing for document '0.1-1' \(row 4\)"):
        references_from_metadata(tree, ["sub"])


def test_references_from_file_match_ids_and_refuse_partial_files(tmp_path: Path):
    tree = hand_tree()
    rows = [{"id": d.id, "group": d.leaf[0]} for d in tree.documents]
    good = tmp_path / "refs.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)))
    refs = references_from_file(tree, str(good), None)
    assert list(refs["group"]) == [d.leaf[0] for d in tree.documents]
    short = tmp_path / "short.jsonl"
    short.write_text("".join(json.dumps(r) + "\n" for r in rows[:-1]))
    with pytest.raises(InputError, match="7 rows for 8 documents"):
        references_from_file(tree, str(short), None)
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps(r) + "\n" for r in rows[:-1] + [{"id": "stranger", "group": "0"}]))
    with pytest.raises(InputError, match="no row for document '1.1-1'"):
        references_from_file(tree, str(other), None)


# -- the whole report -------------------------------------------------------------------------
def test_evaluate_tree_with_a_hash_embedder_fills_every_section(topic_corpus):
    docs, _ = topic_corpus
    embedder = HashEmbedder()
    tree = hash_tree(docs, embedder)
    options = EvaluateOptions(
        references=references_from_metadata(tree, ["sub", "top"]),
        embedder=embedder,
        navigators=[EmbeddingNavigator(embedder)],
        sample=30,
        silhouette_sample=72,
    )
    report = evaluate_tree(tree, "hash.json", options).to_dict()
    assert report["documents"] == 72
    assert isinstance(report["cohesion"], list)
    assert report["fidelity"]["rate"] >= 0.8
    assert {r["name"] for r in report["references"]} == {"sub", "top"}
    assert report["references"][0]["dendrogram_purity"] > 0.7
    assert report["navigation"][0]["exact_leaf_accuracy"] >= 0.8
    json.dumps(report)  # plain JSON all the way down
    text = render_report(report)
    assert "label fidelity" in text and "dendrogram purity" in text and "exact leaf" in text
    rate = report["navigation"][0]["exact_leaf_accuracy"]
    assert f"(± {100 * (rate * (1 - rate) / 30) ** 0.5:.1f} points, 1 s.e.)" in text
    assert "B - A" in render_comparison(report, report)
    assert "--preset browse" in render_report({**report, "depth": 4})  # deep trees get the hint
    assert "--preset browse" not in render_report({**report, "depth": 3})


def test_minilm_papers_report_is_deterministic(papers_paths, minilm):
    docs, emb = papers_paths
    corpus = read_documents(docs)
    tree = build(corpus, np.load(emb), embedder_name="sentence-transformers/all-MiniLM-L6-v2")
    # a sample of 20 documents for the silhouette too: re-embedding all 56 texts twice was most of this test's time
    options = EvaluateOptions(embedder=minilm, navigators=[EmbeddingNavigator(minilm)], sample=20, silhouette_sample=20)
    first = evaluate_tree(tree, "papers", options).to_dict()
    second = evaluate_tree(tree, "papers", options).to_dict()
    assert first == second
    assert 0.5 <= first["fidelity"]["rate"] <= 1.0  # keyword labels mostly point at their own papers
    nav = first["navigation"][0]
    assert nav["sample"] == 20 and 0.0 <= nav["exact_leaf_accuracy"] <= nav["node_match"] <= 1.0


# -- the commands -----------------------------------------------------------------------------
@pytest.fixture
def topic_tree_file(tmp_path: Path, topic_corpus):
    docs, emb = topic_corpus
    tree_file = tmp_path / "t.json"
    result = invoke_cli("build", str(docs), "--embeddings", str(emb), "--min-leaf-size", "5", "-o", str(tree_file), "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tree_file, emb


def test_cli_evaluate_json_with_references(topic_tree_file, tmp_path: Path):
    tree_file, emb = topic_tree_file
    out = tmp_path / "report.json"
    result = invoke_cli("evaluate", str(tree_file), "--labels", "sub", "--labels", "top", "--embeddings", str(emb), "--navigator", "none", "--json", "-o", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert json.loads(out.read_text()) == report
    assert [r["name"] for r in report["references"]] == ["sub", "top"]
    assert report["references"][0]["dendrogram_purity"] > 0.7
    # only the three topic nodes hold two subtopics each; against the topics themselves nothing mixes
    assert report["references"][0]["mixed_nodes"] == 3 and report["references"][1]["mixed_nodes"] == 0
    assert "precomputed" in report["fidelity"]["skipped"]  # no embedder known for a .npy tree: said, not crashed
    assert report["cohesion"][0]["silhouette"] > 0.3
    recorded = invoke_cli("evaluate", str(tree_file), "--navigator", "none", "--json", cwd=tmp_path)
    assert json.loads(recorded.stdout)["cohesion"] == report["cohesion"]  # the .npy named in the manifest is reused
    emb.rename(emb.with_suffix(".moved"))
    text = invoke_cli("evaluate", str(tree_file), "--labels", "top", "--navigator", "none", cwd=tmp_path)
    assert text.returncode == 0 and "dendrogram purity" in text.stdout and "skipped: no document vectors" in text.stdout


def test_cli_compare_shows_two_trees_side_by_side(topic_tree_file, tmp_path: Path, topic_corpus):
    tree_file, emb = topic_tree_file
    docs, _ = topic_corpus
    other = tmp_path / "t2.json"
    assert invoke_cli("build", str(docs), "--embeddings", str(emb), "--levels", "2,6", "-o", str(other), "-q", cwd=tmp_path).returncode == 0
    result = invoke_cli("compare", str(tree_file), str(other), "--labels", "sub", "--navigator", "none", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sub: dendrogram purity" in result.stdout and "B - A" in result.stdout
    as_json = json.loads(invoke_cli("compare", str(tree_file), str(other), "--navigator", "none", "--json", cwd=tmp_path).stdout)
    assert set(as_json) == {"a", "b"} and as_json["b"]["leaves"] == 6


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--labels", "nope"], "reference column 'nope': missing for document"),
        (["--sample", "500"], "--sample 500 is larger than the corpus (72 documents"),
        (["--navigator", "embedding"], "the embedding navigator cannot run"),
        (["--navigator", "llm"], "--navigator llm needs a chat server"),
    ],
)
def test_cli_evaluate_bad_input_is_one_line_and_writes_nothing(topic_tree_file, tmp_path: Path, args, fragment):
    tree_file, _ = topic_tree_file
    out = tmp_path / "report.json"
    if "--sample" in args:
        args = [*args, "--navigator", "llm", "--model", "m"]
    result = invoke_cli("evaluate", str(tree_file), *args, "-o", str(out), cwd=tmp_path)
    assert_clean_error(result, fragment)
    assert not out.exists()


def test_cli_evaluate_refuses_unlabelled_trees_and_partial_references(topic_tree_file, tmp_path: Path):
    tree_file, _ = topic_tree_file
    data = json.loads(tree_file.read_text())
    refs = tmp_path / "refs.csv"
    refs.write_text("id,group\n" + "".join(f"{d['id']},{d['metadata']['top']}\n" for d in data["documents"][:-3]))
    assert_clean_error(invoke_cli("evaluate", str(tree_file), "--labels-file", str(refs), "--navigator", "none", cwd=tmp_path), "69 rows for 72 documents")
    for node in data["nodes"]:
        node["label"] = ""
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(data))
    assert_clean_error(invoke_cli("evaluate", str(bare), "--navigator", "none", cwd=tmp_path), "have no label")


def test_a_root_only_tree_gets_a_report():
    from topicmap.hierarchy.tree.topic_tree import Document, Node, TopicTree

    tree = TopicTree([Node("root", None, 0, 3, centroid=np.ones(4, dtype=np.float32))], [Document(f"d{i}", "root", text=f"text {i}") for i in range(3)])
    embedder = HashEmbedder(4)
    report = evaluate_tree(tree, "tiny", EvaluateOptions(embedder=embedder, navigators=[EmbeddingNavigator(embedder)], sample=3)).to_dict()
    assert report["depth"] == 0 and report["shape"] == [] and report["fidelity"]["nodes"] == 0
    assert report["navigation"][0]["exact_leaf_accuracy"] == 1.0
    lines = render_report(report).splitlines()
    assert lines[0].startswith("tiny: 3 documents · 1 nodes · 1 leaves · depth 0 · ")
    shape_header = lines.index("shape") + 1
    assert lines[shape_header + 1].startswith("leaf sizes: min 3 · p10 3 · median 3 · p90 3 · max 3 · ")  # no level rows: the root has no levels below
    assert "sibling labels: 0 pairs, 0 duplicate, 0 near-duplicate (100.0% distinct)" in lines
    assert lines[-1].startswith("  embedding on ") and "3 documents (seed 0): exact leaf 100.0% (± 0.0 points, 1 s.e.)" in lines[-1]
    assert not any("against reference categories" in line or "--preset browse" in line for line in lines)
