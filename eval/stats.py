"""Paired statistics for the offline A/B test: ratio-metric lifts, bootstrap CIs, permutation p-values.

Every user sees both arms (a paired design). A rate such as CTR is a ratio of sums over users
(clicks / impressions). The relative lift is ``rate_T / rate_C - 1``.

* **95 % CI**: percentile bootstrap over users; each resample draws users with replacement and
  uses the *same* users for both arms (paired), recomputing both ratios of sums.
* **p-value**: paired sign-flip permutation test; under H0 (the arms are exchangeable for each
  user) each user's (control, treatment) counts are swapped with probability 1/2. The statistic
  is ``|log(rate_T / rate_C)|``; ``p = (1 + #{perm >= observed}) / (1 + n_permutations)``.

Resamples are drawn in blocks as multinomial/Bernoulli weight matrices (matrix products, no
loops over users) and shared by all lifts of one comparison.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np

_BLOCK = 200


@dataclass(frozen=True)
class Lift:
    """A treatment-vs-control relative lift. ``None`` fields: undefined (a zero control rate)."""

    control: float | None
    treatment: float | None
    lift: float | None
    ci95: tuple[float, float] | None
    p_value: float | None

    def to_dict(self) -> dict[str, object]:
        return {"control": self.control, "treatment": self.treatment, "lift": self.lift,
                "ci95": list(self.ci95) if self.ci95 is not None else None, "p_value": self.p_value}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


def _lift(nt: np.ndarray, dt: np.ndarray, nc: np.ndarray, dc: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return _ratio(nt, dt) / _ratio(nc, dc) - 1.0


Counts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""Per-user ``(treatment numerator, treatment denominator, control numerator, control denominator)``."""


def _stack(pairs: Mapping[Hashable, Counts]) -> np.ndarray:
    """``U x 4m`` float64 matrix: the four count columns of each of the m lifts."""
    return np.concatenate([np.stack(c, axis=1) for c in pairs.values()], axis=1).astype(np.float64)


def bootstrap_lifts(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n x m`` paired bootstrap replicates of the ratio-of-sums lifts of ``x`` (``U x 4m``).

    Every lift of a replicate uses the same resampled users.
    """
    users = x.shape[0]
    out = []
    for start in range(0, n, _BLOCK):
        b = min(_BLOCK, n - start)
        w = rng.multinomial(users, np.full(users, 1.0 / users), size=b).astype(np.float64)  # b x U
        s = (w @ x).reshape(b, -1, 4)
        out.append(_lift(s[..., 0], s[..., 1], s[..., 2], s[..., 3]))
    return np.concatenate(out)


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


def paired_lifts(pairs: Mapping[Hashable, Counts], n_bootstrap: int, n_permutations: int, rng: np.random.Generator
                 ) -> dict[Hashable, Lift]:
    """Lifts of ``sum(nt)/sum(dt)`` over ``sum(nc)/sum(dc)`` with paired bootstrap CIs and p-values.

    Args:
        pairs: per lift name, the per-user counts (same users, same order, in both arms).
        n_bootstrap: bootstrap resamples (shared by all lifts).
        n_permutations: sign-flip permutations (shared by all lifts).
        rng: the generator (seeded by the caller).
    """
    x = _stack(pairs)
    sums = x.sum(0).reshape(-1, 4)
    with np.errstate(divide="ignore", invalid="ignore"):
        rt, rc = sums[:, 0] / sums[:, 1], sums[:, 2] / sums[:, 3]
        observed = rt / rc - 1.0
    defined = np.isfinite(observed) & (sums[:, 1] > 0) & (sums[:, 3] > 0)
    boot = bootstrap_lifts(x, n_bootstrap, rng)
    counts = permutation_counts(x, np.where(defined, observed, 0.0), n_permutations, rng)
    out = {}
    for j, name in enumerate(pairs):
        ctl = float(rc[j]) if sums[j, 3] > 0 else None
        trt = float(rt[j]) if sums[j, 1] > 0 else None
        if not defined[j] or observed[j] <= -1.0:
            out[name] = Lift(control=ctl, treatment=trt, lift=float(observed[j]) if defined[j] else None,
                             ci95=None, p_value=None)
            continue
        b = boot[:, j][np.isfinite(boot[:, j])]
        ci = (float(np.percentile(b, 2.5)), float(np.percentile(b, 97.5))) if len(b) >= 0.9 * n_bootstrap else None
        out[name] = Lift(control=ctl, treatment=trt, lift=float(observed[j]), ci95=ci,
                         p_value=(1 + int(counts[j])) / (1 + n_permutations))
    return out
