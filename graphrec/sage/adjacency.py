"""The pin-board adjacency the sampler walks on, in both directions, as plain CSR index arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

PIN, BOARD = "pin", "board"


@dataclass(frozen=True)
class Bipartite:
    """A bipartite pin-board graph as two CSR index structures (int64).

    Args:
        n_pins, n_boards: node counts (isolated nodes included).
        pin_ptr, pin_nbr: boards of pin i are ``pin_nbr[pin_ptr[i]:pin_ptr[i + 1]]``.
        board_ptr, board_nbr: pins of board j are ``board_nbr[board_ptr[j]:board_ptr[j + 1]]``.
    """

    n_pins: int
    n_boards: int
    pin_ptr: np.ndarray
    pin_nbr: np.ndarray
    board_ptr: np.ndarray
    board_nbr: np.ndarray

    @classmethod
    def from_edges(cls, pin: np.ndarray, board: np.ndarray, n_pins: int, n_boards: int) -> Bipartite:
        """Build from (pin, board) edge arrays; duplicates are collapsed."""
        m = sp.csr_matrix(
            (np.ones(len(pin), np.float32), (np.asarray(pin), np.asarray(board))), shape=(n_pins, n_boards)
        )
        return cls.from_csr(m)

    @classmethod
    def from_csr(cls, csr: sp.spmatrix) -> Bipartite:
        """Build from a pins x boards sparse matrix (any nonzero is an edge)."""
        m = sp.csr_matrix(csr, dtype=np.float32, copy=True)
        m.sum_duplicates()
        m.sort_indices()
        t = m.T.tocsr()
        t.sort_indices()
        return cls(
            m.shape[0],
            m.shape[1],
            m.indptr.astype(np.int64),
            m.indices.astype(np.int64),
            t.indptr.astype(np.int64),
            t.indices.astype(np.int64),
        )

    @property
    def n_edges(self) -> int:
        return int(len(self.pin_nbr))

    def side(self, ntype: str) -> tuple[np.ndarray, np.ndarray]:
        """``(ptr, nbr)`` of the CSR that starts at node type ``ntype``."""
        return (self.pin_ptr, self.pin_nbr) if ntype == PIN else (self.board_ptr, self.board_nbr)

    def degree(self, ntype: str) -> np.ndarray:
        ptr, _ = self.side(ntype)
        return np.diff(ptr)

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """``(pin, board)`` arrays sorted by pin."""
        return np.repeat(np.arange(self.n_pins), np.diff(self.pin_ptr)), self.pin_nbr.copy()

    def pins_by_board(self) -> sp.csr_matrix:
        """Boards x pins adjacency (float32 ones)."""
        data = np.ones(len(self.board_nbr), np.float32)
        return sp.csr_matrix((data, self.board_nbr, self.board_ptr), shape=(self.n_boards, self.n_pins))

    def row_normalized(self, ntype: str) -> sp.csr_matrix:
        """Transition matrix of one hop from ``ntype`` (rows sum to 1; empty rows stay 0)."""
        ptr, nbr = self.side(ntype)
        deg = np.diff(ptr)
        data = np.repeat(1.0 / np.maximum(deg, 1), deg).astype(np.float32)
        shape = (self.n_pins, self.n_boards) if ntype == PIN else (self.n_boards, self.n_pins)
        return sp.csr_matrix((data, nbr, ptr), shape=shape)


def split_edges(
    bip: Bipartite, fraction: float, rng: np.random.Generator, cold_fraction: float = 0.0
) -> tuple[Bipartite, np.ndarray, np.ndarray]:
    """Hold edges out of message passing as supervision edges (the positives to predict).

    A ``cold_fraction`` of the pins with edges become pseudo-cold: all their edges are held out,
    as the graph split does with its cold pins (whose saves are all in val/test). Of the other
    edges a random ``fraction`` is held out. Every board keeps at least one message edge (a
    board with none would have no input feature).

    Returns:
        ``(message_graph, sup_pin, sup_board)``.
    """
    pin, board = bip.edges()
    held = rng.random(len(pin)) < fraction
    if cold_fraction > 0:
        warm = np.flatnonzero(bip.degree(PIN) > 0)
        cold = np.zeros(bip.n_pins, bool)
        cold[warm[rng.random(len(warm)) < cold_fraction]] = True
        held |= cold[pin]
    if held.any():
        # Give back one edge to each board that lost all of its edges (its first, deterministic).
        kept_per_board = np.bincount(board[~held], minlength=bip.n_boards)
        order = np.lexsort((pin, board))
        first = order[np.r_[0, np.flatnonzero(np.diff(board[order])) + 1]] if len(order) else order
        restore = first[kept_per_board[board[first]] == 0]
        held[restore] = False
    msg = Bipartite.from_edges(pin[~held], board[~held], bip.n_pins, bip.n_boards)
    return msg, pin[held], board[held]
