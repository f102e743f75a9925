"""Offline A/B simulator: two arms serve feeds to simulated users; a seeded engagement model clicks.

* **Users** = the boards with held-out saves in the scored split (a seeded sample with
  ``ab.max_users``). Each arm serves each user its top ``feed_size`` pins, with the board's
  train (and val, when scoring test) saves masked, exactly as in the offline protocol.
* **Relevance** r in [0, 1]: on synthetic graphs the planted affinity of the board for the pin
  (``eval.recommenders.oracle``) divided by the board's best affinity; on real data 1 for the
  board's held-out saves, 0 otherwise.
* **Engagement**: position i (1-based) is examined with ``examination(i)``; an examined pin is
  clicked with ``click_min + (click_max - click_min) r``; a click becomes a save ("repin")
  with ``repin_min + (repin_max - repin_min) r``. Every draw comes from a seeded generator;
  each arm has its own stream.
* **Slices**: ``fresh`` = cold pins (no train save), ``warm``, ``all``. Per arm and slice:
  impressions, clicks, repins, CTR = clicks / impressions, repin rate = repins / impressions,
  share of the feed; the noise-free expected CTR / repin rate are reported too.
* **Lifts** (treatment / control - 1) with paired bootstrap 95 % CIs and permutation p-values
  (``eval.stats``): CTR, repin rate, repins per user (volume), fresh share. Optionally
  team-draft interleaving of the two rankings (``eval.interleave``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from eval.config import ABConfig
from eval.interleave import credit, team_draft
from eval.protocol import Task, batch_rows, rank_top, tie_break_permutation
from eval.recommenders.base import Recommender
from eval.stats import paired_lifts
from graph_build.graph import PinBoardGraph

log = logging.getLogger(__name__)
AB_SLICES = ("fresh", "warm", "all")
Relevance = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``relevance(users U, items U x N) -> U x N`` float in [0, 1] (items ``-1`` -> 0)."""


def examination(n: int, kind: str) -> np.ndarray:
    """Examination probability of positions ``1..n``."""
    pos = np.arange(1, n + 1, dtype=np.float64)
    if kind == "log2":
        return 1.0 / np.log2(pos + 1.0)
    if kind == "reciprocal":
        return 1.0 / pos
    if kind == "uniform":
        return np.ones(n)
    raise ValueError(f"ab.examination: expected log2, reciprocal or uniform, got {kind!r}")


