"""The warm teacher of ``full``: the best collaborative scorer of the train saves, as factors.

Candidates, every one fitted on the train saves and scored on the validation saves (Recall@k of
the warm pins, ranking the warm catalogue):

* ALS over the ``factors x regularization`` grid (implicit);
* EASE (Steck 2019) over its ``lambda`` grid, and RP3beta over its ``alpha x beta`` grid;
* blends ``sum_m w_m z_m`` of the best fit of each family, ``z_m`` its scores z-scored per board
  over the warm pins, ``w`` on a simplex grid (pure families included);
* given factor models (``given``), each alone: LightGCN, the ``lightgcn`` baseline's own fit,
  which ``graphrec run`` trains once for this search and for ``evaluate`` (graphrec/cf/factors.py).

The winner becomes inner-product factors: ALS is already ``board . pin``; anything else is the
rank-``rank`` truncated SVD of its boards x warm-pins score matrix (``board = U sqrt(S)``,
``pin = V sqrt(S)``), kept only if the truncation still beats the best ALS on validation. The
dense families need the boards x warm score matrix in memory: above ``dense_max`` entries (or
EASE above ``ease_max_pins`` warm pins) they are skipped with a logged reason, and ALS alone is
the teacher.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from graph_build.graph import PinBoardGraph
from graphrec.cf.als import fit_als
from graphrec.cf.ease import ease_weights, warm_gram
from graphrec.cf.rp3beta import rp3beta_weights
from graphrec.hybrid.config import TEACHER_MODELS, TeacherConfig
from graphrec.utils.logs import progress
from graphrec.utils.sparse import csr_lookup

log = logging.getLogger(__name__)

GIVEN = ("lightgcn",)  # families fitted outside the search (``given``), not by it


@dataclass
class Teacher:
    """Board and pin factors (cold pins: zero rows) of the chosen teacher and how it was chosen."""

    board: np.ndarray
    pin: np.ndarray
    alpha: float  # the best ALS's: the fold-in of new pins uses them
    regularization: float
    rows: list[dict[str, Any]] = field(default_factory=list)  # every candidate, best first
    # A blend teacher keeps the best ALS's board factors and its per-board score mean / std over
    # the warm pins: a new pin with saves is folded into that ALS, and its z-scored ALS score
    # column is projected into the blend's space (see ``FullModel.new_pin_emb``). Empty for ALS.
    fold_board: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    fold_mean: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    fold_std: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    gain: float = 0.0  # a blend teacher's cross-fitted validation gain over the best single model

    @property
    def chosen(self) -> dict[str, Any]:
        return self.rows[0]

    @property
    def best_single(self) -> float:
        """The best validation warm recall of one model alone (ALS, EASE, RP3beta or LightGCN, no blend)."""
        return max(r["val_warm_recall"] for r in self.rows if r["model"] in TEACHER_MODELS)

    def guard_floor(self, tolerance: float) -> float:
        """The least validation warm recall the ``guarded`` calibration may keep: the teacher's
        own, less its cross-fitted gain over the best single model (what cold pins may spend
        without falling below that model) and ``tolerance`` x that model's recall."""
        return self.chosen["val_warm_recall"] - max(self.gain, 0.0) - tolerance * self.best_single


def binary(graph: PinBoardGraph, split: str) -> sp.csr_matrix:
    """The boards x pins 0/1 matrix of one split's saves."""
    m = sp.csr_matrix(graph.csr(split).T, dtype=np.float32)
    m.data[:] = 1.0
    return m


def warm_recall(scores: np.ndarray, known: sp.csr_matrix, held: sp.csr_matrix, k: int) -> float:
    """Recall@k of dense boards x warm-pins ``scores`` against ``held`` (boards x warm pins),
    the ``known`` saves masked: mean over boards with a held-out save."""
    return float(board_recalls(scores, known, held, k).mean())


def crossfit_gain(blends: list[np.ndarray], single: np.ndarray) -> float:
    """How much better than ``single`` the best of ``blends`` is on boards it was not chosen on.

    ``blends[i]`` and ``single`` are per-board recalls (the same boards). The boards are split in
    two folds (alternating); the blend chosen on one fold is scored against ``single`` on the
    other, and the two gains are averaged: an estimate of the blend's gain without the optimism
    of choosing it among many on the same boards."""
    fold = np.arange(len(single)) % 2
    gains = []
    for f in (0, 1):
        this, other = fold == f, fold != f
        i = max(range(len(blends)), key=lambda j: (blends[j][other].mean(), -j))
        gains.append(float(blends[i][this].mean() - single[this].mean()))
    return float(np.mean(gains))


