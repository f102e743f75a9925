"""EASE^R (Steck, WWW 2019) weights: ``B = I - P / diag(P)``, ``P = (X^T X + lambda I)^-1``."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import get_lapack_funcs

from graph_build.graph import PinBoardGraph


def ease_weights(gram: np.ndarray, lam: float, dtype: type = np.float64, block: int = 1024) -> np.ndarray:
    """``B = I - P / diag(P)`` with ``P = (gram + lam I)^-1`` (LAPACK potrf/potri; diag(B) = 0).

    ``gram`` is not modified. Peak memory is one extra ``n x n`` array of ``dtype`` (the result
    is computed in place); the result is C-ordered.
    """
    g = np.array(gram, dtype=dtype, order="F")
    g[np.diag_indices_from(g)] += lam
    potrf, potri = get_lapack_funcs(("potrf", "potri"), (g,))
    c, info = potrf(g, lower=0, overwrite_a=1, clean=1)
    if info == 0:
        c, info = potri(c, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"ease: X^T X + {lam:g} I is not positive definite (LAPACK info {info})")
    p = c.T  # C-ordered view; potri filled the (Fortran) upper triangle = the lower one of p
    for a in range(0, len(p), block):  # mirror the lower triangle into the upper, block by block
        z = min(a + block, len(p))
        p[a:z, z:] = p[z:, a:z].T
        p[a:z, a:z] = np.tril(p[a:z, a:z]) + np.tril(p[a:z, a:z], -1).T
    diag = np.diag(p).copy()
    p /= -diag[None, :]
    p[np.diag_indices_from(p)] = 0.0
    return p


def warm_gram(graph: PinBoardGraph, dtype: type = np.float64) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """``(X_warm, warm pin ids, X_warm^T X_warm)``: boards x warm pins train CSR, its dense Gram."""
    x = graph.csr("train").T.tocsr()
    warm = np.flatnonzero(np.diff(x.tocsc().indptr) > 0)
    xw = x[:, warm].astype(np.float32).tocsr()
    gram = (xw.T @ xw).tocsr().astype(dtype)  # integer counts: exact in float32 below 2^24
    return xw, warm, gram.toarray()
