"""Law fits: recovery of known parameters from simulated sweeps, interval coverage over repeats, and bad inputs. The
statistics they rest on are tested in `tests/test_stats.py`, the table of the paper's claims in `tests/test_paper.py`."""
import warnings

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from intrinsic_props.laws import (by_domain, fit_delta_vs_sharpness, fit_domain_difference, fit_law, fit_loss_vs_dim,
                                  fit_slope_difference, law_terms, plot_delta_vs_sharpness, plot_law, plot_laws,
                                  plot_loss_vs_dim, plot_repr_vs_data, share_repr_within_data, simulate_sweep)
from intrinsic_props.stats import fit_ols, fit_quantile

LAW = pd.Series({"intercept": 7.5, "log n_train/d_data": -1.0, "log k_f": 1.0})


def covers(fit, truth) -> np.ndarray:
    "Whether each interval of `fit` contains the matching true value."
    return ((fit.params.ci_low <= truth) & (truth <= fit.params.ci_high)).to_numpy()


def law_ols(sweep, cluster="dataset"):
    "Free OLS of the law on a simulated sweep."
    return fit_ols(law_terms(sweep), np.log(sweep.test_loss), None if cluster is None else sweep[cluster])


# --- recovery and coverage of the law fits -----------------------------------------------------------------------

@pytest.mark.parametrize("datasets_per_domain,repeats,low", [(8, 300, 0.91), (3, 200, 0.88)])
def test_clustered_law_intervals_cover_the_truth(datasets_per_domain, repeats, low):
    "CR2/Bell–McCaffrey intervals of the law's coefficients cover the truth about 95 % of the time, even with few datasets."
    fits = [law_ols(simulate_sweep(datasets_per_domain=datasets_per_domain, seed=s)) for s in range(repeats)]
    coverage = np.mean([covers(f, LAW) for f in fits], axis=0)
    assert ((coverage > low) & (coverage < 0.99)).all(), coverage
    estimates = np.array([f.params.estimate.to_numpy() for f in fits])
    bias = estimates.mean(axis=0) - LAW.to_numpy()
    assert (np.abs(bias) < 3*estimates.std(axis=0)/np.sqrt(repeats)).all(), bias


def test_independent_intervals_undercover_when_datasets_share_errors():
    "Why intervals are clustered: treating a dataset's runs as independent gives far too narrow intervals."
    coverage = np.mean([covers(law_ols(simulate_sweep(datasets_per_domain=8, seed=s), None), LAW) for s in range(200)],
                       axis=0)
    assert coverage[2] < 0.75, coverage


def test_classical_intervals_cover_when_runs_are_independent():
    coverage = np.mean([covers(law_ols(simulate_sweep(dataset_sd=0, seed=s), None), LAW) for s in range(300)], axis=0)
    assert ((coverage > 0.92) & (coverage < 0.98)).all(), coverage


def test_fixed_slope_constant_and_its_interval():
    "With the slopes fixed at −1 and +1, the constant a is recovered and its clustered interval covers it."
    def fixed(sweep):
        slack = np.log(sweep.test_loss) + np.log(sweep.n_train)/sweep.d_data - np.log(sweep.k_f)
        return fit_ols(pd.DataFrame(index=sweep.index), slack, sweep.dataset)
    sweep = simulate_sweep(seed=0)
    assert np.allclose(fit_law(sweep, n_boot=20).fixed.params, fixed(sweep).params, rtol=1e-10)
    hits, estimates = [], []
    for s in range(300):
        fit = fixed(simulate_sweep(datasets_per_domain=6, seed=s))
        hits.append(covers(fit, 7.5)[0]); estimates.append(fit.params.estimate.iloc[0])
    assert 0.92 < np.mean(hits) < 0.985
    assert abs(np.mean(estimates) - 7.5) < 0.02


def test_envelope_constant_interval_covers_the_bound():
    "The 0.9-quantile (envelope) constant: cluster-bootstrap interval covers a + q₀.₉(u + ε) in most sweeps."
    a_90 = 7.5 + np.hypot(0.3, 0.2)*stats.norm.ppf(0.9)
    hits = []
    for s in range(40):
        sweep = simulate_sweep(datasets_per_domain=8, seed=s)
        slack = np.log(sweep.test_loss) + np.log(sweep.n_train)/sweep.d_data - np.log(sweep.k_f)
        hits.append(covers(fit_quantile(pd.DataFrame(index=sweep.index), slack, groups=sweep.dataset, n_boot=150, seed=s), a_90)[0])
    assert np.mean(hits) > 0.8






def test_representation_law_recovery():
    "log L = a − log N/d_repr: the exponent's interval covers −1 in most sweeps."
    hits = []
    for s in range(100):
        sweep = simulate_sweep(seed=s)
        rng = np.random.default_rng(s)
        y = 2 - np.log(sweep.n_train)/sweep.d_repr + rng.normal(0, 0.2, sweep.dataset.nunique())[pd.factorize(sweep.dataset)[0]] \
            + rng.normal(0, 0.2, len(sweep))
        hits.append(covers(fit_ols(law_terms(sweep, "d_repr", None), y, sweep.dataset),
                           pd.Series({"intercept": 2.0, "log n_train/d_repr": -1.0})))
    coverage = np.mean(hits, axis=0)
    assert ((coverage > 0.88) & (coverage < 0.995)).all(), coverage


