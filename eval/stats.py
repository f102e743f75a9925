"""Paired statistics for the offline A/B test: ratio-metric lifts, log-ratio bootstrap CIs, p-values.

Every user sees both arms (a paired design). A rate such as CTR is a ratio of sums over users
(clicks / impressions). The relative lift is ``R - 1`` with ``R = rate_T / rate_C``.

* **Headline lift** (``lift``): computed on the *expected* counts when the caller passes them
  (the engagement model's noise-free clicks / repins of the served feeds); otherwise on the
  observed counts. ``observed_lift`` is always the lift of the simulated (drawn) counts.
* **95 % CI** (``ci95``): log-ratio interval of one simulated experiment of this size:
  ``exp(log R_obs +- z_0.975 * SE) - 1`` where SE is the standard deviation of ``log R`` over
  paired bootstrap resamples of users (each resample draws users with replacement and uses
  the *same* users for both arms). It answers "how far from the truth could an experiment with
  these users and this much engagement land"; over seeds it covers the expected lift about
  95 % of the time (tests/eval/test_ab_stats.py).
* **expected_ci95**: the same interval on the expected counts, i.e. the uncertainty from which
  users were sampled only (no click noise).
* **insufficient data**: no lift and no CI when either arm has fewer than ``min_events``
  events (clicks, repins: the numerator of the rate) or when *any* bootstrap replicate is
  non-finite (a resample with a zero control rate: the honest upper bound is unbounded).
* **p-value**: paired sign-flip permutation test on the observed counts; under H0 each user's
  (control, treatment) counts are swapped with probability 1/2. Statistic ``|log R|``;
  ``p = (1 + #{perm >= observed}) / (1 + n_permutations)``.

Resamples are drawn in blocks as multinomial/Bernoulli weight matrices (matrix products, no
loops over users) and shared by all lifts of one comparison.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

_BLOCK = 200
LEVEL = 0.95
Z = float(norm.ppf(0.5 + LEVEL / 2))  # 1.95996...
OK, INSUFFICIENT, UNDEFINED = "ok", "insufficient data", "undefined"


@dataclass(frozen=True)
class Lift:
    """A treatment-vs-control relative lift. ``None`` fields: undefined or insufficient data."""

    control: float | None
    treatment: float | None
    lift: float | None
    ci95: tuple[float, float] | None
    p_value: float | None
    observed_lift: float | None = None
    expected_ci95: tuple[float, float] | None = None
    events: tuple[int, int] | None = None  # (control, treatment) events behind the rate
    status: str = OK
    reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        def lst(x: tuple[float, float] | None) -> list[float] | None:
            return list(x) if x is not None else None

        return {
            "control": self.control,
            "treatment": self.treatment,
            "lift": self.lift,
            "ci95": lst(self.ci95),
            "p_value": self.p_value,
            "observed_lift": self.observed_lift,
            "expected_ci95": lst(self.expected_ci95),
            "events": list(self.events) if self.events is not None else None,
            "status": self.status,
            "reason": self.reason,
        }


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


def _log_ratio(nt: np.ndarray, dt: np.ndarray, nc: np.ndarray, dc: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(_ratio(nt, dt) / _ratio(nc, dc))


Counts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""Per-user ``(treatment numerator, treatment denominator, control numerator, control denominator)``."""


def _stack(pairs: Mapping[Hashable, Counts]) -> np.ndarray:
    """``U x 4m`` float64 matrix: the four count columns of each of the m lifts."""
    return np.concatenate([np.stack(c, axis=1) for c in pairs.values()], axis=1).astype(np.float64)


