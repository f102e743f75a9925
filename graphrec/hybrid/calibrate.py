"""Warm and cold scores on one scale, as inner products (so one faiss index serves both).

Per board ``b`` with teacher vector ``u``: a warm pin scores ``(u . V_p - mw_b) / sw_b`` (its
z-score among the warm pins) and a cold pin ``s (u . S_p) / sw_b - s mc_b / sw_b + c + g r_b``
where ``S_p`` is the student vector, ``mc_b`` the mean student score over the cold pins, ``s``
the median ratio of warm to cold score spread (cold z-scores on the warm scale), ``c`` a constant,
``g r_b`` the board's recency term and ``a z_p`` the pin's content-predicted popularity
(graphrec/hybrid/prior.py). Both are inner products of

    pin   = [V_p | s S_p ; eps * is_warm ; eps * is_cold ; eps * z_p (cold pins) ; pad]
    board = [u / sw_b ; -(mw_b / sw_b) / eps ; (c + g r_b - s mc_b / sw_b) / eps ; a / eps ; 0]

and ``pad = sqrt(M^2 - |pin|^2)`` gives every pin vector the same norm ``M`` (the standard
inner-product-to-cosine reduction), so the L2-normalised vectors the candidate index stores rank
exactly like the raw scores. ``eps`` keeps the indicator columns from dominating pin -> pin
cosine similarity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

EPS = 0.01
_ROWS = 1 << 24


@dataclass(frozen=True)
class BoardStats:
    """Per-board mean/std of warm teacher scores and of cold student scores, and the spread ratio."""

    warm_mean: np.ndarray
    warm_std: np.ndarray
    cold_mean: np.ndarray
    ratio: float


def _mean_std(board: np.ndarray, pins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(pins) == 0:
        return np.zeros(len(board), np.float32), np.ones(len(board), np.float32)
    u, p = torch.from_numpy(board), torch.from_numpy(pins)
    step = max(1, _ROWS // max(len(pins), 1))
    means, stds = [], []
    for a in range(0, len(u), step):
        s = u[a : a + step] @ p.T
        means.append(s.mean(1))
        stds.append(s.std(1, unbiased=False))
    return torch.cat(means).numpy(), np.maximum(torch.cat(stds).numpy(), 1e-6)


def board_stats(board: np.ndarray, teacher_pin: np.ndarray, student_pin: np.ndarray, cold: np.ndarray) -> BoardStats:
    """Score statistics over the warm (teacher) and cold (student) pins of the catalogue."""
    mw, sw = _mean_std(board, teacher_pin[~cold])
    mc, sc = _mean_std(board, student_pin[cold])
    ratio = float(np.median(sw / sc)) if cold.any() else 1.0
    return BoardStats(mw.astype(np.float32), sw.astype(np.float32), mc.astype(np.float32), ratio)


def pin_vectors(
    teacher_pin: np.ndarray, student_pin: np.ndarray, cold: np.ndarray, ratio: float, prior: np.ndarray | None = None
) -> np.ndarray:
    """Unpadded pin vectors: teacher rows for warm pins, scaled student rows (and the popularity
    prior ``prior``, one z-score per pin, 0 if None) for cold ones."""
    k = teacher_pin.shape[1]
    out = np.zeros((len(cold), k + 3), np.float32)
    out[~cold, :k] = teacher_pin[~cold]
    out[cold, :k] = ratio * student_pin[cold]
    out[~cold, k] = EPS
    out[cold, k + 1] = EPS
    if prior is not None:
        out[cold, k + 2] = EPS * prior[cold]
    return out


def board_vectors(
    board: np.ndarray,
    stats: BoardStats,
    offset: float,
    recency_weight: float,
    recency: np.ndarray,
    prior_weight: float = 0.0,
) -> np.ndarray:
    """Board vectors for a calibration ``(offset, recency_weight, prior_weight)``."""
    sw = stats.warm_std[:, None]
    cold_term = offset + recency_weight * recency - stats.ratio * stats.cold_mean / stats.warm_std
    return np.hstack(
        [
            board / sw,
            (-stats.warm_mean / stats.warm_std / EPS)[:, None],
            (cold_term / EPS)[:, None],
            np.full((len(board), 1), prior_weight / EPS),
        ]
    ).astype(np.float32)


def pad(pins: np.ndarray, norm: float | None = None) -> tuple[np.ndarray, float]:
    """Append ``sqrt(M^2 - |p|^2)`` and divide by ``M`` (unit rows); ``M`` = max norm unless given."""
    n = np.linalg.norm(pins, axis=1)
    m = float(n.max()) if norm is None else norm
    m = max(m, 1e-12)
    scale = np.minimum(1.0, m / np.maximum(n, 1e-12))[:, None]  # rows longer than M are clipped to M
    clipped = pins * scale
    extra = np.sqrt(np.maximum(m * m - (clipped**2).sum(1), 0.0))[:, None]
    return (np.hstack([clipped, extra]) / m).astype(np.float32), m


def unit_boards(boards: np.ndarray) -> np.ndarray:
    """Boards with a zero padding column, L2-normalised (per-board ranking is scale-free)."""
    out = np.hstack([boards, np.zeros((len(boards), 1), np.float32)])
    return (out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def recency_feature(saves: object, n_boards: int) -> np.ndarray:
    """Standardised time of each board's latest train save (0 for all without ``saved_at``)."""
    if saves is None or "saved_at" not in saves or saves["saved_at"].isna().all():
        return np.zeros(n_boards, np.float32)
    last = np.full(n_boards, np.nan)
    grp = saves.groupby("board_idx")["saved_at"].max()
    last[grp.index.to_numpy()] = grp.to_numpy(dtype=np.float64)
    last = np.where(np.isnan(last), np.nanmin(last), last)
    std = last.std()
    return ((last - last.mean()) / std if std > 0 else np.zeros(n_boards)).astype(np.float32)


