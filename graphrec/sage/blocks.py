"""Minibatch computation graphs ("blocks") over precomputed importance neighbourhoods.

For K layers and a set of target pins/boards, layer K's destination nodes are the targets, and
layer k-1's nodes are layer k's nodes plus their (weighted) neighbours. Each level is a sorted
unique id array per node type; neighbour indices are remapped to positions in the level below
with ``searchsorted``. The size of a batch is bounded by ``targets * T^K`` whatever the size of
the graph, so training memory does not grow with the catalogue.

Training-time perturbations happen here, per batch, from the batch's generator:
node-level isolation (a pin embedded with no neighbours at any layer, as a cold pin is) and
edge dropout (each neighbour dropped independently; weights renormalised).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from graphrec.sage.adjacency import BOARD, PIN
from graphrec.sage.sampler import HeteroNeighborhoods

NTYPES = (PIN, BOARD)


@dataclass
class LayerBlock:
    """One convolution: destination nodes and their neighbours among the source nodes.

    Args:
        self_idx: per destination type, ``[n_dst]`` positions of the destination nodes among the
            source nodes of the same type.
        nbr: per relation ``(dst, src)``, ``(idx, weight)``: ``[n_dst, T]`` positions among the
            source nodes of type ``src`` (0 at padding) and weights (0 at padding, rows sum to 1
            or are all 0).
        dst_ids: per destination type, the global ids of the destination nodes.
    """

    self_idx: dict[str, torch.Tensor]
    nbr: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]]
    dst_ids: dict[str, np.ndarray]


@dataclass
class Blocks:
    """A K-layer computation graph.

    Args:
        input_ids: global ids per type of the layer-0 nodes (sorted, unique).
        output_ids: global ids per type of the final nodes (sorted, unique).
        output_in_input: positions of the output nodes among the input nodes (for skips).
        layers: blocks from the input layer to the output layer.
    """

    input_ids: dict[str, np.ndarray]
    output_ids: dict[str, np.ndarray]
    output_in_input: dict[str, torch.Tensor]
    layers: list[LayerBlock]

    def rows(self, ntype: str, ids: np.ndarray) -> torch.Tensor:
        """Positions of global ``ids`` among this batch's output nodes of ``ntype``."""
        return torch.from_numpy(np.searchsorted(self.output_ids[ntype], ids))


def pooled_weights(weight: np.ndarray, pooling: str) -> np.ndarray:
    """Importance pooling keeps visit-count weights; mean pooling makes them uniform over the
    same neighbours (PinSage's mean-pool ablation). Rows are renormalised to sum to 1 (or 0)."""
    w = (weight > 0).astype(np.float32) if pooling == "mean" else weight.astype(np.float32, copy=True)
    s = w.sum(1, keepdims=True)
    return np.divide(w, s, out=np.zeros_like(w), where=s > 0)


def in_sorted(ids: np.ndarray, sorted_set: np.ndarray | None) -> np.ndarray:
    """Boolean mask of ``ids`` that occur in the sorted array ``sorted_set``."""
    if sorted_set is None or len(sorted_set) == 0:
        return np.zeros(len(ids), bool)
    pos = np.minimum(np.searchsorted(sorted_set, ids), len(sorted_set) - 1)
    return sorted_set[pos] == ids


def _layer_rows(
    nbrs: HeteroNeighborhoods,
    dst: dict[str, np.ndarray],
    pooling: str,
    isolate: np.ndarray | None,
    edge_dropout: float,
    rng: np.random.Generator | None,
):
    rows = {}
    for (d, s), nb in nbrs.rel.items():
        idx = nb.idx[dst[d]]
        w = nb.weight[dst[d]].copy()
        if d == PIN and isolate is not None:
            w[in_sorted(dst[d], isolate)] = 0.0
        if edge_dropout > 0 and rng is not None:
            w[rng.random(w.shape, dtype=np.float32) < edge_dropout] = 0.0
        rows[(d, s)] = (idx, pooled_weights(w, pooling))
    return rows


def build_blocks(
    nbrs: HeteroNeighborhoods,
    targets: dict[str, np.ndarray],
    n_layers: int,
    pooling: str = "importance",
    isolate: np.ndarray | None = None,
    edge_dropout: float = 0.0,
    rng: np.random.Generator | None = None,
) -> Blocks:
    """Build the K-layer blocks of ``targets``.

    Args:
        nbrs: neighbourhoods of every node (rows = global ids).
        targets: global ids per type whose final embeddings are needed (any order, repeats ok).
        n_layers: K.
        pooling: ``importance`` or ``mean``.
        isolate: sorted global pin ids embedded with empty neighbourhoods at every layer.
        edge_dropout: chance to drop each neighbour (needs ``rng``).
        rng: generator for edge dropout.
    """
    dst = {t: np.unique(np.asarray(targets.get(t, np.empty(0, np.int64)), np.int64)) for t in NTYPES}
    output = dst
    layers: list[LayerBlock] = []
    for _ in range(n_layers):
        rows = _layer_rows(nbrs, dst, pooling, isolate, edge_dropout, rng)
        src = {}
        for t in NTYPES:
            used = [idx[w > 0] for (d, s), (idx, w) in rows.items() if s == t]
            src[t] = np.unique(np.concatenate([dst[t], *used])) if used else dst[t]
        nbr = {}
        for (d, s), (idx, w) in rows.items():
            local = np.where(w > 0, np.searchsorted(src[s], idx), 0)
            nbr[(d, s)] = (torch.from_numpy(local), torch.from_numpy(w))
        self_idx = {t: torch.from_numpy(np.searchsorted(src[t], dst[t])) for t in NTYPES}
        layers.insert(0, LayerBlock(self_idx=self_idx, nbr=nbr, dst_ids=dst))
        dst = src
    out_in = {t: torch.from_numpy(np.searchsorted(dst[t], output[t])) for t in NTYPES}
    return Blocks(input_ids=dst, output_ids=output, output_in_input=out_in, layers=layers)
