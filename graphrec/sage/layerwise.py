"""Whole-graph inference as map steps over a fixed grid of row chunks (PinSage's MapReduce).

Step 0 computes every node's first-layer message ``ReLU(Q_s x)``; step ``l`` (1..K) computes the
layer-``l`` state of every node from its own previous state and its neighbours' messages, then
(in the same pass over the same rows) the next layer's message, or after the last layer the head
and the L2 normalisation. Every step maps :func:`chunk_step` over the chunks of
:func:`chunk_grid` and concatenates the results in grid order.

The grid depends only on the node counts and ``chunk``, and every chunk is computed by the same
function on the same rows, so the bytes do not depend on how the chunks are distributed:
``SageModel.embed_all`` maps the steps in this process, ``graphrec.distributed.ray_graph`` maps
contiguous runs of chunks as Ray tasks, and both give the same arrays (float sums and matrix
products are never split at other boundaries than the chunks').
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from graphrec.sage.blocks import pooled_weights
from graphrec.sage.model import NTYPES, SageModel, aggregate
from graphrec.sage.sampler import HeteroNeighborhoods

Rows = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Chunk:
    """Rows ``[lo, hi)`` of node type ``ntype``."""

    ntype: str
    lo: int
    hi: int


@dataclass(frozen=True)
class GraphInputs:
    """What every step reads: the input features (ID vectors appended) and the neighbourhoods.

    Args:
        x: per type, ``[n_t, in_dim]`` inputs of every node.
        rel: per ``(dst, src)`` relation, ``(idx, weight)`` ``[n_dst, T]`` tensors (padding
            indices 0 with weight 0; weights pooled as the model's ``pooling`` says).
    """

    x: Rows
    rel: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class State:
    """The whole graph after a step: node states ``h`` and the next layer's messages ``msg``."""

    h: Rows
    msg: Rows


# (step, state before it, chunks) -> one (state rows, message rows) pair per chunk, in order
MapStep = Callable[[int, State, Sequence[Chunk]], list[tuple[torch.Tensor | None, torch.Tensor | None]]]


def chunk_grid(sizes: dict[str, int], chunk: int) -> list[Chunk]:
    """Every type's rows in consecutive chunks of ``chunk`` (the last one shorter), types in order."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    return [Chunk(t, lo, min(lo + chunk, sizes[t])) for t in NTYPES for lo in range(0, sizes[t], chunk)]


def graph_inputs(
    model: SageModel, nbrs: HeteroNeighborhoods, x: Rows, known: dict[str, torch.Tensor] | None = None
) -> GraphInputs:
    """The inputs of :func:`embed_layerwise` (``known``: nodes allowed their ID vectors)."""
    x = model.with_ids(x, {t: torch.arange(len(v)) for t, v in x.items()}, known)
    rel = {
        k: (
            torch.from_numpy(np.where(nb.weight > 0, nb.idx, 0)),
            torch.from_numpy(pooled_weights(nb.weight, model.cfg.pooling)),
        )
        for k, nb in nbrs.rel.items()
    }
    return GraphInputs(x, rel)


def n_steps(model: SageModel) -> int:
    """The first messages, then one step per layer."""
    return len(model.convs) + 1


@torch.no_grad()
def chunk_step(
    model: SageModel, inputs: GraphInputs, state: State, step: int, c: Chunk
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(new state rows, next messages of those rows)`` of chunk ``c`` at ``step``.

    Step 0 leaves the state (the inputs) and returns the first messages; the last step returns
    the final embeddings and no messages. A type that is no message source returns None.
    """
    t, lo, hi = c.ntype, c.lo, c.hi
    if step == 0:
        return None, _messages(model, 0, t, inputs.x[t][lo:hi])
    conv = model.convs[step - 1]
    aggs = [
        aggregate(state.msg[s], inputs.rel[(t, s)][0][lo:hi], inputs.rel[(t, s)][1][lo:hi]) for s in conv.relations[t]
    ]
    h = conv.combine(t, state.h[t][lo:hi], aggs)
    if step == len(model.convs):
        return model.finish(t, h, inputs.x[t][lo:hi]), None
    return h, _messages(model, step, t, h)


def _messages(model: SageModel, layer: int, t: str, h: torch.Tensor) -> torch.Tensor | None:
    q = model.convs[layer].q
    return F.relu(q[t](h)) if t in q else None


def map_here(model: SageModel, inputs: GraphInputs) -> MapStep:
    """The steps mapped in this process."""
    return lambda step, state, grid: [chunk_step(model, inputs, state, step, c) for c in grid]


def embed_layerwise(
    model: SageModel, inputs: GraphInputs, chunk: int, map_step: MapStep | None = None, progress=None
) -> Rows:
    """Final embeddings of every node: the steps mapped by ``map_step`` (default: here) over the grid.

    Args:
        model: the trained model.
        inputs: from :func:`graph_inputs`.
        chunk: rows per chunk (the grid; the bytes depend on it, not on ``map_step``).
        map_step: how a step is mapped over the chunks.
        progress: optional wrapper for the loop over steps (e.g. graphrec.utils.logs.progress).
    """
    grid = chunk_grid({t: len(v) for t, v in inputs.x.items()}, chunk)
    map_step = map_step or map_here(model, inputs)
    state = State(inputs.x, {})
    steps = range(n_steps(model))
    for step in progress(steps, desc="layers") if progress else steps:
        out = map_step(step, state, grid)
        h = state.h if step == 0 else _merge(grid, [o[0] for o in out], _width(model, step))
        state = State(h, _merge(grid, [o[1] for o in out], model.cfg.hidden_dim, drop_none=True))
    return state.h


def _width(model: SageModel, step: int) -> int:
    return model.cfg.out_dim if step == len(model.convs) else model.cfg.hidden_dim


def _merge(grid: Sequence[Chunk], rows: list[torch.Tensor | None], width: int, drop_none: bool = False) -> Rows:
    """Per type, the chunks' rows concatenated in grid order (an empty type gets ``[0, width]``)."""
    out = {}
    for t in NTYPES:
        parts = [r for c, r in zip(grid, rows) if c.ntype == t]
        if drop_none and any(p is None for p in parts):
            continue
        out[t] = torch.cat(parts) if parts else torch.zeros((0, width))
    return out
