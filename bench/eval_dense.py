"""The dense evaluation loop as it was before the sparse path (kept as a reference).

``evaluate_task_dense`` densifies the relevant and excluded pins of every batch into
``B x n_pins`` bool matrices and computes MRR on them. ``eval.protocol.evaluate_task`` must
return exactly the same numbers (tests/eval/test_sparse_protocol.py); bench/bench_eval.py times
both side by side.
"""

from __future__ import annotations

import numpy as np
import torch

from eval.metrics import average, mean_topk, metric_names, reciprocal_rank, topk_metrics
from eval.protocol import SLICES, Task, TaskResult, batch_rows, rank_top, tie_break_permutation
from eval.recommenders.base import Recommender, train_degree
from graph_build.graph import PinBoardGraph


def evaluate_task_dense(
    model: Recommender,
    graph: PinBoardGraph,
    task: Task,
    queries: np.ndarray,
    ks: tuple[int, ...],
    batch_size: int,
    seed: int,
) -> TaskResult:
    """The pre-sparse ``evaluate_task`` (same arguments, same result)."""
    warm = torch.from_numpy(~graph.is_cold)
    in_slice = {"warm": warm, "cold": ~warm, "all": torch.ones_like(warm)}
    pop = torch.from_numpy(train_degree(graph))
    perm = tie_break_permutation(graph.n_pins, seed)
    kmax = max(ks)
    per_query: dict[str, dict[str, list[torch.Tensor]]] = {s: {} for s in SLICES}
    n_rel: dict[str, list[torch.Tensor]] = {s: [] for s in SLICES}
    seen = {k: torch.zeros(graph.n_pins, dtype=torch.bool) for k in ks}
    score = model.score_boards if task.query_kind == "board" else model.score_pins
    rows = batch_rows(batch_size, graph.n_pins)
    for start in range(0, len(queries), rows):
        q = queries[start : start + rows]
        relevant, excluded = task.batch(q)
        scores = score(q)
        scores[excluded] = -torch.inf
        vals, top = rank_top(scores, kmax, perm)
        valid = torch.isfinite(vals)
        for k in ks:
            seen[k][top[:, :k][valid[:, :k]]] = True
        for s in SLICES:
            rel = relevant & in_slice[s]
            hits = rel.gather(1, top) & valid
            m = topk_metrics(hits, rel.sum(1), ks)
            m["mrr"] = reciprocal_rank(scores, rel, excluded)
            m.update(mean_topk(pop[top], valid, ks, "popularity"))
            for name, v in m.items():
                per_query[s].setdefault(name, []).append(v)
            n_rel[s].append(rel.sum(1))
    slices, counts = {}, {}
    for s in SLICES:
        include = torch.cat(n_rel[s]) > 0 if n_rel[s] else torch.zeros(0, dtype=torch.bool)
        cat = {name: torch.cat(v) for name, v in per_query[s].items()}
        nan = {name: float("nan") for name in metric_names(ks)}
        slices[s] = average(cat, include) if cat else nan
        counts[s] = int(include.sum())
    coverage = {f"coverage@{k}": float(seen[k].sum()) / graph.n_pins for k in ks}
    return TaskResult(slices=slices, coverage=coverage, n_queries=counts)
