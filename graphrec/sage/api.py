"""Directory-level SAGE jobs (what ``train-sage`` / ``embed-graph`` and ``graphrec run`` call)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from graph_build.graph import PinBoardGraph
from graphrec.sage.config import SageConfig
from graphrec.tracking import NULL, Tracker
from graphrec.utils.checkpoint import Resume, checkpoint_dir, resume_from
from graphrec.utils.config import to_dict
from graphrec.utils.io import check_output_free, read_json, sha256_file


def train_sage_dir(
    graph: PinBoardGraph,
    features: str | Path,
    cfg: SageConfig,
    out: str | Path,
    *,
    resume: Resume = False,
    overwrite: bool = False,
    tracker: Tracker = NULL,
) -> dict[str, Any]:
    """Train on ``graph``'s train split with the content embedding dir ``features``; write ``out``.

    Checkpoints live in ``checkpoint_dir(out)`` until the model directory is written, so an
    interrupted run can continue (``resume``: see :func:`graphrec.utils.checkpoint.resume_from`).
    ``tracker`` gets the tags and per-epoch records (the caller opened its run). Returns the
    model manifest.
    """
    from graph_build.graph import MANIFEST
    from graphrec.distributed import ddp
    from graphrec.embeddings import graph_fingerprint
    from graphrec.sage.adjacency import Bipartite
    from graphrec.sage.inference import check_features
    from graphrec.sage.store import save_model
    from graphrec.sage.train import train_sage
    from graphrec.utils.seed import seed_everything

    if cfg.train.nproc > 1 and ddp.launched_world_size() == 1:  # start the ranks; rank 0 returns the manifest
        import torch

        check_output_free(out, overwrite=overwrite)
        args = (str(graph.root), str(features), cfg, str(out), resume, overwrite, torch.get_num_threads())
        manifest = ddp.launch(_sage_rank, args, cfg.train.nproc)[0]
        tracker.set_tags({"graph": str(graph.root), "features": str(features), "train.nproc": cfg.train.nproc})
        for rec in manifest["history"]:
            tracker.log_metrics({k: v for k, v in rec.items() if k != "epoch"}, step=rec["epoch"])
        return manifest
    with ddp.process_group() as world:
        if world.distributed and cfg.train.nproc != world.world_size:
            if cfg.train.nproc != 1:
                raise ValueError(f"train.nproc={cfg.train.nproc} but the launcher started {world.world_size} ranks")
            cfg = replace(cfg, train=replace(cfg.train, nproc=world.world_size))  # recorded in config.json
        check_output_free(out, overwrite=overwrite)
        feats = check_features(features, graph)
        ckpt = checkpoint_dir(out)
        identity = {
            "config": to_dict(cfg),
            "graph": graph_fingerprint(graph),
            "features": sha256_file(feats.root / MANIFEST),
        }
        go_on = world.on_main(lambda: resume_from(ckpt, identity, resume))
        seed_everything(cfg.seed)
        tracker = tracker if world.is_main else NULL
        tracker.set_tags({"graph": str(graph.root), "features": str(features), "features.model_name": feats.model_name})
        model, history = train_sage(
            Bipartite.from_csr(graph.csr("train")),
            feats.pin,
            cfg,
            ckpt,
            resume=go_on,
            identity=identity,
            tracker=tracker,
            world=world,
        )
        return world.on_main(
            lambda: save_model(out, model, cfg, graph, feats, history, checkpoints=ckpt, overwrite=overwrite)
        )


def _sage_rank(
    graph: str, features: str, cfg: SageConfig, out: str, resume: Resume, overwrite: bool, threads: int
) -> dict[str, Any] | None:
    """One rank of ``train_sage_dir`` under ``train.nproc`` N: the ranks share ``threads`` torch threads."""
    import torch

    from graph_build.graph import load_graph
    from graphrec.distributed.ddp import threads_per_rank
    from graphrec.utils.logs import setup_logging

    setup_logging(quiet=True)
    torch.set_num_threads(threads_per_rank(threads, cfg.train.nproc))
    manifest = train_sage_dir(load_graph(graph), features, cfg, out, resume=resume, overwrite=overwrite)
    return manifest if os.environ.get("RANK", "0") == "0" else None


def embed_graph_dir(
    graph: PinBoardGraph,
    features: str | Path,
    model_dir: str | Path,
    out: str | Path,
    *,
    name: str | None = None,
    overwrite: bool = False,
    ray: Any = None,
) -> dict[str, Any]:
    """Embed every pin and board with a trained model and write an embedding directory.

    ``name`` is the evaluation model name (default ``full``, or ``sage_raw`` on raw features).
    ``ray``: a ``graphrec.distributed.ray_jobs.RayOptions`` to run the layers in Ray shards
    (the same files; nothing is written when a shard fails).
    """
    from graphrec.embeddings import write_embeddings
    from graphrec.sage.inference import check_features, check_model_graph, embed_graph
    from graphrec.sage.store import load_model

    check_output_free(out, overwrite=overwrite)
    net, cfg, manifest = load_model(model_dir)
    check_model_graph(cfg, manifest, graph)
    feats = check_features(features, graph, int(manifest["in_dim"]), manifest["features"]["model_name"])
    pin, board, timings = embed_graph(graph, feats.pin, net, cfg, ray=ray)
    model_name = name or ("sage_raw" if feats.model_name == "raw" else "full")
    return write_embeddings(
        out,
        graph,
        model_name=model_name,
        pin=pin,
        board=board,
        overwrite=overwrite,
        extra={
            "model_dir": str(Path(model_dir).resolve()),
            "features": str(Path(features).resolve()),
            "features_model_name": feats.model_name,
            "timings": timings,
            "config": read_json(Path(model_dir) / "config.json"),
        },
    )
