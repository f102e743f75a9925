"""The ``Recommender`` contract every evaluated model implements, and the factor-model base.

A recommender is fitted on the **train** graph only, then scores every pin of the catalogue
for a batch of boards (board -> pin) or pins (pin -> pin). ``recommend`` / ``similar_pins``
return ``(ids, scores)`` arrays like implicit's API. A model with ``can_score_cold = False``
(it has no vector for a pin without train saves) ranks cold pins last: their score is
``UNSCOREABLE``, below every real score, and a cold query pin scores every pin the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from graph_build.graph import PinBoardGraph

UNSCOREABLE = -1e30
"""Score of a pin the model cannot score (cold pins of ID-based models): ranked last, above masked pins."""


class NotFittedError(RuntimeError):
    """A recommender was asked to score before ``fit``."""


class ModelSkipped(RuntimeError):
    """A model that cannot run on this graph or install (too large, optional package missing);
    the message is the reason, logged and written to the evaluation manifest."""


class Recommender(ABC):
    """Base class: ``fit(graph)``, then ``score_boards`` / ``score_pins`` / ``recommend`` / ``similar_pins``.

    Subclasses set ``name`` and ``can_score_cold`` and implement ``_fit``, ``_board_scores``
    and ``_pin_scores`` (raw ``B x n_pins`` float32 scores); the cold-pin rule lives here, once.
    """

    name: str = "recommender"
    can_score_cold: bool = True

    def __init__(self) -> None:
        self._cold: torch.Tensor | None = None
        self._cold_idx: torch.Tensor | None = None

    def fit(self, graph: PinBoardGraph) -> Recommender:
        """Fit on the train split of ``graph`` (never val/test saves). Returns self."""
        self._cold = torch.from_numpy(graph.is_cold.copy())
        self._cold_idx = None
        self._fit(graph)
        return self

    @abstractmethod
    def _fit(self, graph: PinBoardGraph) -> None: ...

    @abstractmethod
    def _board_scores(self, boards: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def _pin_scores(self, pins: torch.Tensor) -> torch.Tensor: ...

    @property
    def fitted(self) -> bool:
        return self._cold is not None

    def _check(self) -> torch.Tensor:
        if self._cold is None:
            raise NotFittedError(f"{self.name}: call fit(graph) before scoring")
        return self._cold

    def _mask_cold_columns(self, scores: torch.Tensor, cold: torch.Tensor) -> None:
        """``scores[:, cold] = UNSCOREABLE`` in place, through the cold pins' column ids.

        ``index_fill_`` with precomputed ids writes the same values as the boolean column mask
        at a fraction of its cost (the mask cost as much as the model's matmul, docs/scale.md).
        """
        if getattr(self, "_cold_idx", None) is None:
            self._cold_idx = torch.nonzero(cold).squeeze(1)
        scores.index_fill_(1, self._cold_idx, UNSCOREABLE)

    def score_boards(self, boards: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``len(boards) x n_pins`` float32 scores of every pin for each board (higher = better)."""
        cold = self._check()
        scores = self._board_scores(torch.as_tensor(boards, dtype=torch.long)).to(torch.float32)
        if not self.can_score_cold:
            self._mask_cold_columns(scores, cold)
        return scores

    def score_pins(self, pins: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``len(pins) x n_pins`` float32 relatedness of every pin to each query pin (self included)."""
        cold = self._check()
        pins = torch.as_tensor(pins, dtype=torch.long)
        scores = self._pin_scores(pins).to(torch.float32)
        if not self.can_score_cold:
            scores[cold[pins]] = 0.0  # no vector for a cold query: every pin ties
            self._mask_cold_columns(scores, cold)
        return scores

    def recommend(
        self, boards: np.ndarray, k: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` pins per board as ``(ids, scores)`` (``len(boards) x k``), best first.

        Args:
            boards: board indices.
            k: list length (at most the number of pins).
            exclude: optional boards x pins CSR (rows = all boards) of pins never to return,
                e.g. the train saves; they are dropped (``-1`` ids / ``-inf`` if too few remain).
        """
        scores = self.score_boards(boards)
        if exclude is not None:
            scores[_dense_rows(exclude, np.asarray(boards))] = -torch.inf
        return _topk(scores, k)

    def similar_pins(self, pins: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` related pins per query pin as ``(ids, scores)``, the query itself excluded."""
        pins = np.asarray(pins, dtype=np.int64)
        scores = self.score_pins(pins)
        scores[torch.arange(len(pins)), torch.from_numpy(pins)] = -torch.inf
        return _topk(scores, k)


def _dense_rows(m: sp.csr_matrix, rows: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(m[rows].toarray() > 0)


def _topk(scores: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    vals, idx = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    ids = torch.where(torch.isfinite(vals), idx, -1)
    return ids.numpy(), vals.numpy()


@dataclass
class Factors:
    """Score = inner product. ``board @ pin.T`` for board -> pin; ``pin_query @ pin_item.T`` for pin -> pin."""

    board: torch.Tensor
    pin: torch.Tensor
    pin_query: torch.Tensor
    pin_item: torch.Tensor

    @classmethod
    def from_numpy(
        cls, board: np.ndarray, pin: np.ndarray, pin_query: np.ndarray | None = None, pin_item: np.ndarray | None = None
    ) -> Factors:
        """Float32 tensors; pin -> pin defaults to cosine similarity of the pin vectors."""
        t = lambda a: torch.from_numpy(np.array(a, dtype=np.float32, order="C"))  # noqa: E731  (a writable copy)
        if pin_query is None or pin_item is None:
            norm = np.linalg.norm(pin, axis=1, keepdims=True)
            unit = pin / np.maximum(norm, 1e-12)
            pin_query, pin_item = unit, unit
        return cls(board=t(board), pin=t(pin), pin_query=t(pin_query), pin_item=t(pin_item))


class FactorRecommender(Recommender):
    """A recommender whose scores are inner products of vectors (every model here is one)."""

    def __init__(self) -> None:
        super().__init__()
        self.factors: Factors | None = None

    def _fit(self, graph: PinBoardGraph) -> None:
        self.factors = self._factors(graph)

    @abstractmethod
    def _factors(self, graph: PinBoardGraph) -> Factors: ...

    def _board_scores(self, boards: torch.Tensor) -> torch.Tensor:
        assert self.factors is not None
        return self.factors.board[boards] @ self.factors.pin.T

    def _pin_scores(self, pins: torch.Tensor) -> torch.Tensor:
        assert self.factors is not None
        return self.factors.pin_query[pins] @ self.factors.pin_item.T


def train_degree(graph: PinBoardGraph) -> np.ndarray:
    """Train saves per pin (float64)."""
    return np.asarray(graph.csr("train").sum(axis=1), dtype=np.float64).ravel()
