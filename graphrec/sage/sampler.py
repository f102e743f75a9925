"""Importance neighbourhoods: top-T nodes by visit count of short random walks (PinSage 3.2).

From every origin we start ``n_walks`` walks over the bipartite graph. One traversal is two
hops (pin -> board -> pin from a pin, board -> pin -> board from a board); after each traversal
the walk stops with ``restart_prob`` (DGL's ``PinSAGESampler`` termination semantics). Nodes of
the origin's own type are counted at the end of each traversal (as DGL does), nodes of the
other type on the way. Per origin and per node type, the top-T visited nodes with their
L1-normalised visit counts form the neighbourhood; ties break towards the smaller node index.

Everything is vectorised: walks advance all ``chunk * n_walks`` walkers of a chunk of origins at
once, and counting is a row-wise sort plus run lengths plus ``topk`` on a
``[origins, n_walks * walk_length]`` matrix. There is no loop over nodes or edges.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from graphrec.sage.adjacency import BOARD, PIN, Bipartite
from graphrec.sage.config import SamplerConfig
from graphrec.utils.logs import progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Neighborhood:
    """Fixed-width neighbour lists of one relation.

    Args:
        idx: ``[n_dst, T]`` int64 neighbour indices; ``-1`` pads rows with fewer than T.
        weight: ``[n_dst, T]`` float32 importance weights; 0 at padding, rows sum to 1 (or 0).
    """

    idx: np.ndarray
    weight: np.ndarray

    @property
    def width(self) -> int:
        return int(self.idx.shape[1])

    @classmethod
    def empty(cls, n: int, width: int) -> Neighborhood:
        return cls(np.full((n, width), -1, np.int64), np.zeros((n, width), np.float32))


@dataclass(frozen=True)
class HeteroNeighborhoods:
    """Neighbourhoods of every relation ``(dst_type, src_type)`` with T > 0."""

    n_pins: int
    n_boards: int
    rel: dict[tuple[str, str], Neighborhood]

    def relations(self, dst: str) -> list[str]:
        """Source types that ``dst`` nodes aggregate from, in a fixed order (pin, board)."""
        return [s for s in (PIN, BOARD) if (dst, s) in self.rel]


def _other(ntype: str) -> str:
    return BOARD if ntype == PIN else PIN


def _padded_csr(bip: Bipartite, ntype: str) -> tuple[np.ndarray, np.ndarray]:
    """CSR from ``ntype`` where every node has >= 1 neighbour: nodes without edges (and the
    extra "dead walker" node ``n``) point at the other side's dead node, so a hop needs no mask."""
    ptr, nbr = bip.side(ntype)
    n = len(ptr) - 1
    dead_other = bip.n_boards if ntype == PIN else bip.n_pins
    deg = np.append(np.diff(ptr), 0)
    pad = deg == 0
    new_deg = np.where(pad, 1, deg)
    new_ptr = np.zeros(n + 2, np.int64)
    np.cumsum(new_deg, out=new_ptr[1:])
    dtype = np.int32 if max(bip.n_pins, bip.n_boards) < 2**31 - 1 else np.int64
    new_nbr = np.full(int(new_ptr[-1]), dead_other, dtype)
    keep = np.repeat(~pad, new_deg)
    new_nbr[keep] = nbr
    return new_ptr, new_nbr


