"""Offline A/B simulator: two arms serve feeds to simulated users; a stated click model engages.

* **Users** = the boards with held-out saves in the scored split (a seeded sample with
  ``ab.max_users``). Each arm serves each user its top ``feed_size`` pins, with the board's
  train (and val, when scoring test) saves masked, exactly as in the offline protocol.
* **Relevance** r in [0, 1]: on synthetic graphs the *generative* save probability of the
  board for the pin (planted affinity x the pin's appeal ``group_share`` + the noise term,
  ``eval.recommenders.oracle.generative_factors``) divided by the board's best over all pins;
  on real data 1 for the board's held-out saves, 0 otherwise.
* **Click model**: position-based model (PBM; Craswell et al. 2008, Chuklin et al. 2015):
  ``P(click at i) = exam(i) * (c0 + dc * r)`` with ``c0 = click_min``, ``dc = click_max -
  click_min`` and the examination curve ``exam`` (``log2``: the DCG discount, a convention;
  ``reciprocal``: 1/i, the eta = 1 power law of Joachims et al. 2017; ``uniform``). A click
  becomes a save ("repin") with ``repin_min + (repin_max - repin_min) r``. Draws are seeded;
  each arm has its own stream. ``sensitivity`` recomputes the expected lifts over c0, dc and
  the curve.
* **Slices**: ``fresh`` = cold pins (no train save), ``warm``, ``all``.
* **Metrics** per arm and slice, each a ratio of sums over users (:data:`METRICS`): ``ctr`` and
  ``repin_rate`` per impression; ``ctr_exam`` and ``repin_exam`` per unit of examination
  (quality, not gameable by placement); ``repins`` per user over *all* users (volume);
  ``share`` of impressions and ``exposure`` (share of examination): quantity.
* **Lifts** (``eval.stats.paired_lifts``): headline = the lift of the *expected* engagement;
  log-ratio 95 % CI of the simulated experiment (bootstrap over users); event counts;
  ``insufficient data`` below ``min_events`` events or with a non-finite replicate.
* **Interleaving** (``eval.interleave``) and **counterfactual estimates** (``eval.ope``) are
  reported beside the A/B lifts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from eval.config import ABConfig
from eval.interleave import credit, team_draft
from eval.ope import ope_compare
from eval.protocol import Task, batch_rows, rank_top, tie_break_permutation, tie_places
from eval.recommenders.base import Recommender
from eval.stats import paired_lifts
from graph_build.graph import PinBoardGraph

log = logging.getLogger(__name__)
AB_SLICES = ("fresh", "warm", "all")
METRICS = ("ctr", "repin_rate", "ctr_exam", "repin_exam", "repins", "share", "exposure")
"""Lift names per slice: per impression, per examination (quality), per user (volume), quantity."""
EXAMINATION_SOURCES = {
    "log2": "1/log2(i+1): the DCG position discount (Jarvelin & Kekalainen 2002), a convention",
    "reciprocal": "1/i: power-law examination with eta = 1 (Joachims et al. 2017, WSDM)",
    "uniform": "1: no position bias (every slot is examined)",
}
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


def planted_relevance(graph: PinBoardGraph, chunk: int = 256) -> Relevance:
    """Generative save probability of each (board, pin) over the board's best (synthetic graphs).

    With the pins' planted appeal in ``truth/`` (``group_share``, ``global_share``) this is
    ``(1 - noise) a(b, p) group_share_p + noise global_share_p`` (pins of one group differ by
    appeal); older truth without appeal falls back to the group affinity ``a(b, p)``.
    """
    from eval.recommenders.oracle import board_affinity_vectors, load_truth

    t = load_truth(graph)
    aff = board_affinity_vectors(graph, t)
    group = t.pin_style * t.niches_per_style + t.pin_niche
    if t.group_share is not None and t.global_share is not None:
        gs, glob, noise = t.group_share, t.global_share, t.save_noise
    else:
        gs, glob, noise = np.ones(graph.n_pins), np.zeros(graph.n_pins), 0.0

    def score(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return (1.0 - noise) * aff[users[:, None], group[items]] * gs[items] + noise * glob[items]

    best = np.concatenate(
        [
            score(b, np.broadcast_to(np.arange(graph.n_pins), (len(b), graph.n_pins))).max(1)
            for b in np.array_split(np.arange(graph.n_boards), max(1, graph.n_boards // chunk))
        ]
    )
    best = np.maximum(best, 1e-300)

    def rel(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        r = score(users, np.maximum(items, 0)) / best[users, None]
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


def serve_feeds(
    model: Recommender, graph: PinBoardGraph, task: Task, users: np.ndarray, depth: int, batch_size: int, seed: int
) -> np.ndarray:
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
    place = tie_places(perm)
    rows = batch_rows(batch_size, graph.n_pins)
    out = []
    for start in range(0, len(users), rows):
        q = users[start : start + rows]
        _, excluded = task.batch(q)
        scores = model.score_boards(q)
        scores[excluded] = -torch.inf
        vals, top = rank_top(scores, depth, perm, place)
        ids = torch.where(torch.isfinite(vals), top, -1).numpy()
        if ids.shape[1] < depth:
            ids = np.pad(ids, ((0, 0), (0, depth - ids.shape[1])), constant_values=-1)
        out.append(ids)
    return np.concatenate(out) if out else np.zeros((0, depth), dtype=np.int64)


@dataclass
class Engagement:
    """Per-user sums of one arm, ``U x 3`` for the slices (fresh, warm, all), plus expectations.

    ``examination`` is the sum of the examination probabilities of the slice's impressions.
    """

    impressions: np.ndarray
    examination: np.ndarray
    clicks: np.ndarray
    repins: np.ndarray
    expected_clicks: np.ndarray
    expected_repins: np.ndarray


def _by_slice(values: np.ndarray, fresh: np.ndarray, shown: np.ndarray) -> np.ndarray:
    v = values * shown
    return np.stack([(v * fresh).sum(1), (v * ~fresh).sum(1), v.sum(1)], axis=1)


def engagement_probs(rel: np.ndarray, n: int, cfg: ABConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(P(click), P(repin | click))`` for ``U x n`` relevances at positions ``1..n`` (the PBM)."""
    attract = cfg.click_min + (cfg.click_max - cfg.click_min) * rel
    p_click = examination(n, cfg.examination)[None, :] * attract
    p_repin = cfg.repin_min + (cfg.repin_max - cfg.repin_min) * rel
    return p_click, p_repin


