"""Counterfactual (off-policy) evaluation of the A/B arms from the logs of a stochastic policy.

The simulator logs one feed per user from a **stochastic logging policy with known
propensities**: at each position k independently, the control's k-th pin with probability
``(1 - eps) / 2``, the treatment's k-th pin with ``(1 - eps) / 2``, a uniformly random pin of
the catalogue with ``eps`` (``ab.ope_epsilon``). The propensity of the logged pin ``a`` at k is

    mu(a | u, k) = (1 - eps)/2 [a == control_k] + (1 - eps)/2 [a == treatment_k] + eps / n_pins

(a pin at several positions is allowed: each slot is one draw). Clicks and repins of the logged
feed are drawn from the same position-based click model as the A/B arms. Each arm is a
deterministic ranking ``pi``; under the position-based model the value of a ranking is a sum
over positions, so the item-position estimators below are unbiased (IPS, DR) or consistent
(SNIPS); see Li et al. 2018 "Offline evaluation of ranking policies with click models" and
Swaminathan & Joachims 2015 (SNIPS), Dudik et al. 2011 (DR). With ``w = [a == pi_k] / mu``:

* **IPS**: ``V = 1/U sum_u sum_k w_uk r_uk``.
* **SNIPS**: ``V = sum_k (sum_u w_uk r_uk) / (sum_u w_uk)`` (self-normalised per position).
* **DR**: ``V = 1/U sum_u sum_k [q(k) + w_uk (r_uk - q(k))]`` with the reward model ``q(k)``
  = the mean logged reward at position k (a deliberately crude, position-only model: DR stays
  unbiased whatever the model, and a better model only lowers the variance).

With ``ab.sessions`` > 1 each user is logged in that many independent sessions; values are
per user-session and the bootstrap resamples users (their sessions move together). A lift
is ``insufficient data`` when fewer than ``ab.min_events`` rewarded slots match either arm.

The "online truth" each estimate is checked against is the expected reward per user of the
arm's own feed under the click model (what the A/B simulation's expected engagement is).
Open Bandit Pipeline implements the same estimators; it is not a dependency (its last release,
0.5.7, requires Python < 3.11: pip refuses it on our 3.11), so the three are implemented here
and tested against closed-form cases (tests/eval/test_ope.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from eval.stats import LEVEL, log_ratio_interval

if TYPE_CHECKING:
    from eval.config import ABConfig

ESTIMATORS = ("ips", "snips", "dr")
REWARDS = ("clicks", "repins", "fresh_repins")
_BLOCK = 200


def logging_policy(
    control: np.ndarray, treatment: np.ndarray, n_pins: int, epsilon: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one logged ``U x n`` feed per user and the propensity of each logged slot.

    Args:
        control, treatment: ``U x n`` feeds of the two arms (``-1`` = empty slot).
        n_pins: catalogue size (the uniform exploration draws from ``0..n_pins-1``).
        epsilon: exploration probability per slot.
        rng: the generator.
    """
    u = rng.random(control.shape)
    random_pin = rng.integers(0, n_pins, size=control.shape)
    half = (1.0 - epsilon) / 2.0
    logged = np.where(u < epsilon, random_pin, np.where(u < epsilon + half, control, treatment))
    return logged, propensity(logged, control, treatment, n_pins, epsilon)


def propensity(
    logged: np.ndarray, control: np.ndarray, treatment: np.ndarray, n_pins: int, epsilon: float
) -> np.ndarray:
    """``mu(a | u, k)`` of :func:`logging_policy` for the pins ``logged`` (``U x n``)."""
    half = (1.0 - epsilon) / 2.0
    explore = np.where(logged >= 0, epsilon / n_pins, 0.0)
    return half * (logged == control) + half * (logged == treatment) + explore


