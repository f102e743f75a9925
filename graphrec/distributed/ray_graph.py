"""``graphrec embed-graph --ray``: every layer's map step in Ray shards of whole chunks.

The steps are :mod:`graphrec.sage.layerwise`'s: the model and the graph inputs go to the object
store once, each step's state (every node's states and messages after the previous step) once
per step; a shard computes :func:`~graphrec.sage.layerwise.chunk_step` for a contiguous run of
the single-process grid's chunks; the driver merges the chunks in grid order and starts the next
step. Every chunk is the single-process chunk, computed with the driver's torch thread count (a
matrix product's bytes can depend on it), so the embeddings are the single-process bytes.

A shard is retried once; a second failure fails the job naming the layer and the shard. Shards
live in memory only: nothing is written until every layer is done.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

import torch

from graphrec.distributed.ray_jobs import RayOptions, n_shards, ray_session, run_shards
from graphrec.sage.layerwise import (
    Chunk,
    GraphInputs,
    Rows,
    State,
    chunk_grid,
    chunk_step,
    embed_layerwise,
    n_steps,
)
from graphrec.sage.model import SageModel

log = logging.getLogger(__name__)


def _step_shard(
    model: SageModel, inputs: GraphInputs, state: State, step: int, chunks: Sequence[Chunk], threads: int
) -> list[tuple[torch.Tensor | None, torch.Tensor | None]]:
    """One Ray task: ``chunk_step`` of every chunk in ``chunks``, with ``threads`` torch threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return [chunk_step(model, inputs, state, step, c) for c in chunks]
    finally:
        torch.set_num_threads(before)


def split_runs(grid: Sequence[Chunk], count: int) -> list[list[Chunk]]:
    """At most ``count`` contiguous, non-empty runs of ``grid`` with about equal rows each."""
    sizes = [c.hi - c.lo for c in grid]
    total = sum(sizes)
    runs: list[list[Chunk]] = [[] for _ in range(count)]
    for c, start, size in zip(grid, accumulate([0, *sizes]), sizes):  # by the chunk's middle row
        runs[(2 * start + size) * count // (2 * total)].append(c)
    return [r for r in runs if r]


def embed_all_on_ray(model: SageModel, inputs: GraphInputs, chunk: int, opts: RayOptions) -> Rows:
    """``layerwise.embed_layerwise(model, inputs, chunk)`` with every step's chunks in Ray shards."""
    threads = torch.get_num_threads()
    with ray_session(opts) as ray:
        count = n_shards(ray, opts)
        model_ref, inputs_ref = ray.put(model), ray.put(inputs)
        total = n_steps(model)

        def map_step(step: int, state: State, grid: Sequence[Chunk]) -> list[Any]:
            runs = split_runs(grid, count)
            state_ref = ray.put(state)
            args = [(model_ref, inputs_ref, state_ref, step, run, threads) for run in runs]
            names = [f"{i}/{len(runs)}" for i in range(1, len(runs) + 1)]
            parts = run_shards(_step_shard, args, names, f"embed-graph layer {step}/{total - 1}", opts)
            return [r for part in parts for r in part]

        sizes = {t: len(v) for t, v in inputs.x.items()}
        n_chunks = len(chunk_grid(sizes, chunk))
        log.info("embed-graph on Ray: %d chunks of <= %d rows, %d shards per layer", n_chunks, chunk, count)
        return embed_layerwise(model, inputs, chunk, map_step)
