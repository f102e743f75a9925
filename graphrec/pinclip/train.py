"""``train-pinclip``: train the multimodal encoder on a graph directory's train split.

Only warm pins (pins in the training graph) and train saves are used: cold pins' content and
every val/test save stay unseen, so cold-start evaluation measures generalisation to new pins.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graph_build.graph import PinBoardGraph
from graphrec.distributed.ddp import SINGLE, World
from graphrec.pinclip.config import PinClipConfig
from graphrec.pinclip.ddp_step import average_gradients, encode, seed_step
from graphrec.pinclip.features import MetadataVocab
from graphrec.pinclip.losses import info_nce, masked_info_nce
from graphrec.pinclip.model import PinClip, build_model
from graphrec.pinclip.sampling import CoBoardSampler
from graphrec.pinclip.table import PinTable
from graphrec.pinclip.text_backbone import reusable_features
from graphrec.pinclip.towers import pin_tokenizer
from graphrec.tracking import NULL, Tracker
from graphrec.utils.checkpoint import load_checkpoint, save_checkpoint
from graphrec.utils.config import to_dict
from graphrec.utils.logs import progress
from graphrec.utils.seed import seed_everything

log = logging.getLogger(__name__)


def _lr(cfg: PinClipConfig, step: int) -> float:
    t = cfg.train
    if step < t.warmup_steps:
        return t.lr * (step + 1) / t.warmup_steps
    progress_ = (step - t.warmup_steps) / max(1, t.steps - t.warmup_steps)
    return t.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress_)))


def set_lr(opt: torch.optim.Optimizer, cfg: PinClipConfig, step: int) -> None:
    """The schedule's learning rate of ``step`` on every group, times the group's ``lr_scale``."""
    for g in opt.param_groups:
        g["lr"] = _lr(cfg, step) * g.get("lr_scale", 1.0)


def pretrained_prefixes(cfg: PinClipConfig) -> tuple[str, ...]:
    """Parameter-name prefixes of the pretrained weights that train (fine-tuning): the MiniLM
    layers of ``text.finetune_layers``, a pretrained EfficientNet trunk with ``image.finetune``,
    and the towers loaded from ``clip_path``."""
    out = []
    if cfg.clip_path or (cfg.image.kind == "efficientnet_lite0" and cfg.image.pretrained and cfg.image.finetune):
        out.append("vision.")
    if (cfg.text.kind == "minilm" and cfg.text.finetune_layers > 0) or (cfg.clip_path and cfg.text.kind == "clip"):
        out.append("text.")
    return tuple(out)


def _optimizer(model: PinClip, cfg: PinClipConfig) -> torch.optim.Optimizer:
    """AdamW; fine-tuned pretrained weights (``pretrained_prefixes``) get their own groups at
    ``train.pretrained_lr_scale`` x the learning rate (each group's ``lr_scale``)."""
    pretrained = pretrained_prefixes(cfg)
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim < 2 or "logit_scale" in name or "norm" in name
        groups.setdefault((name.startswith(pretrained), no_decay), []).append(p)
    out = []
    for pre in (False, True):
        scale = cfg.train.pretrained_lr_scale if pre else 1.0
        for nd in (False, True):
            if pre and not groups.get((pre, nd)):
                continue  # no pretrained weights train: the two groups of a model trained from scratch
            wd = 0.0 if nd else cfg.train.weight_decay
            out.append({"params": groups.get((pre, nd), []), "weight_decay": wd, "lr_scale": scale})
    return torch.optim.AdamW(out, lr=cfg.train.lr)


def _first_occurrences(idx: np.ndarray) -> torch.Tensor:
    _, first = np.unique(idx, return_index=True)
    return torch.from_numpy(np.sort(first))


def step_losses(
    model: PinClip,
    table: PinTable,
    sampler: CoBoardSampler,
    rng: np.random.Generator,
    cfg: PinClipConfig,
    board_inputs=None,
    world: World = SINGLE,
) -> dict[str, torch.Tensor]:
    """One batch: anchors, their co-board positives, and every enabled objective.

    Under N ranks (``world``) every rank draws the same global batch from ``rng``, encodes its
    shard and gathers the rest (:mod:`graphrec.pinclip.ddp_step`): the terms are the global ones.
    """
    B = min(cfg.train.batch_size, len(sampler.anchors))
    anchors = rng.choice(sampler.anchors, size=B, replace=False)
    pos, via_board = sampler.positives(anchors, rng)
    idx = np.concatenate([anchors, pos])
    out = encode(model, table, idx, world)
    u = _first_occurrences(idx)  # each distinct pin once for the per-pin objectives
    w, terms = cfg.loss, {}
    if w.image_text > 0:
        t = masked_info_nce(out.image[u], out.text[u], model.scale("image_text"), out.has_image[u])
        if t is not None:
            terms["image_text"] = t
    if w.text_metadata > 0 and out.metadata is not None:
        terms["text_metadata"] = info_nce(out.text[u], out.metadata[u], model.scale("text_metadata"))
    if w.fused_modality > 0:
        t = info_nce(out.fused[u], out.text[u], model.scale("fused_modality"))
        ti = masked_info_nce(out.fused[u], out.image[u], model.scale("fused_modality"), out.has_image[u])
        terms["fused_modality"] = t if ti is None else 0.5 * (t + ti)
    if w.neighbor > 0:
        exclude = sampler.co_board(anchors, pos)
        terms["neighbor"] = info_nce(out.fused[:B], out.fused[B:], model.scale("neighbor"), exclude)
    if w.pin_board > 0 and board_inputs is not None:
        t = _pin_board_loss(model, out.fused[:B], anchors, via_board, sampler, board_inputs, world)
        if t is not None:
            terms["pin_board"] = t
    return terms


def _pin_board_loss(model, fused_anchor, anchors, boards, sampler, board_inputs, world=SINGLE):
    """Anchor pin vs the title of the train board it was reached through (titled boards only)."""
    titled = board_inputs["titled"][boards]
    if titled.sum() < 2:
        return None
    keep = np.flatnonzero(titled)
    b = boards[keep]
    text = encode(model, board_inputs["table"], b, world).text
    on_board = torch.from_numpy((sampler.pin_board[anchors[keep]][:, b]).toarray() > 0)
    return info_nce(fused_anchor[torch.from_numpy(keep)], text, model.scale("pin_board"), on_board)


def _weighted(cfg: PinClipConfig, terms: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(getattr(cfg.loss, k) * v for k, v in terms.items())


@dataclass
class TrainedPinClip:
    """What training produces: the model (eval mode), its fitted inputs and the run's record."""

    model: PinClip
    tokenizer: Any
    vocab: MetadataVocab
    history: list[dict[str, Any]]
    info: dict[str, int]  # train_pins, anchors_with_train_saves, image_size


def fit_inputs(graph: PinBoardGraph, cfg: PinClipConfig) -> tuple[Any, MetadataVocab]:
    """The tokenizer (trained on warm pins' text, or the --clip-path one) and metadata vocab."""
    warm_pins = graph.pins.iloc[np.flatnonzero(~graph.is_cold)]
    tokenizer = pin_tokenizer(cfg, warm_pins)
    vocab = MetadataVocab.fit(warm_pins, graph.categorical_columns, graph.numeric_columns, cfg.metadata.max_categories)
    return tokenizer, vocab


def train_pinclip(
    graph: PinBoardGraph,
    cfg: PinClipConfig,
    ckpt_dir: Path,
    *,
    resume: bool = False,
    on_checkpoint: Callable[[int], None] | None = None,
    identity: dict[str, Any] | None = None,
    tracker: Tracker = NULL,
    text_features: str | Path | None = None,
    world: World = SINGLE,
) -> TrainedPinClip:
    """Train on ``graph``'s warm pins and train saves.

    Args:
        graph: the graph.
        cfg: the stage config.
        ckpt_dir: checkpoint directory (written every ``train.checkpoint_every`` steps and at the end).
        resume: continue from the newest checkpoint in ``ckpt_dir`` (same identity required).
        on_checkpoint: called with the step after each checkpoint (tests use it to simulate a kill).
        identity: what the run depends on, stored in every checkpoint (default: the config).
        tracker: where the per-step losses go (``train/loss`` ...).
        text_features: an ``embed-text`` directory of this graph whose frozen backbone features
            are reused (a frozen text backbone; otherwise they are computed here).
        world: this rank (data-parallel, docs/scale.md): ``train.batch_size`` is the global
            batch, each rank encodes 1/N of it, gradients are averaged; rank 0 alone writes
            checkpoints and reports.
    """
    identity = {"config": to_dict(cfg)} if identity is None else identity
    rng = seed_everything(cfg.seed)
    tokenizer, vocab = fit_inputs(graph, cfg)
    model = build_model(cfg, tokenizer, vocab)
    image_size = int(model.vision.config.image_size)
    table = PinTable.from_pins(
        graph.pins,
        graph.images(),
        tokenizer,
        vocab,
        cfg,
        image_size,
        text_features=reusable_features(text_features, graph),
    )
    sampler = CoBoardSampler(graph.csr("train"))
    if len(sampler.anchors) < 2:
        raise ValueError(f"{graph.root}: fewer than two pins with train saves; nothing to train on")
    if min(cfg.train.batch_size, len(sampler.anchors)) < world.world_size:
        raise ValueError(
            f"train-pinclip: a batch of {min(cfg.train.batch_size, len(sampler.anchors))} anchors cannot be split "
            f"over {world.world_size} ranks (pinclip.train.batch_size is the global batch)"
        )
    board_inputs = _board_inputs(graph, tokenizer, vocab, cfg, image_size) if cfg.loss.pin_board > 0 else None
    opt = _optimizer(model, cfg)
    start, history = 0, []
    if resume and (meta := load_checkpoint(ckpt_dir, model, opt, rng, identity=identity)) is not None:
        start, history = int(meta["step"]), list(meta["extra"].get("history", []))
        log.info("resuming from step %d (%s)", start, ckpt_dir)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    tracker = tracker if world.is_main else NULL
    for step in progress(
        range(start, cfg.train.steps), desc="train-pinclip", unit="step", initial=start, total=cfg.train.steps
    ):
        set_lr(opt, cfg, step)
        seed_step(cfg.seed, step, world)
        terms = step_losses(model, table, sampler, rng, cfg, board_inputs, world)
        loss = _weighted(cfg, terms)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(params, world)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()
        if (step + 1) % cfg.train.log_every == 0 or step + 1 == cfg.train.steps:
            row = {"step": step + 1, "loss": loss.item(), **{k: v.item() for k, v in terms.items()}}
            history.append(row)
            tracker.log_metrics({f"train/{k}": v for k, v in row.items() if k != "step"}, step=step + 1)
            log.info(
                "step %d loss %.4f %s",
                step + 1,
                row["loss"],
                " ".join(f"{k}={v:.3f}" for k, v in row.items() if k not in ("step", "loss")),
            )
        if (step + 1) % cfg.train.checkpoint_every == 0 or step + 1 == cfg.train.steps:
            if world.is_main:
                save_checkpoint(ckpt_dir, step + 1, model, opt, rng, extra={"history": history, "identity": identity})
            world.barrier()
            if on_checkpoint is not None:
                on_checkpoint(step + 1)
    model.eval()
    info = {
        "train_pins": int((~graph.is_cold).sum()),
        "anchors_with_train_saves": int(len(sampler.anchors)),
        "image_size": image_size,
    }
    return TrainedPinClip(model, tokenizer, vocab, history, info)


def _board_inputs(graph: PinBoardGraph, tokenizer, vocab, cfg, image_size):
    """Board titles as a text-only PinTable (for the optional pin<->board objective)."""
    import pandas as pd

    titles = graph.boards["title"].fillna("").astype(str)
    frame = pd.DataFrame({"title": titles.where(titles.str.len() > 0, "board"), "description": ""})
    table = PinTable.from_pins(frame, None, tokenizer, vocab, cfg, image_size)
    return {"table": table, "titled": (titles.str.strip().str.len() > 0).to_numpy()}
