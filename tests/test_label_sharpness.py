"Cross-cutting tests of label sharpness: its defining properties, identical images, the sampled protocol, the shelf."
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from intrinsic_props.data import preprocess
from intrinsic_props.label_sharpness import label_sharpness, sampled_label_sharpness
from intrinsic_props.neighbors import neighbors


def brute_force(x, y, distinct_only=False):
    "max 1(y_j ≠ y_k)/‖x_j − x_k‖ over all pairs (over pairs of distinct points only when asked)."
    x = torch.as_tensor(x, dtype=torch.float64)
    d = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")
    y = torch.as_tensor(np.asarray(y))
    cross = y[:, None] != y[None]
    if distinct_only: cross &= d > 0
    return float((1/d[cross]).max())


@st.composite
def labelled_sets(draw):
    "Point sets with at least two classes and no identical points of different classes."
    n, dim = draw(st.integers(4, 40)), draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, dim))*draw(st.sampled_from([1e-3, 1.0, 1e3]))
    y = g.integers(0, draw(st.integers(2, 4)), n)
    y[:2] = [0, 1]
    return x, y, g


@settings(max_examples=60, deadline=None)
@given(labelled_sets())
def test_properties(case):
    "Brute force; invariance to permutation and translation; scaling by c divides K_F by c."
    x, y, g = case
    ks = label_sharpness(x, y)
    assert math.isclose(ks.value, brute_force(x, y), rel_tol=1e-12)
    perm = g.permutation(len(x))
    assert math.isclose(label_sharpness(x[perm], y[perm]).value, ks.value, rel_tol=1e-12)
    shift = g.normal(size=x.shape[1])*10*np.abs(x).max()
    assert math.isclose(label_sharpness(x + shift, y).value, ks.value, rel_tol=1e-6)
    c = float(g.uniform(0.01, 100))
    conditioning = 4*np.finfo(float).eps*np.abs(x).max()/ks.distance  # rounding x*c moves a difference of close points
    assert math.isclose(label_sharpness(x*c, y).value, ks.value/c, rel_tol=1e-12 + conditioning)
    assert ks.robust <= ks.value and label_sharpness(x, y, quantile=1.0).robust == ks.value
    j, k = ks.pair
    assert y[j] != y[k] and math.isclose(np.linalg.norm(x[j] - x[k]), ks.distance, rel_tol=1e-12)


@settings(max_examples=30, deadline=None)
@given(labelled_sets(), st.integers(0, 1000))
def test_sampled_never_exceeds_exact(case, seed):
    x, y, _ = case
    s = sampled_label_sharpness(x, y, m=len(x), batch_size=max(1, len(x)//3), seed=seed)
    assert s.value <= label_sharpness(x, y).value*(1 + 1e-12)
    assert s == sampled_label_sharpness(x, y, m=len(x), batch_size=max(1, len(x)//3), seed=seed)


def test_identical_images_with_different_labels():
    "K_F is infinite, the copies are named, and the value over distinct images is the paper's."
    g = np.random.default_rng(3)
    x = g.normal(size=(50, 4))
    x[10] = x[21]
    y = np.arange(50) % 2
    with pytest.warns(UserWarning, match=r"label sharpness is infinite: 1 group\(s\) .*\[10, 21\]"):
        ks = label_sharpness(x, y)
    assert ks.value == math.inf and ks.pair == (10, 21) and ks.conflicts[0].indices == [10, 21]
    assert math.isclose(ks.distinct_value, brute_force(x, y, distinct_only=True), rel_tol=1e-12)


def test_reuses_a_labelled_pass():
    x = np.random.default_rng(4).normal(size=(200, 5))
    y = np.arange(200) % 3
    nb = neighbors(x, y, k=7)
    assert label_sharpness(x, y, nb=nb).value == label_sharpness(x, y).value


def test_breastmnist_exact_and_robust(data):
    "On breastmnist (and its sample) one near-duplicate pair of different classes sets K_F; the robust value ignores it."
    data = preprocess(data.load("breastmnist"), scale="unit")
    ks = label_sharpness(data)
    assert math.isclose(ks.value, brute_force(data.flat(torch.float64), data.labels), rel_tol=1e-12)
    assert ks.value > 2*ks.robust
    sampled = [sampled_label_sharpness(data, m=len(data), seed=s).value for s in range(5)]
    assert max(sampled) < ks.value


@settings(max_examples=20, deadline=None)
@given(labelled_sets(), st.integers(0, 1000), st.integers(1, 5))
def test_sampled_leaves_out_identical_pairs_of_different_classes(case, seed, copies):
    "Identical cross-class pairs are left out (K_F is over distinct images), counted and warned about: never an infinite value."
    x, y, _ = case
    x = np.vstack([x, np.repeat(x[:1], copies, 0)])
    y = np.concatenate([y, np.full(copies, y[0])])
    y[-1] = y[y != y[0]][0]  # the last copy of image 0 has another label
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # batch size 1: every ordered pair is compared
        s = sampled_label_sharpness(x, y, m=len(x), batch_size=1, seed=seed)
    assert s.n_identical > 0 and any("identical images with different labels" in str(w.message) for w in caught)
    assert math.isfinite(s.value) and s.value == pytest.approx(brute_force(x, y, distinct_only=True), rel=1e-12)
