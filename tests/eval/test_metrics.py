"""Ranking metrics against values computed by hand on tiny rankings."""

from __future__ import annotations

import math

import pytest
import torch

from eval.metrics import average, mean_topk, metric_names, reciprocal_rank, topk_metrics

L2 = 1 / math.log2(3)  # discount of rank 2
L3 = 1 / math.log2(4)  # discount of rank 3 (= 0.5)


def test_recall_ndcg_hit_by_hand() -> None:
    # query 0: relevant at ranks 1 and 3, 3 relevant pins in total; query 1: no hit, 2 relevant
    hits = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 0]], dtype=torch.bool)
    m = topk_metrics(hits, torch.tensor([3, 2]), ks=(1, 2, 4))
    assert m["recall@1"].tolist() == pytest.approx([1 / 3, 0.0])
    assert m["recall@2"].tolist() == pytest.approx([1 / 3, 0.0])
    assert m["recall@4"].tolist() == pytest.approx([2 / 3, 0.0])
    assert m["hit@1"].tolist() == [1.0, 0.0] and m["hit@4"].tolist() == [1.0, 0.0]
    assert m["ndcg@1"].tolist() == pytest.approx([1.0, 0.0])
    assert m["ndcg@2"].tolist() == pytest.approx([1.0 / (1.0 + L2), 0.0])
    assert m["ndcg@4"].tolist() == pytest.approx([(1.0 + L3) / (1.0 + L2 + L3), 0.0])


def test_ndcg_ideal_uses_min_k_and_relevant_count() -> None:
    # one relevant pin found at rank 2: DCG = 1/log2(3), IDCG = 1 (only one relevant pin)
    m = topk_metrics(torch.tensor([[0, 1, 0]], dtype=torch.bool), torch.tensor([1]), ks=(3,))
    assert m["ndcg@3"].item() == pytest.approx(L2)
    # a perfect ranking scores 1 even when K > n_rel
    m = topk_metrics(torch.tensor([[1, 1, 0, 0]], dtype=torch.bool), torch.tensor([2]), ks=(4,))
    assert m["ndcg@4"].item() == pytest.approx(1.0) and m["recall@4"].item() == 1.0


def test_short_lists_count_missing_ranks_as_misses() -> None:
    m = topk_metrics(torch.tensor([[1, 0]], dtype=torch.bool), torch.tensor([2]), ks=(10,))
    assert m["recall@10"].item() == 0.5 and m["hit@10"].item() == 1.0


def test_queries_without_relevant_pins_are_nan_and_skipped_by_average() -> None:
    m = topk_metrics(torch.tensor([[1, 0], [0, 0]], dtype=torch.bool), torch.tensor([1, 0]), ks=(2,))
    assert math.isnan(m["recall@2"][1].item()) and math.isnan(m["ndcg@2"][1].item())
    avg = average(m, torch.tensor([True, False]))
    assert avg["recall@2"] == 1.0 and avg["hit@2"] == 1.0
    assert math.isnan(average(m, torch.tensor([False, False]))["recall@2"])


def test_reciprocal_rank_uses_expected_rank_under_random_tie_breaking() -> None:
    scores = torch.tensor([[3.0, 2.0, 2.0, 2.0, 1.0]])
    rel = torch.tensor([[False, False, True, False, False]])
    none = torch.zeros_like(rel)
    # one pin above, then 3 tied pins of which 1 relevant: expected position 2 + 2/2 = 3
    assert reciprocal_rank(scores, rel, none).item() == pytest.approx(1 / 3)
    # excluding the top pin moves the relevant block up by one
    exc = torch.tensor([[True, False, False, False, False]])
    assert reciprocal_rank(scores, rel, exc).item() == pytest.approx(1 / 2)
    # two relevant pins among the 3 tied ones: 1 non-relevant shared over 3 gaps -> rank 1 + 1 + 1/3
    rel2 = torch.tensor([[False, True, True, False, False]])
    assert reciprocal_rank(scores, rel2, none).item() == pytest.approx(1 / (2 + 1 / 3))
    # a strict order: rank of the best relevant pin
    assert reciprocal_rank(
        torch.tensor([[0.9, 0.8, 0.7]]), torch.tensor([[False, False, True]]), torch.zeros(1, 3, dtype=torch.bool)
    ).item() == pytest.approx(1 / 3)
    assert math.isnan(reciprocal_rank(scores, none, none).item())


def test_mean_popularity_of_top_k_ignores_invalid_slots() -> None:
    pop = torch.tensor([[10.0, 2.0, 4.0]])
    valid = torch.tensor([[True, True, False]])
    m = mean_topk(pop, valid, (1, 3), "popularity")
    assert m["popularity@1"].item() == 10.0 and m["popularity@3"].item() == 6.0


def test_metric_names_cover_the_contract_keys() -> None:
    names = metric_names((10, 20, 50))
    for key in ("recall@20", "ndcg@20", "hit@20", "mrr"):
        assert key in names
