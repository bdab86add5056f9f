"""build_tree: node descriptions, centroids, layout and reducers on a corpus with known structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.inputs.documents import read_documents
from topicmap.hierarchy.builder.map_layout import nested_discs
from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.builder.pipeline import PRESET_SPECS, BuildConfig, BuildInputs, browse_leaves, build_tree, map_coarse_clusters, map_leaves
from topicmap.hierarchy.tree.topic_tree import TopicTree


def build(topic_corpus: tuple[Path, Path], **overrides: object) -> tuple[TopicTree, np.ndarray]:
    docs, emb = topic_corpus
    corpus = read_documents(docs)
    vectors = np.load(emb)
    config = BuildConfig(min_leaf_size=5, **overrides)  # type: ignore[arg-type]
    return build_tree(corpus, vectors, config, BuildInputs(str(docs), corpus.sha256)), vectors


def test_nodes_are_described(topic_corpus: tuple[Path, Path]) -> None:
    tree, vectors = build(topic_corpus)
    for node in tree.iter_nodes():
        rows = tree.document_rows(node.id)
        assert node.size == len(rows)
        assert np.allclose(node.centroid, vectors[rows].mean(axis=0), atol=1e-4)
        assert set(node.representative_ids) <= {tree.documents[r].id for r in rows}
        assert node.label == " · ".join(node.keywords[:3])
        assert node.label_meta.labeler == "keywords" and node.label_meta.created_at
    for leaf in tree.leaves():
        # a leaf's top keywords come from its own subtopic's vocabulary
        words = " ".join(f"{d.title} {d.text}" for d in tree.documents_of(leaf.id))
        assert all(k in words for k in leaf.keywords[:3])


@pytest.mark.parametrize("layout", ["anchored", "pca"])
def test_layouts_give_finite_separated_coordinates(topic_corpus: tuple[Path, Path], layout: str) -> None:
    tree, _ = build(topic_corpus, layout=layout)
    xy = np.array([[d.x, d.y] for d in tree.documents])
    assert np.isfinite(xy).all() and np.abs(xy).max() <= 1.0 + 1e-6
    tops = np.array([tree.document_path(r)[1] for r in range(len(tree.documents))])
    centres = {t: xy[tops == t].mean(axis=0) for t in set(tops)}
    within = np.mean([np.linalg.norm(xy[tops == t] - c, axis=1).mean() for t, c in centres.items()])
    between = np.mean([np.linalg.norm(a - b) for a in centres.values() for b in centres.values() if a is not b])
    assert between > within  # top-level topics form separate regions of the map


def test_nested_discs_keep_children_inside_parents() -> None:
    parents = np.array([-1, 0, 0, 0, 1, 1])
    centres = np.array([[0, 0], [1, 0], [0, 1], [-1, 0], [1, 0.1], [1, -0.1]], dtype=np.float32)
    sizes = np.array([10, 6, 2, 2, 3, 3], dtype=np.float64)
    anchors, radii = nested_discs(parents, centres, sizes)
    for node in range(1, 6):
        parent = parents[node]
        assert np.linalg.norm(anchors[node] - anchors[parent]) + radii[node] <= radii[parent] + 1e-6
    for a in (1, 2, 3):
        for b in (1, 2, 3):
            if a < b:
                assert np.linalg.norm(anchors[a] - anchors[b]) >= radii[a] + radii[b] - 1e-2


@pytest.mark.slow
def test_umap_reducer_and_layout(topic_corpus: tuple[Path, Path]) -> None:
    tree, _ = build(topic_corpus, reducer="umap", layout="umap")
    assert tree.manifest["clustering"]["reducer"] == "umap"
    assert len(tree.children("root")) >= 2
    for leaf in tree.leaves():
        assert len({d.metadata["sub"] for d in tree.documents_of(leaf.id)}) == 1


# -- presets --------------------------------------------------------------------------------
def test_default_map_preset_finds_the_subtopics_in_at_most_four_levels(topic_corpus: tuple[Path, Path]) -> None:
    tree, _ = build(topic_corpus)
    clustering = tree.manifest["clustering"]
    assert clustering["preset"] == "map" and clustering["max_depth"] == PRESET_SPECS["map"].max_depth == 4
    assert clustering["leaves"] == map_leaves(72, 5) == 6 and clustering["docs_per_leaf"] == 40
    assert clustering["coarse_clusters"] == 6 and clustering["coarse_clusters_found"] is None  # too small for a coarse stage
    assert 1 <= tree.depth <= 4 and len(tree.leaves()) == 6
    for leaf in tree.leaves():  # 3 topics x 2 subtopics: each leaf is one subtopic
        assert len({d.metadata["sub"] for d in tree.documents_of(leaf.id)}) == 1
    for top in tree.children("root"):
        assert len({d.metadata["top"] for d in tree.documents_of(top.id)}) == 1


def test_map_leaves_follow_docs_per_leaf_within_bounds() -> None:
    assert map_leaves(10_966, 10) == 274
    assert map_leaves(10_966, 10, docs_per_leaf=100) == 110  # the coarser/finer knob
    assert map_leaves(100_000, 10) == map_leaves(10_000_000, 10) == 2000
    assert map_leaves(100, 10) == 6  # a handful of topics even for small corpora
    assert map_leaves(30, 10) == 3  # ... but never leaves under min_leaf_size on average
    assert map_coarse_clusters(10_966, 10) == 21 and map_coarse_clusters(10_000_000, 10) == 256


def test_map_preset_on_a_larger_corpus_gives_the_asked_leaves_in_nested_coarse_topics(tmp_path: Path) -> None:
    from topicmap.hierarchy.inputs.documents import Corpus
    from topicmap.hierarchy.builder.synthetic import make_hierarchical_embeddings

    data = make_hierarchical_embeddings(4000, branching=(4, 5), dim=48, noise=1.0, random_state=3)
    corpus = Corpus(ids=[str(i) for i in range(4000)], texts=[f"doc {i}" for i in range(4000)], titles=[""] * 4000, metadata=[{} for _ in range(4000)], source="synthetic", sha256="x")
    for asked in (None, 60):
        tree = build_tree(corpus, data.X, BuildConfig(leaves=asked, n_keywords=3, layout="pca"), BuildInputs("synthetic", "x"))  # the map layout is not what this checks
        clustering = tree.manifest["clustering"]
        expected = asked or map_leaves(4000, 10)
        assert abs(len(tree.leaves()) - expected) <= expected // 10  # --leaves N gives N within 10%
        assert clustering["coarse_clusters_found"] == map_coarse_clusters(4000, 10) and 3 <= tree.depth <= 4
    with pytest.raises(InputError, match="--docs-per-leaf 0"):
        build_tree(corpus, data.X, BuildConfig(docs_per_leaf=0), BuildInputs("synthetic", "x"))


def test_browse_preset_finds_the_subtopics_in_at_most_three_levels(topic_corpus: tuple[Path, Path]) -> None:
    tree, vectors = build(topic_corpus, preset="browse")
    clustering = tree.manifest["clustering"]
    spec = PRESET_SPECS["browse"]
    assert clustering["preset"] == "browse" and clustering["leaves"] == browse_leaves(72, 5) == 6
    assert clustering["max_depth"] == spec.max_depth == 3 and clustering["linkage"] == "ward"
    assert clustering["smoothing_neighbors"] == spec.smoothing_neighbors and clustering["n_init"] == spec.n_init
    assert clustering["kmeans_fits"] == spec.n_init and clustering["descent_rounds"] == 0
    assert clustering["leaf_clusters_found"] == 6 and clustering["smoothing_neighbors_used"] == 72 // (4 * 6)
    assert 1 <= tree.depth <= 3 and len(tree.leaves()) == 6
    for leaf in tree.leaves():  # 3 topics x 2 subtopics: each leaf is one subtopic
        assert len({d.metadata["sub"] for d in tree.documents_of(leaf.id)}) == 1
    for top in tree.children("root"):
        assert len({d.metadata["top"] for d in tree.documents_of(top.id)}) == 1


def test_deep_preset_and_explicit_values_win_over_the_preset(topic_corpus: tuple[Path, Path]) -> None:
    deep, _ = build(topic_corpus, preset="deep")
    clustering = deep.manifest["clustering"]
    assert clustering["preset"] == "deep" and clustering["leaves"] is None and clustering["max_depth"] == 10
    assert clustering["linkage"] == "average" and clustering["smoothing_neighbors"] == 0 and clustering["kmeans_fits"] == 1
    assert len(deep.leaves()) > 6  # about one leaf per min_leaf_size documents, before merging
    tree, _ = build(topic_corpus, levels=[3, 6], descent_rounds=1)
    assert tree.manifest["clustering"]["levels"] == [3, 6] and len(tree.manifest["clustering"]["descent_moved"]) == 1
    shallow, _ = build(topic_corpus, leaves=3, max_depth=1)
    assert shallow.depth == 1 and len(shallow.leaves()) == 3
    with pytest.raises(InputError, match="--leaves and --levels"):
        build(topic_corpus, leaves=4, levels=[2, 4])
    with pytest.raises(InputError, match="--leaves 20: 72 documents make at most 14 leaves of --min-leaf-size 5"):
        build(topic_corpus, leaves=20)
    with pytest.raises(InputError, match=r"\.jsonl: preset 'wide'"):
        build(topic_corpus, preset="wide")


def test_browse_leaves_grow_with_the_square_root_of_the_corpus() -> None:
    assert browse_leaves(10_966, 10) == 21
    assert browse_leaves(2_225, 10) == 9
    assert browse_leaves(1_000_000, 10) == 200
    assert browse_leaves(900, 10) == 6  # small corpora still get a handful of topics
    assert browse_leaves(56, 10) == 5  # ... but leaves of min_leaf_size documents on average
    assert browse_leaves(15, 10) == 1


def test_without_diversity_representatives_are_the_rows_closest_to_the_centre_in_any_chunking() -> None:
    from topicmap.hierarchy.builder.representatives import representative_rows

    rng = np.random.default_rng(3)
    points = rng.normal(size=(500, 6)).astype(np.float32)
    rows = np.arange(0, 500, 2)
    centre = points[rows].mean(axis=0)
    cosine = (points[rows] @ centre) / np.linalg.norm(points[rows], axis=1) / np.linalg.norm(centre)
    expected = rows[np.argsort(-cosine)[:5]]
    assert representative_rows(points, rows, centre, n=5, diversity=0).tolist() == expected.tolist()
    assert representative_rows(points, rows, centre, n=5, block_rows=7, diversity=0).tolist() == expected.tolist()
    assert representative_rows(points, rows, centre, n=5, block_rows=7).tolist() == representative_rows(points, rows, centre, n=5).tolist()


def test_representatives_cover_a_node_made_of_two_stories_not_only_the_bigger_one() -> None:
    """30 near-copies of one story and 20 of another: closest-only picks show one story, the default both."""
    from topicmap.hierarchy.builder.representatives import representative_rows

    rng = np.random.default_rng(0)
    story_a, story_b = np.array([1.0, 0.0, 0.0]), np.array([0.5, np.sqrt(0.75), 0.0])
    points = np.vstack([story_a + rng.normal(scale=0.01, size=(30, 3)), story_b + rng.normal(scale=0.01, size=(20, 3))])
    rows = np.arange(50)
    centre = points.mean(axis=0)
    closest = representative_rows(points, rows, centre, n=4, diversity=0)
    covering = representative_rows(points, rows, centre, n=4)
    assert (closest < 30).all()
    assert covering[0] == closest[0]
    assert (covering < 30).any() and (covering >= 30).any()
    assert len(set(covering.tolist())) == 4
