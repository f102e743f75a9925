"""Input node features: pins from their content vectors, boards from the mean of their pins.

With ``model.degree_feature`` (PinSage adds log degree to its inputs) both node types get one
more column, ``log1p(degree) / 4``. During training the degree is counted on the message graph
and rescaled by ``1 / (1 - supervision_fraction)`` so it matches the whole train graph used at
inference; pins isolated by neighbourhood dropout see degree 0, exactly as cold pins do.
"""

from __future__ import annotations

import numpy as np
import torch

from graphrec.embeddings import l2_normalize
from graphrec.sage.adjacency import BOARD, PIN, Bipartite

DEGREE_SCALE = 4.0


def board_features(pin_x: np.ndarray, bip: Bipartite) -> np.ndarray:
    """L2-normalised mean of each board's pins in ``bip`` (zero for a board without pins).

    During training ``bip`` is the message graph, so a held-out (supervision) pin never leaks
    into its board's input feature; at inference it is the whole train graph.
    """
    return l2_normalize(np.asarray(bip.pins_by_board() @ np.asarray(pin_x, np.float32)))


def degree_column(degree: np.ndarray, boost: float = 1.0) -> np.ndarray:
    """``[n, 1]`` float32 ``log1p(degree * boost) / 4``."""
    return (np.log1p(np.asarray(degree, np.float64) * boost) / DEGREE_SCALE).astype(np.float32)[:, None]


def node_inputs(pin_x: np.ndarray, bip: Bipartite, degree: bool = False, boost: float = 1.0) -> dict[str, torch.Tensor]:
    """``{"pin": [n_pins, d (+1)], "board": [n_boards, d (+1)]}`` float32 tensors.

    Args:
        pin_x: ``[n_pins, d]`` content features.
        bip: the graph whose edges define board features (and degrees).
        degree: append the log-degree column.
        boost: degree multiplier (train-time correction for held-out supervision edges).
    """
    pin = np.ascontiguousarray(pin_x, dtype=np.float32)
    board = board_features(pin, bip)
    if degree:
        pin = np.concatenate([pin, degree_column(bip.degree(PIN), boost)], axis=1)
        board = np.concatenate([board, degree_column(bip.degree(BOARD), boost)], axis=1)
    return {PIN: torch.from_numpy(pin), BOARD: torch.from_numpy(board)}
