"""``rp3beta``: the 3-step random-walk item similarity of Paudel et al. (2017), as in Dacrema et al.

With ``X`` the boards x pins train matrix, ``P_bp = X / deg(board)`` (board -> pin step) and
``P_pb = X^T / deg(pin)`` (pin -> board step), every transition probability raised to ``alpha``::

    W_ij = sum_b P_pb[i, b]^alpha * P_bp[b, j]^alpha / deg(j)^beta,    W_ii = 0

optionally keeping the ``top_k`` largest entries of each row ``i``. A board's score of pin ``j``
is ``(X W)_j`` (its pins start the walk); pin -> pin relatedness of ``i`` to ``j`` is ``W_ij``.
``beta`` > 0 penalises popular targets. A cold pin has no train save, so no walk reaches it:
``can_score_cold = False``.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import torch

from eval.recommenders.base import Recommender
from graph_build.graph import PinBoardGraph
from graphrec.cf.rp3beta import rp3beta_weights

log = logging.getLogger(__name__)


class RP3betaRecommender(Recommender):
    """RP3beta with one ``(alpha, beta)`` (the grid search is ``SelectedOnValidation`` around it).

    Args:
        alpha: exponent of the transition probabilities (> 0).
        beta: popularity penalty exponent (>= 0).
        top_k: keep this many neighbours per pin (0 = all).
    """

    name = "rp3beta"
    can_score_cold = False

    def __init__(self, alpha: float, beta: float, top_k: int = 0) -> None:
        super().__init__()
        self.alpha, self.beta, self.top_k = float(alpha), float(beta), int(top_k)
        self.weights: sp.csr_matrix | None = None
        self._x: sp.csr_matrix | None = None

    def _fit(self, graph: PinBoardGraph) -> None:
        self._x = graph.csr("train").T.tocsr().astype(np.float32)
        w = rp3beta_weights(self._x, self.alpha, self.beta, self.top_k)
        self.weights = w.astype(np.float32)
        log.debug("rp3beta alpha=%g beta=%g: %d similarity entries", self.alpha, self.beta, self.weights.nnz)

    def _board_scores(self, boards: torch.Tensor) -> torch.Tensor:
        assert self._x is not None and self.weights is not None
        return torch.from_numpy((self._x[boards.numpy()] @ self.weights).toarray())

    def _pin_scores(self, pins: torch.Tensor) -> torch.Tensor:
        assert self.weights is not None
        return torch.from_numpy(self.weights[pins.numpy()].toarray())
