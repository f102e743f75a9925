"""Offline A/B simulator: planted lifts are recovered within the CI, nulls are not significant."""

from __future__ import annotations

import numpy as np
import pytest

from eval.ab import engagement_probs, examination, held_out_relevance, metrics_section, planted_relevance, simulate_ab
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
    d = paired_lifts(
        {"empty": (ones, ones, zeros, zeros), "zero_rate": (ones, ones, zeros, ones), "ok": (ones, ones, half, ones)},
        50,
        50,
        np.random.default_rng(0),
    )
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


# --- placement, quantity vs quality, small counts --------------------------------------------


def _one_slice_arms(users: int, control_fresh_cols: list[int], treatment_fresh_cols: list[int], n: int = 10):
    """Every pin has relevance 0.5; fresh pins 0..99 at the given columns, warm pins 100.. elsewhere."""
    rng = np.random.default_rng(0)
    is_cold = np.arange(400) < 100
    relevance = lambda u, items: np.where(items >= 0, 0.5, 0.0)  # noqa: E731

    def arm(cols: list[int]) -> np.ndarray:
        feed = rng.integers(100, 400, size=(users, n))
        feed[:, cols] = rng.integers(0, 100, size=(users, len(cols)))
        return feed

    return np.arange(users), arm(control_fresh_cols), arm(treatment_fresh_cols), relevance, is_cold


def test_moving_fresh_pins_up_lifts_ctr_but_not_quality() -> None:
    """Same fresh pins, same relevance; treatment places them at ranks 1-2, control at 9-10.

    Per-impression CTR rises from position alone; clicks / examination (quality) does not;
    exposure (the examination share) shows where the lift came from."""
    cfg = ABConfig(feed_size=10, n_bootstrap=200, n_permutations=50, interleaving=False, ope=False)
    users, control, treatment, relevance, is_cold = _one_slice_arms(3000, [8, 9], [0, 1])
    res = simulate_ab(users, control, treatment, relevance, is_cold, cfg, seed=0)
    fresh = res["lifts"]["fresh"]
    exam = examination(10, "log2")
    assert fresh["ctr"]["lift"] == pytest.approx(exam[:2].sum() / exam[8:].sum() - 1)  # about +170 %
    assert fresh["ctr_exam"]["lift"] == pytest.approx(0.0, abs=1e-12)
    assert fresh["repin_exam"]["lift"] == pytest.approx(0.0, abs=1e-12)
    assert fresh["ctr_exam"]["ci95"][0] <= 0.0 <= fresh["ctr_exam"]["ci95"][1]
    assert fresh["share"]["lift"] == pytest.approx(0.0) and fresh["exposure"]["lift"] > 1.0
    assert fresh["ctr"]["events"][1] > fresh["ctr"]["events"][0] >= 30


def test_more_fresh_pins_is_quantity_not_quality() -> None:
    """Treatment shows 4 fresh pins per feed, control 1, all of relevance 0.5 and the same positions
    mix: fresh repins per user grow with the share, repins per examination do not."""
    cfg = ABConfig(
        feed_size=10, n_bootstrap=200, n_permutations=50, interleaving=False, ope=False, examination="uniform"
    )
    users, control, treatment, relevance, is_cold = _one_slice_arms(3000, [3], [0, 3, 6, 9])
    res = simulate_ab(users, control, treatment, relevance, is_cold, cfg, seed=1)
    fresh = res["lifts"]["fresh"]
    assert fresh["share"]["lift"] == pytest.approx(3.0)
    assert fresh["repins"]["lift"] == pytest.approx(3.0)  # volume: 4x the fresh impressions
    assert fresh["repin_exam"]["lift"] == pytest.approx(0.0, abs=1e-12)
    assert fresh["repin_rate"]["lift"] == pytest.approx(0.0, abs=1e-12)
    assert res["arms"]["treatment"]["fresh"]["share"] == pytest.approx(0.4)


