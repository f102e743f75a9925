"""Offline A/B simulator: planted lifts are recovered within the CI, nulls are not significant."""

from __future__ import annotations

import numpy as np
import pytest

from eval.ab import engagement_probs, examination, held_out_relevance, planted_relevance, simulate_ab
from eval.config import ABConfig
from eval.interleave import credit, team_draft
from eval.stats import paired_lifts
from graph_build.graph import PinBoardGraph

CFG = ABConfig(feed_size=10, n_bootstrap=400, n_permutations=400, interleaving=False)


def _planted_setup(users: int, seed: int):
    """Pins 0..99 fresh with relevance 0.2 (control's) or 0.5 (treatment's); pins 100.. warm with relevance 0.3.

    Feeds: positions 0-3 fresh, 4-9 warm, in both arms; only the fresh pins differ.
    """
    rng = np.random.default_rng(seed)
    n_pins = 400
    is_cold = np.arange(n_pins) < 200
    rel_of = np.where(np.arange(n_pins) < 100, 0.2, np.where(np.arange(n_pins) < 200, 0.5, 0.3))
    fresh_c = rng.integers(0, 100, size=(users, 4))
    fresh_t = rng.integers(100, 200, size=(users, 4))
    warm = rng.integers(200, n_pins, size=(users, 6))
    control = np.hstack([fresh_c, warm])
    treatment = np.hstack([fresh_t, warm])
    relevance = lambda u, items: rel_of[items]  # noqa: E731
    return np.arange(users), control, treatment, relevance, is_cold, rel_of


def _expected_lift(control, treatment, rel_of, cfg, cols, repin: bool) -> float:
    """Noise-free lift of CTR (or repin rate) from the engagement model on the slice's columns."""
    def rate(items):
        pc, pr = engagement_probs(rel_of[items], items.shape[1], cfg)
        pc, pr = pc[:, cols], pr[:, cols]
        return (pc * pr).sum() if repin else pc.sum()

    return rate(treatment) / rate(control) - 1.0


def test_planted_fresh_lift_is_recovered_within_its_ci() -> None:
    users, control, treatment, relevance, is_cold, rel_of = _planted_setup(4000, seed=0)
    res = simulate_ab(users, control, treatment, relevance, is_cold, CFG, seed=0)
    fresh = [0, 1, 2, 3]
    for metric, repin in (("ctr", False), ("repin_rate", True)):
        truth = _expected_lift(control, treatment, rel_of, CFG, fresh, repin)
        d = res["lifts"]["fresh"][metric]
        assert d["ci95"][0] <= truth <= d["ci95"][1], (metric, truth, d)
        assert d["p_value"] < 0.01 and d["ci95"][0] > 0
    # CTR: 0.02 + 0.28 * 0.5 vs 0.02 + 0.28 * 0.2 at the same positions -> +122 %
    assert _expected_lift(control, treatment, rel_of, CFG, fresh, False) == pytest.approx(0.16 / 0.076 - 1)
    # warm pins are served identically: no lift, CI covers 0
    warm = res["lifts"]["warm"]["ctr"]
    assert warm["ci95"][0] <= 0.0 <= warm["ci95"][1]
    assert res["arms"]["treatment"]["fresh"]["share"] == pytest.approx(0.4)


def test_ci_coverage_of_a_planted_lift_over_seeds() -> None:
    """The 95 % CI should cover the true lift in most independent replications (not only one lucky seed)."""
    cfg = ABConfig(feed_size=10, n_bootstrap=200, n_permutations=20, interleaving=False)
    users, control, treatment, relevance, is_cold, rel_of = _planted_setup(1500, seed=1)
    truth = _expected_lift(control, treatment, rel_of, cfg, [0, 1, 2, 3], False)
    covered = []
    for seed in range(30):
        d = simulate_ab(users, control, treatment, relevance, is_cold, cfg, seed=seed)["lifts"]["fresh"]["ctr"]
        covered.append(d["ci95"][0] <= truth <= d["ci95"][1])
    assert np.mean(covered) >= 0.8


