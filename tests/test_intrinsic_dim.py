"Cross-checks of the intrinsic-dimension estimators against scikit-dimension, bad inputs, duplicates and invariances."
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import skdim
import torch
from hypothesis import given, settings, strategies as st
from sklearn.base import clone

from intrinsic_props.data import DuplicatesWarning, from_arrays
from intrinsic_props.intrinsic_dim import (MLE, TwoNN, confidence_interval, deduplicate, dimension_vs_k,
                                           find_near_duplicates,
                                           knn_distances, make_estimator, relative_difference)

TOL = 1e-6  # agreement required with scikit-dimension where the definitions coincide


def curved(n, d, D=30, seed=0):
    "n points on a smooth d-dimensional surface in D dimensions (random Fourier features of a uniform latent)."
    rng = np.random.default_rng(seed)
    z = rng.uniform(size=(n, d))
    w, b = rng.normal(size=(d, D)), rng.uniform(0, 2*np.pi, D)
    return np.cos(z @ w + b)


def precomputed(x, k):
    "Neighbour tables of `x` (`.distances`, `.indices`), as the estimators take them precomputed."
    return SimpleNamespace(**dict(zip(("distances", "indices"), knn_distances(x, k))))


def skdim_mle(x, k, pool, unbiased):
    return skdim.id.MLE(unbiased=unbiased).fit(x, n_neighbors=k, comb=pool)


def skdim_twonn(x, discard, method):
    return skdim.id.TwoNN(discard_fraction=discard if discard else 0.5/len(x), method=method).fit(x)


# --- agreement with scikit-dimension -------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [3, 10, 20, 45])
@pytest.mark.parametrize("pool", ["mle", "mean", "median"])
@pytest.mark.parametrize("unbiased", [False, True])
def test_mle_matches_skdim_on_random_data(k, pool, unbiased):
    x = curved(400, 4, seed=k)
    ours, theirs = MLE(k, pool, unbiased).fit(x), skdim_mle(x, k, pool, unbiased)
    assert relative_difference(ours.dimension_, theirs.dimension_) < TOL
    np.testing.assert_allclose(ours.dimension_pw_, theirs.dimension_pw_, rtol=TOL)


@pytest.mark.parametrize("discard", [0, 0.05, 0.1, 0.3])
@pytest.mark.parametrize("method", ["linear", "mle"])
@pytest.mark.parametrize("d", [2, 7])
def test_twonn_matches_skdim_on_random_data(discard, method, d):
    x = curved(500, d, seed=d)
    if discard == 0 and method == "mle":  # skdim keeps every ratio at 0; ours does too for the censored MLE
        theirs = skdim.id.TwoNN(discard_fraction=0, method="mle").fit(x)
    else:
        theirs = skdim_twonn(x, discard, method)
    assert relative_difference(TwoNN(discard, method).fit(x).dimension_, theirs.dimension_) < TOL


@settings(max_examples=15, deadline=None)
@given(n=st.integers(30, 300), d=st.integers(1, 6), k=st.integers(3, 25), seed=st.integers(0, 2**16))
def test_matches_skdim_on_any_random_gaussian_data(n, d, k, seed):
    x = np.random.default_rng(seed).normal(size=(n, d)) @ np.random.default_rng(seed + 1).normal(size=(d, 12))
    k = min(k, n - 1)
    assert relative_difference(MLE(k).fit(x).dimension_, skdim_mle(x, k, "mle", False).dimension_) < TOL
    assert relative_difference(TwoNN().fit(x).dimension_, skdim_twonn(x, 0.1, "linear").dimension_) < TOL


@pytest.mark.parametrize("name,n", [("pneumoniamnist", 1500), ("breastmnist", 545), ("chest-xray-pneumonia-64", 1000)])
def test_matches_skdim_on_real_images(data, name, n):
    "End to end on real images, each library with its own neighbour search; breastmnist has near-duplicates."
    x = data.load(name)[:n].flat(torch.float64).numpy()
    nb = precomputed(x, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicatesWarning)
        pairs = [(MLE(20, "mle", True).fit(nb), skdim_mle(x, 20, "mle", True)),
                 (MLE(20, "mean").fit(nb), skdim_mle(x, 20, "mean", False)),
                 (TwoNN().fit(nb), skdim_twonn(x, 0.1, "linear")),
                 (TwoNN(discard=0).fit(nb), skdim_twonn(x, 0, "linear"))]
    for ours, theirs in pairs:
        assert relative_difference(ours.dimension_, theirs.dimension_) < TOL, (type(ours), ours.get_params())


