"""Test-only recommenders with scores chosen by the test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
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

    def __init__(
        self,
        board_scores: np.ndarray,
        pin_scores: np.ndarray | None = None,
        name: str = "fixed",
        can_score_cold: bool = True,
    ) -> None:
        super().__init__()
        self.name = name
        self.can_score_cold = can_score_cold
        self.b = torch.as_tensor(board_scores, dtype=torch.float32)
        self.p = torch.as_tensor(
            pin_scores if pin_scores is not None else np.zeros((board_scores.shape[1],) * 2), dtype=torch.float32
        )

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


def hashed_text_features(texts: list[str], dim: int = 64) -> np.ndarray:
    """A fast deterministic stand-in for MiniLM: L2-normalised hashed bag of words."""
    import zlib

    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, t in enumerate(texts):  # tiny test catalogues only
        for w in t.lower().replace(".", " ").split():
            out[i, zlib.crc32(w.encode()) % dim] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@contextmanager
def fake_minilm() -> Iterator[None]:
    """Replace the MiniLM encoder of ``content_minilm`` (and ``blend``) by hashed words."""
    import eval.recommenders.content_minilm as cm

    cm._CACHE.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cm, "encode_texts", lambda texts, cfg: hashed_text_features(texts))
        try:
            yield
        finally:
            cm._CACHE.clear()
