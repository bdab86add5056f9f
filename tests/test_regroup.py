"""Summary-grouped upper levels (``topicmap regroup``): the grouping follows the names and summaries, the
leaves and their documents stay, the result is a normal tree file, and the LLM path is cached and resumable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.quality.refs import reference_scores, references_from_metadata
from topicmap.hierarchy.labels.regroup import RegroupOptions, check_levels, grouping_text, regroup_tree, tree_level_counts
from topicmap.hierarchy.tree.topic_tree import Document, LabelMeta, Node, TopicTree
from topicmap.hierarchy.tree.treefile import load_tree, save_tree
from tests.cli_helpers import assert_clean_error, invoke_cli
from tests.eval_fixtures import HashEmbedder, hash_tree
from tests.llm_fixtures import make_tree
from tests.openai_server import FakeOpenAIServer

# Leaf names and summaries say which subject each leaf belongs to; the centroids say otherwise.
LEAVES = {
    "football": ("Football", "sport sport news: goals and league matches", "sport"),
    "tennis": ("Tennis", "sport sport news: serves and wimbledon finals", "sport"),
    "markets": ("Stock markets", "money money news: shares and investors", "money"),
    "banks": ("Banks", "money money news: loans and mortgages", "money"),
    "space": ("Space", "science science news: rockets and orbits", "science"),
    "biology": ("Biology", "science science news: cells and genes", "science"),
}
# How the centroids grouped them: every top node mixes two subjects.
CENTROID_GROUPS = [("football", "banks"), ("tennis", "space"), ("markets", "biology")]


def mixed_tree() -> TopicTree:
    """root -> three mixed groups -> two named leaves each; sizes differ so ids order by size."""
    rng = np.random.default_rng(0)
    nodes = [Node("root", None, 0, 0, label="everything", centroid=np.zeros(8, dtype=np.float32))]
    docs: list[Document] = []
    total = 0
    for g, members in enumerate(CENTROID_GROUPS):
        group = Node(str(g), "root", 1, 0, label=f"group {g}", keywords=[f"g{g}"], centroid=np.zeros(8, dtype=np.float32))
        nodes.append(group)
        for i, key in enumerate(members):
            label, summary, subject = LEAVES[key]
            size = 3 + 2 * g + i
            leaf_id = f"{g}.{i}"
            centroid = rng.normal(size=8).astype(np.float32)
            meta = LabelMeta("llm", "some-model", "label_leaf@v2", "h", "2026-01-01T00:00:00+00:00", "ok", None, {"input": f"key-{key}"})
            nodes.append(Node(leaf_id, str(g), 2, size, label=label, summary=summary, keywords=[key, subject], centroid=centroid,
                              representative_ids=[f"{key}-{j}" for j in range(size)][:4], label_meta=meta))
            docs += [Document(f"{key}-{j}", leaf_id, text=f"{key} {subject} story {j}", title=key, x=float(j), y=float(g),
                              metadata={"subject": subject}) for j in range(size)]
            group.size += size
        group.centroid = sum(n.centroid * n.size for n in nodes if n.parent == str(g)) / group.size
        total += group.size
    nodes[0].size = total
    return TopicTree(nodes, docs, manifest={"embedder": {"name": "test-hash-64"}})


def test_upper_levels_follow_the_names_and_summaries_not_the_centroids() -> None:
    tree = mixed_tree()
    embedder = HashEmbedder()
    regrouped, report = regroup_tree(tree, embedder.embed, None, RegroupOptions(levels=[3], names="keywords"), embedder.name)
    groups = {frozenset(c.label for c in regrouped.children(top.id)) for top in regrouped.children("root")}
    assert groups == {frozenset({"Football", "Tennis"}), frozenset({"Stock markets", "Banks"}), frozenset({"Space", "Biology"})}
    assert report.nodes_per_level == [3] and report.texts_embedded == 6
    # what that buys: every top node is pure against the subjects, where the centroid tree mixed two
    refs = references_from_metadata(regrouped, ["subject"])
    assert reference_scores(regrouped.arrays, "subject", refs["subject"]).dendrogram_purity == pytest.approx(1.0)
    before = reference_scores(tree.arrays, "subject", references_from_metadata(tree, ["subject"])["subject"]).dendrogram_purity
    assert before < 0.9


def test_leaves_and_documents_stay_and_new_nodes_are_described_like_a_build() -> None:
    tree = mixed_tree()
    embedder = HashEmbedder()
    regrouped, _ = regroup_tree(tree, embedder.embed, None, RegroupOptions(levels=[3], names="keywords"), embedder.name)
    old_leaf = {d.id: tree.node(d.leaf) for d in tree.documents}
    assert [d.id for d in regrouped.documents] == [d.id for d in tree.documents]
    for doc in regrouped.documents:
        leaf, before = regrouped.node(doc.leaf), old_leaf[doc.id]
        assert regrouped.is_leaf(leaf.id) and leaf.extra["regrouped_from"] == before.id
        assert (leaf.label, leaf.summary, leaf.size, leaf.label_meta.extra["input"]) == (before.label, before.summary, before.size, "key-" + doc.id.split("-")[0])
        np.testing.assert_array_equal(leaf.centroid, before.centroid)
    for top in regrouped.children("root"):
        kids = regrouped.children(top.id)
        assert top.size == sum(k.size for k in kids) and top.extra["grouped_by"] == "summaries"
        np.testing.assert_allclose(top.centroid, sum(k.centroid * k.size for k in kids) / top.size, rtol=1e-5, atol=1e-6)
        assert top.keywords and top.label == " · ".join(top.keywords[:3]) and top.label_meta.labeler == "keywords"
        assert set(top.representative_ids) <= {r for k in kids for r in k.representative_ids}
        assert top.representative_ids[0] == kids[0].representative_ids[0]  # the largest child first
    sizes = [n.size for n in regrouped.children("root")]
    assert sizes == sorted(sizes, reverse=True)  # ids numbered by decreasing size, as a build does
    xs = np.array([[d.x, d.y] for d in regrouped.documents])
    assert np.abs(xs).max() == pytest.approx(1.0)  # the map was redrawn into [-1, 1]
    grouping = regrouped.manifest["grouping"]
    assert grouping["upper_levels"] == "summaries" and grouping["levels"] == [3] and grouping["embedder"] == "test-hash-64"
    assert grouping["names"] == "keywords" and grouping["leaf_labels"] == {"llm": 6} and grouping["previous"] == {"upper_levels": "centroids"}
    assert tree.node("0.0").label == "Football" and tree.children("0")[1].label == "Banks"  # the input tree is untouched


def test_a_regrouped_tree_is_a_normal_tree_file(tmp_path: Path) -> None:
    embedder = HashEmbedder()
    regrouped, _ = regroup_tree(mixed_tree(), embedder.embed, None, RegroupOptions(levels=[3], names="keywords"), embedder.name)
    save_tree(regrouped, tmp_path / "hybrid.json")
    loaded = load_tree(tmp_path / "hybrid.json")
    assert loaded.manifest["grouping"]["levels"] == [3]
    assert [n.id for n in loaded.iter_nodes()] == [n.id for n in regrouped.iter_nodes()]
    assert tree_level_counts(loaded) == [3]  # a regrouped tree is regrouped again at the levels it recorded
    # assign places new documents by the new centroids; the dashboard serves it
    (tmp_path / "new.jsonl").write_text('{"id": "n1", "text": "a new match report"}\n', encoding="utf-8")
    np.save(tmp_path / "new.npy", loaded.node("0.0").centroid[None, :])
    placed = invoke_cli("assign", "hybrid.json", "new.jsonl", "--embeddings", "new.npy", "-o", "more.json", "--quiet", cwd=tmp_path)
    assert placed.returncode == 0, placed.stderr
    assert load_tree(tmp_path / "more.json").documents[-1].leaf.startswith("0.")
    from topicmap.viz.app import create_app

    page = create_app(loaded).server.test_client().get("/_dash-layout")
    assert page.status_code == 200 and json.dumps(loaded.children("root")[0].label)[1:-1].encode() in page.data


def test_level_counts_default_to_the_trees_own(topic_corpus: tuple[Path, Path]) -> None:
    docs, _ = topic_corpus
    tree = hash_tree(docs, HashEmbedder(), leaves=6)
    counts = tree_level_counts(tree)
    parents_of_leaves = {n.parent if n.parent != "root" else n.id for n in tree.leaves()}
    assert counts[-1] == len(parents_of_leaves) and counts[0] == len(tree.children("root"))
    embedder = HashEmbedder()
    regrouped, report = regroup_tree(tree, embedder.embed, None, RegroupOptions(names="keywords"), embedder.name)
    assert report.levels == counts and len(regrouped.leaves()) == len(tree.leaves())
    assert len(regrouped.children("root")) <= counts[0]


def test_bad_levels_and_weighting_are_refused_with_the_option_named() -> None:
    with pytest.raises(InputError, match="fewer nodes than the tree's 6 leaves"):
        check_levels([2, 6], 6)
    with pytest.raises(InputError, match="must increase"):
        check_levels([4, 3], 6)
    with pytest.raises(InputError, match="--weighting 'docs'"):
        regroup_tree(mixed_tree(), HashEmbedder().embed, None, RegroupOptions(weighting="docs"))


def test_grouping_text_uses_the_summary_or_the_keywords() -> None:
    assert grouping_text(Node("1", "root", 1, 1, label="Banks", summary="Loans and deposits.")) == "Banks: Loans and deposits."
    assert grouping_text(Node("1", "root", 1, 1, label="bank · loan", keywords=["bank", "loan", "deposit"])) == "bank · loan: bank, loan, deposit"


# -- the command, against the scripted OpenAI-compatible server ---------------------------------
@pytest.fixture
def tree_file(tmp_path: Path) -> Path:
    tree = make_tree()
    tree.manifest["embedder"] = {"name": "openai/fake-embed", "kind": "openai"}
    path = tmp_path / "tree.json"
    save_tree(tree, path)
    return path


def chat_requests(server: FakeOpenAIServer) -> int:
    return sum(1 for r in server.requests if "messages" in r)


def test_regroup_names_leaves_then_each_new_level_and_a_rerun_asks_nothing(tree_file: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"}
        args = ("regroup", str(tree_file), "-o", "hybrid.json", "-m", "fake-model", "--cache-dir", "answers", "--no-progress")
        result = invoke_cli(*args, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        asked = chat_requests(server)
        hybrid = load_tree(tmp_path / "hybrid.json")
        assert all(n.label_meta.labeler == "llm" for n in hybrid.iter_nodes()), [(n.id, n.label_meta) for n in hybrid.iter_nodes()]
        assert asked >= len(hybrid)  - 1 and "named 6 leaves" in result.stdout and "wrote hybrid.json" in result.stdout
        grouping = hybrid.manifest["grouping"]
        assert grouping["names"] == "llm" and grouping["embedder"] == "openai/fake-embed" and grouping["levels"] == [3]
        assert hybrid.manifest["labelling"]["calls"] == asked
        assert {d.id for d in hybrid.documents} == {d.id for d in make_tree().documents}
        assert tree_file.read_bytes() == (tmp_path / "tree.json").read_bytes()  # -o: the input is untouched

        again = invoke_cli(*args, cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        assert chat_requests(server) == asked  # every answer and every embedding came from the caches
        assert [(n.id, n.label) for n in load_tree(tmp_path / "hybrid.json").iter_nodes()] == [(n.id, n.label) for n in hybrid.iter_nodes()]

        # the result is a tree every command takes
        info = invoke_cli("info", "hybrid.json", cwd=tmp_path, env=env)
        assert info.returncode == 0 and "summaries" in info.stdout, info.stdout
        relabel = invoke_cli("relabel", "hybrid.json", "--only-failed", "--no-progress", "--cache-dir", "answers", cwd=tmp_path, env=env)
        assert relabel.returncode == 0 and "nothing to relabel" in relabel.stdout, relabel.stderr
        report = invoke_cli("evaluate", "hybrid.json", "--navigator", "none", "--json", cwd=tmp_path, env=env)
        assert report.returncode == 0, report.stderr
        assert json.loads(report.stdout)["leaves"] == 6
        cross = invoke_cli("crosstab", str(tree_file), "hybrid.json", "--depth", "2", cwd=tmp_path, env=env)
        assert cross.returncode == 0 and "6 nodes of A (depth 2) x 6 nodes of B (depth 2)" in cross.stdout


def test_regroup_by_keywords_calls_no_chat_model(tree_file: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"}
        result = invoke_cli("regroup", str(tree_file), "--names", "keywords", "--levels", "2", "--no-progress", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert chat_requests(server) == 0 and len(server.requests) == 1  # one embeddings request, the six leaves
    hybrid = load_tree(tree_file)  # no -o: the tree file itself was regrouped
    assert hybrid.manifest["grouping"]["levels"] == [2] and len(hybrid.children("root")) == 2
    assert all(n.label_meta.labeler == "keywords" for n in hybrid.iter_nodes())


def test_regroup_refuses_what_it_cannot_do_in_one_line(tree_file: Path, tmp_path: Path) -> None:
    no_llm = invoke_cli("regroup", str(tree_file), "-o", "out.json", cwd=tmp_path)
    assert_clean_error(no_llm, "--names keywords")
    too_many = invoke_cli("regroup", str(tree_file), "--levels", "2,6", "--names", "keywords", cwd=tmp_path)
    assert_clean_error(too_many, "--levels 2,6", "6 leaves")
    tree = load_tree(tree_file)
    tree.manifest["embedder"] = {"name": "precomputed", "source": "vectors.npy"}
    save_tree(tree, tree_file)
    unknown = invoke_cli("regroup", str(tree_file), "--names", "keywords", cwd=tmp_path)
    assert_clean_error(unknown, "--embedder")
    assert not (tmp_path / "out.json").exists()


def test_a_semantic_document_map_is_kept_and_a_tree_shaped_one_is_redrawn() -> None:
    """UMAP/PCA places documents by their vectors, not by the tree: regrouping the upper levels leaves it as it is."""
    embedder = HashEmbedder()
    for layout, kept in (("umap", True), ("pca", True), ("anchored", False)):
        tree = mixed_tree()
        tree.manifest["clustering"] = {"layout_used": layout}
        regrouped, _ = regroup_tree(tree, embedder.embed, None, RegroupOptions(levels=[3], names="keywords"), embedder.name)
        before = {d.id: (d.x, d.y) for d in tree.documents}
        after = {d.id: (d.x, d.y) for d in regrouped.documents}
        assert (after == before) is kept, layout
