"""RP3beta (Paudel et al. 2017) item-item weights of a boards x pins 0/1 matrix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def top_k_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """The ``k`` largest stored entries of each row (all when ``k`` is 0); ties keep the lower
    column."""
    m = sp.csr_matrix(m)
    m.sort_indices()
    if k <= 0:
        return m
    row = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    order = np.lexsort((-m.data, row))  # row-major, largest first, stable
    rank = np.arange(len(order)) - m.indptr[row[order]]
    keep = np.sort(order[rank < k])
    return sp.csr_matrix(
        (m.data[keep], m.indices[keep], np.r_[0, np.cumsum(np.bincount(row[keep], minlength=m.shape[0]))]),
        shape=m.shape,
    )


def rp3beta_weights(x: sp.csr_matrix, alpha: float, beta: float, top_k: int = 0) -> sp.csr_matrix:
    """The pins x pins similarity ``W`` of a boards x pins 0/1 matrix ``x`` (float64 CSR)."""
    x = sp.csr_matrix(x, dtype=np.float64)
    deg_b = np.asarray(x.sum(axis=1)).ravel()
    deg_p = np.asarray(x.sum(axis=0)).ravel()
    inv = lambda d: np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)  # noqa: E731
    p_bp = sp.diags(inv(deg_b)) @ x
    p_pb = (sp.diags(inv(deg_p)) @ x.T.tocsr()).tocsr()
    p_bp.data **= alpha
    p_pb.data **= alpha
    penalty = np.power(deg_p, -beta, out=np.zeros_like(deg_p), where=deg_p > 0)
    w = (p_pb @ p_bp @ sp.diags(penalty)).tocsr()
    w.setdiag(0.0)
    w.eliminate_zeros()
    return top_k_per_row(w, top_k)
