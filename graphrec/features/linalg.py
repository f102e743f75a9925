"""Seeded randomized SVD (Halko et al. 2011) for PCA of dense blocks and LSA of sparse TF-IDF."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _orth(y: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the columns of a tall ``y``: Cholesky-QR twice (matmuls only; much
    faster than Householder QR on tall matrices), falling back to QR if ``y`` is rank-deficient."""
    q = y
    try:
        for _ in range(2):
            r = np.linalg.cholesky(q.T @ q)
            q = np.linalg.solve(r, q.T).T  # q @ inv(r).T
    except np.linalg.LinAlgError:
        q = np.linalg.qr(y)[0]
    return q


def randomized_pca(
    x: np.ndarray | sp.spmatrix,
    k: int,
    rng: np.random.Generator,
    n_iter: int = 4,
    oversample: int = 10,
    center: bool = True,
) -> np.ndarray:
    """Scores on the top ``k`` principal directions (``U * S``), deterministic for a seed.

    Args:
        x: ``[n, f]`` dense array or sparse matrix.
        k: components (capped at ``min(n, f)``).
        rng: generator of the random test matrix.
        n_iter: power iterations (sharpen the spectrum).
        oversample: extra random directions.
        center: subtract column means first (PCA); leave False for sparse LSA.
    """
    n, f = x.shape
    k = max(1, min(k, n, f))
    mean = np.asarray(x.mean(axis=0)).ravel().astype(np.float64) if center else np.zeros(f)

    def mul(m: np.ndarray) -> np.ndarray:  # (x - mean) @ m
        return np.asarray(x @ m) - mean @ m

    def tmul(m: np.ndarray) -> np.ndarray:  # (x - mean).T @ m
        return np.asarray(x.T @ m) - np.outer(mean, m.sum(axis=0))

    p = min(k + oversample, n, f)
    q = _orth(mul(rng.standard_normal((f, p))))
    for _ in range(n_iter):
        q = _orth(tmul(q))
        q = _orth(mul(q))
    b = tmul(q).T  # p x f
    u, s, _ = np.linalg.svd(b, full_matrices=False)
    u = q @ u[:, :k]
    # fix the sign of each component (largest |loading| positive) so output is reproducible
    signs = np.sign(u[np.abs(u).argmax(axis=0), np.arange(u.shape[1])])
    return (u * (s[:k] * np.where(signs == 0, 1, signs))).astype(np.float32)
