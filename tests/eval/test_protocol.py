"""The protocol: vectorised results equal a plain per-query reference, no leakage, slices, ordering."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eval.protocol import SLICES, board_to_pin_task, evaluate_task, make_task, pin_to_pin_task
from graph_build.graph import PinBoardGraph
from tests.eval.helpers import FixedScores, board_pin_dense

KS = (5, 10, 20)


def _reference(scores: np.ndarray, relevant: np.ndarray, excluded: np.ndarray, warm: np.ndarray) -> dict:
    """Per-query loop over a strict ranking (no ties): the metrics by their textbook definitions."""
    out = {s: {} for s in SLICES}
    masks = {"warm": warm, "cold": ~warm, "all": np.ones_like(warm)}
    for s, mask in masks.items():
        per: dict[str, list[float]] = {}
        for q in range(scores.shape[0]):
            rel = relevant[q] & mask
            if not rel.any():
                continue
            order = [p for p in np.argsort(-scores[q], kind="stable") if not excluded[q, p]]
            ranked_rel = [bool(rel[p]) for p in order]
            for k in KS:
                top = ranked_rel[:k]
                dcg = sum(1 / math.log2(i + 2) for i, h in enumerate(top) if h)
                idcg = sum(1 / math.log2(i + 2) for i in range(min(k, int(rel.sum()))))
                per.setdefault(f"recall@{k}", []).append(sum(top) / rel.sum())
                per.setdefault(f"ndcg@{k}", []).append(dcg / idcg)
                per.setdefault(f"hit@{k}", []).append(float(any(top)))
            per.setdefault("mrr", []).append(1 / (ranked_rel.index(True) + 1))
        out[s] = {name: float(np.mean(v)) for name, v in per.items()}
    return out


@pytest.mark.parametrize("task_name", ["board_to_pin", "pin_to_pin"])
def test_vectorised_protocol_matches_per_query_reference(graph: PinBoardGraph, task_name: str) -> None:
    rng = np.random.default_rng(0)
    model = FixedScores(rng.random((graph.n_boards, graph.n_pins)), rng.random((graph.n_pins, graph.n_pins))).fit(graph)
    task = make_task(graph, task_name, "test")
    q = task.queries[:150]
    got = evaluate_task(model, graph, task, q, KS, batch_size=37, seed=0)
    rel, exc = (t.numpy() for t in task.batch(q))
    scores = (model.score_boards(q) if task.query_kind == "board" else model.score_pins(q)).numpy()
    want = _reference(scores, rel, exc, ~graph.is_cold)
    for s in SLICES:
        assert got.n_queries[s] == int(
            ((rel & (~graph.is_cold if s == "warm" else graph.is_cold if s == "cold" else True)).any(1)).sum()
        )
        for name, v in want[s].items():
            assert got.slices[s][name] == pytest.approx(v, rel=1e-9, abs=1e-12), (s, name)


def test_board_task_masks_earlier_splits_and_relevance_is_the_split(graph: PinBoardGraph) -> None:
    task = board_to_pin_task(graph, "test")
    rel, exc = (t.numpy() for t in task.batch(task.queries))
    test, train, val = (board_pin_dense(graph, (s,))[task.queries] > 0 for s in ("test", "train", "val"))
    assert (rel == test).all() and (exc == (train | val)).all()
    assert task.queries.tolist() == sorted(set(graph.edges("test")[1].tolist()))
    val_task = board_to_pin_task(graph, "val")
    _, exc_v = (t.numpy() for t in val_task.batch(val_task.queries))
    assert (exc_v == (board_pin_dense(graph, ("train",))[val_task.queries] > 0)).all()


def test_pin_task_relevance_is_test_board_co_saves_minus_known_ones(graph: PinBoardGraph) -> None:
    task = pin_to_pin_task(graph, "test")
    q = task.queries[:40]
    rel, exc = (t.numpy() for t in task.batch(q))
    every = board_pin_dense(graph, ("train", "val", "test")) > 0
    known = board_pin_dense(graph, ("train", "val")) > 0
    test = board_pin_dense(graph, ("test",)) > 0
    for i, p in enumerate(q):  # plain loops: the definition, for a few queries
        boards = np.flatnonzero(test[:, p])
        co = every[boards].any(0)
        known_co = known[np.flatnonzero(known[:, p])].any(0)
        assert exc[i, p] and not rel[i, p]
        assert (exc[i] == (known_co | (np.arange(graph.n_pins) == p))).all()
        assert (rel[i] == (co & ~exc[i])).all()


def test_memorising_train_and_val_saves_gains_nothing_on_test(graph: PinBoardGraph) -> None:
    """Leakage: adding a huge bonus to the saves a model has seen leaves every test metric unchanged."""
    rng = np.random.default_rng(1)
    base = rng.random((graph.n_boards, graph.n_pins))
    seen = board_pin_dense(graph, ("train", "val"))
    task = board_to_pin_task(graph, "test")
    plain = evaluate_task(FixedScores(base).fit(graph), graph, task, task.queries, KS, 256, 0)
    memo = evaluate_task(FixedScores(base + 1000 * seen).fit(graph), graph, task, task.queries, KS, 256, 0)
    assert memo.slices == plain.slices
    # the check can fail: memorising the *test* saves (leaked labels) is a huge gain
    cheat = evaluate_task(
        FixedScores(base + 1000 * board_pin_dense(graph, ("test",))).fit(graph), graph, task, task.queries, KS, 256, 0
    )
    assert cheat.slices["all"]["recall@20"] > plain.slices["all"]["recall@20"] + 0.5


def test_memorising_known_co_saves_gains_nothing_on_pin_to_pin(graph: PinBoardGraph) -> None:
    rng = np.random.default_rng(2)
    base = rng.random((graph.n_pins, graph.n_pins))
    known = board_pin_dense(graph, ("train", "val"))
    co = (known.T @ known > 0).astype(float)
    boards = np.zeros((graph.n_boards, graph.n_pins))
    task = pin_to_pin_task(graph, "test")
    plain = evaluate_task(FixedScores(boards, base).fit(graph), graph, task, task.queries, KS, 256, 0)
    memo = evaluate_task(FixedScores(boards, base + 1000 * co).fit(graph), graph, task, task.queries, KS, 256, 0)
    assert memo.slices == plain.slices


def test_cold_blind_models_rank_cold_pins_last(graph: PinBoardGraph) -> None:
    rng = np.random.default_rng(3)
    scores = rng.random((graph.n_boards, graph.n_pins))
    scores[:, graph.is_cold] += 10  # the model would love cold pins if it could score them
    blind = FixedScores(scores, can_score_cold=False).fit(graph)
    ids, _ = blind.recommend(np.arange(graph.n_boards), graph.n_pins)
    n_warm = int((~graph.is_cold).sum())
    assert not graph.is_cold[ids[:, :n_warm]].any() and graph.is_cold[ids[:, n_warm:]].all()
    task = board_to_pin_task(graph, "test")
    res = evaluate_task(blind, graph, task, task.queries, KS, 256, 0)
    assert res.slices["cold"]["recall@20"] == 0.0 and res.slices["warm"]["recall@20"] > 0.0


def test_ties_are_broken_by_the_seeded_permutation_not_the_catalogue_order(graph: PinBoardGraph) -> None:
    flat = FixedScores(np.zeros((graph.n_boards, graph.n_pins))).fit(graph)
    task = board_to_pin_task(graph, "test")
    a = evaluate_task(flat, graph, task, task.queries, KS, 256, seed=0)
    b = evaluate_task(flat, graph, task, task.queries, KS, 256, seed=0)
    c = evaluate_task(flat, graph, task, task.queries, KS, 256, seed=1)
    assert a.slices == b.slices and a.slices != c.slices
    # a constant scorer is a random ranking: recall@K ~ K / catalogue size, and MRR is exact
    assert a.slices["all"]["recall@20"] == pytest.approx(20 / graph.n_pins, rel=0.5)
