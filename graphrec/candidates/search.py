"""Top-k search with per-query exclusions (the query pin itself, pins already saved to a board).

Exclusions are applied after the search: each query over-fetches ``k + e`` results (``e`` = its
number of excluded ids, rounded up to a power of two so queries share a few fetch sizes), the
excluded ids are dropped with one vectorised membership test, and the rest are ordered by
(score descending, id ascending) so ties break the same way everywhere. With an exact index
this always leaves ``k`` results when the catalogue has ``k`` non-excluded pins; an approximate
index can return fewer (its ``-1`` slots), which the caller counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from graphrec.candidates.index import CandidateIndex

_NO_ID = np.iinfo(np.int64).max


@dataclass
class TopK:
    """Padded results of a batch of queries.

    ``ids`` (int64, -1 = no result) and ``scores`` (float32, NaN = no result) are ``q x k``,
    best first; ``counts[i]`` results of row i are real.
    """

    ids: np.ndarray
    scores: np.ndarray
    counts: np.ndarray

    def flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Long format ``(query_row, rank, id, score)`` of the real results (rank starts at 1)."""
        mask = np.arange(self.ids.shape[1])[None, :] < self.counts[:, None]
        rows, cols = np.nonzero(mask)
        return rows, (cols + 1).astype(np.int32), self.ids[rows, cols], self.scores[rows, cols]


def self_exclusion(ids: np.ndarray, n_cols: int) -> sp.csr_matrix:
    """A q x n_cols exclusion matrix whose row i excludes id ``ids[i]`` (negative ids: nothing)."""
    ids = np.asarray(ids, dtype=np.int64)
    keep = ids >= 0
    rows = np.nonzero(keep)[0]
    data = np.ones(len(rows), dtype=np.int8)
    return sp.csr_matrix((data, (rows, ids[keep])), shape=(len(ids), n_cols))


def _excluded_mask(ids: np.ndarray, excluded: sp.csr_matrix, width: int) -> np.ndarray:
    """Bool mask: ``ids[i, j]`` is in row i of ``excluded``."""
    if excluded.nnz == 0:
        return np.zeros(ids.shape, dtype=bool)
    width = max(width, excluded.shape[1]) + 1
    ex_rows = np.repeat(np.arange(excluded.shape[0], dtype=np.int64), np.diff(excluded.indptr))
    ex_keys = ex_rows * width + excluded.indices.astype(np.int64)
    keys = np.arange(ids.shape[0], dtype=np.int64)[:, None] * width + np.maximum(ids, 0)
    return np.isin(keys, ex_keys)


def _fetch_sizes(n_excluded: np.ndarray, k: int, ntotal: int) -> np.ndarray:
    """k + n_excluded rounded up to a power of two (0 stays 0), capped at the index size."""
    pad = np.where(n_excluded > 0, 2 ** np.ceil(np.log2(np.maximum(n_excluded, 1))).astype(np.int64), 0)
    return np.minimum(k + pad, ntotal)


def _rank(ids: np.ndarray, scores: np.ndarray, valid: np.ndarray, k: int) -> TopK:
    """Order valid results by (score desc, id asc) and keep the first k per row."""
    s = np.where(valid, scores, -np.inf)
    i = np.where(valid, ids, _NO_ID)
    order = np.lexsort((i, -s), axis=1)[:, :k]
    ids_k = np.take_along_axis(i, order, axis=1)
    scores_k = np.take_along_axis(s, order, axis=1).astype(np.float32)
    counts = np.minimum(valid.sum(axis=1), k)
    pad = np.arange(ids_k.shape[1])[None, :] >= counts[:, None]
    ids_k[pad] = -1
    scores_k[pad] = np.nan
    if ids_k.shape[1] < k:  # the index holds fewer than k vectors
        extra = k - ids_k.shape[1]
        ids_k = np.pad(ids_k, ((0, 0), (0, extra)), constant_values=-1)
        scores_k = np.pad(scores_k, ((0, 0), (0, extra)), constant_values=np.nan)
    return TopK(ids_k, scores_k, counts.astype(np.int64))


def top_k_excluding(index: CandidateIndex, queries: np.ndarray, k: int, excluded: sp.csr_matrix | None = None) -> TopK:
    """Top-``k`` ids per query, skipping the ids in the query's row of ``excluded``.

    Args:
        index: the index to search.
        queries: q x d float vectors.
        k: results per query.
        excluded: q x n sparse matrix; nonzero ``(i, j)`` = never return id j to query i.
    """
    nq = len(queries)
    ids_out = np.full((nq, k), -1, dtype=np.int64)
    scores_out = np.full((nq, k), np.nan, dtype=np.float32)
    counts_out = np.zeros(nq, dtype=np.int64)
    if nq == 0 or index.ntotal == 0:
        return TopK(ids_out, scores_out, counts_out)
    if excluded is None:
        excluded = sp.csr_matrix((nq, index.ntotal), dtype=np.int8)
    excluded = excluded.tocsr()
    fetch = _fetch_sizes(np.diff(excluded.indptr), k, index.ntotal)
    for f in np.unique(fetch):  # a handful of fetch sizes, each one vectorised search
        rows = np.nonzero(fetch == f)[0]
        scores, ids = index.search(queries[rows], int(f))
        valid = (ids >= 0) & ~_excluded_mask(ids, excluded[rows], index.ntotal)
        top = _rank(ids, scores, valid, k)
        ids_out[rows], scores_out[rows], counts_out[rows] = top.ids, top.scores, top.counts
    return TopK(ids_out, scores_out, counts_out)


def recall_at_k(approx_ids: np.ndarray, exact_ids: np.ndarray) -> float:
    """Mean over queries of |approx ∩ exact| / |exact| (ids < 0 are ignored)."""
    width = int(max(approx_ids.max(initial=0), exact_ids.max(initial=0))) + 2
    rows = np.arange(len(exact_ids), dtype=np.int64)[:, None] * width
    a = np.where(approx_ids >= 0, rows + approx_ids, -1)
    e = np.where(exact_ids >= 0, rows + exact_ids, -2)
    hits = (np.isin(e, a) & (exact_ids >= 0)).sum(axis=1)
    denom = np.maximum((exact_ids >= 0).sum(axis=1), 1)
    return float(np.mean(hits / denom))
