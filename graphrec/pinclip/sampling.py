"""Neighbour-alignment pairs from the train graph only: pin -> board -> pin, vectorised."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


class CoBoardSampler:
    """Samples, for anchor pins, a pin sharing one of their train boards.

    Args:
        train_adj: pins x boards CSR of **train** saves (val/test saves never enter).
    """

    def __init__(self, train_adj: sp.csr_matrix) -> None:
        self.pin_board = train_adj.tocsr().astype(np.float32)
        self.board_pin = self.pin_board.T.tocsr()
        self.pin_deg = np.diff(self.pin_board.indptr)
        self.board_deg = np.diff(self.board_pin.indptr)
        self.anchors = np.flatnonzero(self.pin_deg > 0)

    def positives(self, anchors: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(positive pin, via board) for each anchor; a board's other pin when it has one."""
        pd_ = self.pin_deg[anchors]
        if np.any(pd_ == 0):
            raise ValueError("anchors must have at least one train save")
        board = self.pin_board.indices[
            self.pin_board.indptr[anchors] + (rng.random(len(anchors)) * pd_).astype(np.int64)
        ]
        bd = self.board_deg[board]
        k = (rng.random(len(anchors)) * bd).astype(np.int64)
        start = self.board_pin.indptr[board]
        pos = self.board_pin.indices[start + k]
        # If we drew the anchor itself and the board has another pin, take the next one.
        same = (pos == anchors) & (bd > 1)
        pos[same] = self.board_pin.indices[start[same] + (k[same] + 1) % bd[same]]
        return pos.astype(np.int64), board.astype(np.int64)

    def co_board(self, left: np.ndarray, right: np.ndarray) -> torch.Tensor:
        """(len(left), len(right)) bool: pins sharing a train board, or the same pin."""
        share = (self.pin_board[left] @ self.pin_board[right].T).toarray() > 0
        share |= left[:, None] == right[None, :]
        return torch.from_numpy(share)
