"""Training loop: per-epoch message/supervision split, sampled neighbourhoods, minibatch blocks.

Each epoch draws a fresh split of the train edges into message edges (what the model sees:
neighbourhoods and board features) and supervision edges (positives it must predict), samples
the importance neighbourhoods on the message graph, then walks over the supervision edges in
batches. All randomness of epoch ``e`` and step ``s`` comes from
``numpy.random.default_rng([seed, e, s])``, so a run resumed from any checkpoint replays the
uninterrupted run exactly.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphrec.distributed.ddp import SINGLE, World
from graphrec.sage.adjacency import BOARD, PIN, Bipartite, split_edges
from graphrec.sage.blocks import build_blocks, in_sorted
from graphrec.sage.config import SageConfig
from graphrec.sage.inputs import node_inputs
from graphrec.sage.model import SageModel, build_model
from graphrec.sage.negatives import HardNegativeMiner, easy_negatives
from graphrec.sage.objective import PairBatch, batch_loss
from graphrec.sage.sampler import HeteroNeighborhoods, sample_neighborhoods
from graphrec.tracking import NULL, Tracker
from graphrec.utils.checkpoint import latest_step, load_checkpoint, save_checkpoint
from graphrec.utils.config import to_dict
from graphrec.utils.logs import format_metrics, progress

log = logging.getLogger(__name__)


@dataclass
class EpochData:
    """Everything one epoch needs, derived deterministically from (seed, epoch)."""

    nbrs: HeteroNeighborhoods
    x: dict[str, torch.Tensor]
    msg: Bipartite
    sup_pin: np.ndarray
    sup_board: np.ndarray
    pos_log_q: np.ndarray
    miner: HardNegativeMiner | None
    n_steps: int
    neg_pool: np.ndarray


HARD_STREAM = 7_777_777  # rng stream of the hard-negative pools: default_rng([seed, HARD_STREAM])


def hard_miner(bip: Bipartite, cfg: SageConfig) -> HardNegativeMiner | None:
    """The run's hard-negative pools (None when hard negatives are off)."""
    lc = cfg.loss
    if not lc.hard_negatives or cfg.train.epochs < 2:
        return None
    return HardNegativeMiner(
        bip, lc.hard_rank_lo, lc.hard_rank_hi, lc.hard_pool, np.random.default_rng([cfg.seed, HARD_STREAM])
    )


