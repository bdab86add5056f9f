"""The array-backed tree core (hierarchy/tree/arrays.py) against plain walks of small trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from topicmap.hierarchy.base.errors import TreeFileError
from topicmap.hierarchy.tree.arrays import NotATreeError, TreeArrays, preorder
from topicmap.hierarchy.tree.topic_tree import Document, Node, TopicTree


def random_parents(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random rooted tree on n nodes, numbered at random (so parents do not come first)."""
    label = rng.permutation(n)
    parents = np.empty(n, dtype=np.int64)
    parents[label[0]] = -1
    for k in range(1, n):
        parents[label[k]] = label[int(rng.integers(0, k))]
    return parents


def walk_preorder(parents: np.ndarray) -> list[int]:
    """Depth-first from the root, children by increasing index: the order the core promises."""
    kids = {i: sorted(np.flatnonzero(parents == i).tolist()) for i in range(parents.size)}
    out, stack = [], [int(np.flatnonzero(parents < 0)[0])]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(kids[node]))
    return out


def depth_of(parents: np.ndarray, node: int) -> int:
    depth = 0
    while parents[node] >= 0:
        node, depth = int(parents[node]), depth + 1
    return depth


def ancestor_at(parents: np.ndarray, node: int, depth: int) -> int:
    while depth_of(parents, node) > depth:
        node = int(parents[node])
    return node


@pytest.fixture(params=range(6))
def random_tree(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray, TreeArrays]:
    rng = np.random.default_rng(request.param)
    parents = random_parents(int(rng.integers(1, 60)), rng)
    leaves = [i for i in range(parents.size) if not (parents == i).any()]
    docs = rng.choice(leaves, size=int(rng.integers(0, 80)))
    return parents, docs, TreeArrays.from_parents(parents, docs)


def test_nodes_are_numbered_in_preorder(random_tree: tuple[np.ndarray, np.ndarray, TreeArrays]) -> None:
    parents, docs, arrays = random_tree
    walk = walk_preorder(parents)
    assert preorder(parents).tolist() == walk
    assert [int(i) for i in arrays.node_ids] == walk  # default ids: the input numbers
    number = {old: new for new, old in enumerate(walk)}
    assert arrays.parents.tolist() == [-1 if parents[old] < 0 else number[int(parents[old])] for old in walk]
    assert arrays.depth.tolist() == [depth_of(parents, old) for old in walk]
    assert arrays.doc_leaf.tolist() == [number[int(d)] for d in docs]
    for i in range(arrays.n_nodes):  # a subtree is the run i .. subtree_end[i] - 1
        inside = {j for j in range(arrays.n_nodes) if ancestor_at(arrays.parents, j, int(arrays.depth[i])) == i and arrays.depth[j] >= arrays.depth[i]}
        assert inside == set(range(i, int(arrays.subtree_end[i])))
        assert arrays.sizes[i] == sum(int(leaf) in inside for leaf in arrays.doc_leaf)


def test_children_in_csr_form(random_tree: tuple[np.ndarray, np.ndarray, TreeArrays]) -> None:
    _, _, arrays = random_tree
    for i in range(arrays.n_nodes):
        kids = arrays.child_indices[arrays.child_indptr[i] : arrays.child_indptr[i + 1]].tolist()
        assert kids == [j for j in range(arrays.n_nodes) if arrays.parents[j] == i]  # increasing = display order
        assert arrays.children(i).tolist() == kids
        assert bool(arrays.is_leaf[i]) == (not kids)


def test_orders(random_tree: tuple[np.ndarray, np.ndarray, TreeArrays]) -> None:
    _, _, arrays = random_tree
    bfs, queue = [], [0]
    while queue:
        bfs += queue
        queue = [k for node in queue for k in arrays.children(node).tolist()]
    assert arrays.breadth_first().tolist() == bfs
    up = arrays.bottom_up().tolist()
    assert sorted(up) == list(range(arrays.n_nodes))
    assert all(up.index(j) < up.index(int(arrays.parents[j])) for j in range(1, arrays.n_nodes))
    assert [int(arrays.depth[j]) for j in up] == sorted(arrays.depth.tolist(), reverse=True)
    assert [level.tolist() for level in arrays.levels()] == [[j for j in bfs if arrays.depth[j] == d] for d in range(arrays.max_depth + 1)]


def test_ancestors_at_depth_and_members_per_depth(random_tree: tuple[np.ndarray, np.ndarray, TreeArrays]) -> None:
    _, _, arrays = random_tree
    for depth in range(arrays.max_depth + 1):
        expected = [ancestor_at(arrays.parents, j, depth) if arrays.depth[j] >= depth else -1 for j in range(arrays.n_nodes)]
        assert arrays.node_ancestors(depth).tolist() == expected
        on_docs = [expected[leaf] for leaf in arrays.doc_leaf.tolist()]
        assert arrays.doc_ancestors(depth).tolist() == on_docs
        assert arrays.doc_ancestors(depth, shallow_leaf=True).tolist() == [a if a >= 0 else leaf for a, leaf in zip(on_docs, arrays.doc_leaf.tolist())]
    members = arrays.members_per_depth()
    assert len(members) == arrays.max_depth + 1
    assert all(np.array_equal(m, arrays.doc_ancestors(d)) for d, m in enumerate(members))
    assert len(arrays.members_per_depth(shallow_leaf=True, first=1, last=1)) == 1