def _step(ptr: np.ndarray, nbr: np.ndarray, cur: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One uniform random hop for every walker (dead walkers stay on the dead node)."""
    st = ptr[cur]
    deg = ptr[cur + 1] - st
    off = np.minimum((u * deg).astype(np.int64), deg - 1)
    return nbr[st + off]


def random_walks(
    bip: Bipartite,
    ntype: str,
    starts: np.ndarray,
    cfg: SamplerConfig,
    rng: np.random.Generator,
    _padded: tuple | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Visits of ``n_walks`` walks from each start node.

    Args:
        bip: the graph to walk on.
        ntype: type of the start nodes (``pin`` or ``board``).
        starts: start node indices.
        cfg: walk count, length and restart probability.
        rng: the random generator (draws are in a fixed order: same seed, same walks).

    Returns:
        ``(same, other)``: ``[len(starts), n_walks * walk_length]`` int64 visits of nodes of the
        start type (end of each traversal) and of the other type (middle of each traversal);
        ``-1`` where the walk had stopped or died.
    """
    n, w, length = len(starts), cfg.n_walks, cfg.walk_length
    (ptr_a, nbr_a), (ptr_b, nbr_b) = _padded or (_padded_csr(bip, ntype), _padded_csr(bip, _other(ntype)))
    dead_a, dead_b = len(ptr_a) - 2, len(ptr_b) - 2
    cur = np.repeat(np.asarray(starts, nbr_b.dtype), w)
    same = np.empty((n * w, length), np.int64)
    other = np.empty((n * w, length), np.int64)
    for t in range(length):  # a handful of traversals, each vectorised over all walkers
        if t > 0 and cfg.restart_prob > 0:
            cur = np.where(rng.random(len(cur), dtype=np.float32) < cfg.restart_prob, nbr_b.dtype.type(dead_a), cur)
        u = rng.random((2, len(cur)), dtype=np.float32)
        mid = _step(ptr_a, nbr_a, cur, u[0])
        cur = _step(ptr_b, nbr_b, mid, u[1])
        other[:, t], same[:, t] = mid, cur
    other[other == dead_b] = -1
    same[same == dead_a] = -1
    return same.reshape(n, w * length), other.reshape(n, w * length)


def top_visited(visits: np.ndarray, k: int, exclude: np.ndarray | None = None) -> Neighborhood:
    """Top-``k`` most visited nodes per row, with L1-normalised counts as weights.

    Args:
        visits: ``[n, m]`` int64 visited node indices, ``-1`` = no visit.
        k: neighbours to keep (rows with fewer distinct visits are padded with -1 / 0).
        exclude: optional ``[n]`` node per row that never counts (the origin itself).
    """
    n, m = visits.shape
    v = visits
    if exclude is not None:
        v = np.where(v == np.asarray(exclude, np.int64)[:, None], -1, v)
    v = np.sort(v, axis=1)
    start = np.ones((n, m), dtype=bool)
    start[:, 1:] = v[:, 1:] != v[:, :-1]
    flat = np.flatnonzero(start)  # runs never cross rows: column 0 always starts one
    run = np.zeros(n * m, np.int64)
    run[flat] = np.diff(flat, append=n * m)
    pos = np.arange(m, dtype=np.int64)
    key = np.where(start & (v >= 0), run.reshape(n, m) * (m + 1) + (m - pos), -1)  # unique per row
    kk = min(k, m)
    top, col = torch.topk(torch.from_numpy(key), kk, dim=1, sorted=True)
    top, col = top.numpy(), col.numpy()
    valid = top > 0
    idx = np.where(valid, np.take_along_axis(v, col, 1), -1)
    cnt = np.where(valid, top // (m + 1), 0).astype(np.float32)
    w = cnt / np.maximum(cnt.sum(1, keepdims=True), 1.0)
    out_idx = np.full((n, k), -1, np.int64)
    out_w = np.zeros((n, k), np.float32)
    out_idx[:, :kk], out_w[:, :kk] = idx, w
    return Neighborhood(out_idx, out_w)


def _widths(cfg: SamplerConfig) -> dict[tuple[str, str], int]:
    return {
        (PIN, PIN): cfg.pin_pins,
        (PIN, BOARD): cfg.pin_boards,
        (BOARD, PIN): cfg.board_pins,
        (BOARD, BOARD): cfg.board_boards,
    }


def walk_neighborhoods(
    bip: Bipartite, ntype: str, starts: np.ndarray, cfg: SamplerConfig, rng: np.random.Generator
) -> dict[str, Neighborhood]:
    """Neighbourhoods (by source type) of the ``starts`` nodes of type ``ntype``, chunked."""
    widths = _widths(cfg)
    parts: dict[str, list[Neighborhood]] = {s: [] for s in (PIN, BOARD) if widths[(ntype, s)] > 0}
    starts = np.asarray(starts, np.int64)
    padded = (_padded_csr(bip, ntype), _padded_csr(bip, _other(ntype)))
    for lo in progress(range(0, len(starts), cfg.chunk), desc=f"{ntype} walks"):
        chunk = starts[lo : lo + cfg.chunk]
        same, other = random_walks(bip, ntype, chunk, cfg, rng, padded)
        for src, visits in ((ntype, same), (_other(ntype), other)):
            if src in parts:
                parts[src].append(
                    top_visited(
                        visits, widths[(ntype, src)], exclude=chunk if (src == ntype and cfg.exclude_self) else None
                    )
                )
    return {
        s: (
            Neighborhood(np.concatenate([p.idx for p in ps]), np.concatenate([p.weight for p in ps]))
            if ps
            else Neighborhood.empty(0, widths[(ntype, s)])
        )
        for s, ps in parts.items()
    }


def sample_neighborhoods(bip: Bipartite, cfg: SamplerConfig, rng: np.random.Generator) -> HeteroNeighborhoods:
    """Importance neighbourhoods of every pin and every board of ``bip``.

    Nodes without edges (cold pins) get empty rows: weight 0 everywhere.
    """
    rel: dict[tuple[str, str], Neighborhood] = {}
    for ntype, n in ((PIN, bip.n_pins), (BOARD, bip.n_boards)):
        for src, nb in walk_neighborhoods(bip, ntype, np.arange(n), cfg, rng).items():
            rel[(ntype, src)] = nb
    log.debug("sampled neighbourhoods of %d pins and %d boards (%d walks each)", bip.n_pins, bip.n_boards, cfg.n_walks)
    return HeteroNeighborhoods(bip.n_pins, bip.n_boards, rel)
