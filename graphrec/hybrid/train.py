"""Fitting ``full``: teacher on the train saves, student on warm pins, calibration on validation.

Only the **train** saves fit anything; the validation saves choose the calibration (offset and
recency weight) from the config's grids, exactly as every other setting here is chosen.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from graph_build.graph import PinBoardGraph
from graphrec.hybrid.calibrate import (BoardStats, board_stats, board_vectors, pad, pin_vectors, recency_feature,
                                       slice_recall, unit_boards)
from graphrec.hybrid.config import FullConfig, TeacherConfig
from graphrec.hybrid.student import Student, train_student
from graphrec.hybrid.teacher import fit_als

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
    regularization: float = 0.05  # the chosen teacher's (the fold-in of new pins uses it)
    info: dict[str, Any] = field(default_factory=dict)

    def board_emb(self) -> np.ndarray:
        return unit_boards(board_vectors(self.board_factors, self.stats, self.offset, self.recency_weight,
                                         self.recency))

    def pin_emb(self, content: np.ndarray, cold: np.ndarray) -> np.ndarray:
        """Unit pin vectors: teacher rows for warm pins, student rows (from ``content``) for cold ones."""
        raw = pin_vectors(self.pin_factors, self.student.embed(content), cold, self.stats.ratio)
        out, _ = pad(raw, self.pin_norm or None)
        return out

    def similarity_vectors(self, content: np.ndarray, cold: np.ndarray) -> np.ndarray:
        """Unit vectors of the shared teacher space (teacher rows for warm pins, student rows for
        cold or new ones): pin -> pin relatedness, where the calibration columns play no part."""
        k = self.pin_factors.shape[1]
        raw = pin_vectors(self.pin_factors[: len(cold)] if len(cold) == len(self.pin_factors) else
                          np.zeros((len(cold), k), np.float32), self.student.embed(content), cold, self.stats.ratio)
        v = raw[:, :k]
        return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def new_pin_emb(self, content: np.ndarray, saves: tuple[np.ndarray, np.ndarray] | None = None,
                    teacher: "TeacherConfig | None" = None) -> np.ndarray:
        """Vectors of pins that are not in the graph (``add-pins``), without retraining.

        A pin without saves takes the inductive (student) path, exactly like a cold pin. A pin
        saved to existing boards is folded into the teacher: one ALS item update against the
        frozen board vectors, with the student vector as the ridge prior's mean, and is then
        scored like a warm pin.

        Args:
            content: ``m x d`` content embeddings.
            saves: optional ``(new_pin, board_idx)``: new pin ``new_pin[i]`` was saved to board
                ``board_idx[i]``.
            teacher: the teacher's settings (regularisation and confidence of the fold-in).
        """
        student = self.student.embed(content)
        m, k = len(content), self.pin_factors.shape[1]
        cold = np.ones(m, dtype=bool)
        folded = np.zeros((m, k), np.float32)
        if saves is not None and len(saves[0]):
            folded, has = fold_in(self.board_factors, student, saves, (teacher or TeacherConfig()).alpha,
                                  self.regularization)
            cold = ~has
        out, _ = pad(pin_vectors(folded, student, cold, self.stats.ratio), self.pin_norm)
        return out


def fold_in(board: np.ndarray, prior: np.ndarray, saves: tuple[np.ndarray, np.ndarray], alpha: float,
            regularization: float) -> tuple[np.ndarray, np.ndarray]:
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


def _split(graph: PinBoardGraph, name: str) -> sp.csr_matrix:
    m = sp.csr_matrix(graph.csr(name).T, dtype=np.float32)
    m.data[:] = 1.0
    return m


def fit_full(graph: PinBoardGraph, content: np.ndarray, cfg: FullConfig) -> FullModel:
    """Fit teacher and student on the train split and choose the calibration on validation."""
    t0 = time.perf_counter()
    cold = graph.is_cold
    board, pin, teacher_grid = choose_teacher(graph, cfg)
    t1 = time.perf_counter()
    warm = np.flatnonzero(~cold)
    student, losses = train_student(content, pin, board, graph.edges("train"), warm, cfg.student, cfg.seed)
    t2 = time.perf_counter()
    s_pin = student.embed(content)
    stats = board_stats(board, pin, s_pin, cold)
    recency = recency_feature(graph.saves.get("train"), graph.n_boards)
    raw = pin_vectors(pin, s_pin, cold, stats.ratio)
    pins, norm = pad(raw)
    grid = _choose(graph, board, stats, recency, pins, cfg)
    best = grid[0]
    t3 = time.perf_counter()
    log.info("full: offset %.2f, recency weight %.2f (validation %s)", best["offset"], best["recency_weight"],
             {k: round(v, 4) for k, v in best["val"].items()})
    info = {"chosen": {"offset": best["offset"], "recency_weight": best["recency_weight"], "val": best["val"],
                       "teacher": teacher_grid[0]},
            "grid": grid, "teacher_grid": teacher_grid, "student_losses": losses, "ratio": stats.ratio,
            "seconds": {"teacher": round(t1 - t0, 3), "student": round(t2 - t1, 3), "calibration": round(t3 - t2, 3)}}
    return FullModel(board, pin, student, stats, recency, best["offset"], best["recency_weight"], norm,
                     float(teacher_grid[0]["regularization"]), info)


def choose_teacher(graph: PinBoardGraph, cfg: FullConfig) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Fit every (factors, regularization) of the teacher grid; keep the best on validation warm
    Recall@20. Returns ``(board_factors, pin_factors, grid rows best first)``."""
    train, known, held = graph.csr("train"), _split(graph, "train"), _split(graph, "val")
    rows, best = [], None
    for factors, reg in itertools.product(cfg.teacher.factors, cfg.teacher.regularization):
        board, pin = fit_als(train, factors, reg, cfg.teacher, cfg.seed)
        val = slice_recall(board, pin, known, held, graph.is_cold, cfg.calibration.k)["warm"]
        rows.append({"factors": int(factors), "regularization": float(reg), "val_warm_recall": float(val)})
        if best is None or val > best[0]:
            best = (val, board, pin)
    rows.sort(key=lambda r: (-r["val_warm_recall"], r["factors"], r["regularization"]))
    log.info("full teacher: %d factors, regularization %g (validation warm Recall@%d %.4f)", rows[0]["factors"],
             rows[0]["regularization"], cfg.calibration.k, rows[0]["val_warm_recall"])
    return best[1], best[2], rows


def _choose(graph: PinBoardGraph, board: np.ndarray, stats: BoardStats, recency: np.ndarray, pins: np.ndarray,
            cfg: FullConfig) -> list[dict[str, Any]]:
    """Every grid point scored on validation, best first (ties: the smaller offset, then weight)."""
    cal = cfg.calibration
    known, held = _split(graph, "train"), _split(graph, "val")
    weights = cal.recency if recency.any() else (0.0,)
    rows = []
    for offset, weight in itertools.product(cal.offsets, weights):
        b = unit_boards(board_vectors(board, stats, offset, weight, recency))
        val = slice_recall(b, pins, known, held, graph.is_cold, cal.k)
        score = val["all"] if cal.criterion == "all" else 0.5 * (val["warm"] + np.nan_to_num(val["cold"]))
        rows.append({"offset": float(offset), "recency_weight": float(weight), "val": val, "score": float(score)})
    return sorted(rows, key=lambda r: (-r["score"], r["offset"], r["recency_weight"]))