def planted_relevance(graph: PinBoardGraph) -> Relevance:
    """Planted affinity of each (board, pin) over the board's best affinity (synthetic graphs)."""
    from eval.recommenders.oracle import board_affinity_vectors, load_truth

    t = load_truth(graph)
    aff = board_affinity_vectors(graph, t)
    best = np.maximum(aff.max(axis=1), 1e-12)
    group = t.pin_style * t.niches_per_style + t.pin_niche

    def rel(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        r = aff[users[:, None], group[np.maximum(items, 0)]] / best[users, None]
        return np.where(items >= 0, r, 0.0)

    return rel


def held_out_relevance(graph: PinBoardGraph, split: str) -> Relevance:
    """1 for a board's saves in ``split`` (the held-out ground truth of real data), else 0."""
    pin, board = graph.edges(split)
    keys = np.sort(board * np.int64(graph.n_pins) + pin)

    def rel(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        q = users[:, None].astype(np.int64) * graph.n_pins + items
        pos = np.minimum(np.searchsorted(keys, q), max(len(keys) - 1, 0))
        hit = (keys[pos] == q) if len(keys) else np.zeros(q.shape, dtype=bool)
        return (hit & (items >= 0)).astype(np.float64)

    return rel


def serve_feeds(model: Recommender, graph: PinBoardGraph, task: Task, users: np.ndarray, depth: int,
                batch_size: int, seed: int) -> np.ndarray:
    """``U x depth`` top pins per user from a fitted model (``-1`` pads short lists).

    Args:
        model: the arm's fitted recommender.
        graph: the evaluated graph.
        task: the board -> pin task (its masks: train, and val when scoring test).
        users: board indices.
        depth: list length.
        batch_size: users per batched matrix product.
        seed: tie-breaking seed (the protocol's).
    """
    perm = tie_break_permutation(graph.n_pins, seed)
    rows = batch_rows(batch_size, graph.n_pins)
    out = []
    for start in range(0, len(users), rows):
        q = users[start:start + rows]
        _, excluded = task.batch(q)
        scores = model.score_boards(q)
        scores[excluded] = -torch.inf
        vals, top = rank_top(scores, depth, perm)
        ids = torch.where(torch.isfinite(vals), top, -1).numpy()
        if ids.shape[1] < depth:
            ids = np.pad(ids, ((0, 0), (0, depth - ids.shape[1])), constant_values=-1)
        out.append(ids)
    return np.concatenate(out) if out else np.zeros((0, depth), dtype=np.int64)


@dataclass
class Engagement:
    """Per-user counts of one arm, ``U x 3`` for the slices (fresh, warm, all), plus expectations."""

    impressions: np.ndarray
    clicks: np.ndarray
    repins: np.ndarray
    expected_clicks: np.ndarray
    expected_repins: np.ndarray


def _by_slice(values: np.ndarray, fresh: np.ndarray, shown: np.ndarray) -> np.ndarray:
    v = values * shown
    return np.stack([(v * fresh).sum(1), (v * ~fresh).sum(1), v.sum(1)], axis=1)


def engagement_probs(rel: np.ndarray, n: int, cfg: ABConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(P(click), P(repin | click))`` for ``U x n`` relevances at positions ``1..n``."""
    p_click = examination(n, cfg.examination)[None, :] * (cfg.click_min + (cfg.click_max - cfg.click_min) * rel)
    p_repin = cfg.repin_min + (cfg.repin_max - cfg.repin_min) * rel
    return p_click, p_repin


def simulate(items: np.ndarray, rel: np.ndarray, fresh: np.ndarray, cfg: ABConfig, rng: np.random.Generator,
             ) -> tuple[Engagement, np.ndarray]:
    """Draw clicks and repins for ``U x n`` feeds; return the per-user slice counts and the click matrix.

    Args:
        items: pin ids per user and position (``-1`` = empty slot, not an impression).
        rel: relevance in [0, 1] of each served pin.
        fresh: whether each served pin is fresh (cold).
        cfg: the engagement model.
        rng: this arm's generator.
    """
    shown = items >= 0
    p_click, p_repin = engagement_probs(rel, items.shape[1], cfg)
    clicks = (rng.random(items.shape) < p_click) & shown
    repins = clicks & (rng.random(items.shape) < p_repin)
    eng = Engagement(impressions=_by_slice(np.ones(items.shape), fresh, shown), clicks=_by_slice(clicks, fresh, shown),
                     repins=_by_slice(repins, fresh, shown), expected_clicks=_by_slice(p_click, fresh, shown),
                     expected_repins=_by_slice(p_click * p_repin, fresh, shown))
    return eng, clicks


def arm_summary(e: Engagement) -> dict[str, dict[str, float | int | None]]:
    """Totals and rates per slice of one arm."""
    out = {}
    total_imp = e.impressions[:, 2].sum()
    for j, s in enumerate(AB_SLICES):
        imp = float(e.impressions[:, j].sum())
        rate = (lambda x: float(x) / imp if imp else None)  # noqa: E731
        out[s] = {"impressions": int(imp), "clicks": int(e.clicks[:, j].sum()), "repins": int(e.repins[:, j].sum()),
                  "ctr": rate(e.clicks[:, j].sum()), "repin_rate": rate(e.repins[:, j].sum()),
                  "expected_ctr": rate(e.expected_clicks[:, j].sum()),
                  "expected_repin_rate": rate(e.expected_repins[:, j].sum()),
                  "share": imp / total_imp if total_imp else None}
    return out


def compare(control: Engagement, treatment: Engagement, cfg: ABConfig, rng: np.random.Generator) -> dict[str, dict]:
    """Lifts per slice: ctr, repin_rate (per impression), repins (per user), share (of impressions)."""
    ones = np.ones(len(control.impressions))
    pairs = {}
    for j, s in enumerate(AB_SLICES):
        t, c = treatment, control
        pairs[(s, "ctr")] = (t.clicks[:, j], t.impressions[:, j], c.clicks[:, j], c.impressions[:, j])
        pairs[(s, "repin_rate")] = (t.repins[:, j], t.impressions[:, j], c.repins[:, j], c.impressions[:, j])
        pairs[(s, "repins")] = (t.repins[:, j], ones, c.repins[:, j], ones)
        pairs[(s, "share")] = (t.impressions[:, j], t.impressions[:, 2], c.impressions[:, j], c.impressions[:, 2])
    lifts = paired_lifts(pairs, cfg.n_bootstrap, cfg.n_permutations, rng)
    out: dict[str, dict] = {s: {} for s in AB_SLICES}
    for (s, m), lift in lifts.items():
        out[s][m] = lift.to_dict()
    return out


def simulate_ab(users: np.ndarray, control: np.ndarray, treatment: np.ndarray, relevance: Relevance,
                is_cold: np.ndarray, cfg: ABConfig, seed: int) -> dict[str, object]:
    """Simulate both arms on the same users and compare them.

    Args:
        users: board index per user.
        control, treatment: ``U x M`` ranked pin ids per arm (``M >= feed_size``; ``2 feed_size``
            for interleaving), ``-1`` = nothing left to serve.
        relevance: the relevance function.
        is_cold: fresh flag per pin.
        cfg: the simulator settings.
        seed: the seed; arms, statistics and interleaving use separate streams.

    Returns:
        ``{"users", "arms": {"control", "treatment"}, "lifts", "interleaving"}``.
    """
    n = cfg.feed_size
    s_control, s_treat, s_stats, s_inter = np.random.SeedSequence(seed).spawn(4)
    eng = {}
    for arm, ranked, ss in (("control", control, s_control), ("treatment", treatment, s_treat)):
        items = ranked[:, :n]
        fresh = is_cold[np.maximum(items, 0)] & (items >= 0)
        eng[arm], _ = simulate(items, relevance(users, items), fresh, cfg, np.random.default_rng(ss))
    result: dict[str, object] = {
        "users": int(len(users)),
        "arms": {arm: arm_summary(e) for arm, e in eng.items()},
        "lifts": compare(eng["control"], eng["treatment"], cfg, np.random.default_rng(s_stats)),
        "interleaving": None,
    }
    if cfg.interleaving:
        rng = np.random.default_rng(s_inter)
        items, team = team_draft(control, treatment, n, rng)
        fresh = is_cold[np.maximum(items, 0)] & (items >= 0)
        _, clicks = simulate(items, relevance(users, items), fresh, cfg, rng)
        result["interleaving"] = credit(team, clicks).to_dict()
    return result


def metrics_section(control: str, treatment: str, result: dict) -> dict[str, object]:
    """The ``ab`` block of metrics.json (contract keys only)."""
    out: dict[str, object] = {"control": control, "treatment": treatment}
    lifts = result["lifts"]
    for s in ("fresh", "warm"):
        out[s] = {"repin_rate_lift": lifts[s]["repin_rate"]["lift"], "repin_rate_ci95": lifts[s]["repin_rate"]["ci95"],
                  "ctr_lift": lifts[s]["ctr"]["lift"], "ctr_ci95": lifts[s]["ctr"]["ci95"]}
    return out
