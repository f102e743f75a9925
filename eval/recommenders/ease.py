"""``ease``: Steck's closed-form item-item model (EASE^R, WWW 2019) on the train saves.

With ``X`` the boards x pins train matrix and ``G = X^T X``::

    P = (G + lambda I)^-1,    B = I - P / diag(P)   (column j divided by P_jj; diag(B) = 0)

and a board's score of pin ``j`` is ``(X B)_j``. A cold pin has an all-zero column of ``X``, so
its row and column of ``B`` are zero: the matrix is built over the warm pins only and
``can_score_cold = False``. Pin -> pin relatedness of ``i`` to ``j`` is ``B_ij``. The dense
warm x warm inverse is the cost (memory ``n_warm^2`` floats, a few times over): above
``max_pins`` warm pins the model is skipped (``ModelSkipped``) instead of running out of memory.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import torch

from eval.config import EASEConfig
from eval.recommenders.base import ModelSkipped, Recommender
from graph_build.graph import PinBoardGraph
from graphrec.cf.ease import ease_weights, warm_gram

log = logging.getLogger(__name__)


class EASERecommender(Recommender):
    """EASE with one ``lambda`` (the grid search is ``SelectedOnValidation`` around it).

    Args:
        lam: L2 weight ``lambda`` (> 0).
        cfg: ``max_pins`` and ``dtype``.
    """

    name = "ease"
    can_score_cold = False

    def __init__(self, lam: float, cfg: EASEConfig, shared: dict | None = None) -> None:
        super().__init__()
        self.lam, self.cfg = float(lam), cfg
        self._shared = shared if shared is not None else {}  # the Gram matrix, shared by a grid
        self.weights: np.ndarray | None = None  # n_warm x n_warm float32
        self._x: sp.csr_matrix | None = None  # boards x warm pins
        self._warm: np.ndarray | None = None  # warm pin ids
        self._pos: np.ndarray | None = None  # pin id -> warm position (-1 for cold)

    def _fit(self, graph: PinBoardGraph) -> None:
        n_warm = int((~graph.is_cold).sum())
        if n_warm > self.cfg.max_pins:
            raise ModelSkipped(
                f"ease: {n_warm:,} warm pins > ease.max_pins {self.cfg.max_pins:,} "
                f"(a dense {n_warm:,}^2 inverse); raise ease.max_pins to run it"
            )
        dtype = np.float64 if self.cfg.dtype == "float64" else np.float32
        if self._shared.get("graph") is not graph:
            self._shared.clear()
            self._shared.update(graph=graph, data=warm_gram(graph, dtype))
        xw, warm, gram = self._shared["data"]
        self.weights = ease_weights(gram, self.lam, dtype).astype(np.float32, copy=False)
        self._x, self._warm = xw, warm
        self._pos = np.full(graph.n_pins, -1, dtype=np.int64)
        self._pos[warm] = np.arange(len(warm))
        log.debug("ease lambda=%g: %d warm pins", self.lam, len(warm))

    def _scatter(self, rows: np.ndarray) -> torch.Tensor:
        assert self._pos is not None
        out = torch.zeros((rows.shape[0], len(self._pos)), dtype=torch.float32)
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        out[:, torch.from_numpy(self._warm)] = torch.from_numpy(rows)
        return out

    def _board_scores(self, boards: torch.Tensor) -> torch.Tensor:
        assert self._x is not None and self.weights is not None
        return self._scatter(np.asarray(self._x[boards.numpy()] @ self.weights))

    def _pin_scores(self, pins: torch.Tensor) -> torch.Tensor:
        assert self._pos is not None and self.weights is not None
        pos = self._pos[pins.numpy()]
        rows = np.zeros((len(pos), self.weights.shape[1]), dtype=np.float32)
        rows[pos >= 0] = self.weights[pos[pos >= 0]]
        return self._scatter(rows)