def ips(reward: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-user IPS contributions ``sum_k w_uk r_uk`` (their mean is the IPS estimate)."""
    return (weight * reward).sum(1)


def snips(reward: np.ndarray, weight: np.ndarray) -> float:
    """Self-normalised IPS value per user: ``sum_k sum_u w r / sum_u w`` (positions with no weight: 0)."""
    num, den = (weight * reward).sum(0), weight.sum(0)
    return float(np.sum(np.divide(num, den, out=np.zeros_like(num), where=den > 0)))


def dr(reward: np.ndarray, weight: np.ndarray, q_logged: np.ndarray, q_target: np.ndarray) -> np.ndarray:
    """Per-user doubly robust contributions ``sum_k q_target + w (r - q_logged)``."""
    return q_target.sum(1) + (weight * (reward - q_logged)).sum(1)


def position_model(reward: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The position-only reward model: the mean logged reward of each position, broadcast to ``shape``."""
    return np.broadcast_to(reward.mean(0)[None, :], shape)


def estimate(
    est: str, a: np.ndarray, b: np.ndarray, q: np.ndarray, sessions: int, w_users: np.ndarray | None = None
) -> float | np.ndarray:
    """One estimator's value per user-session from per-user sums over sessions.

    Args:
        est: ``ips``, ``snips`` or ``dr``.
        a: ``U x n`` per-user sums over sessions of ``w * r``.
        b: ``U x n`` per-user sums over sessions of ``w``.
        q: ``[n]`` the reward model per position (DR).
        sessions: sessions per user.
        w_users: ``b x U`` bootstrap weights (one value per replicate); None: the estimate.

    With one session these are :func:`ips`, :func:`snips` and :func:`dr` (tested).
    """
    single = w_users is None
    w = np.ones((1, a.shape[0])) if single else w_users
    norm = a.shape[0] * sessions
    if est == "ips":
        out = w @ a.sum(1) / norm
    elif est == "dr":
        out = float(q.sum()) + w @ (a - q[None, :] * b).sum(1) / norm
    elif est == "snips":
        num, den = w @ a, w @ b  # replicates x n
        out = np.sum(np.divide(num, den, out=np.zeros_like(num), where=den > 0), axis=1)
    else:
        raise ValueError(f"unknown estimator {est!r}; expected one of {ESTIMATORS}")
    return float(out[0]) if single else out


def _percentile(x: np.ndarray) -> list[float] | None:
    if not np.all(np.isfinite(x)):
        return None
    a = (1.0 - LEVEL) / 2
    return [float(np.quantile(x, a)), float(np.quantile(x, 1.0 - a))]


def ope_compare(
    users: np.ndarray,
    feeds: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    relevance: Callable[[np.ndarray, np.ndarray], np.ndarray],
    is_cold: np.ndarray,
    cfg: ABConfig,
    rng: np.random.Generator,
) -> dict[str, object]:
    """Log feeds from the stochastic policy, estimate both arms with IPS/SNIPS/DR, compare to the truth.

    Args:
        users: board per user.
        feeds: per arm ``(items, relevance, fresh)`` of the served ``U x n`` feeds.
        relevance: the relevance function (of the logged pins).
        is_cold: fresh flag per pin.
        cfg: the simulator (click model, ``ope_epsilon``, ``n_bootstrap``).
        rng: the logging policy's generator.

    Returns:
        ``{"policy", "epsilon", "truth", "estimates", "lifts", "matched"}``; per reward
        (``clicks``, ``repins``, ``fresh_repins`` per user) and estimator.
    """
    from eval.ab import engagement_probs

    c_items = feeds["control"][0]
    n_users, n = c_items.shape
    n_s = cfg.sessions
    shape = (n_users, n_s, n)
    per_session = {arm: np.broadcast_to(f[0][:, None, :], shape) for arm, f in feeds.items()}
    logged, mu = logging_policy(per_session["control"], per_session["treatment"], len(is_cold), cfg.ope_epsilon, rng)
    shown = logged >= 0
    flat = logged.reshape(n_users, n_s * n)
    rel = relevance(users, flat).reshape(shape)
    p_click, p_repin = engagement_probs(rel.reshape(n_users * n_s, n), n, cfg)
    p_click, p_repin = p_click.reshape(shape), p_repin.reshape(shape)
    clicks = (rng.random(shape) < p_click) & shown
    repins = clicks & (rng.random(shape) < p_repin)
    fresh = is_cold[np.maximum(logged, 0)] & shown
    rewards = {
        "clicks": clicks.astype(np.float64),
        "repins": repins.astype(np.float64),
        "fresh_repins": (repins & fresh).astype(np.float64),
    }
    truth: dict[str, dict[str, float]] = {r: {} for r in REWARDS}
    weights = {}
    for arm, (items, arm_rel, arm_fresh) in feeds.items():
        pc, pr = engagement_probs(arm_rel, n, cfg)
        pc = np.where(items >= 0, pc, 0.0)
        truth["clicks"][arm] = float(pc.sum()) / n_users
        truth["repins"][arm] = float((pc * pr).sum()) / n_users
        truth["fresh_repins"][arm] = float((pc * pr * arm_fresh).sum()) / n_users
        match = (logged == per_session[arm]) & shown
        weights[arm] = np.divide(match, mu, out=np.zeros(mu.shape), where=mu > 0)
    boot_w = np.concatenate(
        [
            rng.multinomial(n_users, np.full(n_users, 1.0 / n_users), size=min(_BLOCK, cfg.n_bootstrap - s)).astype(
                np.float64
            )
            for s in range(0, cfg.n_bootstrap, _BLOCK)
        ]
    )
    estimates: dict[str, dict] = {e: {} for e in ESTIMATORS}
    lifts: dict[str, dict] = {e: {} for e in ESTIMATORS}
    events: dict[str, dict[str, int]] = {r: {} for r in REWARDS}
    for r in REWARDS:
        q = rewards[r].mean(axis=(0, 1))  # the position-only reward model
        sums = {arm: ((weights[arm] * rewards[r]).sum(1), weights[arm].sum(1)) for arm in weights}
        events[r] = {arm: int(rewards[r][weights[arm] > 0].sum()) for arm in weights}
        t_lift = truth[r]["treatment"] / truth[r]["control"] - 1.0 if truth[r]["control"] > 0 else None
        few = min(events[r].values()) < cfg.min_events
        for e in ESTIMATORS:
            per = {arm: estimate(e, *sums[arm], q, n_s) for arm in sums}
            reps = {arm: estimate(e, *sums[arm], q, n_s, boot_w) for arm in sums}
            estimates[e][r] = {
                arm: {"value": per[arm], "ci95": _percentile(reps[arm]), "truth": truth[r][arm]} for arm in per
            }
            with np.errstate(divide="ignore", invalid="ignore"):
                log_reps = np.log(reps["treatment"] / reps["control"])
                log_r = np.log(per["treatment"] / per["control"]) if per["control"] > 0 else np.nan
            ci = None if few else log_ratio_interval(float(log_r), log_reps)
            lift = float(np.expm1(log_r)) if ci is not None else None
            lifts[e][r] = {
                "lift": lift,
                "ci95": list(ci) if ci is not None else None,
                "truth": t_lift,
                "covers_truth": (ci[0] <= t_lift <= ci[1]) if ci is not None and t_lift is not None else None,
                "events": [events[r]["control"], events[r]["treatment"]],
                "status": "ok" if ci is not None else "insufficient data",
            }
    return {
        "policy": "per slot: control's pin (1-eps)/2, treatment's pin (1-eps)/2, uniform random pin eps",
        "epsilon": cfg.ope_epsilon,
        "reward_model": "DR: mean logged reward per position",
        "truth": truth,
        "estimates": estimates,
        "lifts": lifts,
        "sessions": n_s,
        "matched": {arm: int((weights[arm] > 0).sum()) for arm in weights},
        "logged_events": {r: int(rewards[r].sum()) for r in REWARDS},
    }
