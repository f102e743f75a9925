"""implicit's ALS over a pins x boards adjacency (boards = users, pins = items)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def fit_als(
    train: sp.csr_matrix, factors: int, regularization: float, alpha: float, iterations: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(board_factors, pin_factors)`` float32 of one ALS fit; pins without a train save get a zero row.

    Args:
        train: the pins x boards train adjacency (any positive value counts as one save).
        factors, regularization: latent dimension and L2 weight.
        alpha: confidence of a save.
        iterations: ALS sweeps.
        seed: implicit's random_state.
    """
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    user_items = sp.csr_matrix(train.T, dtype=np.float32)
    user_items.data[:] = 1.0
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            num_threads=1,
            random_state=seed,
        )
        model.fit(user_items, show_progress=False)
    board = np.ascontiguousarray(model.user_factors, dtype=np.float32)
    pin = np.ascontiguousarray(model.item_factors, dtype=np.float32)
    pin[np.diff(train.indptr) == 0] = 0.0
    return board, pin
