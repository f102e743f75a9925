"""Hyperparameters chosen on the **validation** split, never on test.

Criterion (every tuned baseline): board -> pin Recall@20 on the ``all`` slice of the val
split, with the board's train saves removed from the ranking and ties broken by the protocol's
seeded permutation (``eval.protocol``), i.e. exactly what ``graphrec evaluate --set split=val``
reports as ``all recall@20``, on at most ``max_queries`` val boards (a seeded sample above it,
as the evaluation samples its queries). The first grid point wins a tie. Models are always fitted on the
train saves only; val saves are used to compare fitted candidates, test saves never.

When the evaluation itself scores ``split=val``, the tuned models' val numbers are in-sample
(chosen on the same saves); their test numbers are the honest ones.
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from eval.metrics import topk_metrics
from eval.protocol import MAX_BATCH_CELLS, SLICES, rank_top, tie_break_permutation
from eval.recommenders.base import Recommender
from graph_build.graph import PinBoardGraph

log = logging.getLogger(__name__)
SELECT_K = 20
SELECT_SLICE = "all"
CRITERION = f"val recall@{SELECT_K} ({SELECT_SLICE})"


@dataclass
class Ranked:
    """A variant already ranked by its producer: ``vals``/``ids`` ``B x L`` (L >= SELECT_K), best
    first, excluded pins left out (``-inf`` values where fewer remain), ties in protocol order."""

    vals: torch.Tensor
    ids: torch.Tensor


ScoreVariants = Callable[[np.ndarray, torch.Tensor], Iterable[tuple[Hashable, "torch.Tensor | Ranked"]]]
"""``(boards, excluded) -> (label, scores)`` pairs, one or several variants per batch; scores are
``len(boards) x n_pins`` (masked and ranked here) or ``Ranked`` (masked and ranked by the
producer)."""


def merge_ranked(a: Ranked, b: Ranked, k: int, position: torch.Tensor) -> Ranked:
    """Top ``k`` of two ranked lists of disjoint pins: what ranking their union gives (exactly when
    no two scores are equal; equal scores are ordered by ``position``, the inverse of the
    protocol's tie-break permutation, where ``torch.topk`` itself keeps no defined order)."""
    vals, ids = torch.cat([a.vals, b.vals], 1), torch.cat([a.ids, b.ids], 1)
    order = torch.argsort(position[ids], dim=1)
    vals, ids = vals.gather(1, order), ids.gather(1, order)
    order = torch.sort(vals, dim=1, descending=True, stable=True).indices[:, :k]
    return Ranked(vals.gather(1, order), ids.gather(1, order))


@dataclass
class ValidationSet:
    """Val boards, their val saves (relevant) and train saves (removed from the ranking).

    Args:
        boards: board indices with at least one val save.
        relevant: ``len(boards) x n_pins`` CSR of val saves.
        excluded: ``len(boards) x n_pins`` CSR of train saves.
        cold: ``n_pins`` bool, pins without a train save.
        seed: tie-breaking permutation seed.
    """

    boards: np.ndarray
    relevant: sp.csr_matrix
    excluded: sp.csr_matrix
    cold: torch.Tensor
    seed: int

    @classmethod
    def from_graph(cls, graph: PinBoardGraph, seed: int) -> ValidationSet:
        held = graph.csr("val").T.tocsr()
        boards = np.flatnonzero(np.diff(held.indptr) > 0)
        train = graph.csr("train").T.tocsr()
        cold = torch.from_numpy(graph.is_cold.copy())
        return cls(boards, held[boards], train[boards], cold, seed)

    def sample(self, n: int) -> ValidationSet:
        """At most ``n`` of the boards (a seeded, sorted sample; all of them when ``n`` is 0 or
        not below their number): bounds the cost of a measurement repeated many times."""
        if not n or len(self.boards) <= n:
            return self
        rows = np.sort(np.random.default_rng([self.seed, n]).choice(len(self.boards), size=n, replace=False))
        return ValidationSet(self.boards[rows], self.relevant[rows], self.excluded[rows], self.cold, self.seed)


def val_recall(val: ValidationSet, variants: ScoreVariants, batch_size: int = 512) -> dict[Hashable, dict[str, float]]:
    """Recall@``SELECT_K`` per slice of every score variant: ``{label: {slice: recall}}``.

    A slice with no relevant pin gives NaN; without val boards every label gives NaN (the
    selection then keeps the first grid point). Batched: one batch of scores exists at once.
    """
    if not len(val.boards):
        log.warning("no board has a val save: hyperparameters fall back to the first grid point")
        return defaultdict(lambda: {s: float("nan") for s in SLICES})
    n_pins = val.relevant.shape[1]
    in_slice = {"warm": ~val.cold, "cold": val.cold, "all": torch.ones_like(val.cold)}
    perm = tie_break_permutation(n_pins, val.seed)
    rows = max(1, min(batch_size, MAX_BATCH_CELLS // max(n_pins, 1)))
    sums: dict[Hashable, dict[str, float]] = {}
    counts = {s: 0 for s in SLICES}
    for start in range(0, len(val.boards), rows):
        sl = slice(start, start + rows)
        rel = torch.from_numpy(val.relevant[sl].toarray() > 0)
        exc = torch.from_numpy(val.excluded[sl].toarray() > 0)
        rel &= ~exc
        n_rel = {s: (rel & in_slice[s]).sum(1) for s in SLICES}
        for s in SLICES:
            counts[s] += int((n_rel[s] > 0).sum())
        for label, scores in variants(val.boards[sl], exc):
            if isinstance(scores, Ranked):
                vals, top = scores.vals[:, :SELECT_K], scores.ids[:, :SELECT_K]
            else:
                scores = scores.clone()
                scores[exc] = -torch.inf
                vals, top = rank_top(scores, SELECT_K, perm)
            acc = sums.setdefault(label, {s: 0.0 for s in SLICES})
            for s in SLICES:
                hits = (rel & in_slice[s]).gather(1, top) & torch.isfinite(vals)
                r = topk_metrics(hits, n_rel[s], (SELECT_K,))[f"recall@{SELECT_K}"]
                acc[s] += float(torch.nan_to_num(r, nan=0.0).sum())
    mean = lambda v, s: v[s] / counts[s] if counts[s] else float("nan")  # noqa: E731
    return {label: {s: mean(v, s) for s in SLICES} for label, v in sums.items()}


def model_variants(model: Recommender) -> ScoreVariants:
    """One variant: the fitted model's board scores (cold-pin rule applied)."""
    return lambda boards, excluded: [(None, model.score_boards(boards))]


def best_index(scores: Sequence[float]) -> int:
    """Index of the highest score (the first one on a tie; NaN counts as lowest)."""
    clean = [(-np.inf if not np.isfinite(s) else s) for s in scores]
    return int(np.argmax(clean))


def grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """Cartesian product of named value lists, in order: ``grid(a=[1, 2], b=[3])``."""
    names = list(axes)
    return [dict(zip(names, values)) for values in itertools.product(*(axes[n] for n in names))]


def chosen_record(
    params: Mapping[str, Any],
    table: Sequence[tuple[Mapping[str, Any], Mapping[str, float]]],
    criterion: str = CRITERION,
) -> dict[str, Any]:
    """The manifest entry: chosen values, the criterion, and the val recall of every grid point."""
    return {
        "values": dict(params),
        "criterion": criterion,
        "grid": [{**p, **{f"val_{s}_recall@{SELECT_K}": r[s] for s in SLICES}} for p, r in table],
    }


class SelectedOnValidation(Recommender):
    """Fits one candidate per grid point on train, keeps the best on validation, scores with it.

    A one-point grid fits that point and never reads the val split.

    Args:
        name: evaluation name (``als``, ``ease``, ...).
        candidates: ``(params, make)`` pairs; ``make()`` returns an unfitted recommender.
        can_score_cold: the candidates' contract flag.
        seed: tie-breaking permutation seed of the selection.
        after_fit: called once the grid is fitted (e.g. to free a matrix the candidates shared).
        max_boards: score at most this many val boards per grid point (a seeded sample,
            :meth:`ValidationSet.sample`; 0 = all): the evaluation's ``max_queries``.
    """

    def __init__(
        self,
        name: str,
        candidates: Sequence[tuple[dict[str, Any], Callable[[], Recommender]]],
        can_score_cold: bool,
        seed: int,
        after_fit: Callable[[], None] | None = None,
        max_boards: int = 0,
    ) -> None:
        super().__init__()
        if not candidates:
            raise ValueError(f"{name}: empty hyperparameter grid")
        self.name, self.can_score_cold, self.seed = name, can_score_cold, seed
        self.candidates = list(candidates)
        self.after_fit = after_fit
        self.max_boards = max_boards
        self.best: Recommender | None = None
        self.chosen: dict[str, Any] | None = None

    def _fit(self, graph: PinBoardGraph) -> None:
        try:
            self._select(graph)
        finally:
            if self.after_fit is not None:
                self.after_fit()

    def _select(self, graph: PinBoardGraph) -> None:
        if len(self.candidates) == 1:
            params, make = self.candidates[0]
            self.best = make().fit(graph)
            self.chosen = {"values": dict(params), "criterion": "fixed (one-point grid)", "grid": []}
            return
        val = ValidationSet.from_graph(graph, self.seed).sample(self.max_boards)
        table: list[tuple[dict[str, Any], dict[str, float]]] = []
        for params, make in self.candidates:
            model = make().fit(graph)
            r = val_recall(val, model_variants(model))[None]
            table.append((params, r))
            log.info("%s %s: %s %.4f", self.name, params, CRITERION, r[SELECT_SLICE])
            if best_index([r[SELECT_SLICE] for _, r in table]) == len(table) - 1:
                self.best = model  # the best so far; the others are dropped (memory)
        chosen = table[best_index([r[SELECT_SLICE] for _, r in table])][0]
        self.chosen = chosen_record(chosen, table)
        log.info("%s: chose %s on %s", self.name, chosen, CRITERION)

    def _board_scores(self, boards: torch.Tensor) -> torch.Tensor:
        assert self.best is not None
        return self.best.score_boards(boards)

    def _pin_scores(self, pins: torch.Tensor) -> torch.Tensor:
        assert self.best is not None
        return self.best.score_pins(pins)
