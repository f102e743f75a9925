"""The per-batch objective: scores of queries against positives and negatives, masks, logQ.

Queries are boards (board -> pin, the task evaluated) or pins co-saved with the positive on the
same board (pin -> pin). Negatives are the batch's shared uniform pins, the per-query hard
negatives and, for sampled softmax, the other queries' positives (in-batch negatives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from graphrec.sage.config import LossConfig
from graphrec.sage.losses import max_margin, sampled_softmax


@dataclass
class PairBatch:
    """Ids of one batch's roles (all global pin/board ids).

    Args:
        pos: ``[B]`` positive pins.
        group: ``[B]`` the board each positive was saved to (a shared group means both
            positives are true positives of both queries).
        easy: ``[N]`` shared uniform negatives.
        hard: ``[B, H]`` hard negatives per query.
        pos_log_q: ``[B]`` log probability that each positive is drawn into a batch (logQ).
        easy_log_q: log probability that a given pin is among the uniform negatives.
    """

    pos: np.ndarray
    group: np.ndarray
    easy: np.ndarray
    hard: np.ndarray
    pos_log_q: np.ndarray
    easy_log_q: float


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def batch_loss(
    zq: torch.Tensor,
    zp: torch.Tensor,
    zn: torch.Tensor,
    zh: torch.Tensor,
    batch: PairBatch,
    cfg: LossConfig,
    logit_scale: torch.Tensor,
    query_ids: np.ndarray | None = None,
) -> torch.Tensor:
    """Loss of queries ``zq`` [B, d] against positives ``zp`` [B, d], easy ``zn`` [N, d], hard ``zh`` [B, H, d].

    Args:
        batch: the ids behind the rows (for masks and logQ).
        cfg: loss section of the config.
        logit_scale: 1 / temperature (sampled softmax only).
        query_ids: pin ids of pin queries (a query is never its own negative); None for boards.
    """
    pos_ids, group = _t(batch.pos), _t(batch.group)
    neg_ids = torch.cat([_t(batch.easy).expand(len(pos_ids), -1), _t(batch.hard)], dim=1)
    neg = torch.cat([zq @ zn.T, torch.einsum("bd,bhd->bh", zq, zh)], dim=1)
    neg_valid = neg_ids != pos_ids[:, None]
    if query_ids is not None:
        neg_valid &= neg_ids != _t(query_ids)[:, None]
    if cfg.kind == "max_margin":
        return max_margin((zq * zp).sum(1), neg, cfg.margin, neg_valid)
    b = len(pos_ids)
    inbatch = zq @ zp.T
    eye = torch.eye(b, dtype=torch.bool)
    ib_valid = eye | ((pos_ids[None, :] != pos_ids[:, None]) & (group[None, :] != group[:, None]))
    if query_ids is not None:
        ib_valid &= eye | (pos_ids[None, :] != _t(query_ids)[:, None])
    logits = logit_scale * torch.cat([inbatch, neg], dim=1)
    log_q = None
    if cfg.logq:
        h = batch.hard.shape[1]
        log_q = torch.cat(
            [
                _t(batch.pos_log_q.astype(np.float32)),
                torch.full((len(batch.easy),), float(batch.easy_log_q)),
                torch.zeros(h),
            ]
        )
    return sampled_softmax(logits, torch.arange(b), log_q, torch.cat([ib_valid, neg_valid], dim=1))
