"""A content-predicted popularity prior for cold pins (ALDI's popularity-aware transfer, simplified).

The student says *which* warm pins a cold pin resembles, not *how much* it will be saved. Warm
pins' popularity is partly predictable from their content (a new film by a known studio, a
bestseller's sequel); a ridge regression from the content embedding to ``log(1 + train saves)``,
fitted on the warm pins, gives every cold (or brand-new) pin a predicted popularity, standardised
over the graph's cold pins and clipped to ``[-CLIP, CLIP]``. The calibration adds ``weight x``
this z-score to cold scores, the weight chosen on validation with 0 in the grid (no prior).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLIP = 3.0


@dataclass(frozen=True)
class PopularityPrior:
    """``z(x) = clip(([x, 1] . coef - mean) / std)`` for content rows ``x``."""

    coef: np.ndarray  # d + 1 (the last entry is the intercept)
    mean: float
    std: float

    def __call__(self, content: np.ndarray) -> np.ndarray:
        if not len(self.coef):
            return np.zeros(len(content), np.float32)
        pred = content.astype(np.float64) @ self.coef[:-1] + self.coef[-1]
        return np.clip((pred - self.mean) / self.std, -CLIP, CLIP).astype(np.float32)

    @classmethod
    def none(cls) -> PopularityPrior:
        """The prior that is 0 for every pin."""
        return cls(np.zeros(0, np.float64), 0.0, 1.0)


def fit_prior(
    content: np.ndarray, degree: np.ndarray, warm: np.ndarray, cold: np.ndarray, ridge: float
) -> PopularityPrior:
    """Ridge fit of ``log1p(degree)`` on the warm pins' content; standardised over the ``cold`` pins.

    ``ridge`` is relative to the mean eigenvalue of ``X^T X`` (scale-free). Without warm or cold
    pins the prior is :meth:`PopularityPrior.none`.
    """
    if len(warm) < 2 or len(cold) < 2:
        return PopularityPrior.none()
    x = np.hstack([content[warm].astype(np.float64), np.ones((len(warm), 1))])
    y = np.log1p(np.asarray(degree, np.float64)[warm])
    gram = x.T @ x
    lam = ridge * np.trace(gram) / len(gram)
    coef = np.linalg.solve(gram + lam * np.eye(len(gram)), x.T @ y)
    pred = content[cold].astype(np.float64) @ coef[:-1] + coef[-1]
    std = float(pred.std())
    if not np.isfinite(std) or std < 1e-9:
        return PopularityPrior.none()
    return PopularityPrior(coef, float(pred.mean()), std)
