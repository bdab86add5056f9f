"""RecursiveClusterer: the scikit-learn contract, structure recovery, shape limits and scaling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import pdist
from sklearn.base import clone
from sklearn.metrics import normalized_mutual_info_score

from cluster_fixtures import corpus, level_of
from topicmap.hierarchy.builder.cluster import RecursiveClusterer, descend_by_centres, neighbour_means, tree_from_level_labels
from topicmap.hierarchy.quality.metrics import dendrogram_purity
from topicmap.hierarchy.builder.ward import weighted_linkage


def _children_counts(model: RecursiveClusterer) -> np.ndarray:
    parents = model.tree_.parent_indices()
    return np.bincount(parents[parents >= 0], minlength=parents.size)


# -- estimator contract ---------------------------------------------------------------------
def test_clone_and_get_params_round_trip() -> None:
    model = RecursiveClusterer(max_children=7, min_leaf_size=5, random_state=3)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert copy.get_params()["max_children"] == 7 and copy is not model


def test_constructor_only_stores_and_fit_validates() -> None:
    model = RecursiveClusterer(min_leaf_size=0, linkage="single")  # no error yet
    X = corpus().X
    with pytest.raises(ValueError, match="min_leaf_size"):
        model.fit(X)
    with pytest.raises(ValueError, match="linkage"):
        RecursiveClusterer(linkage="single").fit(X)
    with pytest.raises(ValueError, match="NaN"):
        RecursiveClusterer().fit(np.full((50, 4), np.nan))
    with pytest.raises(ValueError, match="2-D"):
        RecursiveClusterer().fit(np.ones(10))
    with pytest.raises(ValueError, match="levels"):
        RecursiveClusterer(levels=[10, 5]).fit(X)


def test_fitted_attributes() -> None:
    data = corpus()
    model = RecursiveClusterer().fit(data.X)
    n = data.X.shape[0]
    assert model.labels_.shape == (n,) and model.reduced_.shape[0] == n
    np.testing.assert_allclose(np.linalg.norm(model.reduced_, axis=1), 1.0, atol=1e-4)
    assert model.tree_.sizes[0] == n and model.n_fits_ == 1
    assert np.array_equal(model.fit_predict(data.X), model.labels_)


def test_deterministic_for_a_seed() -> None:
    X = corpus().X
    a = RecursiveClusterer(random_state=4).fit(X)
    b = RecursiveClusterer(random_state=4).fit(X)
    assert a.tree_.node_ids == b.tree_.node_ids
    np.testing.assert_array_equal(a.labels_, b.labels_)


def test_different_seeds_may_differ_but_both_recover_the_top() -> None:
    data = corpus()
    a = RecursiveClusterer(random_state=0).fit(data.X)
    b = RecursiveClusterer(random_state=1).fit(data.X)
    assert not np.array_equal(a.leaf_clusters_.centres[:5], b.leaf_clusters_.centres[:5])
    for model in (a, b):
        parents = model.tree_.parent_indices()
        assert dendrogram_purity(parents, model.labels_, data.labels[0]) > 0.95


def test_does_not_modify_its_input() -> None:
    X = np.array(corpus().X, copy=True)
    before = X.copy()
    RecursiveClusterer(reducer="none").fit(X)
    np.testing.assert_array_equal(X, before)


# -- structure recovery -------------------------------------------------------------------------
@pytest.mark.parametrize("linkage_name", ["average", "ward"])
def test_recovers_synthetic_structure(linkage_name: str) -> None:
    data = corpus()
    model = RecursiveClusterer(linkage=linkage_name).fit(data.X)
    parents = model.tree_.parent_indices()
    top, fine = data.labels
    assert dendrogram_purity(parents, model.labels_, top) > 0.95
    assert dendrogram_purity(parents, model.labels_, fine) > 0.9
    # some level of the tree matches the true top level closely
    depths = range(1, max(model.tree_.depth_of(i) for i in range(parents.size)) + 1)
    best = max(normalized_mutual_info_score(top, level_of(model.tree_, d)) for d in depths)
    assert best > 0.85


def test_fixed_levels_give_the_asked_counts_and_nest() -> None:
    data = corpus()
    levels = [5, 20, 60]
    model = RecursiveClusterer(levels=levels).fit(data.X)
    tree = model.tree_
    depth = np.array([tree.depth_of(i) for i in range(len(tree.node_ids))])
    assert [int((depth == d).sum()) for d in (1, 2, 3)] == levels
    assert (depth[model.labels_] == 3).all()  # every document at the deepest level
    for node, parent in zip(tree.node_ids, tree.parents):
        if parent not in (None, "root"):
            assert node.rsplit(".", 1)[0] == parent
    top_level = level_of(tree, 1)
    assert normalized_mutual_info_score(data.labels[0], top_level) > 0.9


# -- shape limits ---------------------------------------------------------------------------------
def test_min_leaf_size_max_depth_and_no_single_children() -> None:
    data = corpus()
    for min_leaf, max_depth in [(10, 10), (40, 2), (25, 3)]:
        model = RecursiveClusterer(min_leaf_size=min_leaf, max_depth=max_depth).fit(data.X)
        counts = _children_counts(model)
        tree = model.tree_
        leaves = counts == 0
        assert tree.sizes[leaves].min() >= min_leaf
        assert max(tree.depth_of(i) for i in range(len(tree.node_ids))) <= max_depth
        assert not (counts == 1).any()


def test_children_count_stays_in_bounds() -> None:
    data = corpus()
    model = RecursiveClusterer(max_children=6, min_top_children=3).fit(data.X)
    counts = _children_counts(model)
    assert 3 <= counts[0] <= 6
    assert counts.max() <= 6


def test_binary_splits_when_max_children_is_two() -> None:
    model = RecursiveClusterer(max_children=2).fit(corpus().X)  # min_top_children=3 yields to it
    counts = _children_counts(model)
    assert set(np.unique(counts)) <= {0, 2}


def test_tiny_input_gives_a_single_leaf() -> None:
    X = corpus().X[:15]
    model = RecursiveClusterer(min_leaf_size=10).fit(X)
    assert model.tree_.node_ids == ["root"] and (model.labels_ == 0).all()


def test_number_of_kmeans_fits_does_not_grow_with_n() -> None:
    small = corpus(n=2000, branching=(4, 3))
    large = corpus(n=20000, branching=(4, 3))
    params = {"max_leaf_clusters": 128, "sample_size": 2048}
    fits_small = RecursiveClusterer(**params).fit(small.X).n_fits_
    fits_large = RecursiveClusterer(**params).fit(large.X).n_fits_
    assert fits_small == fits_large == 1


# -- the linkage ------------------------------------------------------------------------------------
def test_linkage_heights_match_scipy_on_single_points() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    weights = np.ones(40)
    ward = weighted_linkage(X, weights, method="ward")
    np.testing.assert_allclose(np.sort(ward.heights[40:]), np.sort(linkage(X, "ward")[:, 2]), rtol=1e-9)
    # group average of squared Euclidean distances between singletons = SciPy's 'average' on them
    average = weighted_linkage(X, weights, np.zeros(40), method="average")
    expected = linkage(pdist(X, "sqeuclidean"), "average")[:, 2]
    np.testing.assert_allclose(np.sort(average.heights[40:]), np.sort(expected), rtol=1e-9)


def test_average_linkage_of_clusters_equals_linkage_of_their_points() -> None:
    """Merging whole clusters by centroid, size and spread gives the same heights as the points would."""
    rng = np.random.default_rng(1)
    groups = [rng.normal(loc=rng.normal(scale=4, size=3), size=(n, 3)) for n in (3, 5, 4, 6)]
    centres = np.vstack([g.mean(axis=0) for g in groups])
    sizes = np.array([len(g) for g in groups], dtype=float)
    spread = np.array([((g - g.mean(axis=0)) ** 2).sum(axis=1).mean() for g in groups])
    tree = weighted_linkage(centres, sizes, spread, method="average")
    # the first merge's height is the mean squared distance over all cross pairs of the two groups
    a, b = tree.children[0]
    cross = ((groups[a][:, None, :] - groups[b][None, :, :]) ** 2).sum(axis=2).mean()
    assert tree.heights[4] == pytest.approx(cross)


# -- descent rounds -------------------------------------------------------------------------
def test_descent_rounds_make_the_tree_walkable_by_its_centres() -> None:
    data = corpus()
    plain = RecursiveClusterer(levels=[5, 20], min_leaf_size=10).fit(data.X)
    walked = RecursiveClusterer(levels=[5, 20], min_leaf_size=10, descent_rounds=2).fit(data.X)
    _, disagree_before = descend_by_centres(plain.reduced_, plain.tree_)
    _, disagree_after = descend_by_centres(walked.reduced_, walked.tree_)
    assert disagree_before > 0.02  # bottom-up clustering does leave documents off their walk
    assert disagree_after < disagree_before
    assert walked.moved_fractions_[0] == pytest.approx(disagree_before)
    assert len(walked.moved_fractions_) == 2 and walked.moved_fractions_[1] < walked.moved_fractions_[0]

    tree = walked.tree_
    parents = tree.parent_indices()
    assert tree.sizes[0] == data.X.shape[0] and (tree.sizes > 0).all()
    for node in range(len(tree.node_ids)):
        kids = np.flatnonzero(parents == node)
        if kids.size:
            assert tree.sizes[kids].sum() == tree.sizes[node]
    leaves = set(np.flatnonzero(np.bincount(parents[parents >= 0], minlength=parents.size) == 0).tolist())
    assert set(tree.doc_leaf.tolist()) <= leaves
    assert len([n for n in tree.node_ids if n.count(".") == 0 and n != "root"]) <= 5
    assert np.array_equal(walked.labels_, tree.doc_leaf)
    # the known top level is still what the first level finds
    assert normalized_mutual_info_score(data.labels[0], level_of(tree, 1)) > 0.9


def test_descent_rounds_are_validated() -> None:
    with pytest.raises(ValueError, match="descent_rounds"):
        RecursiveClusterer(descent_rounds=-1).fit(corpus().X)


def test_a_level_without_a_split_does_not_end_the_branch() -> None:
    # a walk can send every row of a node into one child; the split one level further down must survive
    Z = np.eye(4, dtype=np.float32)
    tree = tree_from_level_labels(Z, [np.zeros(4, dtype=np.int64), np.array([0, 0, 1, 1])], single_children=False)
    assert tree.node_ids == ["root", "0", "1"]
    assert sorted(tree.sizes[1:].tolist()) == [2, 2]


def test_descent_rounds_in_automatic_mode_keep_every_walk() -> None:
    data = corpus()
    model = RecursiveClusterer(min_leaf_size=10, descent_rounds=1).fit(data.X)
    before = RecursiveClusterer(min_leaf_size=10).fit(data.X).tree_
    walked, _ = descend_by_centres(model.reduced_, before)
    # the rebuilt leaves are exactly the walk's end points: no two end points merged into a cut-short leaf
    pairs = set(zip(walked[-1].tolist(), model.tree_.doc_leaf.tolist()))
    assert len(pairs) == len(set(walked[-1].tolist())) == len(set(model.tree_.doc_leaf.tolist()))
    assert model.tree_.sizes[0] == data.X.shape[0]


# -- neighbour smoothing, the browse preset's leaf clusters -------------------------------------
def test_neighbour_means_average_each_row_with_its_nearest_rows() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(200, 8)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    np.testing.assert_allclose(neighbour_means(points, 1), points, atol=1e-6)  # a row is its own nearest
    smoothed = neighbour_means(points, 5, chunk=32)  # chunks do not change the result
    np.testing.assert_allclose(smoothed, neighbour_means(points, 5, chunk=256), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(smoothed, axis=1), 1.0, atol=1e-5)
    row = 17
    nearest = np.argsort(-(points @ points[row]))[:5]
    expected = points[nearest].mean(axis=0)
    np.testing.assert_allclose(smoothed[row], expected / np.linalg.norm(expected), atol=1e-5)


def test_smoothed_leaf_clusters_recover_the_structure_with_a_fixed_number_of_fits() -> None:
    params = {"leaf_clusters": 12, "smoothing_neighbors": 15, "n_init": 3, "kmeans_iterations": 300, "max_depth": 2, "linkage": "ward", "sample_size": 4000}
    for n in (2000, 12000):
        data = corpus(n=n, branching=(4, 3))
        model = RecursiveClusterer(random_state=1, **params).fit(data.X)
        assert model.n_fits_ == 3  # one per start, whatever the number of rows
        assert model.smoothing_neighbors_ == 15
        assert len(set(model.labels_.tolist())) == 12
        top = level_of(model.tree_, 1)
        assert normalized_mutual_info_score(data.labels[0], top) > 0.95
        assert normalized_mutual_info_score(data.labels[1], model.labels_) > 0.9
    again = RecursiveClusterer(random_state=1, **params).fit(data.X)
    assert np.array_equal(again.labels_, model.labels_)


def test_new_clusterer_parameters_are_validated() -> None:
    X = corpus().X
    for bad, match in (({"leaf_clusters": 0}, "leaf_clusters"), ({"smoothing_neighbors": -1}, "smoothing_neighbors"), ({"n_init": 0}, "n_init"), ({"kmeans_iterations": 0}, "kmeans_iterations")):
        with pytest.raises(ValueError, match=match):
            RecursiveClusterer(**bad).fit(X)


def test_smoothing_never_spans_more_than_a_quarter_of_an_average_cluster() -> None:
    X = corpus(n=2400).X[:120]
    model = RecursiveClusterer(leaf_clusters=6, smoothing_neighbors=15, min_leaf_size=5).fit(X)
    assert model.smoothing_neighbors_ == 120 // (4 * 6)
    plain = RecursiveClusterer(leaf_clusters=6, min_leaf_size=5).fit(X)
    assert plain.smoothing_neighbors_ == 0


def test_rows_outside_the_sample_go_to_the_nearest_raw_mean_of_a_smoothed_cluster() -> None:
    data = corpus(n=2400)
    model = RecursiveClusterer(leaf_clusters=8, smoothing_neighbors=10, n_init=2, kmeans_iterations=100, sample_size=600, reducer="none").fit(data.X)
    leaves = model.leaf_clusters_
    Z = model.reduced_
    rng = np.random.default_rng(0)  # the estimator's first draw is the sample (reducer none draws nothing before)
    sample = np.sort(rng.choice(Z.shape[0], size=600, replace=False))
    outside = np.setdiff1d(np.arange(Z.shape[0]), sample)
    raw_means = np.vstack([Z[sample][leaves.labels[sample] == c].mean(axis=0) for c in range(leaves.sizes.size)])
    nearest = np.argmin(((Z[outside, None, :] - raw_means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == leaves.labels[outside]) > 0.99  # float32 ties aside


def test_smoothing_is_skipped_when_the_sample_would_outgrow_sample_size() -> None:
    X = corpus(n=2400).X
    model = RecursiveClusterer(leaf_clusters=100, smoothing_neighbors=5, sample_size=400, min_leaf_size=2).fit(X)
    assert model.smoothing_neighbors_ == 0  # 8 rows x 100 clusters = 800 > 400: no quadratic search on 800 rows


# -- leaves found inside coarse clusters (the map preset) -------------------------------------------
def test_split_counts_follow_the_sizes_sum_to_the_total_and_respect_the_caps() -> None:
    from topicmap.hierarchy.builder.cluster import split_counts

    assert split_counts(np.array([50, 30, 20]), 10, np.array([99, 99, 99])).tolist() == [5, 3, 2]
    assert split_counts(np.array([55, 25, 20]), 10, np.array([99, 99, 99])).tolist() == [6, 2, 2]  # largest remainder
    assert split_counts(np.array([80, 10, 10]), 10, np.array([3, 99, 99])).tolist() == [3, 4, 3]  # a capped group's share moves on
    assert split_counts(np.array([1, 1000]), 5, np.array([1, 99])).tolist() == [1, 4]  # every group keeps at least one
    assert split_counts(np.array([1, 1, 1000]), 2, np.array([9, 9, 9])).tolist() == [1, 1, 1]  # never fewer than one each


def test_coarse_clusters_nest_every_leaf_cluster_and_every_cluster_is_a_leaf() -> None:
    data = corpus(n=2400, branching=(4, 6))
    params = {"leaf_clusters": 48, "coarse_clusters": 4, "smoothing_neighbors": 10, "n_init": 2, "kmeans_iterations": 100, "max_depth": 4, "linkage": "ward", "min_leaf_size": 10}
    model = RecursiveClusterer(random_state=0, **params).fit(data.X)
    tree = model.tree_
    leaf_count = len(set(model.labels_.tolist()))
    assert leaf_count == model.leaf_clusters_.sizes.size and abs(leaf_count - 48) <= 48 // 10
    assert model.coarse_ is not None and model.coarse_.sizes.size == 4
    assert max(tree.depth_of(i) for i in range(len(tree.node_ids))) <= 4
    # each leaf cluster's documents all lie in one coarse cluster
    for leaf in range(model.leaf_clusters_.sizes.size):
        assert np.unique(model.coarse_.labels[model.leaf_clusters_.labels == leaf]).size == 1
    top, fine = data.labels
    assert dendrogram_purity(tree.parent_indices(), model.labels_, top) > 0.95
    leaf_purity = sum(np.bincount(fine[model.labels_ == leaf]).max() for leaf in np.unique(model.labels_)) / fine.size
    assert leaf_purity > 0.9  # the 48 leaves split the 24 true subtopics, they do not mix them
    again = RecursiveClusterer(random_state=0, **params).fit(data.X)
    assert np.array_equal(again.labels_, model.labels_)


def test_too_few_leaves_for_a_coarse_stage_still_makes_every_leaf_cluster_a_leaf() -> None:
    data = corpus(n=2400, branching=(4, 3))
    model = RecursiveClusterer(leaf_clusters=12, coarse_clusters=8, smoothing_neighbors=10, n_init=2, kmeans_iterations=100, max_depth=4, linkage="ward").fit(data.X)
    assert model.coarse_ is None  # 2 x 8 coarse clusters > 12 leaves
    assert len(set(model.labels_.tolist())) == model.leaf_clusters_.sizes.size == 12
    with pytest.raises(ValueError, match="coarse_clusters"):
        RecursiveClusterer(coarse_clusters=0).fit(data.X)
