"""Fitting ``full``: teacher on the train saves, student on warm pins, calibration on validation.

Only the **train** saves fit anything; the validation saves choose the calibration (offset and
recency weight) from the config's grids, exactly as every other setting here is chosen.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graph_build.graph import PinBoardGraph
from graphrec.hybrid.calibrate import (
    BoardStats,
    board_stats,
    board_vectors,
    grid_recall,
    pad,
    pin_vectors,
    recency_feature,
    unit_boards,
)
from graphrec.hybrid.config import ABLATIONS, CalibrationConfig, FullConfig
from graphrec.hybrid.neighbours import ContentNeighbours, unit_rows
from graphrec.hybrid.prior import PopularityPrior, fit_prior
from graphrec.hybrid.student import Student, train_student
from graphrec.hybrid.teacher import GivenFactors, Teacher, binary, fit_teacher, warm_recall

log = logging.getLogger(__name__)


@dataclass
class FullModel:
    """A fitted ``full`` model: everything needed to embed the graph's pins and new pins."""

    board_factors: np.ndarray
    pin_factors: np.ndarray
    student: Student
    stats: BoardStats
    recency: np.ndarray
    offset: float
    recency_weight: float
    pin_norm: float = 0.0
    regularization: float = 0.05  # the fold-in of new pins (add-pins) uses the best ALS's settings
    alpha: float = 10.0
    info: dict[str, Any] = field(default_factory=dict)
    fold: Teacher | None = None  # a blend teacher's ALS (fold_board/mean/std) for add-pins; None for ALS
    student_kind: str = "mlp"  # mlp | neighbours | mix (chosen on validation)
    neighbours: ContentNeighbours | None = None
    mix_scale: float = 1.0  # neighbour vectors x this have the MLP's mean norm (the mix averages them)
    prior: PopularityPrior = field(default_factory=PopularityPrior.none)  # cold pins' predicted popularity
    prior_weight: float = 0.0  # its weight in cold scores (chosen on validation; 0 = no prior)

    def student_emb(self, content: np.ndarray) -> np.ndarray:
        """The inductive path's teacher-space vectors of ``content`` rows."""
        return student_vectors(self.student_kind, self.student, self.neighbours, self.mix_scale, content)

    def board_emb(self) -> np.ndarray:
        return unit_boards(
            board_vectors(
                self.board_factors, self.stats, self.offset, self.recency_weight, self.recency, self.prior_weight
            )
        )

    def pin_emb(self, content: np.ndarray, cold: np.ndarray) -> np.ndarray:
        """Unit pin vectors: teacher rows for warm pins, student rows (from ``content``) for cold ones."""
        student = np.zeros(self.pin_factors.shape, np.float32)
        student[cold] = self.student_emb(content[cold])
        raw = pin_vectors(self.pin_factors, student, cold, self.stats.ratio, self.prior(content))
        out, _ = pad(raw, self.pin_norm or None)
        return out

    def similarity_vectors(self, content: np.ndarray, cold: np.ndarray) -> np.ndarray:
        """Unit vectors of the shared teacher space for the graph's pins (teacher rows for warm
        pins, student rows from ``content`` for cold ones; ``cold`` marks which, one flag per
        graph pin or per content row of brand-new pins, all True): pin -> pin relatedness,
        where the calibration columns play no part."""
        k = self.pin_factors.shape[1]
        teacher = self.pin_factors if len(cold) == len(self.pin_factors) else np.zeros((len(cold), k), np.float32)
        if not cold.all() and len(cold) != len(self.pin_factors):
            raise ValueError(f"similarity_vectors: {len(cold)} flags for a graph of {len(self.pin_factors)} pins")
        v = pin_vectors(teacher, self.student_emb(content), cold, self.stats.ratio)[:, :k]
        return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def new_pin_emb(self, content: np.ndarray, saves: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Vectors of pins that are not in the graph (``add-pins``), without retraining.

        A pin without saves takes the inductive (student) path, exactly like a cold pin. A pin
        saved to existing boards is folded into the teacher without retraining and is then
        scored like a warm pin: an ALS teacher gets one ALS item update against its frozen board
        vectors, with the student vector as the ridge prior's mean; a blend teacher folds the
        pin into the best ALS the same way, z-scores the resulting score column per board as
        the blend's parts were, and takes the least-squares pin vector of that column in the
        blend's space (ridge towards the student vector).

        Args:
            content: ``m x d`` content embeddings.
            saves: optional ``(new_pin, board_idx)``: new pin ``new_pin[i]`` was saved to board
                ``board_idx[i]``.
        """
        student = self.student_emb(content)
        m, k = len(content), self.pin_factors.shape[1]
        cold = np.ones(m, dtype=bool)
        folded = np.zeros((m, k), np.float32)
        if saves is not None and len(saves[0]):
            if self.fold is None:  # an ALS teacher (fit_full and load_full set fold only for a blend)
                folded, has = fold_in(self.board_factors, student, saves, self.alpha, self.regularization)
            else:
                f = self.fold
                als, has = fold_in(
                    f.fold_board,
                    np.zeros((m, f.fold_board.shape[1]), np.float32),
                    saves,
                    self.alpha,
                    self.regularization,
                )
                column = (als @ f.fold_board.T - f.fold_mean) / f.fold_std  # m x boards
                folded = project(self.board_factors, column, student, PROJECT_PRIOR)
            cold = ~has
        out, _ = pad(pin_vectors(folded, student, cold, self.stats.ratio, self.prior(content)), self.pin_norm)
        return out


# Ridge weight of the student prior when a new pin's score column is projected into a blend
# teacher's space, relative to the mean eigenvalue of board^T board. Measured on the tiny run
# (64 warm pins re-added with their own saves; original's rank and cosine): 0.3 -> rank 1 for
# 95 %, cosine 0.913; 0.5 -> 94 %, 0.926; 1.0 -> 84 %, 0.939; no prior -> 98 %, 0.858.
PROJECT_PRIOR = 0.5


def project(board: np.ndarray, columns: np.ndarray, prior: np.ndarray, weight: float) -> np.ndarray:
    """Pin vectors ``v`` minimising ``|c - board v|^2 + lambda |v - prior|^2`` per score column ``c``,
    ``lambda = weight x`` the mean eigenvalue of ``board^T board`` (scale-free)."""
    b = board.astype(np.float64)
    a = b.T @ b
    lam = weight * np.trace(a) / len(a)
    a += lam * np.eye(len(a))
    rhs = columns.astype(np.float64) @ b + lam * prior.astype(np.float64)
    return np.linalg.solve(a, rhs.T).T.astype(np.float32)


def fold_in(
    board: np.ndarray, prior: np.ndarray, saves: tuple[np.ndarray, np.ndarray], alpha: float, regularization: float
) -> tuple[np.ndarray, np.ndarray]:
    """ALS item vectors of new pins from their saves (board vectors fixed), ridge prior ``prior``.

    Solves ``(U^T U + alpha U_S^T U_S + lambda I) v = (1 + alpha) U_S^T 1 + lambda prior`` per pin
    (``U_S``: the boards it was saved to). Returns ``(vectors, has_saves)``.
    """
    pins, boards = np.asarray(saves[0], np.int64), np.asarray(saves[1], np.int64)
    k = board.shape[1]
    gram = board.T.astype(np.float64) @ board.astype(np.float64) + regularization * np.eye(k)
    out = np.zeros((len(prior), k), np.float32)
    has = np.zeros(len(prior), dtype=bool)
    for p in np.unique(pins):
        us = board[boards[pins == p]].astype(np.float64)
        a = gram + alpha * us.T @ us
        rhs = (1.0 + alpha) * us.sum(0) + regularization * prior[p]
        out[p] = np.linalg.solve(a, rhs)
        has[p] = True
    return out, has


def fit_full(
    graph: PinBoardGraph, content: np.ndarray, cfg: FullConfig, factors: Mapping[str, GivenFactors] | None = None
) -> FullModel:
    """Fit teacher and student on the train split and choose the calibration on validation.

    ``factors``: teacher families fitted elsewhere (``fit_teacher``; ``lightgcn``)."""
    t0 = time.perf_counter()
    cold = graph.is_cold
    teacher = fit_teacher(graph, cfg.teacher, cfg.calibration.k, cfg.seed, factors)
    board, pin = teacher.board, teacher.pin
    t1 = time.perf_counter()
    warm = np.flatnonzero(~cold)
    student, losses = train_student(content, pin, board, graph.edges("train"), warm, cfg.student, cfg.seed)
    kind, neighbours, scale, student_grid = choose_student(graph, content, board, pin, student, cfg)
    t2 = time.perf_counter()
    recency = recency_feature(graph.saves.get("train"), graph.n_boards)
    s_pin = student_vectors(kind, student, neighbours, scale, content[cold])
    floor = teacher.guard_floor(cfg.calibration.tolerance)
    prior = popularity_prior(graph, content, cfg.calibration.popularity_ridge)
    stats, norm, grid = calibrate(graph, board, pin, s_pin, recency, cfg.calibration, floor, prior(content))
    best = grid[0]
    t3 = time.perf_counter()
    log.info(
        "full: offset %.2f, recency weight %.2f, popularity weight %.2f (validation %s)",
        best["offset"],
        best["recency_weight"],
        best["popularity_weight"],
        {k: round(v, 4) for k, v in best["val"].items()},
    )
    info = {
        "chosen": {
            "offset": best["offset"],
            "recency_weight": best["recency_weight"],
            "popularity_weight": best["popularity_weight"],
            "val": best["val"],
            "teacher": teacher.chosen,
            "student": student_grid[0],
            "guard_floor": floor,
        },
        "grid": grid,
        "teacher_grid": teacher.rows,
        "student_grid": student_grid,
        "student_losses": losses,
        "ratio": stats.ratio,
        "seconds": {"teacher": round(t1 - t0, 3), "student": round(t2 - t1, 3), "calibration": round(t3 - t2, 3)},
    }
    return FullModel(
        board,
        pin,
        student,
        stats,
        recency,
        best["offset"],
        best["recency_weight"],
        norm,
        teacher.regularization,
        teacher.alpha,
        info,
        teacher if len(teacher.fold_board) else None,
        kind,
        neighbours,
        scale,
        prior,
        best["popularity_weight"],
    )


def popularity_prior(graph: PinBoardGraph, content: np.ndarray, ridge: float) -> PopularityPrior:
    """The content -> popularity prior fitted on the warm pins' train saves (graphrec/hybrid/prior.py)."""
    degree = np.asarray(binary(graph, "train").sum(0)).ravel()
    return fit_prior(content, degree, np.flatnonzero(~graph.is_cold), np.flatnonzero(graph.is_cold), ridge)


def student_vectors(
    kind: str, student: Student, neighbours: ContentNeighbours | None, scale: float, content: np.ndarray
) -> np.ndarray:
    """Teacher-space vectors of ``content`` by the inductive path ``kind``."""
    if kind == "mlp":
        return student.embed(content)
    assert neighbours is not None, kind
    nb = neighbours.embed(content) * scale
    return nb if kind == "neighbours" else (0.5 * (student.embed(content) + nb)).astype(np.float32)


def choose_student(
    graph: PinBoardGraph, content: np.ndarray, board: np.ndarray, pin: np.ndarray, mlp: Student, cfg: FullConfig
) -> tuple[str, ContentNeighbours | None, float, list[dict[str, Any]]]:
    """The inductive path with the best validation Recall@k of cold pins ranked among the cold
    pins (``full.student.kind``; ties: the simpler). Returns ``(kind, neighbours, mix scale, rows
    best first)``; the neighbour vectors are scaled to the MLP's mean norm over the warm pins."""
    cold, warm = np.flatnonzero(graph.is_cold), np.flatnonzero(~graph.is_cold)
    kinds = ("mlp", "neighbours", "mix") if cfg.student.kind == "auto" else (cfg.student.kind,)
    if not len(cold) or kinds == ("mlp",):
        return "mlp", None, 1.0, [{"kind": "mlp"}]
    known, held = binary(graph, "train")[:, cold], binary(graph, "val")[:, cold]
    s_mlp = mlp.embed(content[cold])
    ref = float(np.linalg.norm(mlp.embed(content[warm]), axis=1).mean())
    rows, options = [], {}
    if "mlp" in kinds:
        rows.append({"kind": "mlp", "val_cold_recall": warm_recall(board @ s_mlp.T, known, held, cfg.calibration.k)})
        options[len(rows) - 1] = ("mlp", None, 1.0)
    for k, temp in itertools.product(cfg.student.neighbours, cfg.student.neighbour_temperature):
        nb = ContentNeighbours(unit_rows(content[warm]), pin[warm], int(k), float(temp))
        scale = ref / max(float(np.linalg.norm(nb.embed(content[warm]), axis=1).mean()), 1e-12)
        v = nb.embed(content[cold]) * scale
        for kind in ("neighbours", "mix"):
            if kind in kinds:
                s = v if kind == "neighbours" else 0.5 * (s_mlp + v)
                rows.append(
                    {
                        "kind": kind,
                        "neighbours": int(k),
                        "temperature": float(temp),
                        "val_cold_recall": warm_recall(board @ s.T, known, held, cfg.calibration.k),
                    }
                )
                options[len(rows) - 1] = (kind, nb, scale)
    order = sorted(range(len(rows)), key=lambda i: (-rows[i]["val_cold_recall"], i))
    kind, nb, scale = options[order[0]]
    log.info(
        "full student: %s (validation cold-only Recall@%d %.4f)",
        {k: v for k, v in rows[order[0]].items() if k != "val_cold_recall"},
        cfg.calibration.k,
        rows[order[0]]["val_cold_recall"],
    )
    return kind, nb, scale, [rows[i] for i in order]


def calibrate(
    graph: PinBoardGraph,
    board: np.ndarray,
    pin: np.ndarray,
    cold_student: np.ndarray,
    recency: np.ndarray,
    cal: CalibrationConfig,
    floor: float,
    prior: np.ndarray | None = None,
) -> tuple[BoardStats, float, list[dict[str, Any]]]:
    """Score statistics, the padding norm and the validation grid (best first) for teacher
    vectors ``pin`` (warm rows), inductive vectors ``cold_student`` (one row per cold pin) and the
    popularity prior ``prior`` (one z-score per graph pin; None: no prior, weight 0 only)."""
    cold = graph.is_cold
    s_pin = np.zeros(pin.shape, np.float32)
    s_pin[cold] = cold_student
    stats = board_stats(board, pin, s_pin, cold)
    pins, norm = pad(pin_vectors(pin, s_pin, cold, stats.ratio, prior))
    priors = cal.popularity if prior is not None and prior[cold].any() else (0.0,)
    return stats, norm, _choose(graph, board, stats, recency, pins, norm, cal, floor, priors)


def ablate(
    model: FullModel, graph: PinBoardGraph, content: np.ndarray, cfg: FullConfig, floor: float, variant: str
) -> FullModel:
    """The ``variant`` of :data:`ABLATIONS` of a fitted ``model`` (calibration re-chosen on
    validation by the same criterion; ``floor``: the guarded criterion's, the manifest's
    ``chosen.guard_floor``)."""
    if variant not in ABLATIONS:
        raise ValueError(f"full ablation: expected one of {list(ABLATIONS)}, got {variant!r}")
    out = dataclasses.replace(model, info={})
    if variant == "teacher_only":
        out.offset, out.recency_weight, out.prior_weight = NO_COLD, 0.0, 0.0
        return out
    if variant == "mlp_no_recency":
        out.student_kind, out.neighbours = "mlp", None
    cal = dataclasses.replace(cfg.calibration, recency=(0.0,))
    cold = graph.is_cold
    out.stats, out.pin_norm, grid = calibrate(
        graph, model.board_factors, model.pin_factors, out.student_emb(content[cold]), model.recency, cal, floor
    )
    out.offset, out.recency_weight, out.prior_weight = grid[0]["offset"], 0.0, 0.0
    out.prior = PopularityPrior.none()
    out.info = {"chosen": grid[0]}
    return out


NO_COLD = -1.0e4  # a cold offset no student z-score reaches: the teacher's ranking alone


def _choose(
    graph: PinBoardGraph,
    board: np.ndarray,
    stats: BoardStats,
    recency: np.ndarray,
    pins: np.ndarray,
    norm: float,
    cal: CalibrationConfig,
    floor: float,
    priors: tuple[float, ...] = (0.0,),
) -> list[dict[str, Any]]:
    """Every grid point scored on validation, best first by ``cal.criterion`` (ties: more warm
    recall, then the smaller offset and weights). ``floor``: the least validation warm recall
    the ``guarded`` criterion keeps (``Teacher.guard_floor``); ``priors``: the popularity weights."""
    known, held = binary(graph, "train"), binary(graph, "val")
    weights = cal.recency if recency.any() else (0.0,)
    points = list(itertools.product(cal.offsets, weights))
    # one scoring pass per popularity weight: the (offset, recency) points differ only by a
    # per-board constant on cold pins, which (pins padded to norm M, calibrate.py) is
    # (offset + weight * r_b) / M in raw score units
    shifts = np.array([(o + w * recency) / norm for o, w in points], dtype=np.float64)
    rows = []
    for a in priors:
        base = board_vectors(board, stats, 0.0, 0.0, recency, a)
        base = np.hstack([base, np.zeros((len(base), 1), np.float32)])
        vals = grid_recall(base, pins, known, held, graph.is_cold, shifts, cal.k)
        rows += [
            {
                "offset": float(o),
                "recency_weight": float(w),
                "popularity_weight": float(a),
                "val": val,
                "score": float(criterion_score(val, cal.criterion, floor)),
            }
            for (o, w), val in zip(points, vals)
        ]
    return sorted(
        rows,
        key=lambda r: (-r["score"], -r["val"]["warm"], r["offset"], r["recency_weight"], r["popularity_weight"]),
    )


def criterion_score(val: dict[str, float], criterion: str, floor: float) -> float:
    """The number a calibration grid point is chosen by (higher is better).

    ``guarded``: cold recall where warm recall is at least ``floor``, else ``warm - 1`` (below
    every eligible point: with none eligible, the most warm recall wins)."""
    cold = float(np.nan_to_num(val["cold"]))
    if criterion == "all":
        return val["all"]
    if criterion == "macro":
        return 0.5 * (val["warm"] + cold)
    return cold if val["warm"] >= floor else val["warm"] - 1.0
