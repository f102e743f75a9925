"""Team-draft interleaving (Radlinski et al., 2008), vectorised over users.

Each round, the team with fewer picks so far (a seeded coin decides ties) adds its highest
ranked pin that is not already in the merged feed. Clicks on a pin credit the team that placed
it; a user prefers the arm whose team got more clicks. The loop runs over feed positions only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

CONTROL, TREATMENT = 0, 1


def team_draft(
    control: np.ndarray, treatment: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two rankings per user into a feed of ``n`` pins.

    Args:
        control, treatment: ``U x M`` ranked pin ids (``-1`` = no pin), ``M >= n`` (``2n`` is
            always enough: each team skips at most the other team's picks).
        n: feed length.
        rng: coin flips.

    Returns:
        ``(items, team)``: ``U x n`` pin ids (``-1`` when both lists ran out) and the team
        (``0`` control, ``1`` treatment, ``-1`` none) that placed each pin.
    """
    users, depth = control.shape
    lists = np.stack([control, treatment])  # 2 x U x M
    pad = np.full((2, users, 1), -1, dtype=lists.dtype)
    lists = np.concatenate([lists, pad], axis=2)  # pointer == depth reads -1
    ptr = np.zeros((2, users), dtype=np.int64)
    picks = np.zeros((2, users), dtype=np.int64)
    items = np.full((users, n), -1, dtype=np.int64)
    team = np.full((users, n), -1, dtype=np.int64)
    rows = np.arange(users)
    coin = rng.random((users, n)) < 0.5
    for t in range(n):
        side = np.where(
            picks[0] < picks[1], CONTROL, np.where(picks[1] < picks[0], TREATMENT, coin[:, t].astype(np.int64))
        )
        cand = _next_new(lists, ptr, side, items[:, :t], depth)
        side = np.where(cand < 0, 1 - side, side)  # a team that ran out of pins passes its turn
        cand = _next_new(lists, ptr, side, items[:, :t], depth)
        placed = cand >= 0
        items[:, t] = cand
        team[:, t] = np.where(placed, side, -1)
        ptr[side, rows] = np.minimum(ptr[side, rows] + placed, depth)
        picks[side, rows] += placed
    return items, team


def _next_new(lists: np.ndarray, ptr: np.ndarray, side: np.ndarray, placed: np.ndarray, depth: int) -> np.ndarray:
    """Advance each user's ``side`` pointer past pins already in ``placed``; return the candidates."""
    rows = np.arange(lists.shape[1])
    while True:  # at most M steps
        cand = lists[side, rows, ptr[side, rows]]
        dup = (cand >= 0) & (placed == cand[:, None]).any(axis=1)
        if not dup.any():
            return cand
        ptr[side[dup], rows[dup]] = np.minimum(ptr[side[dup], rows[dup]] + 1, depth)


@dataclass(frozen=True)
class InterleavingResult:
    """Per-user preference counts, the sign-test p-value and bootstrap CIs over users."""

    wins: int
    losses: int
    ties: int
    preference: float | None  # wins / (wins + losses): share of users with a preference who prefer treatment
    delta: float  # (wins + ties / 2) / users - 1/2  (Chapelle et al. 2012); > 0 favours treatment
    p_value: float | None
    delta_ci95: tuple[float, float] | None = None  # percentile bootstrap over users
    clicks: tuple[int, int] = (0, 0)  # (control, treatment) credited clicks
    expected_share: float | None = None  # treatment's share of the expected credited clicks
    expected_share_ci95: tuple[float, float] | None = None
    status: str = "ok"  # "insufficient data" when fewer than min_events users have a preference

    def to_dict(self) -> dict[str, object]:
        def lst(x: tuple[float, float] | None) -> list[float] | None:
            return list(x) if x is not None else None

        return {
            "wins": self.wins,
            "losses": self.losses,
            "ties": self.ties,
            "preference": self.preference,
            "delta": self.delta,
            "p_value": self.p_value,
            "delta_ci95": lst(self.delta_ci95),
            "clicks": list(self.clicks),
            "expected_share": self.expected_share,
            "expected_share_ci95": lst(self.expected_share_ci95),
            "status": self.status,
        }


def credit(
    team: np.ndarray,
    clicks: np.ndarray,
    rng: np.random.Generator | None = None,
    n_bootstrap: int = 0,
    p_click: np.ndarray | None = None,
    min_events: int = 0,
) -> InterleavingResult:
    """Score team-draft clicks: ``team`` and ``clicks`` are ``U x n`` (clicks: bool or counts).

    Args:
        team, clicks: the merged feeds' teams and the simulated clicks.
        rng, n_bootstrap: bootstrap over users for ``delta_ci95`` (none when ``n_bootstrap`` is 0).
        p_click: ``U x n`` expected clicks of the merged feeds (for ``expected_share``).
        min_events: fewer users with a preference -> ``status = "insufficient data"``, no CI.
    """
    from eval.stats import INSUFFICIENT, OK, bootstrap_log_ratios, bootstrap_mean_ci

    c = (clicks * (team == CONTROL)).sum(1)
    t = (clicks * (team == TREATMENT)).sum(1)
    wins, losses = int((t > c).sum()), int((t < c).sum())
    ties = len(c) - wins - losses
    decided = wins + losses
    p = float(binomtest(wins, decided, 0.5).pvalue) if decided else None
    status = OK if decided >= max(min_events, 1) else INSUFFICIENT
    ci = share = share_ci = None
    if status == OK and rng is not None and n_bootstrap:
        ci = bootstrap_mean_ci(np.sign(t - c) / 2.0, n_bootstrap, rng)  # mean of sign/2 == delta
    if p_click is not None:
        ec = (p_click * (team == CONTROL)).sum(1)
        et = (p_click * (team == TREATMENT)).sum(1)
        total = float(ec.sum() + et.sum())
        share = float(et.sum()) / total if total > 0 else None
        if share is not None and 0 < share < 1 and rng is not None and n_bootstrap:
            # share = 1 / (1 + C/T): an interval of log(T/C) maps monotonically onto the share
            x = np.stack([et, np.ones_like(et), ec, np.ones_like(ec)], axis=1)
            reps = bootstrap_log_ratios(x, n_bootstrap, rng)[:, 0]
            if np.all(np.isfinite(reps)):
                lo, hi = np.quantile(reps, [0.025, 0.975])
                share_ci = (float(1 / (1 + np.exp(-lo))), float(1 / (1 + np.exp(-hi))))
    return InterleavingResult(
        wins=wins,
        losses=losses,
        ties=ties,
        preference=wins / decided if decided else None,
        delta=(wins + 0.5 * ties) / max(len(c), 1) - 0.5,
        p_value=p,
        delta_ci95=ci,
        clicks=(int(c.sum()), int(t.sum())),
        expected_share=share,
        expected_share_ci95=share_ci,
        status=status,
    )
