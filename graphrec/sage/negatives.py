"""Negatives: uniform "easy" ones shared by a batch and PinSage's curriculum hard negatives.

Hard negatives of a query board are pins ranked inside a window by a truncated personalised
PageRank from the board over the train graph: the 3-hop visit probability
``e_b A_bp A_pb A_bp`` (board -> pin -> board -> pin), with the board's own pins removed. PinSage
takes ranks 2000-5000 among billions of pins; we scale the window to the catalogue
(``hard_rank_lo``/``hard_rank_hi`` fractions, 1 %-5 % by default) and cap it at 2000-5000. A row
whose 3-hop support is smaller than the window uses the same relative window of its support;
a row with no support falls back to uniform pins.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from graphrec.sage.adjacency import BOARD, PIN, Bipartite

PINSAGE_WINDOW = (2000, 5000)


def rank_window(n_pins: int, lo_frac: float, hi_frac: float) -> tuple[int, int]:
    """The hard-negative rank window ``[lo, hi)`` for a catalogue of ``n_pins``."""
    lo = min(max(1, math.ceil(lo_frac * n_pins)), PINSAGE_WINDOW[0])
    hi = min(max(lo + 1, math.ceil(hi_frac * n_pins)), PINSAGE_WINDOW[1])
    return lo, hi


class HardNegativeMiner:
    """Hard negative pins of each board, drawn from a PPR rank window.

    The 3-hop scores are computed once, in chunks of boards, over the train graph; for each
    board a pool of ``pool_size`` pins is drawn uniformly from its rank window, and batches draw
    their hard negatives from the pool. Cost is O(boards x 3-hop support), paid once per run.

    Args:
        bip: the graph to rank on (the train graph; a board's own pins are never negatives).
        lo_frac, hi_frac: the rank window as fractions of the catalogue (see ``rank_window``).
        pool_size: candidates kept per board.
        rng: generator for drawing the pools.
        chunk: boards scored at once (bounds memory).
    """

    def __init__(
        self, bip: Bipartite, lo_frac: float, hi_frac: float, pool_size: int, rng: np.random.Generator, chunk: int = 512
    ):
        self.n_pins = bip.n_pins
        self.a_bp = bip.row_normalized(BOARD)  # boards x pins
        self.a_pb = bip.row_normalized(PIN)  # pins x boards
        self.lo, self.hi = rank_window(bip.n_pins, lo_frac, hi_frac)
        parts = [
            self._draw(np.arange(lo, min(lo + chunk, bip.n_boards)), pool_size, rng)
            for lo in range(0, bip.n_boards, chunk)
        ]
        self.pool = np.concatenate(parts) if parts else np.empty((0, pool_size), np.int64)

    def scores(self, boards: np.ndarray) -> sp.csr_matrix:
        """3-hop visit probabilities from each board, its own pins removed (``[len(boards), n_pins]``)."""
        own = self.a_bp[boards]
        s = ((own @ self.a_pb) @ self.a_bp).tocsr()
        s = s - s.multiply(own > 0)
        s.eliminate_zeros()
        s.sort_indices()
        return s

    def _draw(self, boards: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """``[len(boards), k]`` pins drawn uniformly from each board's rank window."""
        n = len(boards)
        s = self.scores(boards)
        nnz = np.diff(s.indptr)
        row = np.repeat(np.arange(n), nnz)
        # rank inside each row by score (desc), ties by pin index: one stable sort of the chunk
        order = np.argsort(row * 4.0 - s.data / max(float(s.data.max(initial=0.0)), 1e-30), kind="stable")
        hi = np.minimum(nnz, self.hi)
        lo = np.where(nnz >= self.hi, self.lo, (nnz * self.lo) // self.hi)
        u = rng.random((n, k))
        pos = s.indptr[:-1, None] + lo[:, None] + (u * (hi - lo)[:, None]).astype(np.int64)
        pos = np.minimum(pos, np.maximum(s.indptr[1:] - 1, 0)[:, None])
        out = s.indices[order[np.minimum(pos, max(s.nnz - 1, 0))]] if s.nnz else np.zeros((n, k), np.int64)
        fallback = rng.integers(0, self.n_pins, (n, k))
        return np.where((nnz == 0)[:, None], fallback, out).astype(np.int64)

    def sample(self, boards: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """``[len(boards), k]`` hard negatives per query board, drawn from the boards' pools."""
        n = len(boards)
        if k == 0 or n == 0:
            return np.empty((n, k), np.int64)
        cols = rng.integers(0, self.pool.shape[1], (n, k))
        return self.pool[np.asarray(boards, np.int64)[:, None], cols]


def easy_negatives(pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` pins drawn uniformly from ``pool``, shared by a batch."""
    return pool[rng.integers(0, len(pool), k)]