def test_twonn_matches_skdim_with_exact_duplicates():
    "Both drop points whose nearest neighbour is at distance 0, with a warning, and fit the rest."
    x = np.round(1000*curved(300, 3))  # integers: scikit-dimension's ‖a‖²+‖b‖²−2ab is exact, so its copies are at 0 too
    x = np.vstack([x, x[:10]])
    with pytest.warns(DuplicatesWarning, match="20 of 310 points have an exact duplicate"):
        ours = TwoNN().fit(x)
    with pytest.warns(UserWarning, match="Dropping 20 points"):
        theirs = skdim.id.TwoNN().fit(x)
    assert relative_difference(ours.dimension_, theirs.dimension_) < TOL
    assert ours.n_points_ == 290 and np.isnan(ours.mu_[:10]).all() and np.isnan(ours.mu_[300:]).all()


def test_mle_leaves_exact_duplicates_out_where_skdim_returns_zero():
    x = curved(300, 3)
    with_copies = np.vstack([x, x[:1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert skdim_mle(with_copies, 20, "mle", False).dimension_ == 0
    with pytest.warns(DuplicatesWarning, match="2 of 301 points have an exact duplicate.*299 points used"):
        ours = MLE().fit(with_copies)
    assert ours.dimension_ > 2 and ours.n_points_ == 299
    assert np.isnan(ours.dimension_pw_[[0, 300]]).all() and np.isfinite(np.delete(ours.dimension_pw_, [0, 300])).all()


# --- inputs ----------------------------------------------------------------------------------------------------------

def test_inputs_give_the_same_estimate():
    "Array, tensor, ImageSet and precomputed neighbours (with spare columns) are the same data."
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(200, 1, 4, 4))
    flat = images.reshape(200, -1)
    ds = from_arrays(images, np.zeros(200, dtype=int), channels_last=False)
    for est in (MLE(10), TwoNN()):
        ref = clone(est).fit(flat).dimension_
        for data in (torch.from_numpy(flat), ds, precomputed(flat, 30)):
            assert clone(est).fit(data).dimension_ == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("est", [MLE(), TwoNN()], ids=["MLE", "TwoNN"])
@pytest.mark.parametrize("bad,message", [
    (np.array([[0.0, np.nan]] + [[i, i] for i in range(30)]), "X holds 1 NaN/inf values in 1 rows (first: row 0)"),
    (np.array([[np.inf, 0.0]] + [[i, -i] for i in range(30)]), "NaN/inf"),
    (np.zeros((30, 2, 2)), "X must be an N×D matrix"),  # the notebook shows points of one coordinate each
])
def test_bad_data(est, bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        est.fit(bad)


def test_too_few_points():
    x = curved(20, 2)
    with pytest.raises(ValueError, match="20 points cannot have k=20 neighbours each: need at least k\\+1 = 21"):
        MLE(20).fit(x)
    MLE(19).fit(x)
    with pytest.raises(ValueError, match="2 points cannot have k=2 neighbours"):
        TwoNN().fit(x[:2])
    with pytest.raises(ValueError, match="only 1 of 3 ratios remain"):
        TwoNN(discard=0.5).fit(x[:3])


@pytest.mark.parametrize("params,message", [
    (dict(k=1), "k must be an integer ≥ 2 without"), (dict(k=20.0), "k must be an integer"),
])  # the notebook shows k=2 with unbiased=True and an unknown pool
def test_bad_mle_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        MLE(**params).fit(curved(50, 2))


@pytest.mark.parametrize("params,message", [
    (dict(discard=-0.1), "discard must be a fraction"), (dict(method="ols"), "method must be one of"),
])  # the notebook shows discard=1
def test_bad_twonn_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        TwoNN(**params).fit(curved(50, 2))


def test_bad_precomputed_neighbors():
    nb = precomputed(curved(50, 2), 5)
    with pytest.raises(ValueError, match="the neighbours hold 5 per point but 20 are needed"):
        MLE(20).fit(nb)
    with pytest.raises(ValueError, match="negative"):
        MLE(5).fit(SimpleNamespace(distances=-nb.distances, indices=nb.indices))
    with pytest.raises(ValueError, match="NaN/inf"):
        MLE(5).fit(SimpleNamespace(distances=np.where(nb.distances > 0.1, np.nan, nb.distances), indices=nb.indices))
    with pytest.raises(ValueError, match="must both be N×k"):
        MLE(5).fit(SimpleNamespace(distances=nb.distances, indices=nb.indices[:, :3]))


def test_degenerate_data_fail_clearly():
    "All copies of one point, or a lattice where every neighbour is equidistant: errors, never 0, NaN or inf."
    with pytest.warns(DuplicatesWarning), pytest.raises(ValueError, match="every point has an exact duplicate"):
        MLE(3).fit(np.ones((10, 2)))
    with pytest.warns(DuplicatesWarning), pytest.raises(ValueError, match="every point has an exact duplicate"):
        TwoNN().fit(np.ones((10, 2)))
    lattice = np.arange(60.0)[:, None]  # interior points: both neighbours at distance 1
    with pytest.raises(ValueError, match="all 2 neighbours at one distance"):
        MLE(2, "mean").fit(lattice)
    assert np.isfinite(MLE(2, "mle").fit(lattice).dimension_)
    with pytest.raises(ValueError, match="ratios r2/r1 all equal 1"):
        TwoNN(discard=0.5).fit(lattice)


# --- duplicates ------------------------------------------------------------------------------------------------------

def test_near_duplicates_warn_with_counts_and_are_kept():
    x = curved(1000, 4)
    near = np.vstack([x, x[:30] + 1e-7])
    with pytest.warns(DuplicatesWarning, match=r"MLE: 60 of 1030 points \(5.8%\) have a near-duplicate"):
        mle = MLE().fit(near)
    with pytest.warns(DuplicatesWarning, match="TwoNN: 60 of 1030 points"):
        twonn = TwoNN(discard=0).fit(near)
    assert mle.n_points_ == twonn.n_points_ == 1030
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean_mle, clean_twonn = MLE().fit(x).dimension_, TwoNN(discard=0).fit(x).dimension_
    assert mle.dimension_ < 0.9*clean_mle and twonn.dimension_ < 0.5*clean_twonn
    keep = deduplicate(near)
    np.testing.assert_array_equal(keep, np.arange(1000))


@pytest.mark.parametrize("d", [1, 2, 5, 12])
def test_clean_data_raise_no_duplicate_warning(d):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DuplicatesWarning)
        for seed in range(3):
            x = curved(1500, d, D=40, seed=seed)
            assert find_near_duplicates(knn_distances(x, 2)[0]).n_near == 0
            MLE().fit(x), TwoNN().fit(x)


def test_deduplicate_keeps_one_of_each_group():
    "Groups of four identical rows (whose nearest neighbours may pair up inside the group) and chains of near copies."
    x = curved(300, 3)
    data = np.vstack([x, x[[5, 5, 5]], x[[7]] + 1e-8, x[[7]] + 2e-8, x[[9, 9]]])
    np.testing.assert_array_equal(deduplicate(data), np.arange(300))
    backwards = data[::-1].copy()  # neighbors() refuses negative strides (reported)
    kept = backwards[deduplicate(backwards)]
    assert len(kept) == 300 and find_near_duplicates(knn_distances(kept, 2)[0]).n_exact == 0
    ds = from_arrays(data.reshape(-1, 1, 3, 10), np.zeros(len(data), dtype=int), channels_last=False)
    assert len(ds[deduplicate(ds)]) == 300


def test_near_duplicates_are_found_in_real_images(data):
    """breastmnist and brain-tumor-mri-64 hold near-duplicates (see the shelf README), and the breastmnist sample keeps some;
    pneumoniamnist only a couple."""
    counts = {}
    for name in ("breastmnist", "brain-tumor-mri-64", "pneumoniamnist"):
        counts[name] = find_near_duplicates(knn_distances(data.load(name)[:3000], 2)[0])
    assert counts["breastmnist"].n_near > (50 if data.shelf else 40) and counts["brain-tumor-mri-64"].n_near > (100 if data.shelf else 40)
    assert counts["pneumoniamnist"].n_near <= 4 and all(c.n_exact == 0 for c in counts.values())


# --- properties ------------------------------------------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(scale=st.floats(1e-3, 1e3), shift=st.floats(-100, 100), seed=st.integers(0, 1000))
def test_invariant_to_similarity_transforms_and_order(scale, shift, seed):
    "Distances ratios do not change under scaling, translation, rotation and reordering of the points."
    x = curved(150, 3, D=8, seed=seed)
    rng = np.random.default_rng(seed)
    rotation = np.linalg.qr(rng.normal(size=(8, 8)))[0]
    order = rng.permutation(150)
    moved = (scale*x @ rotation + shift)[order]
    for est in (MLE(10), MLE(10, "mean", True), TwoNN(), TwoNN(0, "mle")):
        a, b = clone(est).fit(x), clone(est).fit(moved)
        assert b.dimension_ == pytest.approx(a.dimension_, rel=1e-6)
    np.testing.assert_allclose(MLE(10).fit(moved).dimension_pw_, MLE(10).fit(x).dimension_pw_[order], rtol=1e-6)


def test_estimators_follow_scikit_learn():
    est = MLE(k=7, pool="mean")
    assert clone(est).get_params() == dict(k=7, pool="mean", unbiased=False, duplicates="drop")
    assert est.fit(curved(100, 2)) is est and est.dimension_ > 0
    assert TwoNN().set_params(discard=0).get_params()["discard"] == 0


# --- uncertainty, k and other estimators -----------------------------------------------------------------------------

def test_bootstrap_interval_is_seeded_and_covers_the_estimate():
    x = curved(800, 5)
    for est in (MLE().fit(x), TwoNN().fit(x)):
        low, high = confidence_interval(est, 300, seed=3)
        assert low < est.dimension_ < high and (low, high) == confidence_interval(est, 300, seed=3)
        narrow = confidence_interval(est, 300, level=0.5, seed=3)
        assert low < narrow[0] < narrow[1] < high


def test_bootstrap_interval_width_matches_the_spread_over_independent_samples():
    "On independent samples of one surface, the interval's width is of the order of the estimates' spread."
    fits = [MLE().fit(curved(1000, 4, seed=s)) for s in range(8)]
    spread = np.std([f.dimension_ for f in fits], ddof=1)
    width = np.mean([np.diff(confidence_interval(f, 200)) for f in fits])/(2*1.96)
    assert 0.3 < width/spread < 3, (width, spread)


def test_dimension_vs_k_reuses_one_neighbour_search():
    x = curved(300, 3)
    table = dimension_vs_k(precomputed(x, 30), ks=[5, 30], pools=["mle"], unbiased=True, n_boot=0)
    assert table.dimension.tolist() == pytest.approx([MLE(5, "mle", True).fit(x).dimension_,
                                                      MLE(30, "mle", True).fit(x).dimension_])
    assert table.low.isna().all()
    with pytest.raises(ValueError, match="hold 30 per point but 40"):
        dimension_vs_k(precomputed(x, 30), ks=[5, 40])
    with pytest.raises(ValueError, match="ks is empty"):
        dimension_vs_k(x, ks=[])


@pytest.mark.parametrize("name", ["lPCA", "corrint", "TLE", "MOM", "skdim.TwoNN"])
def test_skdim_estimators_by_name(name):
    x = curved(400, 3)
    est = make_estimator(name).fit(from_arrays(x.reshape(400, 1, 5, 6), np.zeros(400, dtype=int), channels_last=False))
    assert np.isfinite(est.dimension_) and 1 < est.dimension_ < 10
    with pytest.raises(TypeError, match="needs the data points"):
        make_estimator(name).fit(precomputed(x, 20))


def test_unknown_estimator_lists_the_names():
    with pytest.raises(ValueError, match="unknown estimator 'PCA'; known: MLE, TwoNN \\(ours\\) and.*lPCA"):
        make_estimator("PCA")
    with pytest.raises(ValueError, match="unknown estimator 'nope'"):
        make_estimator("skdim.nope")


# --- issue 11: the authors' handling of exact copies, too few points, scikit-learn's checks ---------------------------

def authors_distances(x, k):
    "What the authors' neighbour search (ppope/dimensions' KNNComputerNoCheck) keeps: each row's k smallest non-zero distances."
    d = np.sort(np.linalg.norm(x[:, None] - x[None], axis=-1), axis=1)
    return np.array([row[row > 0][:k] for row in d])


def authors_mle(x, k=20):
    "ppope/dimensions' intrinsic_dim_sample_wise_double_mle on those distances, pooled by 1/mean(1/m_i)."
    d = authors_distances(x, k)
    return 1/np.mean(np.log(d[:, k - 1:k]/d[:, :k - 1]).sum(1)/(k - 2))


def authors_twonn(x):
    "ppope/dimensions' twonn: sorted μ = r2/r1 of non-zero distances, the largest dropped, a line through the origin."
    d = authors_distances(x, 2)
    n = len(x)
    mu = np.sort(d[:, 1]/d[:, 0])[:n - 1]
    lx, y = np.log(mu), -np.log(1 - np.arange(1, n)/n)
    return np.linalg.lstsq(np.c_[lx, np.zeros(n - 1)], y, rcond=None)[0][0]


def ball(n, d, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    return x*rng.uniform(size=(n, 1))**(1/d)/np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("groups", [[50], [3, 3, 3], [2]*20, [25, 2]])
@pytest.mark.parametrize("k", [5, 20])
def test_authors_mode_matches_their_code_with_exact_copies(groups, k):
    "duplicates='skip_zero' is the authors' computation on data with copies (a 5-d ball with 50 copies of one point, …)."
    x = ball(600, 5)
    x = np.vstack([x] + [x[[g]*size] for g, size in enumerate(groups)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicatesWarning)
        mle = MLE(k, "mle", True, "skip_zero").fit(x)
        twonn = TwoNN(discard=0, duplicates="skip_zero").fit(x)
    assert relative_difference(mle.dimension_, authors_mle(x, k)) < 1e-10
    assert relative_difference(twonn.dimension_, authors_twonn(x)) < 1e-10
    assert mle.n_points_ == twonn.n_points_ == len(x) and not np.isnan(mle.dimension_pw_).any()  # every copy kept


@settings(max_examples=20, deadline=None)
@given(n=st.integers(30, 200), d=st.integers(1, 8), k=st.integers(3, 25), seed=st.integers(0, 2**16))
def test_authors_mode_is_ours_without_copies(n, d, k, seed):
    "Without exact copies duplicates='skip_zero' changes nothing, bit for bit, for every estimate and per-point value."
    x = curved(n, d, seed=seed)
    k = min(k, n - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a, b in ((MLE(k, "mle", True), MLE(k, "mle", True, "skip_zero")),
                     (MLE(k, "mean"), MLE(k, "mean", False, "skip_zero")),
                     (TwoNN(discard=0), TwoNN(discard=0, duplicates="skip_zero")),
                     (TwoNN(), TwoNN(duplicates="skip_zero"))):
            nb = precomputed(x, k)
            a.fit(nb), b.fit(nb)
            assert a.dimension_ == b.dimension_
            assert np.array_equal(getattr(a, "dimension_pw_", getattr(a, "mu_", None)),
                                  getattr(b, "dimension_pw_", getattr(b, "mu_", None)))


def test_authors_mode_needs_neighbors_past_the_copies():
    x = np.vstack([curved(100, 2), curved(100, 2)[[0]*10]])
    with pytest.raises(ValueError, match="the neighbours hold 5 per point and point 0 has 5 copies among them"):
        MLE(5, duplicates="skip_zero").fit(precomputed(x, 5))
    with pytest.warns(DuplicatesWarning):
        wide = MLE(5, duplicates="skip_zero").fit(precomputed(x, 15)).dimension_
    with pytest.warns(DuplicatesWarning):
        assert MLE(5, duplicates="skip_zero").fit(x).dimension_ == wide  # from the points, it searches as far as needed
    with pytest.raises(ValueError, match="duplicates must be one of"):
        TwoNN(duplicates="keep").fit(x)


@pytest.mark.parametrize("n,k,warns", [(21, 20, True), (50, 20, True), (99, 20, True), (100, 20, False), (3, 2, True),
                                       (19, 2, True), (20, 2, False), (19, 3, True), (40, 5, False)])
def test_too_few_points_warn(n, k, warns):
    "Fewer than 20 points, or fewer than 5k: the estimate comes with a FewPointsWarning that says why."
    from intrinsic_props.intrinsic_dim import FewPointsWarning
    x = curved(n, 2, seed=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = (TwoNN(discard=0) if k == 2 else MLE(k)).fit(x)
    few = [str(w.message) for w in caught if w.category is FewPointsWarning]
    assert len(few) == warns and np.isfinite(est.dimension_)
    if warns: assert f"{n} points are too few for a meaningful estimate with k={k}" in few[0]


def test_scikit_learn_check_estimator():
    """scikit-learn's own checks all pass. scikit-dimension lists as expected failures the checks that assume a `transform`;
    ours have no `transform`, and scikit-learn skips those checks, so the list is empty."""
    import sklearn
    from sklearn.utils.estimator_checks import check_estimator
    if tuple(int(p) for p in sklearn.__version__.split(".")[:2]) < (1, 6):
        pytest.skip("expected_failed_checks needs scikit-learn ≥ 1.6")
    # check name -> why; e.g. "check_methods_subset_invariance": "needs transform" where one exists
    EXPECTED_FAILURES = {}
    for est in (MLE(k=3), TwoNN()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = check_estimator(est, expected_failed_checks=EXPECTED_FAILURES, on_fail=None)
        failed = {r["check_name"]: repr(r["exception"])[:300] for r in results if r["status"] == "failed"}
        assert not failed, failed
        assert len(results) >= 40


def with_dict(x):
    "x as an object array with a dict in it, as scikit-learn's check_dtype_object makes it."
    x = x.astype(object)
    x[0, 0] = {"a": 1}
    return x


REFUSED = {"sparse": (TypeError, "dense data is required"), "complex": (ValueError, "Complex data not supported"),
           "dict": (TypeError, "argument must be a string or a (real )?number"),
           "one": (ValueError, r"Found array with 1 sample\(s\)"),
           "empty": (ValueError, r"Found array with 0 sample\(s\)"), "nofeatures": (ValueError, r"0 feature\(s\)")}
SHOWN = {("MLE", "sparse"), ("TwoNN", "complex"), ("MLE", "one")}  # in the notebook


@pytest.mark.parametrize("name,bad", [(e, b) for e in ("MLE", "TwoNN") for b in REFUSED if (e, b) not in SHOWN])
def test_inputs_refused_in_scikit_learns_words(name, bad):
    est, (error, match) = {"MLE": MLE(k=3), "TwoNN": TwoNN()}[name], REFUSED[bad]
    from scipy.sparse import csr_matrix
    x = curved(40, 2)
    X = {"sparse": lambda: csr_matrix(x), "complex": lambda: x + 1j, "one": lambda: x[:1], "empty": lambda: x[:0],
         "nofeatures": lambda: x[:, :0], "dict": lambda: with_dict(x)}[bad]()
    with pytest.raises(error, match=match): clone(est).fit(X)


def test_n_features_in_for_every_input():
    from intrinsic_props.neighbors import neighbors
    images = np.random.default_rng(0).uniform(size=(60, 1, 4, 4))
    ds = from_arrays(images, np.zeros(60, dtype=int), channels_last=False)
    for X in (images.reshape(60, -1), torch.from_numpy(images.reshape(60, -1)), ds, neighbors(ds.flat(), k=3),
              images.reshape(60, -1).astype(object)):
        assert MLE(k=3).fit(X).n_features_in_ == 16
    # a bare table does not know D
    assert not hasattr(MLE(k=3).fit(precomputed(images.reshape(60, -1), 3)), "n_features_in_")
