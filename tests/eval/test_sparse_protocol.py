"""The sparse evaluation path returns exactly the numbers of the dense reference loop.

``bench/eval_dense.py`` is the loop as it was before masks were applied sparsely; both run on the
same tiny graph with scores full of ties (integer scores, cold-blind models, constant models,
``-inf`` relevant pins), so the top-K tie order and the MRR tie rule are exercised.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.eval_dense import evaluate_task_dense
from eval.metrics import mean_ci95
from eval.protocol import evaluate_task, lookup, make_task, rank_top, sample_queries
from graph_build.graph import PinBoardGraph
from tests.eval.helpers import FixedScores


def _same(a: dict, b: dict) -> bool:
    """Exact equality of two metric dicts, NaN equal to NaN."""
    return a.keys() == b.keys() and all((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


def _models(graph: PinBoardGraph) -> dict[str, FixedScores]:
    rng = np.random.default_rng(7)
    nb, npn = graph.n_boards, graph.n_pins
    ints_b, ints_p = rng.integers(0, 3, (nb, npn)), rng.integers(0, 3, (npn, npn))
    spiky_b = rng.random((nb, npn))
    spiky_b[rng.random((nb, npn)) < 0.1] = -np.inf  # some relevant pins at -inf: best = -inf rows
    return {
        "ties": FixedScores(ints_b, ints_p),
        "ties_cold_blind": FixedScores(ints_b, ints_p, can_score_cold=False),
        "constant": FixedScores(np.zeros((nb, npn))),
        "distinct": FixedScores(rng.random((nb, npn)), rng.random((npn, npn))),
        "with_neg_inf": FixedScores(spiky_b, np.where(rng.random((npn, npn)) < 0.5, -np.inf, ints_p)),
    }


@pytest.mark.parametrize("task_name", ["board_to_pin", "pin_to_pin"])
@pytest.mark.parametrize("ks", [(5, 10, 20), (1, 3, 10_000)])  # 10_000 > n_pins: the full-row case
def test_sparse_path_equals_dense_reference(graph: PinBoardGraph, task_name: str, ks: tuple) -> None:
    task = make_task(graph, task_name, "test")
    for name, model in _models(graph).items():
        model.fit(graph)
        for seed in (3,):
            got = evaluate_task(model, graph, task, task.queries, ks, batch_size=29, seed=seed)
            want = evaluate_task_dense(model, graph, task, task.queries, ks, batch_size=29, seed=seed)
            assert got.n_queries == want.n_queries, name
            assert got.coverage == want.coverage, name
            for s in want.slices:
                assert _same(got.slices[s], want.slices[s]), (name, seed, s)
            assert got.ci95 is None  # every query scored: no sampling CI


def test_sparse_batch_holds_the_dense_masks(graph: PinBoardGraph) -> None:
    for name in ("board_to_pin", "pin_to_pin"):
        task = make_task(graph, name, "test")
        q = task.queries[:50]
        rel, exc = (t.numpy() for t in task.batch(q))
        srel, sexc = task.sparse_batch(q)
        assert (srel.toarray() > 0).tolist() == rel.tolist()
        assert (sexc.toarray() > 0).tolist() == exc.tolist()
        assert srel.has_sorted_indices and sexc.has_sorted_indices


def test_lookup_finds_exactly_the_stored_columns(graph: PinBoardGraph) -> None:
    task = make_task(graph, "board_to_pin", "test")
    rel, _ = task.sparse_batch(task.queries[:30])
    ids = torch.from_numpy(np.random.default_rng(0).integers(0, graph.n_pins, (30, 40)))
    want = torch.from_numpy(rel.toarray() > 0).gather(1, ids)
    assert (lookup(rel, ids) == want).all() and want.any()


def test_sampled_queries_give_a_ci_that_covers_the_full_value(graph: PinBoardGraph) -> None:
    task = make_task(graph, "board_to_pin", "test")
    rng = np.random.default_rng(0)
    model = FixedScores(rng.random((graph.n_boards, graph.n_pins))).fit(graph)
    full = evaluate_task(model, graph, task, task.queries, (10,), 64, 0)
    q = sample_queries(task, len(task.queries) // 2, np.random.default_rng(1))
    half = evaluate_task(model, graph, task, q, (10,), 64, 0)
    lo, hi = half.ci95["all"]["recall@10"]
    assert lo < half.slices["all"]["recall@10"] < hi
    assert lo <= full.slices["all"]["recall@10"] <= hi


def test_mean_ci95_shrinks_with_the_sampled_fraction() -> None:
    v = torch.tensor([0.0, 1.0, 0.5, 0.25, float("nan")], dtype=torch.float64)
    lo, hi = mean_ci95(v, 0.1)
    lo2, hi2 = mean_ci95(v, 0.9)
    assert lo < lo2 < 0.4375 < hi2 < hi
    assert mean_ci95(v, 1.0) == (0.4375, 0.4375) and mean_ci95(v[:1], 0.5) is None


def _reference_rank(scores: torch.Tensor, k: int, perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The tie rule by definition: permute the columns, stable sort descending, keep k."""
    vals, pos = torch.sort(scores[:, perm], dim=1, descending=True, stable=True)
    return vals[:, :k], perm[pos[:, :k]]


@pytest.mark.parametrize("cap", [4096, 3])  # 3: rows with many tied candidates take the full-sort path
def test_rank_top_equals_the_definition(monkeypatch: pytest.MonkeyPatch, cap: int) -> None:
    import eval.protocol

    monkeypatch.setattr(eval.protocol, "CANDIDATE_CAP", cap)
    rng = np.random.default_rng(0)
    scores = torch.from_numpy(rng.random((40, 300)).astype(np.float32))
    scores[::3] = torch.from_numpy(rng.integers(0, 4, (14, 300)).astype(np.float32))  # tied rows
    scores[1, :5] = 2.0  # a tie inside the top-K of an otherwise distinct row
    scores[2, 100:] = -torch.inf
    scores[4, :] = -torch.inf  # fewer than K finite scores: the K-th is -inf
    scores[4, 7] = 1.0
    scores[5, 9] = torch.nan  # topk and the definition put NaN first
    scores[7, 3], scores[7, 4] = -0.0, 0.0  # -0.0 ties with 0.0
    perm = torch.from_numpy(rng.permutation(300))
    want_v, want_i = _reference_rank(scores, 10, perm)
    got_v, got_i = rank_top(scores, 10, perm)
    assert torch.equal(got_v.nan_to_num(7.0), want_v.nan_to_num(7.0)) and torch.equal(got_i, want_i)


def test_rank_top_on_integer_scores_equals_the_definition_for_every_k() -> None:
    """Popularity-like rows: a few distinct values, many pins tied at the K-th one (where
    ``torch.topk`` on the permuted row picks a different set than the permutation's order)."""
    rng = np.random.default_rng(1)
    for trial in range(5):
        scores = torch.from_numpy(rng.integers(0, 6 + 20 * trial, (64, 2000)).astype(np.float32))
        perm = torch.from_numpy(rng.permutation(2000))
        for k in (1, 10, 21, 2000):
            want_v, want_i = _reference_rank(scores, k, perm)
            got_v, got_i = rank_top(scores, k, perm)
            assert torch.equal(got_v, want_v) and torch.equal(got_i, want_i), (trial, k)