def test_document_runs_and_subtree_sums(random_tree: tuple[np.ndarray, np.ndarray, TreeArrays]) -> None:
    _, _, arrays = random_tree
    for i in range(arrays.n_nodes):
        rows = arrays.doc_rows(i).tolist()
        assert sorted(rows) == [r for r, leaf in enumerate(arrays.doc_leaf.tolist()) if i <= leaf < arrays.subtree_end[i]]
        assert len(rows) == arrays.doc_hi[i] - arrays.doc_lo[i] == arrays.sizes[i]
    values = np.random.default_rng(0).normal(size=(arrays.n_nodes, 3))
    sums = arrays.subtree_sums(values)
    for i in range(arrays.n_nodes):
        assert sums[i] == pytest.approx(values[i : arrays.subtree_end[i]].sum(axis=0))


def test_subtree_sums_add_children_in_display_order() -> None:
    """The builder's centroids depend on it bit for bit: a parent takes its children one by one, in order."""
    arrays = TreeArrays.from_parents([-1, 0, 0, 0], [1, 2, 3])
    values = np.array([0.0, 1e16, 1.0, -1e16])
    assert arrays.subtree_sums(values)[0] == (1e16 + 1.0) + -1e16  # == 0.0; any other order gives 1.0


def test_arrays_are_read_only_and_compare_by_value() -> None:
    arrays = TreeArrays.from_parents([-1, 0, 0], [1, 2, 2])
    with pytest.raises(ValueError):
        arrays.parents[0] = 3
    with pytest.raises(ValueError):
        arrays.doc_order[0] = 1
    assert arrays == TreeArrays.from_parents([-1, 0, 0], [1, 2, 2])
    assert arrays != TreeArrays.from_parents([-1, 0, 0], [1, 1, 2])


@pytest.mark.parametrize(
    ("parents", "message"),
    [([], "needs a root"), ([0, -1, 5], "out of range"), ([-1, -1], "exactly one root"), ([-1, 2, 1], "do not lead up to the root")],
)
def test_what_is_not_a_tree(parents: list[int], message: str) -> None:
    with pytest.raises(NotATreeError, match=message):
        preorder(parents)