def slice_recall(
    boards: np.ndarray, pins: np.ndarray, known: sp.csr_matrix, held: sp.csr_matrix, cold: np.ndarray, k: int
) -> dict[str, float]:
    """Board -> pin Recall@k per slice (warm / cold / all) of held-out saves, known saves masked.

    Args:
        boards, pins: the vectors (score = inner product).
        known: boards x pins saves removed from the ranking.
        held: boards x pins held-out saves (the relevant pins; binary).
        cold: cold flag per pin.
        k: the cut-off.
    """
    queries = np.flatnonzero(np.diff(held.indptr) > 0)
    p = torch.from_numpy(pins)
    step = max(1, _ROWS // max(len(pins), 1))
    sums = {"warm": [0.0, 0], "cold": [0.0, 0], "all": [0.0, 0]}
    for a in range(0, len(queries), step):
        q = queries[a : a + step]
        s = torch.from_numpy(boards[q]) @ p.T
        kn = known[q].tocoo()
        s[torch.from_numpy(kn.row.astype(np.int64)), torch.from_numpy(kn.col.astype(np.int64))] = -torch.inf
        top = torch.topk(s, min(k, s.shape[1]), dim=1).indices.numpy()
        held_q = held[q]
        hit = np.take_along_axis(held_q.toarray() > 0, top, 1)
        for name, mask in (("warm", ~cold), ("cold", cold), ("all", np.ones_like(cold))):
            n_rel = np.rint(np.asarray(held_q @ mask.astype(np.float64))).astype(np.int64).ravel()
            h = (hit & mask[top]).sum(1)
            ok = n_rel > 0
            sums[name][0] += float((h[ok] / n_rel[ok]).sum())
            sums[name][1] += int(ok.sum())
    return {n: (v[0] / v[1] if v[1] else float("nan")) for n, v in sums.items()}


def grid_recall(
    boards: np.ndarray,
    pins: np.ndarray,
    known: sp.csr_matrix,
    held: sp.csr_matrix,
    cold: np.ndarray,
    shifts: np.ndarray,
    k: int,
) -> list[dict[str, float]]:
    """:func:`slice_recall` of many calibrations at once, for scores that differ only by a per-board
    constant added to every cold pin: grid point ``g`` scores a cold pin ``p`` for board ``b`` as
    ``boards[b] . pins[p] + shifts[g, b]`` (warm pins: ``boards[b] . pins[p]``).

    Each board's top ``k`` warm and top ``k`` cold pins (known saves removed) are found once; a
    grid point's top ``k`` is their merge: it holds the ``m`` best cold pins where ``m`` counts the
    ``j`` with ``cold_j + shift > warm_(k-1-j)`` (ties go to the warm pin). Exact, and the cost per
    grid point is ``O(boards x k)`` instead of a full scoring pass.
    """
    queries = np.flatnonzero(np.diff(held.indptr) > 0)
    p = torch.from_numpy(pins)
    cold_t = torch.from_numpy(np.array(cold, dtype=bool))
    step = max(1, _ROWS // max(len(pins), 1))
    n_grid = len(shifts)
    sums = np.zeros((n_grid, 3))
    counts = np.zeros(3)
    for a in range(0, len(queries), step):
        q = queries[a : a + step]
        s = torch.from_numpy(boards[q]) @ p.T
        kn = known[q].tocoo()
        s[torch.from_numpy(kn.row.astype(np.int64)), torch.from_numpy(kn.col.astype(np.int64))] = -torch.inf
        rel = torch.from_numpy(held[q].toarray() > 0)
        tops = []
        for mask in (~cold_t, cold_t):
            part = s.masked_fill(~mask[None, :], -torch.inf)
            v, i = torch.topk(part, min(k, part.shape[1]), dim=1)
            if v.shape[1] < k:  # fewer pins than k: pad with never-chosen entries
                v = torch.nn.functional.pad(v, (0, k - v.shape[1]), value=-torch.inf)
                i = torch.nn.functional.pad(i, (0, k - i.shape[1]), value=0)
            r = torch.gather(rel, 1, i) & torch.isfinite(v)
            tops.append((v.double().numpy(), np.cumsum(r.numpy(), axis=1)))
        (wv, wcum), (cv, ccum) = tops
        n_w = (rel & ~cold_t[None, :]).sum(1).numpy()
        n_c = (rel & cold_t[None, :]).sum(1).numpy()
        n_a = n_w + n_c
        for j, n in enumerate((n_w, n_c, n_a)):
            counts[j] += (n > 0).sum()
        rows = np.arange(len(q))
        for g in range(n_grid):
            shift = shifts[g][q][:, None]
            m = (cv + shift > wv[:, ::-1]).sum(1)  # cold pins in the merged top k
            hw = np.where(m < k, wcum[rows, np.maximum(k - m - 1, 0)], 0)
            hc = np.where(m > 0, ccum[rows, np.maximum(m - 1, 0)], 0)
            for j, (h, n) in enumerate(((hw, n_w), (hc, n_c), (hw + hc, n_a))):
                ok = n > 0
                sums[g, j] += (h[ok] / n[ok]).sum()
    names = ("warm", "cold", "all")
    return [
        {nm: (float(sums[g, j] / counts[j]) if counts[j] else float("nan")) for j, nm in enumerate(names)}
        for g in range(n_grid)
    ]
