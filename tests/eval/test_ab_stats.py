"""eval.stats: the 95 % log-ratio interval is 95 % and paired; insufficient data is not a lift."""

from __future__ import annotations

import numpy as np
import pytest

from eval.stats import INSUFFICIENT, UNDEFINED, Z, bootstrap_log_ratios, log_ratio_interval, paired_lifts


def _paired_poisson(users: int, seed: int, lift: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Per-user counts of two arms that share a strong per-user activity (a paired design)."""
    rng = np.random.default_rng(seed)
    activity = rng.gamma(0.5, 20.0, size=users)  # very unequal users: pairing matters
    return rng.poisson(activity * (1 + lift)).astype(float), rng.poisson(activity).astype(float)


def _delta_method_se(t: np.ndarray, c: np.ndarray) -> float:
    """SE of log(mean t / mean c) for paired users (first-order delta method)."""
    n, mt, mc = len(t), t.mean(), c.mean()
    cov = np.cov(t, c)
    return float(np.sqrt((cov[0, 0] / mt**2 + cov[1, 1] / mc**2 - 2 * cov[0, 1] / (mt * mc)) / n))


def test_ci_is_a_95_percent_paired_interval_of_the_delta_method_width() -> None:
    """Half-width in log space / delta-method SE = z_0.975 = 1.96; a 90 % interval (1.64) or an
    unpaired bootstrap (ignores the strong covariance: ~3x wider here) falls outside the band."""
    t, c = _paired_poisson(4000, seed=0)
    ones = np.ones_like(t)
    d = paired_lifts({"x": (t, ones, c, ones)}, 2000, 10, np.random.default_rng(1))["x"]
    lo, hi = d.ci95
    half = (np.log1p(hi) - np.log1p(lo)) / 2
    ratio = half / _delta_method_se(t, c)
    assert 1.85 <= ratio <= 2.08, ratio
    assert Z == pytest.approx(1.959964, abs=1e-5)
    # the interval is centred on the observed log ratio
    assert (np.log1p(hi) + np.log1p(lo)) / 2 == pytest.approx(np.log(t.sum() / c.sum()))


def test_bootstrap_resamples_the_same_users_in_both_arms() -> None:
    """Treatment = 2 x control for every user: every paired replicate has log R = log 2 exactly."""
    c = np.random.default_rng(0).poisson(3.0, size=300).astype(float) + 1
    ones = np.ones_like(c)
    x = np.stack([2 * c, ones, c, ones], axis=1)
    reps = bootstrap_log_ratios(x, 300, np.random.default_rng(2))
    assert np.allclose(reps, np.log(2.0))
    d = paired_lifts({"x": (2 * c, ones, c, ones)}, 300, 20, np.random.default_rng(3))["x"]
    assert d.ci95 == pytest.approx((1.0, 1.0))


def test_coverage_of_the_log_ratio_interval_over_replications() -> None:
    """Fresh data each replication, true lift +20 %: the 95 % CI covers it 90-99 % of the time."""
    truth = 0.2
    covered = []
    for seed in range(200):
        t, c = _paired_poisson(400, seed=100 + seed, lift=truth)
        ones = np.ones_like(t)
        lo, hi = paired_lifts({"x": (t, ones, c, ones)}, 200, 10, np.random.default_rng(seed))["x"].ci95
        covered.append(lo <= truth <= hi)
    assert 0.9 <= np.mean(covered) <= 0.99, np.mean(covered)


def test_headline_lift_is_the_expected_one_and_events_are_counted() -> None:
    rng = np.random.default_rng(0)
    users = 500
    ones = np.ones(users)
    exp_c, exp_t = np.full(users, 0.2), np.full(users, 0.3)
    obs_c, obs_t = rng.poisson(exp_c).astype(float), rng.poisson(exp_t).astype(float)
    d = paired_lifts(
        {"x": (obs_t, ones, obs_c, ones)},
        200,
        50,
        np.random.default_rng(1),
        expected={"x": (exp_t, ones, exp_c, ones)},
        min_events=30,
    )["x"]
    assert d.lift == pytest.approx(0.5)  # 0.3 / 0.2 - 1, whatever the draws were
    assert d.observed_lift == pytest.approx(obs_t.sum() / obs_c.sum() - 1)
    assert d.events == (int(obs_c.sum()), int(obs_t.sum())) and d.status == "ok"
    assert d.control == pytest.approx(0.2) and d.treatment == pytest.approx(0.3)
    assert d.expected_ci95 == pytest.approx((0.5, 0.5))  # every user has the same expectation


def test_few_events_or_a_non_finite_replicate_is_insufficient_data() -> None:
    users = 50
    ones = np.ones(users)
    few_c, few_t = np.zeros(users), np.zeros(users)
    few_c[:5], few_t[:8] = 1, 1
    d = paired_lifts({"x": (few_t, ones, few_c, ones)}, 200, 20, np.random.default_rng(0), min_events=30)["x"]
    assert d.status == INSUFFICIENT and d.lift is None and d.ci95 is None and d.p_value is None
    assert d.events == (5, 8) and "fewer than 30" in d.reason
    # 40 control events, all from one user: resamples without that user have a zero control rate
    one_c = np.zeros(users)
    one_c[0] = 40
    many_t = np.full(users, 2.0)
    d = paired_lifts({"x": (many_t, ones, one_c, ones)}, 200, 20, np.random.default_rng(0), min_events=30)["x"]
    assert d.status == INSUFFICIENT and d.lift is None and "non-finite" in d.reason
    # with min_events=0 a well-defined lift is still reported
    d = paired_lifts({"x": (few_t, ones, few_c, ones)}, 200, 20, np.random.default_rng(0))["x"]
    assert d.status in ("ok", INSUFFICIENT)
    d = paired_lifts({"x": (ones, ones, np.zeros(users), np.zeros(users))}, 200, 20, np.random.default_rng(0))["x"]
    assert d.status == UNDEFINED and d.lift is None


def test_log_ratio_interval_refuses_non_finite_replicates() -> None:
    assert log_ratio_interval(0.1, np.array([0.0, 0.1, np.inf])) is None
    assert log_ratio_interval(0.0, np.array([-1.0, 1.0])) == pytest.approx(
        (np.expm1(-Z * np.sqrt(2)), np.expm1(Z * np.sqrt(2)))
    )