def test_small_counts_give_insufficient_data_not_a_lift() -> None:
    cfg = ABConfig(feed_size=10, n_bootstrap=200, n_permutations=50, interleaving=True, ope=False, sessions=1)
    users, control, treatment, relevance, is_cold, _ = _planted_setup(40, seed=3)
    wide = lambda x: np.hstack([x, x[:, ::-1]])  # noqa: E731
    res = simulate_ab(users, wide(control), wide(treatment), relevance, is_cold, cfg, seed=0)
    d = res["lifts"]["fresh"]["repins"]
    assert d["status"] == "insufficient data" and d["lift"] is None and d["ci95"] is None
    assert max(d["events"]) < 30 and "fewer than 30" in d["reason"]
    assert res["interleaving"]["status"] == "insufficient data" and res["interleaving"]["delta_ci95"] is None
    section = metrics_section("a", "b", res)
    assert section["fresh"]["repin_rate_lift"] is None and section["fresh"]["repin_rate_status"] == "insufficient data"
    assert section["fresh"]["repin_rate_events"] == res["lifts"]["fresh"]["repin_rate"]["events"]


def test_metrics_section_keeps_the_contract_keys_and_adds_counts() -> None:
    users, control, treatment, relevance, is_cold, _ = _planted_setup(2000, seed=0)
    res = simulate_ab(users, control, treatment, relevance, is_cold, CFG, seed=0)
    section = metrics_section("c", "t", res)
    assert section["control"] == "c" and section["treatment"] == "t" and section["users"] == 2000
    for s in ("fresh", "warm"):
        assert {
            "repin_rate_lift",
            "repin_rate_ci95",
            "ctr_lift",
            "ctr_ci95",
            "repin_rate_events",
            "ctr_events",
            "repins_per_user_lift",
            "ctr_exam_lift",
            "share_control",
            "share_treatment",
        } <= set(section[s])
        assert section[s]["ctr_lift"] == res["lifts"][s]["ctr"]["lift"]
    assert set(section["ope"]) == {"ips", "snips", "dr"}


def test_interleaving_reports_a_ci_over_users() -> None:
    users, control, treatment, relevance, is_cold, _ = _planted_setup(3000, seed=6)
    cfg = ABConfig(feed_size=10, n_bootstrap=200, n_permutations=50, interleaving=True, ope=False)
    wide = lambda x: np.hstack([x, x[:, ::-1]])  # noqa: E731
    better = simulate_ab(users, wide(control), wide(treatment), relevance, is_cold, cfg, seed=0)["interleaving"]
    lo, hi = better["delta_ci95"]
    assert 0 < lo <= better["delta"] <= hi and better["expected_share"] > 0.5
    assert better["expected_share_ci95"][0] > 0.5
    same = simulate_ab(users, wide(control), wide(control), relevance, is_cold, cfg, seed=0)["interleaving"]
    assert same["delta_ci95"][0] <= 0 <= same["delta_ci95"][1]
    assert same["expected_share_ci95"][0] <= 0.5 <= same["expected_share_ci95"][1]


# --- the feeds, the relevance and the config -------------------------------------------------


class _SavedFirst:
    """A 'model' that scores the board's already-saved pins highest (what the mask must remove)."""

    def __init__(self, graph: PinBoardGraph) -> None:
        import scipy.sparse as sp

        known = sum(graph.csr(s) for s in ("train", "val")).T  # boards x pins
        self.known = sp.csr_matrix(known)

    def score_boards(self, boards: np.ndarray):
        import torch

        s = np.random.default_rng(0).random((len(boards), self.known.shape[1])).astype(np.float32)
        return torch.from_numpy(s + 10.0 * (self.known[boards].toarray() > 0))