def board_recalls(scores: np.ndarray, known: sp.csr_matrix, held: sp.csr_matrix, k: int) -> np.ndarray:
    """Per-board Recall@k (boards with a held-out save, in order) of :func:`warm_recall`."""
    q = np.flatnonzero(np.diff(held.indptr) > 0)
    s = torch.from_numpy(np.ascontiguousarray(scores[q], dtype=np.float32))
    kn = known[q].tocoo()
    s[torch.from_numpy(kn.row.astype(np.int64)), torch.from_numpy(kn.col.astype(np.int64))] = -torch.inf
    top = torch.topk(s, min(k, s.shape[1]), dim=1).indices.numpy()
    hits = csr_lookup(held[q], top).sum(1)  # held is binary (``binary``): a stored entry is a save
    return hits / np.diff(held[q].indptr)


def zscore_rows(scores: np.ndarray) -> np.ndarray:
    """Each board's scores minus their mean, over their standard deviation (float32)."""
    s = scores.astype(np.float32, copy=False)
    return ((s - s.mean(1, keepdims=True)) / np.maximum(s.std(1, keepdims=True), 1e-9)).astype(np.float32)


def simplex(n: int, step: float) -> list[tuple[float, ...]]:
    """Weights ``w >= 0`` with ``sum w = 1`` on a grid of ``step`` (pure components included)."""
    m = int(round(1.0 / step))
    return [tuple(c / m for c in w) for w in itertools.product(range(m + 1), repeat=n) if sum(w) == m]


GivenFactors = tuple[np.ndarray, np.ndarray, dict[str, Any]]
"""A family fitted elsewhere: board vectors, pin vectors (every pin), the values it was fitted with."""


def candidate_weights(names: list[str], step: float) -> list[tuple[float, ...]]:
    """The searched weightings over ``names``: the simplex of the families fitted by the search
    (step ``step``), then each given family (``GIVEN``) alone. A given family is a candidate, not a
    blend component: with four families the 35 blends' best validation recall is too optimistic
    (MovieLens seed 0: EASE + LightGCN won on validation by 0.0001 and lost 0.008 warm on test)."""
    own = [n for n in names if n not in GIVEN]
    out = [tuple(w[own.index(n)] if n in own else 0.0 for n in names) for w in simplex(len(own), step)]
    return out + [tuple(float(n == g) for n in names) for g in names if g in GIVEN]