def test_slope_difference_recovers_known_slopes():
    "log L = c_domain + s_domain·d + u_dataset + ε with s_medical − s_natural = 0.15: the interval covers it ~95 %."
    hits, estimates = [], []
    for s in range(200):
        rng = np.random.default_rng(s)
        frames = []
        for domain, c, slope in (("medical", -4.0, 0.25), ("natural", -2.5, 0.10)):
            d = np.repeat(rng.uniform(5, 18, 6), 12) + rng.normal(0, 0.3, 72)
            u = np.repeat(rng.normal(0, 0.3, 6), 12)
            frames.append(pd.DataFrame({"domain": domain, "dataset": np.repeat([f"{domain}{i}" for i in range(6)], 12),
                                        "d_data": d, "test_loss": np.exp(c + slope*d + u + rng.normal(0, 0.3, 72))}))
        fit = fit_slope_difference(pd.concat(frames, ignore_index=True))
        difference = fit.params.loc["d_data:medical"]
        hits.append(difference.ci_low <= 0.15 <= difference.ci_high); estimates.append(difference.estimate)
    assert 0.9 < np.mean(hits) < 0.99
    assert abs(np.mean(estimates) - 0.15) < 0.01


def test_domain_difference_is_the_difference_of_means():
    sweep = simulate_sweep(seed=5)
    fit = fit_domain_difference(sweep, "delta_loss")
    means = sweep.groupby("domain").delta_loss.mean()
    assert fit.params.loc["medical", "estimate"] == pytest.approx(means["medical"] - means["natural"])
    logs = fit_domain_difference(sweep, "k_f", log=True).params.loc["medical"]
    ratio = np.exp(np.log(sweep.k_f).groupby(sweep.domain).mean())
    assert logs.estimate == pytest.approx(np.log(ratio["medical"]/ratio["natural"]))


# --- Δloss against K_F, d_repr against d_data --------------------------------------------------------------------

def test_delta_loss_correlation_on_raw_and_log_scales():
    sweep = simulate_sweep(seed=9)
    raw, logs = (fit_delta_vs_sharpness(sweep, log=log, n_boot=100) for log in (False, True))
    assert raw.r == pytest.approx(stats.pearsonr(sweep.k_f, sweep.delta_loss).statistic)
    assert logs.r == pytest.approx(stats.pearsonr(np.log(sweep.k_f), np.log(sweep.delta_loss)).statistic)
    assert raw.n_groups == logs.n_groups == 12


def test_share_of_runs_within_data_dimension():
    "d_repr/d_data ~ U(0.3, 1.1): the share 7/8 is inside the Wilson interval in about 95 % of sweeps."
    hits = [(s := share_repr_within_data(simulate_sweep(seed=i))).ci_low <= 7/8 <= s.ci_high for i in range(200)]
    assert 0.9 < np.mean(hits) < 0.99


# --- bad inputs ----------------------------------------------------------------------------------------------------

def test_missing_columns_are_named():
    sweep = simulate_sweep(seed=0)
    with pytest.raises(KeyError, match=r"\['d_repr'\]"):
        fit_law(sweep.drop(columns="d_repr"), dim="d_repr", sharpness=None)
    with pytest.raises(KeyError, match=r"\['domain'\]"):
        by_domain(sweep.drop(columns="domain"), fit_loss_vs_dim)


def test_failed_and_incomplete_runs_are_dropped_with_a_warning():
    sweep = simulate_sweep(seed=0)
    sweep.loc[[0, 1], "status"] = "failed"
    sweep.loc[[2], "d_repr"] = np.nan
    sweep.loc[[3], "test_loss"] = np.inf
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert fit_loss_vs_dim(sweep).n == 213
        assert fit_loss_vs_dim(sweep, "d_repr").n == 212
    messages = [str(w.message) for w in record]
    assert messages == ["dropped 3 of 216 runs: 2 failed (status == 'failed'); 1 with missing or infinite values "
                        "(test_loss: 1). Re-run or repair them to include them.",
                        "dropped 4 of 216 runs: 2 failed (status == 'failed'); 2 with missing or infinite values "
                        "(d_repr: 1, test_loss: 1). Re-run or repair them to include them."]


def test_by_domain_names_the_domain_whose_fit_failed():
    "A fit that fails on one domain's runs says which (how each fit refuses too few runs: the stats notebook)."
    sweep = simulate_sweep(seed=0)
    with pytest.raises(ValueError, match="medical runs: .*need more than 2 runs"):
        by_domain(sweep.iloc[[0, 1, 200, 201, 202]], fit_loss_vs_dim, cluster=None)


# --- figures -------------------------------------------------------------------------------------------------------

def test_figures_return_their_axes():
    sweep = simulate_sweep(seed=0)
    for draw in (plot_loss_vs_dim, plot_law, plot_delta_vs_sharpness, plot_repr_vs_data):
        ax = draw(sweep)
        assert isinstance(ax, plt.Axes) and ax.collections, draw.__name__
    fig = plot_laws(sweep)
    assert len(fig.axes) == 5
    plt.close("all")
