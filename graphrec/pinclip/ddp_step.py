"""The data-parallel parts of a PinCLIP step: shard the global batch, gather it back, reduce grads.

Every rank draws the same global batch (the run's NumPy generator: seeded by the seed, identical
on every rank, checkpointed by rank 0) and encodes the disjoint stride ``rank::world_size`` of
its rows. The in-batch contrastive objectives need every row's embedding, so the shards are
gathered with a differentiable all-gather (:class:`_AllGatherRows`) and every rank
computes the whole global objective, masks built on global indices: the N-rank objective is the
1-rank objective on the same global batch.

**Gradient scaling.** Each rank's loss ``L`` is the same global loss. The backward of the
differentiable all-gather sums the ranks' gradients of their embeddings, so rank r's encoder
gradient is ``N x`` its rows' share of ``dL/dtheta``, while a parameter used after the gather
(the logit scales) gets the whole ``dL/dscale`` on every rank. Summing over the ranks gives
``N x dL/dtheta`` for both, so :func:`average_gradients` (sum, then divide by N) leaves exactly
the 1-rank gradient of the global batch; gradient clipping and AdamW then see the 1-rank values.

**Why not DistributedDataParallel** (as train-sage uses): PinCLIP uses parameters outside the
module's forward (the logit scales), leaves some unused on some steps or ranks (the ViT on a
shard without images, ``logit_scale.pin_board`` unless that objective is on) and runs a second
forward per step for board titles; DDP needs ``find_unused_parameters`` for that and turns a
missing gradient into a zero one (which AdamW would decay). The manual reduction below is one
flat all-reduce per step and keeps the 1-rank rule: a parameter gets a gradient iff some rank's
rows used it. Every parameter is dense (the metadata and token ``nn.Embedding`` tables included);
a sparse gradient would be densified before the reduction.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from graphrec.distributed.ddp import World

STEP_STREAM = 5_151_515  # key of the per-step torch seeds under N ranks


def shard(n: int, world: World) -> np.ndarray:
    """Rows of a global batch of ``n`` rows that ``world``'s rank encodes: ``rank::world_size``."""
    return np.arange(world.rank, n, world.world_size)


class _AllGatherRows(torch.autograd.Function):
    """Every rank's ``(m, ...)`` tensor concatenated rank-major; the backward sums every rank's
    gradient of this rank's rows: an all-reduce, then this rank's slice (gloo has no reduce-scatter).

    The same maths as ``torch.distributed.nn.functional.all_gather``, which torch 2.13 deprecates
    in favour of a private module's collective.
    """

    @staticmethod
    def forward(ctx, local: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        import torch.distributed as dist

        ctx.rank, ctx.rows = dist.get_rank(), len(local)
        parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, local.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        import torch.distributed as dist

        total = grad.contiguous().clone()
        dist.all_reduce(total)
        return total[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_rows(local: torch.Tensor, n: int, world: World) -> torch.Tensor:
    """The global ``(n, ...)`` tensor whose stride ``r::N`` is rank r's ``local`` (differentiable).

    Shards differ by at most one row; each is zero-padded to ``ceil(n / N)`` rows for the
    collective and the padding is dropped again.
    """
    if not world.distributed:
        return local
    m = math.ceil(n / world.world_size)
    pad = local.new_zeros((m - len(local), *local.shape[1:]))
    ranks = _AllGatherRows.apply(torch.cat([local, pad]) if len(pad) else local)
    rest = local.shape[1:]
    return ranks.reshape(world.world_size, m, *rest).transpose(0, 1).reshape(m * world.world_size, *rest)[:n]


def average_gradients(params: list[torch.nn.Parameter], world: World) -> None:
    """Average the gradients of ``params`` over the ranks (one flat all-reduce).

    A parameter without a gradient on every rank keeps ``grad=None`` (AdamW skips it, as in a
    1-process step); one with a gradient on some rank gets the average, missing ones counted 0.
    """
    if not world.distributed:
        return
    grads = [p.grad.to_dense() if p.grad is not None and p.grad.is_sparse else p.grad for p in params]
    flat = torch.cat(
        [torch.tensor([g is not None for g in grads], dtype=torch.float32)]
        + [(g if g is not None else torch.zeros_like(p)).reshape(-1).float() for p, g in zip(params, grads)]
    )
    torch.distributed.all_reduce(flat)
    used, values = flat[: len(params)] > 0, flat[len(params) :] / world.world_size
    offset = 0
    for p, seen in zip(params, used.tolist()):
        n = p.numel()
        p.grad = values[offset : offset + n].view_as(p).to(p.dtype).clone() if seen else None
        offset += n


def seed_step(seed: int, step: int, world: World) -> None:
    """Under N ranks, reseed torch for ``step`` by (seed, step, rank): the rank's augmentation and
    modality dropout draws, independent of the others' and replayed exactly on resume. A
    1-process run keeps its single checkpointed torch stream (its bytes are unchanged)."""
    if world.distributed:
        ss = np.random.SeedSequence([seed, STEP_STREAM, step, world.rank])
        torch.manual_seed(int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1)))


def encode(model: torch.nn.Module, table, idx: np.ndarray, world: World, train: bool = True):
    """``model``'s outputs (a PinOutputs) for the global batch ``idx`` of ``table``.

    Under N ranks each rank runs its shard :func:`shard` and the outputs are gathered; a batch
    smaller than N rows (a step's few titled boards) is encoded whole on every rank instead, whose
    averaged gradient is again the 1-rank one.
    """
    if not world.distributed or len(idx) < world.world_size:
        return model(table.batch(idx), train=train)
    from graphrec.pinclip.model import PinOutputs

    n = len(idx)
    out = model(table.batch(idx[shard(n, world)]), train=train)
    return PinOutputs(
        fused=gather_rows(out.fused, n, world),
        image=gather_rows(out.image, n, world),
        text=gather_rows(out.text, n, world),
        metadata=None if out.metadata is None else gather_rows(out.metadata, n, world),
        has_image=torch.from_numpy(table.image_rows[idx] >= 0),
    )
