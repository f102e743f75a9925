"""Training losses on inner products of unit vectors.

* ``max_margin`` (PinSage eq. 1): ``mean max(0, s_neg - s_pos + margin)`` over valid negatives.
* ``sampled_softmax`` (OmniSearchSage): cross-entropy over the positive and the negatives with a
  learnable logit scale (1 / temperature, clamped), logQ correction ``s - log Q(candidate)`` and
  true positives masked out of the negatives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def max_margin(pos: torch.Tensor, neg: torch.Tensor, margin: float, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Hinge loss of every (query, negative) pair.

    Args:
        pos: ``[B]`` positive scores.
        neg: ``[B, N]`` negative scores.
        margin: the margin Delta.
        valid: ``[B, N]`` bool, False for negatives that must not count (e.g. the positive itself).

    Returns:
        The mean hinge over valid pairs (0 if there are none).
    """
    hinge = F.relu(neg - pos[:, None] + margin)
    if valid is None:
        return hinge.mean()
    n = valid.sum()
    return (hinge * valid).sum() / n.clamp(min=1)


def sampled_softmax(
    logits: torch.Tensor, target: torch.Tensor, log_q: torch.Tensor | None = None, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Sampled softmax cross-entropy with logQ correction and masking.

    Args:
        logits: ``[B, C]`` scaled scores of each query against every candidate.
        target: ``[B]`` column of each query's positive.
        log_q: ``[C]`` or ``[B, C]`` log sampling probability of each candidate (subtracted).
        valid: ``[B, C]`` bool, False for candidates that are other true positives of the query
            (they are removed from the softmax); the target column is always kept.
    """
    z = logits if log_q is None else logits - log_q
    if valid is not None:
        keep = valid.clone()
        keep[torch.arange(len(target)), target] = True
        z = z.masked_fill(~keep, float("-inf"))
    return F.cross_entropy(z, target)
