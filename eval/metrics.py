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

import math
from collections.abc import Mapping, Sequence

import numpy as np
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


def _count_from(
    scores: torch.Tensor, vals: torch.Tensor, best: torch.Tensor, needed: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, ``#(scores > best)`` and ``#(scores == best)`` over the whole row.

    ``vals`` are the row's top-L scores (descending). When ``best`` is above the L-th score,
    every score ``>= best`` is among them, so the counts come from ``vals``; only the other
    rows are compared in full. Rows outside ``needed`` (bool ``B``, default all) are never
    compared in full: their counts are whatever ``vals`` gives and must not be used.
    """
    if vals.shape[1] == 0:
        return torch.zeros(len(best), dtype=torch.long), torch.zeros(len(best), dtype=torch.long)
    col = best[:, None]
    higher = (vals > col).sum(1)
    tied = (vals == col).sum(1)
    if vals.shape[1] < scores.shape[1]:
        full = ~(best > vals[:, -1])
    else:  # every score is in vals
        full = torch.zeros_like(best, dtype=torch.bool)
    if needed is not None:
        full &= needed
    idx = torch.nonzero(full).squeeze(1)
    if len(idx):
        h, t = _row_counts(scores.numpy(), idx.numpy(), col[idx].numpy())
        higher[idx], tied[idx] = torch.from_numpy(h), torch.from_numpy(t)
    return higher, tied


ROW_BLOCK = 16
"""Rows compared at once: a block stays in cache between its two comparisons."""


def _row_counts(x: np.ndarray, rows: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(#(x[r] > b), #(x[r] == b))`` for the rows ``rows`` of ``x``, on torch's thread count.

    numpy's vectorised compare + ``count_nonzero`` is ~5x torch's compare + sum on this stack
    and releases the GIL; rows go in small blocks so each is read from memory once, and the
    rows are gathered block by block instead of copying the selected rows up front.
    """
    h, t = np.empty(len(rows), dtype=np.int64), np.empty(len(rows), dtype=np.int64)

    def count(part: slice) -> None:
        for a in range(part.start, part.stop, ROW_BLOCK):
            z = min(a + ROW_BLOCK, part.stop)
            xs, bs = x[rows[a:z]], b[a:z]
            h[a:z], t[a:z] = np.count_nonzero(xs > bs, axis=1), np.count_nonzero(xs == bs, axis=1)

    n_threads = max(1, min(torch.get_num_threads(), len(rows)))
    cuts = np.linspace(0, len(rows), n_threads + 1).astype(int)
    if n_threads == 1:
        count(slice(0, len(rows)))
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(count, [slice(a, z) for a, z in zip(cuts[:-1], cuts[1:])]))
    return h, t


def reciprocal_rank_sparse(
    scores: torch.Tensor,
    vals: torch.Tensor,
    rel_rows: torch.Tensor,
    rel_cols: torch.Tensor,
    rel_warm: torch.Tensor,
    n_excluded: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """:func:`reciprocal_rank` for the warm, cold and all slices without dense bool matrices.

    Args:
        scores: ``B x N`` scores with the excluded pins already ``-inf``.
        vals: the top-L scores per row (descending, ``L <= N``), from the ranking.
        rel_rows, rel_cols: coordinates of the relevant pins (never excluded ones).
        rel_warm: per relevant coordinate, whether the pin is warm.
        n_excluded: ``B`` number of excluded pins per row.

    Returns:
        ``{"warm" | "cold" | "all": B float64}``, equal to :func:`reciprocal_rank` on the dense
        masks (same counts, same float64 formula); NaN for a query without a relevant pin.
    """
    n_q = scores.shape[0]
    rel_scores = scores[rel_rows, rel_cols]
    neg_inf = torch.tensor(-torch.inf, dtype=scores.dtype)
    best, has = {}, {}
    for s, mask in (("warm", rel_warm), ("cold", ~rel_warm)):
        best[s] = torch.full((n_q,), -torch.inf, dtype=scores.dtype).scatter_reduce(
            0, rel_rows[mask], rel_scores[mask], reduce="amax", include_self=True
        )
        has[s] = torch.bincount(rel_rows[mask], minlength=n_q) > 0
    # all = warm + cold: its best is the larger of the two, and so are its counts
    use_warm = best["warm"] >= best["cold"]
    has_any = has["warm"] | has["cold"]
    # a row's counts are used only where its slice has a relevant pin (else the result is NaN), or
    # where the all slice takes them: the full-row passes skip every other row (same numbers)
    need = {"warm": has["warm"] | (use_warm & has_any), "cold": has["cold"] | (~use_warm & has_any)}
    counts = {s: _count_from(scores, vals, best[s], need[s]) for s in ("warm", "cold")}
    best["all"] = torch.where(use_warm, best["warm"], best["cold"])
    counts["all"] = tuple(torch.where(use_warm, w, c) for w, c in zip(counts["warm"], counts["cold"]))
    out = {}
    for s, mask in (("warm", rel_warm), ("cold", ~rel_warm), ("all", torch.ones_like(rel_warm))):
        higher, tied_all = counts[s]
        # excluded pins are -inf: they tie only with a -inf best, and reciprocal_rank drops them
        tied_all = tied_all - torch.where(best[s] == neg_inf, n_excluded, 0)
        r, v = rel_rows[mask], rel_scores[mask]
        tied_rel = torch.bincount(r[v == best[s][r]], minlength=n_q).to(torch.float64)
        has_rel = torch.bincount(r, minlength=n_q) > 0
        tied_other = tied_all.to(torch.float64) - tied_rel
        rank = 1.0 + higher.to(torch.float64) + tied_other / (tied_rel + 1.0)
        out[s] = torch.where(has_rel, 1.0 / rank, torch.nan)
    return out


def mean_ci95(values: torch.Tensor, sample_fraction: float) -> tuple[float, float] | None:
    """Normal-approximation 95 % CI of the mean of a random sample of queries.

    ``sample_fraction`` = sampled / all queries of the task (finite-population correction
    ``sqrt(1 - f)``). ``None`` when fewer than 2 values are defined.
    """
    v = values[~torch.isnan(values)].to(torch.float64)
    n = len(v)
    if n < 2:
        return None
    half = 1.959964 * float(v.std()) / math.sqrt(n) * math.sqrt(max(0.0, 1.0 - sample_fraction))
    mean = float(v.mean())
    return (mean - half, mean + half)


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
