"""Directory-level PinCLIP jobs (what ``train-pinclip`` and ``graphrec run`` call).

``embed-pins`` is :func:`graphrec.pinclip.embed.embed_graph_pins`.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from graph_build.graph import PinBoardGraph
from graphrec.embeddings import graph_fingerprint
from graphrec.pinclip.config import PinClipConfig
from graphrec.tracking import NULL, Tracker
from graphrec.utils.checkpoint import Resume, checkpoint_dir, resume_from
from graphrec.utils.config import to_dict
from graphrec.utils.io import check_output_free


def train_pinclip_dir(
    graph: PinBoardGraph,
    cfg: PinClipConfig,
    out: str | Path,
    *,
    resume: Resume = False,
    overwrite: bool = False,
    tracker: Tracker = NULL,
    text_features: str | Path | None = None,
) -> dict[str, Any]:
    """Train on ``graph``'s train split and write the model directory ``out``; returns its manifest.

    Checkpoints live in ``checkpoint_dir(out)`` until the model directory is written, so an
    interrupted run can continue (``resume``: see :func:`graphrec.utils.checkpoint.resume_from`).

    Args:
        resume: False (start over), True (continue an interrupted run of the same ``out``, same
            config and graph), ``"auto"`` (continue one when it matches).
        overwrite: replace an existing ``out``.
        tracker: where tags, per-step losses and the model files go (the caller opened its run).
        text_features: an ``embed-text`` directory of this graph whose frozen backbone features
            are reused (a frozen text backbone; otherwise they are computed here).

    With ``train.nproc`` N > 1 outside a launcher, N ranks are started (torch's elastic
    launcher) and this process logs their records; under torchrun every process is one rank
    (``train.nproc`` 1 is then taken from the launcher's ``WORLD_SIZE``). Rank 0 alone writes.
    """
    from graphrec.distributed import ddp

    if cfg.train.nproc > 1 and ddp.launched_world_size() == 1:
        return _launch(graph, cfg, out, resume, overwrite, tracker, text_features)
    with ddp.process_group() as world:
        if world.distributed and cfg.train.nproc != world.world_size:
            if cfg.train.nproc != 1:
                raise ValueError(
                    f"pinclip.train.nproc={cfg.train.nproc} but the launcher started {world.world_size} ranks"
                )
            cfg = replace(cfg, train=replace(cfg.train, nproc=world.world_size))  # recorded in config.json
        return _train(graph, cfg, out, resume, overwrite, tracker if world.is_main else NULL, text_features, world)


def _train(graph, cfg, out, resume, overwrite, tracker, text_features, world) -> dict[str, Any] | None:  # noqa: ANN001
    """One rank (or the only process) of :func:`train_pinclip_dir`; every rank returns the manifest."""
    from graphrec.pinclip.store import save_model_dir
    from graphrec.pinclip.train import train_pinclip

    check_output_free(out, overwrite=overwrite)
    ckpt = checkpoint_dir(out)
    identity = {"config": to_dict(cfg), "graph": graph_fingerprint(graph)}
    go_on = world.on_main(lambda: resume_from(ckpt, identity, resume))
    tracker.set_tags({"dataset": graph.name, "seed": cfg.seed, "graph": str(graph.root)})
    t0 = time.perf_counter()
    trained = train_pinclip(
        graph, cfg, ckpt, resume=go_on, identity=identity, tracker=tracker, text_features=text_features, world=world
    )
    history = trained.history
    manifest = {
        "graph": {
            "path": str(graph.root.resolve()),
            "manifest_sha256": graph_fingerprint(graph),
            "dataset": graph.name,
        },
        "seed": cfg.seed,
        "steps": cfg.train.steps,
        "train_pins": trained.info["train_pins"],
        "anchors_with_train_saves": trained.info["anchors_with_train_saves"],
        "image_size": trained.info["image_size"],
        "train_seconds_this_run": round(time.perf_counter() - t0, 3),
        "history": history,
        "final_losses": history[-1] if history else {},
    }
    world.on_main(
        lambda: save_model_dir(
            out, trained.model, cfg, trained.tokenizer, trained.vocab, manifest, checkpoints=ckpt, overwrite=overwrite
        )
    )
    _log_model_files(tracker, out)
    return manifest


def _log_model_files(tracker: Tracker, out: str | Path) -> None:
    for f in ("config.json", "manifest.json", "build.json"):
        tracker.log_artifacts(Path(out) / f, "pinclip")


def _launch(graph, cfg, out, resume, overwrite, tracker, text_features) -> dict[str, Any]:  # noqa: ANN001
    """Start ``train.nproc`` ranks of :func:`train_pinclip_dir`; log rank 0's records here."""
    import torch

    from graphrec.distributed import ddp

    check_output_free(out, overwrite=overwrite)
    tf = None if text_features is None else str(text_features)
    args = (str(graph.root), cfg, str(out), resume, overwrite, tf, torch.get_num_threads())
    manifest = ddp.launch(_pinclip_rank, args, cfg.train.nproc)[0]
    tags = {"dataset": graph.name, "seed": cfg.seed, "graph": str(graph.root), "train.nproc": cfg.train.nproc}
    tracker.set_tags(tags)
    for row in manifest["history"]:
        tracker.log_metrics({f"train/{k}": v for k, v in row.items() if k != "step"}, step=row["step"])
    _log_model_files(tracker, out)
    return manifest


def _pinclip_rank(
    graph: str, cfg: PinClipConfig, out: str, resume: Resume, overwrite: bool, text_features: str | None, threads: int
) -> dict[str, Any] | None:
    """One rank of ``train_pinclip_dir`` under ``train.nproc`` N: the ranks share ``threads`` torch threads."""
    import torch

    from graph_build.graph import load_graph
    from graphrec.distributed.ddp import threads_per_rank
    from graphrec.utils.logs import setup_logging

    setup_logging(quiet=True)
    torch.set_num_threads(threads_per_rank(threads, cfg.train.nproc))
    manifest = train_pinclip_dir(
        load_graph(graph), cfg, out, resume=resume, overwrite=overwrite, text_features=text_features
    )
    return manifest if os.environ.get("RANK", "0") == "0" else None