def expected_engagement(items: np.ndarray, rel: np.ndarray, fresh: np.ndarray, cfg: ABConfig) -> Engagement:
    """The noise-free part of :func:`simulate` over ``cfg.sessions`` sessions (observed = expected)."""
    shown = items >= 0
    n_s = float(cfg.sessions)
    p_click, p_repin = engagement_probs(rel, items.shape[1], cfg)
    exam = np.broadcast_to(examination(items.shape[1], cfg.examination)[None, :], items.shape)
    ec, er = _by_slice(n_s * p_click, fresh, shown), _by_slice(n_s * p_click * p_repin, fresh, shown)
    return Engagement(
        impressions=_by_slice(np.full(items.shape, n_s), fresh, shown),
        examination=_by_slice(n_s * exam, fresh, shown),
        clicks=ec,
        repins=er,
        expected_clicks=ec,
        expected_repins=er,
    )


def simulate(
    items: np.ndarray,
    rel: np.ndarray,
    fresh: np.ndarray,
    cfg: ABConfig,
    rng: np.random.Generator,
) -> tuple[Engagement, np.ndarray]:
    """Draw clicks and repins for ``U x n`` feeds; return the per-user slice sums and the click counts.

    Each user sees the same feed in ``cfg.sessions`` independent sessions: the clicks of a slot
    are ``Binomial(sessions, P(click))``, its repins ``Binomial(clicks, P(repin | click))``.

    Args:
        items: pin ids per user and position (``-1`` = empty slot, not an impression).
        rel: relevance in [0, 1] of each served pin.
        fresh: whether each served pin is fresh (cold).
        cfg: the engagement model.
        rng: this arm's generator.
    """
    shown = items >= 0
    p_click, p_repin = engagement_probs(rel, items.shape[1], cfg)
    clicks = rng.binomial(cfg.sessions, np.where(shown, p_click, 0.0))
    repins = rng.binomial(clicks, p_repin)
    exp = expected_engagement(items, rel, fresh, cfg)
    eng = replace(exp, clicks=_by_slice(clicks, fresh, shown), repins=_by_slice(repins, fresh, shown))
    return eng, clicks