def prepare_epoch(
    bip: Bipartite,
    pin_x: np.ndarray,
    cfg: SageConfig,
    epoch: int,
    miner: HardNegativeMiner | None = None,
    world: World = SINGLE,
) -> EpochData:
    """Split edges, sample neighbourhoods and order the supervision edges for ``epoch``.

    Every rank draws the same split and order (seeded by seed and epoch) and keeps its disjoint
    stride ``rank::world_size`` of the ordered pairs; all ranks take the same number of steps.
    """
    rng = np.random.default_rng([cfg.seed, epoch, 0])
    t = cfg.train
    if t.supervision_fraction > 0 or t.cold_fraction > 0:
        msg, sup_pin, sup_board = split_edges(bip, t.supervision_fraction, rng, t.cold_fraction)
    else:  # every edge is both message and positive (leaks the edge to predict; ablation only)
        msg, (sup_pin, sup_board) = bip, bip.edges()
    if len(sup_pin) == 0:
        raise ValueError("train-sage: no supervision edges; the graph has too few train saves")
    order = rng.permutation(len(sup_pin))
    sup_pin, sup_board = sup_pin[order], sup_board[order]
    nbrs = sample_neighborhoods(msg, cfg.sampler, rng)
    n_total, counts = len(sup_pin), np.bincount(sup_pin, minlength=bip.n_pins)
    if world.distributed:
        if n_total < world.world_size:
            raise ValueError(f"train-sage: {n_total} supervision edges cannot be split over {world.world_size} ranks")
        sup_pin, sup_board = sup_pin[world.rank :: world.world_size], sup_board[world.rank :: world.world_size]
    b = min(t.batch_size, len(sup_pin))
    pos_log_q = np.log(np.minimum(b * counts[sup_pin] / n_total, 1.0))
    n_steps = math.ceil(n_total // world.world_size / t.batch_size)
    if t.steps_per_epoch:
        n_steps = min(n_steps, t.steps_per_epoch)
    pool = np.flatnonzero(bip.degree(PIN) > 0) if cfg.loss.negatives_from == "warm" else np.arange(bip.n_pins)
    x = node_inputs(pin_x, msg, cfg.model.degree_feature, boost=len(bip.pin_nbr) / max(msg.n_edges, 1))
    return EpochData(nbrs, x, msg, sup_pin, sup_board, pos_log_q, miner, n_steps, pool)


def hard_count(cfg: SageConfig, epoch: int) -> int:
    """PinSage's curriculum: no hard negatives in epoch 1, then one more per epoch (capped)."""
    return min(epoch, cfg.loss.hard_negatives)


def _query_pins(msg: Bipartite, boards: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random message pin of each board (co-saved with the positive); boards keep >= 1."""
    st, deg = msg.board_ptr[boards], np.diff(msg.board_ptr)[boards]
    return msg.board_nbr[st + np.minimum((rng.random(len(boards)) * deg).astype(np.int64), deg - 1)]


def learning_rate(cfg: SageConfig, epoch: int, step: int, n_steps: int) -> float:
    """The learning rate at ``step`` of ``epoch`` (cosine decay to 5 % over all epochs)."""
    if cfg.train.lr_schedule == "constant":
        return cfg.train.lr
    progress_ = (epoch + step / max(n_steps, 1)) / cfg.train.epochs
    return cfg.train.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress_)))


def train_step(
    model: SageModel,
    opt: torch.optim.Optimizer,
    data: EpochData,
    cfg: SageConfig,
    epoch: int,
    step: int,
    world: World = SINGLE,
    net: torch.nn.Module | None = None,
) -> float:
    """One optimiser step on batch ``step`` of ``epoch``; returns the loss.

    ``net`` is ``model`` wrapped in DDP under several ranks (its backward all-reduces the
    gradients); each rank's draws are keyed by its rank as well.
    """
    rng = np.random.default_rng([cfg.seed, epoch, step + 1, *world.stream])
    for group in opt.param_groups:
        group["lr"] = learning_rate(cfg, epoch, step, data.n_steps)
    bs, lc = cfg.train.batch_size, cfg.loss
    sl = slice(step * bs, (step + 1) * bs)
    pos, board = data.sup_pin[sl], data.sup_board[sl]
    n_hard = hard_count(cfg, epoch) if data.miner is not None else 0
    hard = data.miner.sample(board, n_hard, rng) if n_hard else np.empty((len(pos), 0), np.int64)
    batch = PairBatch(
        pos,
        board,
        easy_negatives(data.neg_pool, lc.easy_negatives, rng),
        hard,
        data.pos_log_q[sl],
        math.log(min(lc.easy_negatives / len(data.neg_pool), 1.0)),
    )
    query = _query_pins(data.msg, board, rng) if lc.pin_pair_weight > 0 else np.empty(0, np.int64)
    pins = np.unique(np.concatenate([pos, batch.easy, hard.ravel(), query]))
    isolate = pins[rng.random(len(pins)) < cfg.train.isolate_prob]
    blocks = build_blocks(
        data.nbrs,
        {PIN: pins, BOARD: board},
        cfg.model.n_layers,
        cfg.model.pooling,
        isolate=isolate,
        edge_dropout=cfg.train.edge_dropout,
        rng=rng,
    )
    x = {t: data.x[t][torch.from_numpy(blocks.input_ids[t])] for t in (PIN, BOARD)}
    iso = torch.from_numpy(in_sorted(blocks.input_ids[PIN], isolate))
    if cfg.model.degree_feature:  # isolated pins look cold: no neighbours and degree 0
        x[PIN][iso, -1] = 0.0
    known = None
    if cfg.model.id_dim:  # ID vectors only for pins with visible saves, minus ID dropout
        ids = blocks.input_ids[PIN]
        keep = rng.random(len(ids)) >= cfg.train.id_dropout
        known = {
            PIN: torch.from_numpy((data.msg.degree(PIN)[ids] > 0) & keep) & ~iso,
            BOARD: torch.from_numpy(data.msg.degree(BOARD)[blocks.input_ids[BOARD]] > 0),
        }
    emb = (net or model)(blocks, x, known)
    zp_all = emb[PIN]
    zp = zp_all[blocks.rows(PIN, pos)]
    zn = zp_all[blocks.rows(PIN, batch.easy)]
    zh = zp_all[blocks.rows(PIN, hard.ravel())].view(len(pos), hard.shape[1], zp.shape[1])
    scale = model.logit_scale(lc.max_logit_scale)
    loss = batch_loss(emb[BOARD][blocks.rows(BOARD, board)], zp, zn, zh, batch, lc, scale)
    if lc.pin_pair_weight > 0:
        zq = zp_all[blocks.rows(PIN, query)]
        loss = loss + lc.pin_pair_weight * batch_loss(zq, zp, zn, zh, batch, lc, scale, query_ids=query)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def _resume_point(ckpt_dir: Path, model, opt, identity) -> tuple[int, int, int, list[dict[str, Any]], list[float]]:
    meta = load_checkpoint(ckpt_dir, model, opt, identity=identity)
    if meta is None:
        raise FileNotFoundError(f"--resume: no complete checkpoint in {ckpt_dir}")
    extra = meta["extra"]
    return (
        int(meta["step"]),
        int(extra["epoch"]),
        int(extra["step_in_epoch"]),
        list(extra["history"]),
        [float(v) for v in extra.get("epoch_losses", [])],
    )


def train_sage(
    bip: Bipartite,
    pin_x: np.ndarray,
    cfg: SageConfig,
    ckpt_dir: Path,
    resume: bool = False,
    on_checkpoint: Callable[[int], None] | None = None,
    identity: dict[str, Any] | None = None,
    tracker: Tracker = NULL,
    world: World = SINGLE,
) -> tuple[SageModel, list[dict[str, Any]]]:
    """Train a model on the train graph ``bip`` with pin input features ``pin_x``.

    Args:
        bip: the train graph (all train edges).
        pin_x: ``[n_pins, d]`` pin content features.
        cfg: the stage config.
        ckpt_dir: checkpoint directory (written every ``checkpoint_every`` steps and per epoch).
        resume: continue from the newest checkpoint in ``ckpt_dir`` (same identity required).
        on_checkpoint: called with the global step after each checkpoint (tests use it to
            simulate a kill).
        identity: what the run depends on, stored in every checkpoint (default: the config).
        tracker: where the per-epoch records go.
        world: this rank (DDP): rank 0 alone writes checkpoints and reports; records count
            the pairs of every rank and average their losses.

    Returns:
        ``(model, history)``: the trained model and per-epoch records (loss, seconds, pairs/s).
    """
    model = build_model(cfg, pin_x.shape[1], bip.n_pins, bip.n_boards)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    gstep, epoch0, step0, history, partial = 0, 0, 0, [], []
    identity = {"config": to_dict(cfg)} if identity is None else identity
    if resume and latest_step(ckpt_dir) is not None:
        gstep, epoch0, step0, history, partial = _resume_point(ckpt_dir, model, opt, identity)
        log.info("resuming at epoch %d step %d (global step %d)", epoch0 + 1, step0, gstep)
    net = world.wrap(model)
    extra = {"identity": identity}
    t_miner = time.perf_counter()
    miner = hard_miner(bip, cfg)
    if miner is not None:
        log.info("hard-negative pools: ranks %d-%d, %.1f s", miner.lo, miner.hi, time.perf_counter() - t_miner)
    for epoch in range(epoch0, cfg.train.epochs):
        t0 = time.perf_counter()
        data = prepare_epoch(bip, pin_x, cfg, epoch, miner, world)
        first = step0 if epoch == epoch0 else 0
        losses, pairs = (list(partial) if epoch == epoch0 else []), 0
        model.train()
        for step in progress(range(first, data.n_steps), desc=f"epoch {epoch + 1}", total=data.n_steps - first):
            losses.append(train_step(model, opt, data, cfg, epoch, step, world, net))
            pairs += len(data.sup_pin[step * cfg.train.batch_size : (step + 1) * cfg.train.batch_size])
            gstep += 1
            end = step + 1 == data.n_steps
            if end or (cfg.train.checkpoint_every and gstep % cfg.train.checkpoint_every == 0):
                if end:
                    n_hard = hard_count(cfg, epoch) if miner is not None else 0
                    history.append(_record(epoch, losses, pairs, time.perf_counter() - t0, n_hard, world))
                    tracker.log_metrics({k: v for k, v in history[-1].items() if k != "epoch"}, step=epoch + 1)
                    log.info("sage %s", format_metrics(history[-1]))
                if world.is_main:
                    _save(ckpt_dir, gstep, model, opt, extra, epoch, step, end, history, losses, cfg)
                world.barrier()
                if on_checkpoint is not None:
                    on_checkpoint(gstep)
    model.eval()
    return model, history


def _save(ckpt_dir, gstep, model, opt, extra, epoch, step, end, history, losses, cfg) -> None:  # noqa: ANN001
    """The checkpoint after ``step`` of ``epoch`` (``end``: the epoch's last step)."""
    save_checkpoint(
        ckpt_dir,
        gstep,
        model,
        opt,
        extra={
            **extra,
            "epoch": epoch + int(end),
            "step_in_epoch": 0 if end else step + 1,
            "history": history,
            "epoch_losses": [] if end else losses,
        },
        keep=cfg.train.keep_checkpoints,
    )


def _record(
    epoch: int, losses: list[float], pairs: int, seconds: float, n_hard: int, world: World = SINGLE
) -> dict[str, Any]:
    loss = float(np.mean(losses)) if losses else float("nan")
    if world.distributed:  # every rank's pairs, the ranks' mean loss
        loss, pairs = world.sum(loss) / world.world_size, int(world.sum(pairs))
    return {
        "epoch": epoch + 1,
        "loss": loss,
        "seconds": round(seconds, 3),
        "pairs_per_s": round(pairs / max(seconds, 1e-9), 1),
        "hard_negatives": n_hard,
        "steps": len(losses),
    }
