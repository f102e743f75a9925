"""Vectorised ranking metrics over a batch of queries (torch tensors, no loops over queries).

Conventions (the same for every model):

* ``hits``: ``B x L`` bool, ``hits[q, i]`` = the pin at rank ``i + 1`` of query ``q`` is relevant.
* Recall@K = hits in the top K / number of relevant pins (not ``min(K, n_rel)``).
* NDCG@K = DCG@K / IDCG@K with gain 1 and discount ``1 / log2(rank + 1)``; IDCG puts all
  ``min(K, n_rel)`` relevant pins first.
* Hit@K = 1 when the top K holds at least one relevant pin.
* MRR uses the full ranking: ``1 / E[rank of the first relevant pin]`` where ties are broken
  uniformly at random (``E = 1 + #higher + #tied non-relevant / (#tied relevant + 1)``), so
  a model that gives many pins the same score gains nothing from the order of the catalogue.
* Averages are per query over queries with at least one relevant pin in the slice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch


def discounts(n: int) -> torch.Tensor:
    """``1 / log2(rank + 1)`` for ranks ``1..n`` (float64)."""
    return 1.0 / torch.log2(torch.arange(2, n + 2, dtype=torch.float64))


def topk_metrics(hits: torch.Tensor, n_rel: torch.Tensor, ks: Sequence[int]) -> dict[str, torch.Tensor]:
    """Recall@K, NDCG@K and Hit@K per query.

    Args:
        hits: ``B x L`` bool, relevance of the ranked pins (``L`` may be below max(ks) for a
            tiny catalogue: missing ranks count as misses).
        n_rel: ``B`` number of relevant pins per query (queries with 0 give NaN recall/NDCG).
        ks: cut-offs.

    Returns:
        ``{"recall@K": B, "ndcg@K": B, "hit@K": B}`` float64 tensors.
    """
    hits = hits.to(torch.float64)
    n_rel = n_rel.to(torch.float64)
    width = hits.shape[1]
    disc = discounts(max(max(ks), 1))
    ideal = torch.cumsum(disc, 0)
    out: dict[str, torch.Tensor] = {}
    for k in ks:
        h = hits[:, : min(k, width)]
        n_hit = h.sum(1)
        dcg = (h * disc[: h.shape[1]]).sum(1)
        n_ideal = torch.clamp(torch.minimum(n_rel, torch.tensor(float(k), dtype=torch.float64)), min=1).long() - 1
        out[f"recall@{k}"] = torch.where(n_rel > 0, n_hit / n_rel.clamp(min=1), torch.nan)
        out[f"ndcg@{k}"] = torch.where(n_rel > 0, dcg / ideal[n_ideal], torch.nan)
        out[f"hit@{k}"] = (n_hit > 0).to(torch.float64)
    return out


def reciprocal_rank(scores: torch.Tensor, relevant: torch.Tensor, excluded: torch.Tensor) -> torch.Tensor:
    """``1 / E[rank of the first relevant pin]`` per query over the full ranking.

    Args:
        scores: ``B x N`` scores (higher is better; finite or -inf).
        relevant: ``B x N`` bool relevant pins (never excluded ones).
        excluded: ``B x N`` bool pins removed from the ranking (masked train saves).

    Returns:
        ``B`` float64; NaN for queries without a relevant pin.
    """
    neg_inf = torch.tensor(-torch.inf, dtype=scores.dtype)
    best = torch.where(relevant, scores, neg_inf).amax(1, keepdim=True)
    keep = ~excluded
    higher = ((scores > best) & keep).sum(1).to(torch.float64)
    tied = (scores == best) & keep
    tied_rel = (tied & relevant).sum(1).to(torch.float64)
    tied_other = tied.sum(1).to(torch.float64) - tied_rel
    rank = 1.0 + higher + tied_other / (tied_rel + 1.0)
    return torch.where(relevant.any(1), 1.0 / rank, torch.nan)


def mean_topk(values: torch.Tensor, valid: torch.Tensor, ks: Sequence[int], name: str) -> dict[str, torch.Tensor]:
    """Per-query mean of ``values`` (``B x L``) over the valid entries of the top K, for each K.

    Used for the mean popularity (train saves) of the recommended pins.
    """
    out = {}
    v = values.to(torch.float64) * valid
    for k in ks:
        n = valid[:, :k].sum(1).to(torch.float64)
        out[f"{name}@{k}"] = torch.where(n > 0, v[:, :k].sum(1) / n.clamp(min=1), torch.nan)
    return out


def average(per_query: Mapping[str, torch.Tensor], include: torch.Tensor) -> dict[str, float]:
    """Mean of each per-query metric over the included queries (NaN when none is included)."""
    n = int(include.sum())
    out = {}
    for name, vals in per_query.items():
        out[name] = float(vals[include].mean()) if n else float("nan")
    return out


def metric_names(ks: Sequence[int]) -> list[str]:
    """Every per-slice metric name, in report order."""
    names = [f"{m}@{k}" for m in ("recall", "ndcg", "hit") for k in ks] + ["mrr"]
    return names + [f"popularity@{k}" for k in ks]
