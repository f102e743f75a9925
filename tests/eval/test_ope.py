"""eval.ope: IPS / SNIPS / DR against closed-form cases and against the simulated online truth."""

from __future__ import annotations

import numpy as np
import pytest

from eval.config import ABConfig
from eval.ope import dr, ips, logging_policy, ope_compare, position_model, propensity, snips


def _two_action_logs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One slot, 10 users; action A (propensity 0.3, reward 1) logged 3 times, B (0.7, reward 0.2) 7 times."""
    logged_a = np.array([1] * 3 + [0] * 7, dtype=bool)[:, None]
    mu = np.where(logged_a, 0.3, 0.7)
    reward = np.where(logged_a, 1.0, 0.2)
    return logged_a, mu, reward


def test_ips_snips_dr_closed_form_two_actions() -> None:
    """Logs in exact proportion to the propensities: every estimator recovers V(A) = 1, V(B) = 0.2."""
    logged_a, mu, reward = _two_action_logs()
    w_a, w_b = logged_a / mu, ~logged_a / mu
    assert ips(reward, w_a).mean() == pytest.approx(1.0)  # 3 * 1 / 0.3 / 10
    assert ips(reward, w_b).mean() == pytest.approx(0.2)
    assert snips(reward, w_a) == pytest.approx(1.0) and snips(reward, w_b) == pytest.approx(0.2)
    # DR with a wrong constant reward model is still exact here: 0.5 + 3 * (1 - 0.5) / 0.3 / 10 = 1
    q = np.full(reward.shape, 0.5)
    assert dr(reward, w_a, q, q).mean() == pytest.approx(1.0)
    assert dr(reward, w_b, q, q).mean() == pytest.approx(0.2)
    # DR with a zero reward model is IPS; with the perfect model it is the truth whatever the weights
    zero = np.zeros(reward.shape)
    assert dr(reward, w_a, zero, zero) == pytest.approx(ips(reward, w_a))
    q_true_logged = reward
    assert dr(reward, 5 * w_a, q_true_logged, np.ones(reward.shape)).mean() == pytest.approx(1.0)


def test_snips_is_invariant_to_scaling_the_weights_ips_is_not() -> None:
    logged_a, mu, reward = _two_action_logs()
    w = logged_a / mu
    assert snips(reward, 3 * w) == pytest.approx(snips(reward, w))
    assert ips(reward, 3 * w).mean() == pytest.approx(3 * ips(reward, w).mean())


def test_on_policy_logs_give_the_empirical_mean() -> None:
    reward = np.random.default_rng(0).random((20, 4))
    ones = np.ones_like(reward)
    assert ips(reward, ones).mean() == pytest.approx(reward.sum(1).mean())
    assert snips(reward, ones) == pytest.approx(reward.sum(1).mean())
    assert dr(
        reward, ones, position_model(reward, reward.shape), position_model(reward, reward.shape)
    ).mean() == pytest.approx(reward.sum(1).mean())


def test_logging_policy_propensities_are_the_empirical_frequencies() -> None:
    rng = np.random.default_rng(0)
    control = np.array([[0, 1, 2]] * 20000)
    treatment = np.array([[0, 5, 6]] * 20000)
    logged, mu = logging_policy(control, treatment, n_pins=10, epsilon=0.2, rng=rng)
    assert mu[logged[:, 0] == 0, 0] == pytest.approx(0.8 + 0.02)  # both arms show pin 0 first
    for pin, want in ((1, 0.4 + 0.02), (5, 0.4 + 0.02), (9, 0.02)):
        assert np.mean(logged[:, 1] == pin) == pytest.approx(want, abs=0.01)
        assert mu[logged[:, 1] == pin, 1] == pytest.approx(want)
    assert propensity(np.array([[-1]]), np.array([[-1]]), np.array([[3]]), 10, 0.2)[0, 0] == pytest.approx(0.4)


def test_estimates_recover_the_online_truth_of_both_arms() -> None:
    """Planted arms (treatment's pins are more relevant): every estimator's CI covers the true lift."""
    users, n, n_pins = 3000, 6, 300
    rng = np.random.default_rng(1)
    rel_of = np.linspace(0, 1, n_pins)
    is_cold = np.arange(n_pins) % 2 == 0
    control = rng.integers(0, 150, size=(users, n))
    treatment = rng.integers(150, n_pins, size=(users, n))
    relevance = lambda u, items: np.where(items >= 0, rel_of[np.maximum(items, 0)], 0.0)  # noqa: E731
    feeds = {arm: (f, relevance(None, f), is_cold[f]) for arm, f in (("control", control), ("treatment", treatment))}
    cfg = ABConfig(feed_size=n, n_bootstrap=200, ope_epsilon=0.1, sessions=1)
    out = ope_compare(np.arange(users), feeds, relevance, is_cold, cfg, np.random.default_rng(2))
    for est in ("ips", "snips", "dr"):
        for reward in ("clicks", "repins"):
            lf = out["lifts"][est][reward]
            assert lf["status"] == "ok" and lf["covers_truth"], (est, reward, lf)
            assert lf["truth"] > 0.5  # the planted gap is large
            for arm in ("control", "treatment"):
                e = out["estimates"][est][reward][arm]
                assert e["ci95"][0] <= e["truth"] <= e["ci95"][1], (est, reward, arm, e)
    assert out["matched"]["control"] == pytest.approx(0.45 * users * n, rel=0.05)


def test_aggregated_estimator_equals_the_definitions_for_one_session() -> None:
    from eval.ope import estimate

    rng = np.random.default_rng(3)
    reward = (rng.random((50, 5)) < 0.3).astype(float)
    weight = np.where(rng.random((50, 5)) < 0.5, 1 / 0.45, 0.0)
    q = position_model(reward, reward.shape)
    a, b = weight * reward, weight
    assert estimate("ips", a, b, q[0], 1) == pytest.approx(ips(reward, weight).mean())
    assert estimate("snips", a, b, q[0], 1) == pytest.approx(snips(reward, weight))
    assert estimate("dr", a, b, q[0], 1) == pytest.approx(dr(reward, weight, q, q).mean())
    with pytest.raises(ValueError, match="unknown estimator"):
        estimate("dm", a, b, q[0], 1)
