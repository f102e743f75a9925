"""The evaluation protocol: tasks, masks, slices, batched scoring. Declared once, run for every model.

**board -> pin**: queries = boards with a save in the scored split. Every pin of the catalogue
is scored; the board's train saves (and val saves when scoring test) are removed from the
ranking; relevant = the board's saves in the split.

**pin -> pin**: queries = pins with a save in the scored split. Relevant = the other pins of
the boards where that save happened (in any split); removed from the ranking = the query itself
and every pin already co-saved with it before the split (train, plus val when scoring test),
so a model that memorises known co-saves gains nothing.

**Slices** (both tasks) split the relevant pins: ``warm`` = in the train graph, ``cold`` = no
train save, ``all``. Queries count in a slice when they have >= 1 relevant pin in it. One
ranking per query is shared by the three slices. Ties are broken by a seeded random permutation
of the catalogue, so the catalogue order never helps a model that outputs many equal scores.

**Cost.** Only the model's ``B x n_pins`` score matrix is dense. The masks are applied sparsely
(``-inf`` scattered at the CSR coordinates of the batch's known saves), relevance of the top-K
is a CSR lookup, and MRR needs the full row only for queries whose best relevant pin is below
the K-th score (eval/metrics.py ``reciprocal_rank_sparse``). Memory per batch is bounded by
``MAX_BATCH_CELLS`` whatever the number of queries; per query only a few floats are kept.
``bench/eval_dense.py`` keeps the previous dense loop, which gives exactly the same numbers.

**Sampling.** Above ``max_queries`` queries per task (EvalConfig, default 20,000) a seeded
sample is scored and every mean gets a 95 % CI (normal approximation with the finite-population
correction of the sample, ``TaskResult.ci95``); with every query scored there is no CI.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch

from eval.metrics import average, mean_ci95, mean_topk, metric_names, reciprocal_rank_sparse, topk_metrics
from eval.recommenders.base import Recommender, train_degree
from graph_build.graph import PinBoardGraph
from graphrec.utils.logs import progress
from graphrec.utils.sparse import csr_lookup, csr_rows

log = logging.getLogger(__name__)
SLICES = ("warm", "cold", "all")
MAX_BATCH_CELLS = 1 << 25
"""Upper bound on queries x pins scored at once (~128 MB of float32 scores), whatever batch_size says."""


def batch_rows(batch_size: int, n_pins: int) -> int:
    """Queries per batch: ``batch_size``, lowered so a batch never exceeds ``MAX_BATCH_CELLS`` scores."""
    return max(1, min(batch_size, MAX_BATCH_CELLS // max(n_pins, 1)))


def _binary(m: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float32)
    m.data[:] = 1.0
    m.eliminate_zeros()
    return m


def _positive(m: sp.spmatrix) -> sp.csr_matrix:
    """Binary CSR of the entries > 0 (canonical: sorted, unique columns)."""
    m = sp.csr_matrix(m, dtype=np.float32, copy=True)
    m.data[m.data <= 0] = 0.0
    m.eliminate_zeros()
    m.data[:] = 1.0
    m.sum_duplicates()
    m.sort_indices()
    return m


def known_splits(split: str) -> tuple[str, ...]:
    """Splits visible before ``split``: train for val, train + val for test."""
    return ("train",) if split == "val" else ("train", "val")


@dataclass
class Task:
    """Queries plus how to get their relevant / excluded pins, one batch at a time.

    Args:
        name: ``board_to_pin`` or ``pin_to_pin``.
        query_kind: what the query indices index (``board`` or ``pin``).
        queries: query indices (sorted) with at least one held-out save.
    """

    name: str
    query_kind: Literal["board", "pin"]
    queries: np.ndarray
    _held: sp.csr_matrix  # held-out saves, query-kind rows
    _known: sp.csr_matrix  # saves visible before the split, query-kind rows
    _co: tuple[sp.csr_matrix, sp.csr_matrix] | None = field(default=None)

    def batch(self, q: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense ``(relevant, excluded)`` bool tensors (``len(q) x n_pins``) for query indices ``q``."""
        if self._co is None:  # board -> pin: rows of boards x pins matrices
            rel, exc = self._held[q], self._known[q]
        else:  # pin -> pin: co-saves through boards
            all_bt, known_bt = self._co
            rel = self._held[q] @ all_bt
            exc = self._known[q] @ known_bt
        rel_d = torch.from_numpy(rel.toarray() > 0)
        exc_d = torch.from_numpy(exc.toarray() > 0)
        if self._co is not None:
            rows = torch.arange(len(q))
            exc_d[rows, torch.from_numpy(np.asarray(q, dtype=np.int64))] = True
        return rel_d & ~exc_d, exc_d

    def sparse_batch(self, q: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """``(relevant, excluded)`` as binary CSR (``len(q) x n_pins``, sorted columns).

        The same sets as :meth:`batch` without densifying: relevant never holds an excluded pin.
        """
        q = np.asarray(q, dtype=np.int64)
        if self._co is None:
            rel, exc = self._held[q], self._known[q]
        else:
            all_bt, known_bt = self._co
            rel = self._held[q] @ all_bt
            diag = sp.csr_matrix(
                (np.ones(len(q), dtype=np.float32), (np.arange(len(q)), q)), shape=(len(q), all_bt.shape[1])
            )
            exc = self._known[q] @ known_bt + diag
        exc = _positive(exc)
        rel = _positive(rel)
        return _positive(rel - rel.multiply(exc)), exc


def _split_csr(graph: PinBoardGraph, splits: tuple[str, ...]) -> sp.csr_matrix:
    """Pins x boards saves of several splits (binary)."""
    return _binary(sum(graph.csr(s) for s in splits))


def board_to_pin_task(graph: PinBoardGraph, split: str) -> Task:
    """Boards with a save in ``split``; relevant = those saves; excluded = earlier saves."""
    held = _binary(graph.csr(split).T)  # boards x pins
    known = _binary(_split_csr(graph, known_splits(split)).T)
    queries = np.flatnonzero(np.diff(held.indptr) > 0)
    return Task("board_to_pin", "board", queries, held, known)


def pin_to_pin_task(graph: PinBoardGraph, split: str) -> Task:
    """Pins with a save in ``split``; relevant = pins sharing those boards; excluded = known co-saves."""
    held = _binary(graph.csr(split))  # pins x boards
    known = _split_csr(graph, known_splits(split))
    every = _split_csr(graph, ("train", "val", "test"))
    queries = np.flatnonzero(np.diff(held.indptr) > 0)
    return Task("pin_to_pin", "pin", queries, held, known, (every.T.tocsr(), known.T.tocsr()))


def make_task(graph: PinBoardGraph, name: str, split: str) -> Task:
    if name == "board_to_pin":
        return board_to_pin_task(graph, split)
    if name == "pin_to_pin":
        return pin_to_pin_task(graph, split)
    raise ValueError(f"unknown task {name!r}: expected board_to_pin or pin_to_pin")


def sample_queries(task: Task, max_queries: int, rng: np.random.Generator) -> np.ndarray:
    """All queries, or a seeded sorted sample of ``max_queries`` of them."""
    if not max_queries or len(task.queries) <= max_queries:
        return task.queries
    return np.sort(rng.choice(task.queries, size=max_queries, replace=False))


@dataclass
class TaskResult:
    """Averaged metrics of one model on one task: ``slices[slice][metric]`` and ``coverage@K``."""

    slices: dict[str, dict[str, float]]
    coverage: dict[str, float]
    n_queries: dict[str, int]
    ci95: dict[str, dict[str, tuple[float, float] | None]] | None = None
    """Per slice and metric, the 95 % CI of the mean over the sampled queries (None: all scored)."""


def tie_break_permutation(n_pins: int, seed: int) -> torch.Tensor:
    """The seeded column order used to break score ties in top-K (same for every model)."""
    return torch.from_numpy(np.random.default_rng(seed).permutation(n_pins))


CANDIDATE_CAP = 4096
"""Rows with more pins at or above their K-th score than this are ranked by a full stable sort."""


def tie_places(perm: torch.Tensor) -> torch.Tensor:
    """Each pin's position in the tie-break permutation ``perm`` (its inverse)."""
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(len(perm), dtype=perm.dtype)
    return inv


def rank_top(
    scores: torch.Tensor, k: int, perm: torch.Tensor, place: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` (values, pin ids) per row: by score, descending (NaN first), equal scores in the
    order of the seeded ``perm`` (pin ``perm[0]`` wins every tie it is in). ``place``: each pin's
    position in ``perm`` (``tie_places(perm)``), computed here when not given; a loop over
    batches passes it once.

    ``torch.topk`` alone cannot give this order: among equal scores it neither keeps nor picks
    by column. A row whose top ``k + 1`` scores are strictly decreasing has one top-``k`` list,
    so its ``topk`` is the answer. For a row with ties, only the pins scoring at least its K-th
    score can enter; those candidates are sorted by (score, position in ``perm``). Rows holding
    NaN, fewer than ``k`` finite scores or more than ``CANDIDATE_CAP`` candidates are permuted
    and stably sorted in full (the definition itself).
    """
    n = scores.shape[1]
    k = min(k, n)
    vals, idx = torch.topk(scores, min(k + 1, n), dim=1)
    if k == 0:
        return vals[:, :0], idx[:, :0]
    strict = (vals[:, :-1] > vals[:, 1:]).all(1) if vals.shape[1] > k else torch.zeros(len(vals), dtype=torch.bool)
    kth = vals[:, k - 1]
    easy = ~strict & torch.isfinite(kth) & ~torch.isnan(vals[:, 0])  # topk puts NaN first
    hard = ~strict & ~easy
    vals, idx = vals[:, :k].contiguous(), idx[:, :k].contiguous()
    if bool(easy.any()):
        thr = torch.where(easy, kth, torch.tensor(torch.inf, dtype=kth.dtype))
        mask = scores >= thr[:, None]
        counts = torch.from_numpy(np.count_nonzero(mask.numpy(), axis=1))  # ~5x torch's bool sum
        over = easy & (counts > CANDIDATE_CAP)
        if bool(over.any()):
            mask[over] = False
            easy, hard = easy & ~over, hard | over
        r, c = torch.nonzero(mask, as_tuple=True)
        v = scores[r, c]
        order = torch.sort((tie_places(perm) if place is None else place)[c], stable=True).indices
        order = order[torch.sort(v[order], descending=True, stable=True).indices]
        order = order[torch.sort(r[order], stable=True).indices]
        rows = torch.nonzero(easy).squeeze(1)
        starts = torch.cumsum(counts[rows], 0) - counts[rows]
        sel = order[starts[:, None] + torch.arange(k)]
        vals[rows], idx[rows] = v[sel], c[sel]
    rows = torch.nonzero(hard).squeeze(1)
    if len(rows):
        hv, pos = torch.sort(torch.index_select(scores[rows], 1, perm), dim=1, descending=True, stable=True)
        vals[rows], idx[rows] = hv[:, :k], perm[pos[:, :k]]
    return vals, idx


def lookup(m: sp.csr_matrix, ids: torch.Tensor) -> torch.Tensor:
    """``B x L`` bool: ``ids[i, j]`` is a stored column of row ``i`` of the binary CSR ``m``."""
    return torch.from_numpy(csr_lookup(m, ids.numpy()))


class _Accumulator:
    """Per-query metrics of every batch, per slice; averaged (and CI'd) at the end."""

    def __init__(self, ks: tuple[int, ...], n_pins: int) -> None:
        self.ks = ks
        self.n_pins = n_pins
        self.per_query: dict[str, dict[str, list[torch.Tensor]]] = {s: {} for s in SLICES}
        self.n_rel: dict[str, list[torch.Tensor]] = {s: [] for s in SLICES}
        self.seen = {k: torch.zeros(n_pins, dtype=torch.bool) for k in ks}

    def add(self, s: str, metrics: dict[str, torch.Tensor], n_rel: torch.Tensor) -> None:
        for name, v in metrics.items():
            self.per_query[s].setdefault(name, []).append(v)
        self.n_rel[s].append(n_rel)

    def result(self, sample_fraction: float) -> TaskResult:
        slices, counts, ci = {}, {}, {}
        for s in SLICES:
            empty = torch.zeros(0, dtype=torch.bool)
            include = torch.cat(self.n_rel[s]) > 0 if self.n_rel[s] else empty
            cat = {name: torch.cat(v) for name, v in self.per_query[s].items()}
            nan = {name: float("nan") for name in metric_names(self.ks)}
            slices[s] = average(cat, include) if cat else nan
            counts[s] = int(include.sum())
            if sample_fraction < 1.0:
                ci[s] = {name: mean_ci95(v[include], sample_fraction) for name, v in cat.items()}
        coverage = {f"coverage@{k}": float(self.seen[k].sum()) / self.n_pins for k in self.ks}
        return TaskResult(
            slices=slices, coverage=coverage, n_queries=counts, ci95=ci if sample_fraction < 1.0 else None
        )


def evaluate_task(
    model: Recommender,
    graph: PinBoardGraph,
    task: Task,
    queries: np.ndarray,
    ks: tuple[int, ...],
    batch_size: int,
    seed: int,
) -> TaskResult:
    """Score every query in batches (matrix products + topk) and average the metrics per slice.

    Args:
        model: a fitted recommender.
        graph: the graph it was fitted on.
        task: board -> pin or pin -> pin.
        queries: the query indices to evaluate (a subset of ``task.queries``; a strict subset
            gives ``TaskResult.ci95``).
        ks: cut-offs.
        batch_size: queries per batch.
        seed: tie-breaking permutation seed.
    """
    acc = score_batches(model, graph, task, queries, ks, batch_size, seed)
    return acc.result(len(queries) / max(len(task.queries), 1))


def query_batches(n_queries: int, batch_size: int, n_pins: int) -> int:
    """How many batches :func:`score_batches` cuts ``n_queries`` into (shards take whole ones)."""
    return -(-n_queries // batch_rows(batch_size, n_pins))


def merge_accumulators(parts: list[_Accumulator]) -> _Accumulator:
    """Shards of whole batches, in order -> the accumulator of the unsharded loop."""
    out = _Accumulator(parts[0].ks, parts[0].n_pins)
    for p in parts:
        for s in SLICES:
            for name, v in p.per_query[s].items():
                out.per_query[s].setdefault(name, []).extend(v)
            out.n_rel[s].extend(p.n_rel[s])
        for k in out.ks:
            out.seen[k] |= p.seen[k]
    return out


def score_batches(
    model: Recommender,
    graph: PinBoardGraph,
    task: Task,
    queries: np.ndarray,
    ks: tuple[int, ...],
    batch_size: int,
    seed: int,
    batches: range | None = None,
) -> _Accumulator:
    """The per-query metrics of :func:`evaluate_task`; ``batches`` = only these batch numbers."""
    warm = torch.from_numpy(~np.asarray(graph.is_cold, dtype=bool))
    in_slice = {"warm": warm, "cold": ~warm, "all": torch.ones_like(warm)}
    pop = torch.from_numpy(train_degree(graph))
    perm = tie_break_permutation(graph.n_pins, seed)
    place = tie_places(perm)
    kmax = max(ks)
    acc = _Accumulator(ks, graph.n_pins)
    score = model.score_boards if task.query_kind == "board" else model.score_pins
    rows = batch_rows(batch_size, graph.n_pins)
    starts = (
        range(0, len(queries), rows)
        if batches is None
        else range(batches.start * rows, min(len(queries), batches.stop * rows), rows)
    )
    for start in progress(starts, desc=f"{model.name} {task.name}", unit="batch"):
        q = queries[start : start + rows]
        relevant, excluded = task.sparse_batch(q)
        scores = score(q)
        n_exc = torch.from_numpy(np.diff(excluded.indptr))
        exc_cols = torch.from_numpy(excluded.indices.astype(np.int64))
        scores[torch.from_numpy(csr_rows(excluded)), exc_cols] = -torch.inf
        vals, top = rank_top(scores, kmax, perm, place)
        valid = torch.isfinite(vals)
        for k in ks:
            acc.seen[k][top[:, :k][valid[:, :k]]] = True
        rel_rows = torch.from_numpy(csr_rows(relevant))
        rel_cols = torch.from_numpy(relevant.indices.astype(np.int64))
        hits_any = lookup(relevant, top) & valid
        pop_m = mean_topk(pop[top], valid, ks, "popularity")
        rr = reciprocal_rank_sparse(scores, vals, rel_rows, rel_cols, warm[rel_cols], n_exc)
        for s in SLICES:
            n_rel = torch.bincount(rel_rows[in_slice[s][rel_cols]], minlength=len(q))
            m = topk_metrics(hits_any & in_slice[s][top], n_rel, ks)
            m["mrr"] = rr[s]
            m.update(pop_m)
            acc.add(s, m, n_rel)
    return acc
