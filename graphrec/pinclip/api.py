"""Directory-level PinCLIP jobs (what ``train-pinclip`` and ``graphrec run`` call).

``embed-pins`` is :func:`graphrec.pinclip.embed.embed_graph_pins`.
"""

from __future__ import annotations

import time
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
    """
    from graphrec.pinclip.store import save_model_dir
    from graphrec.pinclip.train import train_pinclip

    check_output_free(out, overwrite=overwrite)
    ckpt = checkpoint_dir(out)
    identity = {"config": to_dict(cfg), "graph": graph_fingerprint(graph)}
    go_on = resume_from(ckpt, identity, resume)
    tracker.set_tags({"dataset": graph.name, "seed": cfg.seed, "graph": str(graph.root)})
    t0 = time.perf_counter()
    trained = train_pinclip(
        graph, cfg, ckpt, resume=go_on, identity=identity, tracker=tracker, text_features=text_features
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
    save_model_dir(
        out, trained.model, cfg, trained.tokenizer, trained.vocab, manifest, checkpoints=ckpt, overwrite=overwrite
    )
    for f in ("config.json", "manifest.json", "build.json"):
        tracker.log_artifacts(Path(out) / f, "pinclip")
    return manifest