def test_identical_arms_are_rarely_significant() -> None:
    """A/A test: the false-positive rate at p < 0.05 and the CI coverage of 0 stay near nominal."""
    cfg = ABConfig(feed_size=10, n_bootstrap=200, n_permutations=200, interleaving=False)
    users, control, _, relevance, is_cold, _ = _planted_setup(1000, seed=2)
    p, covered = [], []
    for seed in range(20):
        lifts = simulate_ab(users, control, control.copy(), relevance, is_cold, cfg, seed=seed)["lifts"]
        for s in ("fresh", "warm"):
            d = lifts[s]["ctr"]
            p.append(d["p_value"])
            covered.append(d["ci95"][0] <= 0.0 <= d["ci95"][1])
    assert np.mean(np.array(p) < 0.05) <= 0.15 and np.mean(covered) >= 0.85


def test_paired_lifts_handle_an_empty_control_slice() -> None:
    zeros, ones = np.zeros(50), np.ones(50)
    half = (np.arange(50) % 2).astype(float)
    d = paired_lifts({"empty": (ones, ones, zeros, zeros), "zero_rate": (ones, ones, zeros, ones),
                      "ok": (ones, ones, half, ones)}, 50, 50, np.random.default_rng(0))
    assert d["empty"].lift is None and d["empty"].ci95 is None and d["empty"].control is None
    assert d["empty"].treatment == 1.0
    assert d["zero_rate"].lift is None and d["zero_rate"].control == 0.0
    assert d["ok"].lift == pytest.approx(1.0) and d["ok"].p_value < 0.05


def test_simulation_is_seeded() -> None:
    users, control, treatment, relevance, is_cold, _ = _planted_setup(300, seed=4)
    a = simulate_ab(users, control, treatment, relevance, is_cold, CFG, seed=5)
    b = simulate_ab(users, control, treatment, relevance, is_cold, CFG, seed=5)
    c = simulate_ab(users, control, treatment, relevance, is_cold, CFG, seed=6)
    assert a == b and a != c


def test_team_draft_is_a_fair_duplicate_free_merge() -> None:
    rng = np.random.default_rng(0)
    a = np.stack([rng.permutation(30)[:20] for _ in range(200)])
    b = np.stack([rng.permutation(30)[:20] for _ in range(200)])
    items, team = team_draft(a, b, 10, np.random.default_rng(1))
    for row_items, row_team, ra, rb in zip(items, team, a, b):
        assert len(set(row_items.tolist())) == 10
        assert abs((row_team == 0).sum() - (row_team == 1).sum()) <= 1
        # each team's picks appear in its own ranking order
        for lst, t in ((ra, 0), (rb, 1)):
            pos = [list(lst).index(x) for x in row_items[row_team == t]]
            assert pos == sorted(pos)
    short = np.array([[5, -1, -1, -1]])
    items, team = team_draft(short, np.array([[1, 2, 3, 4]]), 4, np.random.default_rng(0))
    assert sorted(items[0].tolist()) == [1, 2, 3, 5] and (team[0] >= 0).all()


def test_interleaving_detects_the_better_arm() -> None:
    users, control, treatment, relevance, is_cold, _ = _planted_setup(2000, seed=5)
    cfg = ABConfig(feed_size=10, n_bootstrap=100, n_permutations=100, interleaving=True)
    wide = lambda x: np.hstack([x, x[:, ::-1] + 0])  # noqa: E731  (2 x feed depth)
    res = simulate_ab(users, wide(control), wide(treatment), relevance, is_cold, cfg, seed=0)
    il = res["interleaving"]
    assert il["wins"] > il["losses"] and il["p_value"] < 0.01 and il["delta"] > 0
    same = credit(np.zeros((3, 2), dtype=int), np.zeros((3, 2), dtype=bool))
    assert same.ties == 3 and same.p_value is None


def test_relevance_models(graph: PinBoardGraph) -> None:
    pin, board = graph.edges("test")
    rel = held_out_relevance(graph, "test")
    items = np.stack([pin[:5], (pin[:5] + 1) % graph.n_pins, np.full(5, -1)], axis=1)
    r = rel(board[:5], items)
    assert (r[:, 0] == 1).all() and (r[:, 2] == 0).all()
    planted = planted_relevance(graph)
    allp = np.tile(np.arange(graph.n_pins), (10, 1))
    r = planted(np.arange(10), allp)
    assert r.min() >= 0 and np.allclose(r.max(axis=1), 1.0)


def test_examination_curves() -> None:
    assert examination(3, "log2") == pytest.approx([1.0, 1 / np.log2(3), 0.5])
    assert examination(2, "reciprocal") == pytest.approx([1.0, 0.5])
    with pytest.raises(ValueError):
        examination(2, "linear")
