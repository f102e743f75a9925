"""Metadata block: one-hot categorical levels and standardised numeric columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def metadata_block(
    pins: pd.DataFrame, categorical: list[str], numeric: list[str], max_levels: int = 64, min_count: int = 2
) -> sp.csr_matrix | None:
    """``[n, f]`` sparse block (None when there is no metadata).

    Categorical columns: one-hot of the ``max_levels`` most frequent levels seen at least
    ``min_count`` times (others and missing: all zeros). Numeric columns: ``log1p`` when
    non-negative and skewed, then standardised and clipped to [-5, 5].
    """
    n = len(pins)
    blocks = []
    for col in categorical:
        codes, uniques = pd.factorize(pins[col], use_na_sentinel=True)
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        top = np.argsort(-counts, kind="stable")[:max_levels]
        top = top[counts[top] >= min_count]
        remap = np.full(len(uniques) + 1, -1, np.int64)
        remap[top] = np.arange(len(top))
        c = remap[codes]  # codes == -1 (missing) maps to remap[-1] == -1
        ok = c >= 0
        blocks.append(sp.csr_matrix((np.ones(ok.sum(), np.float32), (np.flatnonzero(ok), c[ok])), shape=(n, len(top))))
    if numeric:
        x = pins[numeric].to_numpy(np.float64, copy=True)
        skewed = (x.min(axis=0) >= 0) & (np.abs(x.mean(axis=0) - np.median(x, axis=0)) > 0.5 * x.std(axis=0))
        x[:, skewed] = np.log1p(x[:, skewed])
        std = x.std(axis=0)
        x = np.clip((x - x.mean(axis=0)) / np.where(std > 0, std, 1.0), -5, 5)
        blocks.append(sp.csr_matrix(x.astype(np.float32)))
    blocks = [b for b in blocks if b.shape[1] > 0]
    return sp.hstack(blocks).tocsr() if blocks else None
