"""Test-only recommenders with scores chosen by the test."""

from __future__ import annotations

import numpy as np
import torch

from eval.recommenders.base import Recommender
from graph_build.graph import PinBoardGraph


class FixedScores(Recommender):
    """Scores given as dense matrices (boards x pins, pins x pins).

    Args:
        board_scores: ``n_boards x n_pins``.
        pin_scores: ``n_pins x n_pins`` (default: zeros).
        can_score_cold: the contract flag to advertise.
    """

    def __init__(self, board_scores: np.ndarray, pin_scores: np.ndarray | None = None, name: str = "fixed",
                 can_score_cold: bool = True) -> None:
        super().__init__()
        self.name = name
        self.can_score_cold = can_score_cold
        self.b = torch.as_tensor(board_scores, dtype=torch.float32)
        self.p = torch.as_tensor(pin_scores if pin_scores is not None else np.zeros((board_scores.shape[1],) * 2),
                                 dtype=torch.float32)

    def _fit(self, graph: PinBoardGraph) -> None:
        assert self.b.shape == (graph.n_boards, graph.n_pins)

    def _board_scores(self, boards: torch.Tensor) -> torch.Tensor:
        return self.b[boards].clone()

    def _pin_scores(self, pins: torch.Tensor) -> torch.Tensor:
        return self.p[pins].clone()


def board_pin_dense(graph: PinBoardGraph, splits: tuple[str, ...]) -> np.ndarray:
    """``n_boards x n_pins`` 0/1 matrix of the saves in ``splits``."""
    m = np.zeros((graph.n_boards, graph.n_pins))
    for s in splits:
        pin, board = graph.edges(s)
        m[board, pin] = 1.0
    return m
