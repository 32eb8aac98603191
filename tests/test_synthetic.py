"Properties of the synthetic grating sets: exact geometry, labels, known label sharpness and recoverable dimension."
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from intrinsic_props.data import DuplicatesWarning
from intrinsic_props.intrinsic_dim import MLE, TwoNN
from intrinsic_props.label_sharpness import label_sharpness
from intrinsic_props.neighbors import neighbors
from intrinsic_props.synthetic import grating_distance, grating_frequencies, grating_images, gratings


@settings(max_examples=25, deadline=None)
@given(d=st.integers(1, 40), size=st.integers(9, 33), seed=st.integers(0, 2**16))
def test_closed_form_distance_is_the_pixel_distance(d, size, seed):
    "Gratings are orthogonal on the grid for any d and image size (odd or even), so the closed form is exact."
    rng = np.random.default_rng(seed)
    freqs, amps = grating_frequencies(d, size), rng.uniform(0.01, 1, d)
    z = rng.uniform(-10, 10, (10, d))
    im = grating_images(z, freqs, amps, size)
    np.testing.assert_allclose(np.linalg.norm(im[:5] - im[5:], axis=(1, 2)), grating_distance(z[:5], z[5:], amps, size),
                               rtol=1e-9)


def test_frequencies_are_distinct_below_nyquist_and_lowest_first():
    f = grating_frequencies(100, 32)
    assert len({tuple(v) for v in f}) == 100 and np.abs(f).max() < 16
    assert all(tuple(-v) not in {tuple(w) for w in f} for v in f)
    norms = (f**2).sum(1)
    assert (np.diff(norms) >= 0).all()


def test_sets_are_balanced_seeded_and_in_range():
    g = gratings(501, 6, seed=3)
    assert g.data.images.shape == (501, 1, 32, 32) and g.data.images.dtype == torch.float32
    assert abs(g.data.counts["z1 < 3.142"] - g.data.counts["z1 > 3.142"]) == 1
    assert 0 <= float(g.data.images.min()) and float(g.data.images.max()) <= 1 and g.data.intensity_range == (0.0, 1.0)
    assert torch.equal(g.data.images, gratings(501, 6, seed=3).data.images)
    assert not torch.equal(g.data.images, gratings(501, 6, seed=4).data.images)
    assert g.dimension == 6 and gratings(10, 2, dtype=torch.float64).data.images.dtype == torch.float64


@pytest.mark.parametrize("phase_range", [2*math.pi, math.pi, 1.0])
def test_labels_follow_the_first_phase_with_the_gap(phase_range):
    g = gratings(2000, 3, gap=0.2, phase_range=phase_range, seed=1)
    z1, y = g.phases[:, 0], g.data.labels.numpy()
    half = phase_range/2
    assert (z1[y == 0] <= half - 0.2).all() and (z1[y == 1] >= half + 0.2).all()
    assert (g.phases >= 0).all() and (g.phases < phase_range).all()
    if phase_range == 2*math.pi:
        assert (z1[y == 0] >= 0.2).all() and (z1[y == 1] <= 2*math.pi - 0.2).all()


@settings(max_examples=10, deadline=None)
@given(d=st.integers(1, 12), gap=st.floats(0.01, 1.5), seed=st.integers(0, 1000))
def test_planted_pair_attains_the_bound(d, gap, seed):
    g = gratings(200, d, gap=gap, planted_pair=True, seed=seed)
    ks = label_sharpness(g.data)
    assert ks.pair == (0, 1)
    assert ks.value == pytest.approx(g.sharpness_bound, rel=1e-5)


@settings(max_examples=10, deadline=None)
@given(d=st.integers(1, 10), gap=st.floats(0.01, 0.7), phase_range=st.sampled_from([2*math.pi, math.pi, 2.0]),
       seed=st.integers(0, 1000))
def test_no_sample_is_sharper_than_the_bound(d, gap, phase_range, seed):
    gap = min(gap, 0.9*phase_range/4)
    g = gratings(300, d, gap=gap, phase_range=phase_range, seed=seed)
    assert label_sharpness(g.data).value <= g.sharpness_bound*(1 + 1e-6)


def test_sharpness_scales_with_gap_and_amplitude_as_constructed():
    base = label_sharpness(gratings(300, 4, gap=0.1, planted_pair=True).data).value
    wider = label_sharpness(gratings(300, 4, gap=0.4, planted_pair=True).data).value
    assert wider/base == pytest.approx(math.sin(0.1)/math.sin(0.4), rel=1e-5)
    loud = gratings(300, 4, gap=0.1, amplitudes=[0.25, 0.125, 0.0625, 0.0625], planted_pair=True)
    assert label_sharpness(loud.data).value/base == pytest.approx(0.125/0.25, rel=1e-5)


@pytest.mark.parametrize("kwargs,message", [
    (dict(gap=0), "gap must lie in"), (dict(gap=math.pi/2), "gap must lie in"),
    (dict(phase_range=1.0, gap=0.5), "gap must lie in \\(0, 0.5\\)"),
    (dict(amplitudes=[0.1, 0.1]), "amplitudes must be 3 positive"),
    (dict(amplitudes=[0.1, -0.1, 0.1]), "amplitudes must be 3 positive"), (dict(n=1), "at least 2 images"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gratings(**{"n": 100, "d": 3, **kwargs})


def test_too_many_gratings_for_the_image():
    with pytest.raises(ValueError, match="holds 12 orthogonal gratings, fewer than d=13"):
        gratings(10, 13, size=5)


@pytest.mark.parametrize("d", [2, 4])
@pytest.mark.parametrize("phase_range", [2*math.pi, math.pi/2])
def test_dimension_is_recovered_at_low_d(d, phase_range):
    "The tolerance measured in api/08_synthetic: within 12 % for MacKay–Ghahramani MLE and TwoNN at d ≤ 4, N = 2000."
    nb = neighbors(gratings(2000, d, phase_range=phase_range, seed=11).data.flat(), k=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DuplicatesWarning)
        for est in (MLE(20), TwoNN(), TwoNN(discard=0)):
            assert est.fit(nb).dimension_ == pytest.approx(d, rel=0.12), type(est).__name__