def test_serve_feeds_never_shows_a_pin_the_board_already_saved(graph: PinBoardGraph) -> None:
    from eval.ab import serve_feeds
    from eval.protocol import board_to_pin_task

    task = board_to_pin_task(graph, "test")
    users = task.queries
    model = _SavedFirst(graph)
    feeds = serve_feeds(model, graph, task, users, depth=10, batch_size=64, seed=0)
    known = model.known[users].toarray() > 0
    rows = np.repeat(np.arange(len(users)), 10)
    shown = known[rows, np.maximum(feeds.ravel(), 0)] & (feeds.ravel() >= 0)
    assert known.sum() > 0 and not shown.any()
    assert (feeds >= 0).all() and all(len(set(r)) == 10 for r in feeds.tolist())


def test_planted_relevance_includes_the_pins_appeal(graph: PinBoardGraph) -> None:
    """Two pins of one (style, niche) group score differently when their planted appeal differs."""
    from eval.recommenders.oracle import load_truth

    t = load_truth(graph)
    assert t.group_share is not None
    group = t.pin_style * t.niches_per_style + t.pin_niche
    g = np.bincount(group).argmax()
    pins = np.flatnonzero(group == g)
    pins = pins[np.argsort(t.group_share[pins])][[0, -1]]  # least and most appealing pin of the group
    assert t.group_share[pins[1]] > t.group_share[pins[0]]
    rel = planted_relevance(graph)
    board = int(t.board_idx[(t.board_style == t.pin_style[pins[0]])][0])
    r = rel(np.array([board]), pins[None, :])[0]
    assert r[1] > r[0] > 0


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("click_min", -0.1, "click_min"),
        ("click_max", 1.5, "click_max"),
        ("repin_min", 2.0, "repin_min"),
        ("repin_max", -1.0, "repin_max"),
        ("feed_size", 0, "feed_size"),
        ("n_bootstrap", 99, "n_bootstrap"),
        ("n_permutations", 5, "n_permutations"),
        ("max_users", -1, "max_users"),
        ("min_events", -1, "min_events"),
        ("ope_epsilon", 0.0, "ope_epsilon"),
        ("examination", "linear", "examination"),
        ("feed_size", 2.5, "feed_size"),
    ],
)
def test_ab_config_rejects_bad_values(field: str, value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ABConfig(**{field: value})


def test_ab_config_orders_min_and_max() -> None:
    with pytest.raises(ValueError, match="eval.ab.click_min: .* <= ab.click_max"):
        ABConfig(click_min=0.4, click_max=0.3)
    with pytest.raises(ValueError, match="eval.ab.repin_min: .* <= ab.repin_max"):
        ABConfig(repin_min=0.6, repin_max=0.5)
    ABConfig(click_min=0.3, click_max=0.3, n_bootstrap=100)  # equal bounds are a valid (flat) model


def test_sessions_add_events_not_lift() -> None:
    users, control, treatment, relevance, is_cold, _ = _planted_setup(500, seed=8)
    one = ABConfig(feed_size=10, n_bootstrap=200, n_permutations=50, interleaving=False, ope=False, sessions=1)
    many = ABConfig(feed_size=10, n_bootstrap=200, n_permutations=50, interleaving=False, ope=False, sessions=20)
    a = simulate_ab(users, control, treatment, relevance, is_cold, one, seed=0)["lifts"]["fresh"]["repins"]
    b = simulate_ab(users, control, treatment, relevance, is_cold, many, seed=0)["lifts"]["fresh"]["repins"]
    assert b["status"] == "ok" and sum(b["events"]) > 10 * sum(a["events"])
    if a["lift"] is not None:
        assert a["lift"] == pytest.approx(b["lift"])
    c1 = simulate_ab(users, control, treatment, relevance, is_cold, one, seed=0)["lifts"]["fresh"]["ctr"]
    c20 = simulate_ab(users, control, treatment, relevance, is_cold, many, seed=0)["lifts"]["fresh"]["ctr"]
    assert c1["lift"] == pytest.approx(c20["lift"])  # the expected lift does not depend on sessions
    assert c20["ci95"][1] - c20["ci95"][0] < 0.6 * (c1["ci95"][1] - c1["ci95"][0])  # more events, narrower