def fit_teacher(
    graph: PinBoardGraph, cfg: TeacherConfig, k: int, seed: int, given: Mapping[str, GivenFactors] | None = None
) -> Teacher:
    """Fit every candidate on the train saves and keep the best on validation (see module doc).

    ``given``: families of ``cfg.models`` fitted elsewhere on the same train saves (``lightgcn``);
    a family listed in ``cfg.models`` but not given is left out with a log line.
    """
    given = given or {}
    warm = np.flatnonzero(~graph.is_cold)
    known, held = binary(graph, "train"), binary(graph, "val")
    known_w, held_w = known[:, warm], held[:, warm]
    dense_ok = graph.n_boards * len(warm) <= cfg.dense_max
    if not dense_ok:
        log.info(
            "full teacher: %d boards x %d warm pins > full.teacher.dense_max %d: ALS only",
            graph.n_boards,
            len(warm),
            cfg.dense_max,
        )
    rows: list[dict[str, Any]] = []
    best: dict[str, tuple[float, Any, dict[str, Any]]] = {}

    def record(family: str, params: dict[str, Any], val: float, keep: Any) -> None:
        rows.append({"model": family, **params, "val_warm_recall": float(val)})
        if family not in best or val > best[family][0]:
            best[family] = (float(val), keep, params)

    grid = list(itertools.product(cfg.factors, cfg.regularization))
    for factors, reg in progress(grid, desc="teacher: als", unit="fit"):
        board, pin = fit_als(graph.csr("train"), factors, reg, cfg.alpha, cfg.iterations, seed)
        val = (
            warm_recall(board @ pin[warm].T, known_w, held_w, k)
            if dense_ok
            else _factor_recall(board, pin[warm], known_w, held_w, k)
        )
        record("als", {"factors": int(factors), "regularization": float(reg)}, val, (board, pin))
    families = [f for f in cfg.models if f != "als"] if dense_ok else []
    if "ease" in families and len(warm) > cfg.ease_max_pins:
        log.info("full teacher: %d warm pins > full.teacher.ease_max_pins %d: no EASE", len(warm), cfg.ease_max_pins)
        families.remove("ease")
    for f in [f for f in families if f in GIVEN and f not in given]:
        log.info("full teacher: no %s factors given (graphrec run fits them once, in fit-%s): left out", f, f)
        families.remove(f)
    scores: dict[str, np.ndarray] = {}
    if "ease" in families:
        xw, _, gram = warm_gram(graph, np.float32)
        for lam in progress(cfg.ease_lambdas, desc="teacher: ease", unit="fit"):
            s = np.asarray(xw @ ease_weights(gram, lam, np.float32))
            record("ease", {"lambda": float(lam)}, warm_recall(s, known_w, held_w, k), s)
        scores["ease"] = best["ease"][1]
        del gram
    if "rp3beta" in families:
        for a, b in progress(
            list(itertools.product(cfg.rp3_alphas, cfg.rp3_betas)), desc="teacher: rp3beta", unit="fit"
        ):
            s = np.asarray((known_w @ rp3beta_weights(known_w, a, b).astype(np.float32)).toarray())
            record("rp3beta", {"alpha": float(a), "beta": float(b)}, warm_recall(s, known_w, held_w, k), s)
        scores["rp3beta"] = best["rp3beta"][1]
    for f in [f for f in families if f in GIVEN]:
        board, pin, params = given[f]
        s = np.asarray(board, np.float32) @ np.asarray(pin, np.float32)[warm].T
        record(f, dict(params), warm_recall(s, known_w, held_w, k), s)
        scores[f] = s
    als_val, (als_board, als_pin), als_params = best["als"]
    teacher = Teacher(als_board, als_pin, cfg.alpha, als_params["regularization"])
    chosen = next(r for r in rows if r["model"] == "als" and r["val_warm_recall"] == als_val)
    if scores:
        z = {"als": zscore_rows(als_board @ als_pin[warm].T), **{f: zscore_rows(s) for f, s in scores.items()}}
        names = list(z)
        weightings = candidate_weights(names, cfg.blend_step)
        per_board = [board_recalls(_mix(z, names, w), known_w, held_w, k) for w in weightings]
        mixed = [(float(r.mean()), w) for r, w in zip(per_board, weightings)]
        val, w = max(mixed, key=lambda t: (t[0], t[1][0]))  # ties: more ALS weight
        family = max(z, key=lambda f: best[f][0])
        gain = crossfit_gain(per_board, board_recalls(_single_scores(best, family, warm), known_w, held_w, k))
        weights = {n: float(wi) for n, wi in zip(names, w)}
        rows.append({"model": "blend", "weights": weights, "val_warm_recall": float(val)})
        if val > als_val and weights["als"] < 1.0:
            board, pin_w = truncated(_mix(z, names, w), cfg.rank, seed)
            t_val = warm_recall(board @ pin_w.T, known_w, held_w, k)
            rows.append(
                {
                    "model": "blend_svd",
                    "weights": weights,
                    "rank": int(pin_w.shape[1]),
                    "val_warm_recall": float(t_val),
                    "crossfit_gain": gain,
                }
            )
            if t_val > als_val:
                als_scores = als_board @ als_pin[warm].T
                teacher.fold_board = als_board
                teacher.fold_mean = als_scores.mean(1).astype(np.float32)
                teacher.fold_std = np.maximum(als_scores.std(1), 1e-9).astype(np.float32)
                teacher.board = board
                teacher.pin = np.zeros((graph.n_pins, pin_w.shape[1]), np.float32)
                teacher.pin[warm] = pin_w
                teacher.gain = gain
                chosen = rows[-1]
    teacher.rows = [chosen, *sorted((r for r in rows if r is not chosen), key=lambda r: -r["val_warm_recall"])]
    log.info(
        "full teacher: %s (validation warm Recall@%d %.4f)",
        {k_: v for k_, v in chosen.items() if k_ != "val_warm_recall"},
        k,
        chosen["val_warm_recall"],
    )
    return teacher


def _single_scores(best: dict[str, tuple[float, Any, dict[str, Any]]], family: str, warm: np.ndarray) -> np.ndarray:
    keep = best[family][1]
    return keep[0] @ keep[1][warm].T if family == "als" else keep


def _mix(z: dict[str, np.ndarray], names: list[str], weights: tuple[float, ...]) -> np.ndarray:
    return sum(w * z[n] for w, n in zip(weights, names) if w > 0)


def _factor_recall(
    board: np.ndarray, pin: np.ndarray, known: sp.csr_matrix, held: sp.csr_matrix, k: int, rows: int = 1 << 24
) -> float:
    """:func:`warm_recall` of ``board . pin`` without the whole score matrix in memory."""
    q = np.flatnonzero(np.diff(held.indptr) > 0)
    step = max(1, rows // max(len(pin), 1))
    total = 0.0
    for a in range(0, len(q), step):
        b = q[a : a + step]
        total += warm_recall(board[b] @ pin.T, known[b], held[b], k) * len(b)
    return total / max(len(q), 1)


def truncated(scores: np.ndarray, rank: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank-``rank`` factors ``(U sqrt(S), V sqrt(S))`` of ``scores`` (randomised SVD, seeded)."""
    r = min(rank, *scores.shape)
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        u, s, v = torch.svd_lowrank(
            torch.from_numpy(np.ascontiguousarray(scores, np.float32)), q=min(r + 10, *scores.shape), niter=4
        )
    finally:
        torch.random.set_rng_state(gen_state)
    root = s[:r].sqrt()
    return ((u[:, :r] * root).numpy().astype(np.float32), (v[:, :r] * root).numpy().astype(np.float32))
