"""Cross-cutting tests of the statistics (`intrinsic_props.stats`): coverage of the intervals over many simulated
samples, quantile regression against brute force, Wilson's exact coverage, the percentile interval against numpy on
any data, and the one check of a confidence level that every interval shares. The fits of the paper's laws on
simulated sweeps are tested in `tests/test_laws.py`."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from intrinsic_props.intrinsic_dim import MLE, confidence_interval
from intrinsic_props.stats import (Interval, fisher_ci, fit_ols, fit_quantile, pearson, percentile_interval,
                                   quantile_coef,
                                   wilson_ci)


def covers(fit, truth) -> np.ndarray:
    "Whether each interval of `fit` contains the matching true value."
    return ((fit.params.ci_low <= truth) & (truth <= fit.params.ci_high)).to_numpy()


# --- percentile intervals and the confidence level -----------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200), st.floats(0.01, 0.99))
def test_percentile_interval_is_numpys_quantiles(values, level):
    "On any replicates, as a list, an array or an iterator drawing them: numpy's quantiles at (1 ∓ level)/2."
    expected = np.quantile(values, [(1 - level)/2, (1 + level)/2])
    for replicates in (values, np.array(values), iter(values), (v for v in values)):
        got = percentile_interval(replicates, level)
        assert isinstance(got, Interval) and got == tuple(expected)


x = np.random.default_rng(0).normal(size=(60, 2))
LEVEL_CHECKS = {"fit_ols": lambda level: fit_ols(pd.DataFrame({"x": x[:, 0]}), x[:, 1], level=level),
                "fit_quantile": lambda level: fit_quantile(pd.DataFrame({"x": x[:, 0]}), x[:, 1], level=level,
                                                           n_boot=10),
                "pearson": lambda level: pearson(x[:, 0], x[:, 1], level=level, n_boot=10),
                "fisher_ci": lambda level: fisher_ci(0.5, 30, level),
                "wilson_ci": lambda level: wilson_ci(3, 10, level),
                "percentile_interval": lambda level: percentile_interval([1.0, 2.0], level),
                "confidence_interval": lambda level: confidence_interval(MLE(k=5).fit(x), n_boot=10, level=level)}


@pytest.mark.parametrize("name,level",
                         [(name, level) for name in LEVEL_CHECKS for level in (0, 1, 95, -0.5, float("nan"))
                                        if (name, level) != ("percentile_interval", 95)])  # the notebook shows it
def test_every_interval_checks_its_level_in_one_place(name, level):
    with pytest.raises(ValueError, match=r"level must lie in \(0, 1\), got "):
        LEVEL_CHECKS[name](level)


# --- quantile regression -------------------------------------------------------------------------------------------

def test_envelope_slopes_of_a_one_sided_bound():
    "Points under a bound with one-sided (exponential) slack: the 0.9-quantile regression finds the bound's slopes."
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"u": rng.uniform(0, 2, 2000), "v": rng.uniform(-1, 1, 2000)})
    y = 1 - 1.0*X.u + 1.0*X.v - rng.exponential(0.4, 2000)
    fit = fit_quantile(X, y, 0.9, n_boot=100)
    truth = pd.Series({"intercept": 1 + 0.4*np.log(0.9), "u": -1.0, "v": 1.0})
    assert covers(fit, truth).all()
    assert np.allclose(fit.params.estimate, truth, atol=0.05)


def test_quantile_coef_minimises_the_check_loss():
    rng = np.random.default_rng(4)
    X = np.c_[np.ones(80), rng.normal(size=80)]
    y = X @ [0.5, 2] + rng.standard_t(3, 80)
    loss = lambda b: np.sum((y - X @ b)*(0.7 - (y - X @ b < 0)))
    best = quantile_coef(X, y, 0.7)
    assert all(loss(best) <= loss(best + rng.normal(0, 0.05, 2)) + 1e-9 for _ in range(200))
    constant = quantile_coef(np.ones((80, 1)), y, 0.7)
    assert loss(np.r_[constant, 0]) == pytest.approx(min(loss(np.array([c, 0])) for c in y))


# --- correlation and shares ----------------------------------------------------------------------------------------

def test_fisher_interval_coverage():
    rng = np.random.default_rng(6)
    hits = []
    for _ in range(1000):
        x = rng.normal(size=30)
        y = 0.6*x + 0.8*rng.normal(size=30)
        low, high = fisher_ci(np.corrcoef(x, y)[0, 1], 30)
        hits.append(low <= 0.6 <= high)
    assert 0.93 < np.mean(hits) < 0.97


def test_bootstrap_correlation_interval_coverage():
    rng = np.random.default_rng(7)
    hits = []
    for s in range(150):
        x = rng.normal(size=40)
        c = pearson(x, 0.6*x + 0.8*rng.normal(size=40), n_boot=300, seed=s)
        hits.append(c.boot_low <= 0.6 <= c.boot_high)
    assert 0.88 < np.mean(hits) < 0.99


def test_cluster_bootstrap_correlation_covers_where_fisher_does_not():
    "Runs sharing cluster effects: Fisher's z (independent pairs) undercovers; the cluster bootstrap is near nominal."
    rng = np.random.default_rng(8)
    clusters, per, var_x = 20, 10, 1.25
    r_true = var_x/np.sqrt(var_x*(var_x + 2.0))
    g = np.repeat(np.arange(clusters), per)
    fisher, boot = [], []
    for s in range(150):
        x = rng.normal(0, 1, clusters)[g] + rng.normal(0, 0.5, clusters*per)
        c = pearson(x, x + rng.normal(0, 1, clusters)[g] + rng.normal(0, 1, clusters*per), g, n_boot=300, seed=s)
        fisher.append(c.fisher_low <= r_true <= c.fisher_high); boot.append(c.boot_low <= r_true <= c.boot_high)
    assert np.mean(fisher) < 0.8
    assert np.mean(boot) > 0.85


def test_wilson_interval_against_scipy_and_its_exact_coverage():
    for k, n in [(0, 5), (3, 7), (40, 45), (100, 100)]:
        assert wilson_ci(k, n) == pytest.approx(tuple(stats.binomtest(k, n).proportion_ci(method="wilson")), abs=1e-12)
    pmf = stats.binom.pmf(np.arange(51), 50, 0.875)
    coverage = sum(p for k, p in enumerate(pmf) if wilson_ci(k, 50)[0] <= 0.875 <= wilson_ci(k, 50)[1])
    assert 0.92 < coverage < 0.98