def arm_summary(e: Engagement) -> dict[str, dict[str, float | int | None]]:
    """Totals and rates per slice of one arm (observed and expected)."""
    out = {}
    total_imp = e.impressions[:, 2].sum()
    total_exam = e.examination[:, 2].sum()
    users = max(len(e.impressions), 1)
    for j, s in enumerate(AB_SLICES):
        imp = float(e.impressions[:, j].sum())
        exam = float(e.examination[:, j].sum())
        rate = lambda x: float(x) / imp if imp else None  # noqa: E731
        per_exam = lambda x: float(x) / exam if exam else None  # noqa: E731
        out[s] = {
            "impressions": int(imp),
            "clicks": int(e.clicks[:, j].sum()),
            "repins": int(e.repins[:, j].sum()),
            "ctr": rate(e.clicks[:, j].sum()),
            "repin_rate": rate(e.repins[:, j].sum()),
            "expected_ctr": rate(e.expected_clicks[:, j].sum()),
            "expected_repin_rate": rate(e.expected_repins[:, j].sum()),
            "expected_ctr_exam": per_exam(e.expected_clicks[:, j].sum()),
            "expected_repin_exam": per_exam(e.expected_repins[:, j].sum()),
            "expected_clicks_per_user": float(e.expected_clicks[:, j].sum()) / users,
            "expected_repins_per_user": float(e.expected_repins[:, j].sum()) / users,
            "examination": exam,
            "share": imp / total_imp if total_imp else None,
            "exposure": exam / total_exam if total_exam else None,
        }
    return out


def _pairs(c: Engagement, t: Engagement, expected: bool) -> tuple[dict, dict]:
    """Per (slice, metric): the four per-user count columns and the (control, treatment) events."""
    ones = np.ones(len(c.impressions))
    ck = (c.expected_clicks, t.expected_clicks) if expected else (c.clicks, t.clicks)
    rp = (c.expected_repins, t.expected_repins) if expected else (c.repins, t.repins)
    pairs, events = {}, {}
    for j, s in enumerate(AB_SLICES):

        def four(num: tuple[np.ndarray, np.ndarray], den: tuple[np.ndarray, np.ndarray] | None) -> tuple:
            dc, dt = (den[0][:, j], den[1][:, j]) if den is not None else (ones, ones)
            return num[1][:, j], dt, num[0][:, j], dc

        imp, exam = (c.impressions, t.impressions), (c.examination, t.examination)
        total = ((c.impressions[:, [2] * 3]), (t.impressions[:, [2] * 3]))
        total_exam = ((c.examination[:, [2] * 3]), (t.examination[:, [2] * 3]))
        pairs[(s, "ctr")] = four(ck, imp)
        pairs[(s, "repin_rate")] = four(rp, imp)
        pairs[(s, "ctr_exam")] = four(ck, exam)
        pairs[(s, "repin_exam")] = four(rp, exam)
        pairs[(s, "repins")] = four(rp, None)
        pairs[(s, "share")] = four(imp, total)
        pairs[(s, "exposure")] = four(exam, total_exam)
        n_clicks = (int(c.clicks[:, j].sum()), int(t.clicks[:, j].sum()))
        n_repins = (int(c.repins[:, j].sum()), int(t.repins[:, j].sum()))
        n_imp = (int(c.impressions[:, j].sum()), int(t.impressions[:, j].sum()))
        events.update(
            {
                (s, "ctr"): n_clicks,
                (s, "ctr_exam"): n_clicks,
                (s, "repin_rate"): n_repins,
                (s, "repin_exam"): n_repins,
                (s, "repins"): n_repins,
                (s, "share"): n_imp,
                (s, "exposure"): n_imp,
            }
        )
    return pairs, events


