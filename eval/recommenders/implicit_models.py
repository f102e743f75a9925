"""``als`` and ``bpr``: implicit's matrix factorisation with boards as users and pins as items.

Both learn one vector per pin from its train saves, so a cold pin (no train save) has no
learned vector: ``can_score_cold = False`` and the protocol ranks cold pins last.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from eval.config import ALSConfig, BPRConfig
from eval.recommenders.base import FactorRecommender, Factors
from graph_build.graph import PinBoardGraph

log = logging.getLogger(__name__)


def board_pin_matrix(graph: PinBoardGraph) -> sp.csr_matrix:
    """Train saves as the boards x pins (user x item) float32 CSR implicit expects."""
    return graph.csr("train").T.tocsr().astype(np.float32)


def _fit_implicit(make_model, user_items: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Build and fit an implicit model with BLAS limited to one thread (implicit warns and slows otherwise)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        model = make_model()
        model.fit(user_items, show_progress=False)
    return np.asarray(model.user_factors), np.asarray(model.item_factors)


class ALSRecommender(FactorRecommender):
    """Weighted-regularised ALS (implicit 0.7.3, CPU).

    Args:
        cfg: factors, regularization, alpha, iterations, threads.
        seed: implicit's random_state.
    """

    name = "als"
    can_score_cold = False

    def __init__(self, cfg: ALSConfig, seed: int) -> None:
        super().__init__()
        self.cfg, self.seed = cfg, seed

    def _factors(self, graph: PinBoardGraph) -> Factors:
        from implicit.cpu.als import AlternatingLeastSquares

        c = self.cfg
        user, item = _fit_implicit(
            lambda: AlternatingLeastSquares(
                factors=c.factors,
                regularization=c.regularization,
                alpha=c.alpha,
                iterations=c.iterations,
                num_threads=c.num_threads,
                random_state=self.seed,
            ),
            board_pin_matrix(graph),
        )
        return Factors.from_numpy(board=user, pin=item)


class BPRRecommender(FactorRecommender):
    """Bayesian personalised ranking (implicit 0.7.3, CPU); the last factor is the item bias.

    Args:
        cfg: factors, learning_rate, regularization, iterations, threads.
        seed: implicit's random_state.
    """

    name = "bpr"
    can_score_cold = False

    def __init__(self, cfg: BPRConfig, seed: int) -> None:
        super().__init__()
        self.cfg, self.seed = cfg, seed

    def _factors(self, graph: PinBoardGraph) -> Factors:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        c = self.cfg
        user, item = _fit_implicit(
            lambda: BayesianPersonalizedRanking(
                factors=c.factors,
                learning_rate=c.learning_rate,
                regularization=c.regularization,
                iterations=c.iterations,
                num_threads=c.num_threads,
                random_state=self.seed,
            ),
            board_pin_matrix(graph),
        )
        # pin -> pin: cosine of the item vectors without the bias column (the last one)
        emb = item[:, :-1]
        unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return Factors.from_numpy(board=user, pin=item, pin_query=unit, pin_item=unit)
