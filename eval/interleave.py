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


def team_draft(control: np.ndarray, treatment: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
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
        side = np.where(picks[0] < picks[1], CONTROL, np.where(picks[1] < picks[0], TREATMENT, coin[:, t].astype(np.int64)))
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
    """Per-user preference counts and the sign-test p-value."""

    wins: int
    losses: int
    ties: int
    preference: float | None  # wins / (wins + losses): share of users with a preference who prefer treatment
    delta: float  # (wins + ties / 2) / users - 1/2  (Chapelle et al. 2012); > 0 favours treatment
    p_value: float | None

    def to_dict(self) -> dict[str, object]:
        return {"wins": self.wins, "losses": self.losses, "ties": self.ties, "preference": self.preference,
                "delta": self.delta, "p_value": self.p_value}


def credit(team: np.ndarray, clicks: np.ndarray) -> InterleavingResult:
    """Score team-draft clicks: ``team`` and ``clicks`` are ``U x n`` (clicks bool)."""
    c = (clicks & (team == CONTROL)).sum(1)
    t = (clicks & (team == TREATMENT)).sum(1)
    wins, losses = int((t > c).sum()), int((t < c).sum())
    ties = len(c) - wins - losses
    decided = wins + losses
    p = float(binomtest(wins, decided, 0.5).pvalue) if decided else None
    return InterleavingResult(wins=wins, losses=losses, ties=ties, preference=wins / decided if decided else None,
                              delta=(wins + 0.5 * ties) / max(len(c), 1) - 0.5, p_value=p)
