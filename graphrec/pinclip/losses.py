"""Contrastive objectives: symmetric InfoNCE with optional masking of false negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(
    a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """Symmetric InfoNCE between row-aligned L2-normalised ``a`` and ``b`` (B x E).

    Row i of ``a`` and row i of ``b`` are a positive pair; every other row is a negative, except
    where ``exclude[i, j]`` is True (known positives such as co-board pins: removed from the
    softmax). The diagonal is never excluded.

    Args:
        a, b: (B, E) embeddings.
        scale: logit scale (1 / temperature).
        exclude: optional (B, B) bool mask of pairs to drop from the negatives.
    """
    logits = scale * a @ b.T
    if exclude is not None:
        exclude = exclude & ~torch.eye(len(a), dtype=torch.bool)
        logits = logits.masked_fill(exclude, float("-inf"))
    target = torch.arange(len(a))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def masked_info_nce(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor, keep: torch.Tensor) -> torch.Tensor | None:
    """``info_nce`` over the rows where ``keep`` is True; None when fewer than two rows remain."""
    idx = keep.nonzero().squeeze(1)
    if idx.numel() < 2:
        return None
    return info_nce(a[idx], b[idx], scale)