def compare(control: Engagement, treatment: Engagement, cfg: ABConfig, rng: np.random.Generator) -> dict[str, dict]:
    """Lifts per slice and metric (:data:`METRICS`): expected lift, observed lift, CIs, events."""
    observed, events = _pairs(control, treatment, expected=False)
    expected, _ = _pairs(control, treatment, expected=True)
    lifts = paired_lifts(
        observed, cfg.n_bootstrap, cfg.n_permutations, rng, expected=expected, events=events, min_events=cfg.min_events
    )
    out: dict[str, dict] = {s: {} for s in AB_SLICES}
    for (s, m), lift in lifts.items():
        out[s][m] = lift.to_dict()
    return out


def _expected_lift(c: Engagement, t: Engagement, slice_: str, metric: str) -> float | None:
    pairs, _ = _pairs(c, t, expected=True)
    nt, dt, nc, dc = (float(v.sum()) for v in pairs[(slice_, metric)])
    if dt <= 0 or dc <= 0 or nc <= 0:
        return None
    return (nt / dt) / (nc / dc) - 1.0


SENSITIVITY_METRICS = (
    ("fresh", "repins"),
    ("fresh", "repin_exam"),
    ("fresh", "ctr_exam"),
    ("fresh", "ctr"),
    ("all", "repins"),
    ("all", "ctr"),
)


def sensitivity(feeds: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], cfg: ABConfig) -> list[dict]:
    """Expected lifts under other click models: c0, dc and the examination curve one at a time.

    Args:
        feeds: per arm ``(items, relevance, fresh)`` of the served feeds.
        cfg: the default click model (the first row).
    """
    dc = cfg.click_max - cfg.click_min
    variants = [("default", cfg)]
    for c0 in (0.005, 0.05, 0.1):
        if c0 != cfg.click_min and c0 + dc <= 1.0:
            variants.append((f"c0={c0:g}", replace(cfg, click_min=c0, click_max=c0 + dc)))
    for d in (0.1, 0.5):
        if d != dc and cfg.click_min + d <= 1.0:
            variants.append((f"dc={d:g}", replace(cfg, click_max=cfg.click_min + d)))
    for curve in ("log2", "reciprocal", "uniform"):
        if curve != cfg.examination:
            variants.append((f"examination={curve}", replace(cfg, examination=curve)))
    rows = []
    for label, v in variants:
        eng = {arm: expected_engagement(items, rel, fresh, v) for arm, (items, rel, fresh) in feeds.items()}
        row: dict[str, object] = {
            "variant": label,
            "click_min": v.click_min,
            "dc": round(v.click_max - v.click_min, 6),
            "examination": v.examination,
        }
        for s, m in SENSITIVITY_METRICS:
            row[f"{s}_{m}_lift"] = _expected_lift(eng["control"], eng["treatment"], s, m)
        rows.append(row)
    return rows


def click_model(cfg: ABConfig) -> dict[str, object]:
    """The stated click model (parameters and the examination curve's source) for ab.json."""
    return {
        "kind": "position-based model (PBM)",
        "examination": cfg.examination,
        "examination_source": EXAMINATION_SOURCES[cfg.examination],
        "examination_curve": [round(float(x), 6) for x in examination(cfg.feed_size, cfg.examination)],
        "c0": cfg.click_min,
        "dc": cfg.click_max - cfg.click_min,
        "p_click": "exam(i) * (c0 + dc * r)",
        "p_repin_given_click": f"{cfg.repin_min} + {cfg.repin_max - cfg.repin_min:g} * r",
        "calibration": "not fitted to logs: the parameters are assumptions; see `sensitivity`",
    }


