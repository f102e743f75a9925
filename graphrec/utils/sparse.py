"""Sparse-matrix lookups shared by training-time selection and the evaluator."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def csr_rows(m: sp.csr_matrix) -> np.ndarray:
    """Row index of every stored entry of a CSR matrix."""
    return np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))


def csr_lookup(m: sp.csr_matrix, ids: np.ndarray) -> np.ndarray:
    """``B x L`` bool: ``ids[i, j]`` is a stored column of row ``i`` of the binary CSR ``m``.

    One ``searchsorted`` of ``row * n_cols + col`` keys: no dense ``B x n_cols`` copy of ``m``.
    """
    if m.nnz == 0:
        return np.zeros(ids.shape, dtype=bool)
    if not m.has_sorted_indices:
        m = m.sorted_indices()
    n = m.shape[1]
    keys = csr_rows(m) * n + m.indices  # sorted: rows ascending, columns sorted within a row
    want = np.arange(ids.shape[0], dtype=np.int64)[:, None] * n + np.asarray(ids, dtype=np.int64)
    pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    return keys[pos] == want