def brute_descent(arrays: TreeArrays, rows: np.ndarray, centres: np.ndarray) -> list[list[int]]:
    """Each row on its own: from the root, the child of highest cosine, until a leaf."""
    paths = []
    for row in rows:
        node, path = 0, []
        while arrays.children(node).size:
            kids = arrays.children(node)
            node = int(kids[np.argmax(centres[kids] @ row)])
            path.append(node)
        paths.append(path)
    return paths


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_descent_equals_a_walk_of_each_row(chunk: int) -> None:
    rng = np.random.default_rng(3)
    parents = random_parents(40, rng)
    arrays = TreeArrays.from_parents(parents, [])
    centres = rng.normal(size=(arrays.n_nodes, 8)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    rows = rng.normal(size=(50, 8)).astype(np.float32)
    levels = arrays.descend(rows * 3.0, centres, unit_rows=False, chunk=chunk)
    paths = brute_descent(arrays, rows / np.linalg.norm(rows, axis=1, keepdims=True), centres)
    assert len(levels) == max(len(p) for p in paths)
    for r, path in enumerate(paths):
        walked = [int(level[r]) for level in levels]
        assert walked == path + [path[-1]] * (len(levels) - len(path))  # a walk that ended stays at its leaf


def test_descent_of_a_root_only_tree_and_of_no_rows() -> None:
    alone = TreeArrays.from_parents([-1], [0, 0])
    assert alone.descend(np.ones((2, 3), np.float32), np.ones((1, 3), np.float32)) == []
    pair = TreeArrays.from_parents([-1, 0, 0], [])
    assert pair.descend(np.zeros((0, 3), np.float32), np.eye(3, dtype=np.float32)) == []


# -- from a TopicTree ---------------------------------------------------------------------------
def uneven_tree() -> TopicTree:
    """Leaves at depths 1 to 3, ids that sort numerically (10 after 9), nodes listed out of order."""
    nodes = [
        Node("2.10", "2", 2, 2), Node("root", None, 0, 6), Node("2", "root", 1, 5), Node("10", "root", 1, 1),
        Node("2.9", "2", 2, 1), Node("2.10.0", "2.10", 3, 1), Node("2.10.1", "2.10", 3, 1), Node("2.1", "2", 2, 2),
    ]
    docs = [Document("a", "10"), Document("b", "2.10.1"), Document("c", "2.9"), Document("d", "2.1"), Document("e", "2.10.0"), Document("f", "2.1")]
    return TopicTree(nodes, docs)


def test_from_a_topic_tree() -> None:
    tree = uneven_tree()
    arrays = TreeArrays.from_topic_tree(tree)
    assert arrays.node_ids == ("root", "2", "2.1", "2.9", "2.10", "2.10.0", "2.10.1", "10")
    assert arrays.depth.tolist() == [0, 1, 2, 2, 2, 3, 3, 1]
    assert arrays.sizes.tolist() == [n.size for n in (tree.node(i) for i in arrays.node_ids)]
    assert [arrays.node_ids[i] for i in arrays.doc_leaf] == [d.leaf for d in tree.documents]
    assert [arrays.node_ids[i] for i in arrays.breadth_first()] == [n.id for n in tree.iter_nodes()]
    for node in tree.iter_nodes():
        assert [arrays.node_ids[c] for c in arrays.children(arrays.index[node.id])] == [c.id for c in tree.children(node.id)]
        assert sorted(arrays.doc_rows(arrays.index[node.id]).tolist()) == tree.document_rows(node.id)


def test_kept_on_the_tree_and_rebuilt_when_documents_change() -> None:
    tree = uneven_tree()
    assert tree.arrays is tree.arrays  # built once
    first = tree.arrays
    tree.documents.append(Document("g", "10"))
    assert tree.arrays is not first and tree.arrays.n_docs == 7 and tree.document_rows("10") == [0, 6]
    again = tree.arrays
    tree.documents = tree.documents[:6]
    assert tree.arrays is not again and tree.arrays.n_docs == 6
    with pytest.raises(TreeFileError, match="unknown node 'nowhere'"):
        tree.documents = [Document("x", "nowhere")]
        _ = tree.arrays


def test_a_cycle_is_not_a_tree() -> None:
    nodes = [Node("root", None, 0, 0), Node("0", "1", 1, 0), Node("1", "0", 1, 0)]
    with pytest.raises(TreeFileError, match="do not form a tree"):
        TopicTree(nodes, [])


# -- from the clusterer's ClusterTree, and the same tree through build_tree and a tree file ---------
@pytest.mark.parametrize("preset", ["deep", "map"])
def test_cluster_tree_topic_tree_and_tree_file_give_the_same_arrays(topic_corpus: tuple[Path, Path], tmp_path: Path, preset: str) -> None:
    from topicmap.hierarchy.builder.pipeline import BuildConfig, BuildInputs, build_tree, make_clusterer, resolve_preset
    from topicmap.hierarchy.inputs.documents import read_documents
    from topicmap.hierarchy.tree.treefile import load_tree, save_tree

    docs, emb = topic_corpus
    corpus = read_documents(docs)
    vectors = np.load(emb)
    config = BuildConfig(preset=preset, min_leaf_size=5, layout="pca")
    shape = make_clusterer(resolve_preset(config, len(corpus))).fit(vectors).tree_
    from_clusterer = TreeArrays.from_cluster_tree(shape)
    tree = build_tree(corpus, vectors, config, BuildInputs(str(docs), corpus.sha256))
    assert from_clusterer == TreeArrays.from_topic_tree(tree)
    assert from_clusterer == load_tree(save_tree(tree, tmp_path / "tree.json")).arrays
    # and the clusterer's own numbering maps onto the arrays' through the second array
    arrays, source = shape.to_arrays()
    assert [shape.node_ids[k] for k in source] == list(arrays.node_ids)
    assert np.array_equal(source[arrays.doc_leaf], shape.doc_leaf)


def test_descent_on_a_cluster_tree_equals_a_walk_of_each_row() -> None:
    from topicmap.hierarchy.builder.cluster import RecursiveClusterer, descend_by_centres
    from tests.cluster_fixtures import corpus

    data = corpus(600, (3, 3), 5)
    model = RecursiveClusterer(max_depth=3, min_leaf_size=15, random_state=0).fit(data.X)
    shape = model.tree_
    kids: dict[str, list[int]] = {}
    for k, parent in enumerate(shape.parents):
        if parent is not None:
            kids.setdefault(parent, []).append(k)  # made in display order
    unit = shape.centres / np.linalg.norm(shape.centres, axis=1, keepdims=True)
    levels, moved = descend_by_centres(model.reduced_, shape)
    for row in range(0, 600, 7):
        node, path = 0, []
        while kids.get(shape.node_ids[node]):
            options = kids[shape.node_ids[node]]
            node = options[int(np.argmax(unit[options] @ model.reduced_[row]))]
            path.append(node)
        assert [int(level[row]) for level in levels] == path + [path[-1]] * (len(levels) - len(path))
    assert moved == pytest.approx(np.mean(levels[-1] != shape.doc_leaf))
