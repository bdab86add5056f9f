"""build_tree: node descriptions, centroids, layout and reducers on a corpus with known structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hierarchy.io import read_documents
from hierarchy.layout import nested_discs
from hierarchy.errors import InputError
from hierarchy.pipeline import BuildConfig, BuildInputs, browse_levels, build_tree
from hierarchy.tree import TopicTree


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
def test_browse_preset_builds_two_walkable_levels(topic_corpus: tuple[Path, Path]) -> None:
    tree, vectors = build(topic_corpus, preset="browse")
    assert tree.depth == 2 and len(tree.leaves()) <= 36
    clustering = tree.manifest["clustering"]
    assert clustering["preset"] == "browse"
    assert clustering["levels"] == browse_levels(len(tree.documents), 5) == [len(tree.level(1)), len(tree.level(2))]
    assert clustering["descent_rounds"] == 2 and len(clustering["descent_moved"]) == 2
    for node in tree.iter_nodes():  # documents moved by the walk are counted and averaged where they now are
        rows = tree.document_rows(node.id)
        assert node.size == len(rows) > 0
        assert np.allclose(node.centroid, vectors[rows].mean(axis=0), atol=1e-4)


def test_explicit_levels_and_rounds_win_over_the_preset(topic_corpus: tuple[Path, Path]) -> None:
    tree, _ = build(topic_corpus, preset="browse", levels=[3, 6], descent_rounds=0)
    assert tree.manifest["clustering"]["levels"] == [3, 6] and tree.manifest["clustering"]["descent_moved"] == []
    deep, _ = build(topic_corpus)
    assert deep.manifest["clustering"]["preset"] == "deep" and deep.manifest["clustering"]["descent_rounds"] == 0
    with pytest.raises(InputError, match=r"\.jsonl: preset 'wide'"):
        build(topic_corpus, preset="wide")


def test_browse_levels_scale_down_for_small_corpora() -> None:
    assert browse_levels(10_966, 10) == [6, 36]
    assert browse_levels(1_000_000, 10) == [6, 36]
    assert browse_levels(56, 5) == [3, 11]
    assert browse_levels(30, 10) == [3]
    assert browse_levels(20, 10) == [2]
    with pytest.raises(InputError, match="too few for --preset browse.*at least 20"):
        browse_levels(19, 10)