def bootstrap_log_ratios(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n x m`` paired bootstrap replicates of ``log R`` of the ratio-of-sums lifts of ``x`` (``U x 4m``).

    Every lift of a replicate uses the same resampled users (weights ``w``: one multinomial
    draw of ``U`` users per replicate, applied to both arms).
    """
    users = x.shape[0]
    out = []
    for start in range(0, n, _BLOCK):
        b = min(_BLOCK, n - start)
        w = rng.multinomial(users, np.full(users, 1.0 / users), size=b).astype(np.float64)  # b x U
        s = (w @ x).reshape(b, -1, 4)
        out.append(_log_ratio(s[..., 0], s[..., 1], s[..., 2], s[..., 3]))
    return np.concatenate(out)


def bootstrap_lifts(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n x m`` paired bootstrap replicates of the lifts ``R - 1`` (see :func:`bootstrap_log_ratios`)."""
    return np.expm1(bootstrap_log_ratios(x, n, rng))


def log_ratio_interval(log_r: float, replicates: np.ndarray, z: float = Z) -> tuple[float, float] | None:
    """``exp(log_r +- z * sd(replicates)) - 1``; None when a replicate is non-finite."""
    if len(replicates) < 2 or not np.all(np.isfinite(replicates)) or not np.isfinite(log_r):
        return None
    se = float(np.std(replicates, ddof=1))
    return float(np.expm1(log_r - z * se)), float(np.expm1(log_r + z * se))


def permutation_counts(x: np.ndarray, observed: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Per lift, how many of ``n`` sign-flip permutations are at least as extreme as ``observed``."""
    t_minus_c = (x[:, 0::4] - x[:, 2::4], x[:, 1::4] - x[:, 3::4])
    base = (x[:, 2::4].sum(0), x[:, 3::4].sum(0))  # control sums
    total = (x[:, 0::4].sum(0) + x[:, 2::4].sum(0), x[:, 1::4].sum(0) + x[:, 3::4].sum(0))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.abs(np.log1p(observed))
    count = np.zeros(len(observed), dtype=np.int64)
    for start in range(0, n, _BLOCK):
        b = min(_BLOCK, n - start)
        keep = (rng.random((b, x.shape[0])) < 0.5).astype(np.float64)  # 1 = user keeps its arms, 0 = swapped
        # "treatment" sums = control sums + (t - c) of the users that keep their arms
        tn, td = base[0] + keep @ t_minus_c[0], base[1] + keep @ t_minus_c[1]
        cn, cd = total[0] - tn, total[1] - td
        with np.errstate(divide="ignore", invalid="ignore"):
            perm = np.abs(np.log(_ratio(tn, td) / _ratio(cn, cd)))
        count += np.sum(~(perm < stat - 1e-12), axis=0)  # NaN (undefined) counts as extreme
    return count


def paired_lifts(
    pairs: Mapping[Hashable, Counts],
    n_bootstrap: int,
    n_permutations: int,
    rng: np.random.Generator,
    expected: Mapping[Hashable, Counts] | None = None,
    events: Mapping[Hashable, tuple[int, int]] | None = None,
    min_events: int = 0,
) -> dict[Hashable, Lift]:
    """Lifts of ``sum(nt)/sum(dt)`` over ``sum(nc)/sum(dc)`` with paired log-ratio CIs and p-values.

    Args:
        pairs: per lift name, the per-user observed counts (same users, same order, both arms).
        n_bootstrap: bootstrap resamples (shared by all lifts).
        n_permutations: sign-flip permutations (shared by all lifts).
        rng: the generator (seeded by the caller).
        expected: per lift name, the per-user expected counts; the headline ``lift`` and the
            rates ``control`` / ``treatment`` are computed on them (default: the observed).
        events: per lift name, ``(control, treatment)`` event counts; default: the observed
            numerator sums.
        min_events: fewer events in either arm -> ``insufficient data`` (no lift, no CI).
    """
    expected = expected if expected is not None else pairs
    x, e = _stack(pairs), _stack({k: expected[k] for k in pairs})
    sums, esums = x.sum(0).reshape(-1, 4), e.sum(0).reshape(-1, 4)
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = sums[:, 0] / sums[:, 1] / (sums[:, 2] / sums[:, 3]) - 1.0
        rt, rc = esums[:, 0] / esums[:, 1], esums[:, 2] / esums[:, 3]
        exp_lift = rt / rc - 1.0
    defined = np.isfinite(exp_lift) & (esums[:, 1] > 0) & (esums[:, 3] > 0) & (exp_lift > -1.0)
    obs_ok = np.isfinite(observed) & (observed > -1.0)
    boot = bootstrap_log_ratios(np.hstack([x, e]), n_bootstrap, rng)
    m = len(pairs)
    boot_obs, boot_exp = boot[:, :m], boot[:, m:]
    counts = permutation_counts(x, np.where(obs_ok, observed, 0.0), n_permutations, rng)
    out = {}
    for j, name in enumerate(pairs):
        ev = events[name] if events is not None else (int(round(sums[j, 2])), int(round(sums[j, 0])))
        ev = (int(ev[0]), int(ev[1]))
        ctl = float(rc[j]) if esums[j, 3] > 0 else None
        trt = float(rt[j]) if esums[j, 1] > 0 else None
        obs = float(observed[j]) if obs_ok[j] else None
        if not defined[j]:
            out[name] = Lift(
                control=ctl,
                treatment=trt,
                lift=None,
                ci95=None,
                p_value=None,
                observed_lift=obs,
                events=ev,
                status=UNDEFINED,
                reason="the control served no pin of this slice or its rate is 0",
            )
            continue
        reason = None
        if min(ev) < min_events:
            reason = f"{ev[0]} control / {ev[1]} treatment events, fewer than {min_events}"
        elif not obs_ok[j] or not np.all(np.isfinite(boot_obs[:, j])):
            bad = int(np.sum(~np.isfinite(boot_obs[:, j])))
            reason = f"{bad} of {n_bootstrap} bootstrap replicates are non-finite (the upper bound is unbounded)"
        if reason is not None:
            out[name] = Lift(
                control=ctl,
                treatment=trt,
                lift=None,
                ci95=None,
                p_value=None,
                observed_lift=obs,
                events=ev,
                status=INSUFFICIENT,
                reason=reason,
            )
            continue
        out[name] = Lift(
            control=ctl,
            treatment=trt,
            lift=float(exp_lift[j]),
            ci95=log_ratio_interval(float(np.log1p(observed[j])), boot_obs[:, j]),
            p_value=(1 + int(counts[j])) / (1 + n_permutations),
            observed_lift=obs,
            expected_ci95=log_ratio_interval(float(np.log1p(exp_lift[j])), boot_exp[:, j]),
            events=ev,
        )
    return out


def bootstrap_mean_ci(values: np.ndarray, n: int, rng: np.random.Generator) -> tuple[float, float] | None:
    """Percentile 95 % CI of the mean of per-user ``values`` (bootstrap over users)."""
    if len(values) < 2:
        return None
    users = len(values)
    reps = []
    for start in range(0, n, _BLOCK):
        b = min(_BLOCK, n - start)
        w = rng.multinomial(users, np.full(users, 1.0 / users), size=b).astype(np.float64)
        reps.append(w @ values.astype(np.float64) / users)
    r = np.concatenate(reps)
    a = (1.0 - LEVEL) / 2
    return float(np.quantile(r, a)), float(np.quantile(r, 1.0 - a))