def simulate_ab(
    users: np.ndarray,
    control: np.ndarray,
    treatment: np.ndarray,
    relevance: Relevance,
    is_cold: np.ndarray,
    cfg: ABConfig,
    seed: int,
) -> dict[str, object]:
    """Simulate both arms on the same users and compare them.

    Args:
        users: board index per user.
        control, treatment: ``U x M`` ranked pin ids per arm (``M >= feed_size``; ``2 feed_size``
            for interleaving), ``-1`` = nothing left to serve.
        relevance: the relevance function.
        is_cold: fresh flag per pin.
        cfg: the simulator settings.
        seed: the seed; arms, statistics, interleaving and the logging policy use separate streams.

    Returns:
        ``{"users", "click_model", "arms", "lifts", "sensitivity", "interleaving", "ope"}``.
    """
    n = cfg.feed_size
    s_control, s_treat, s_stats, s_inter, s_ope = np.random.SeedSequence(seed).spawn(5)
    eng, feeds = {}, {}
    for arm, ranked, ss in (("control", control, s_control), ("treatment", treatment, s_treat)):
        items = ranked[:, :n]
        fresh = is_cold[np.maximum(items, 0)] & (items >= 0)
        rel = relevance(users, items)
        feeds[arm] = (items, rel, fresh)
        eng[arm], _ = simulate(items, rel, fresh, cfg, np.random.default_rng(ss))
    result: dict[str, object] = {
        "users": int(len(users)),
        "click_model": click_model(cfg),
        "arms": {arm: arm_summary(e) for arm, e in eng.items()},
        "lifts": compare(eng["control"], eng["treatment"], cfg, np.random.default_rng(s_stats)),
        "sensitivity": sensitivity(feeds, cfg) if cfg.sensitivity else None,
        "interleaving": None,
        "ope": None,
    }
    if cfg.interleaving:
        rng = np.random.default_rng(s_inter)
        items, team = team_draft(control, treatment, n, rng)
        fresh = is_cold[np.maximum(items, 0)] & (items >= 0)
        rel = relevance(users, items)
        _, clicks = simulate(items, rel, fresh, cfg, rng)
        p_click, _ = engagement_probs(rel, n, cfg)
        result["interleaving"] = credit(
            team,
            clicks,
            rng=rng,
            n_bootstrap=cfg.n_bootstrap,
            p_click=cfg.sessions * np.where(items >= 0, p_click, 0.0),
            min_events=cfg.min_events,
        ).to_dict()
    if cfg.ope:
        result["ope"] = ope_compare(users, feeds, relevance, is_cold, cfg, np.random.default_rng(s_ope))
    return result


def _lift_keys(d: dict, prefix: str) -> dict[str, object]:
    return {
        f"{prefix}_lift": d["lift"],
        f"{prefix}_ci95": d["ci95"],
        f"{prefix}_status": d["status"],
        f"{prefix}_events": d["events"],
        f"{prefix}_observed_lift": d["observed_lift"],
    }


def metrics_section(control: str, treatment: str, result: dict) -> dict[str, object]:
    """The ``ab`` block of metrics.json: the contract keys plus event counts and the new metrics."""
    out: dict[str, object] = {"control": control, "treatment": treatment}
    lifts = result["lifts"]
    for s in ("fresh", "warm"):
        d: dict[str, object] = {}
        d.update(_lift_keys(lifts[s]["repin_rate"], "repin_rate"))
        d.update(_lift_keys(lifts[s]["ctr"], "ctr"))
        d.update(_lift_keys(lifts[s]["repins"], "repins_per_user"))
        d.update(_lift_keys(lifts[s]["ctr_exam"], "ctr_exam"))
        d.update(_lift_keys(lifts[s]["repin_exam"], "repin_exam"))
        d["share_control"] = result["arms"]["control"][s]["share"]
        d["share_treatment"] = result["arms"]["treatment"][s]["share"]
        out[s] = d
    out["users"] = result["users"]
    il = result.get("interleaving")
    if il:
        out["interleaving"] = {k: il[k] for k in ("delta", "delta_ci95", "status", "wins", "losses", "ties")}
    rp = result.get("replay")
    if rp:
        out["replay"] = {
            s: {
                f"{m}_{k}": rp["lifts"][s][m][k]
                for m in ("hit_rate", "exam_credit")
                for k in ("lift", "ci95", "status", "events")
            }
            for s in ("fresh", "warm", "all")
        }
    ope = result.get("ope")
    if ope:
        out["ope"] = {
            est: {m: {k: v[k] for k in ("lift", "ci95")} for m, v in per.items()} for est, per in ope["lifts"].items()
        }
    return out
