"""CLI commands of the sage stage: raw-features, train-sage, embed-graph."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from graphrec.cli import app, handle_errors, renamed


def _threads(n: int) -> None:
    """``--threads n`` is the job's total: each of torchrun's ranks takes its share."""
    if n > 0:
        import torch

        from graphrec.distributed.ddp import threads_per_rank

        torch.set_num_threads(threads_per_rank(n))


@app.command("raw-features")
@handle_errors
def raw_features_cmd(
    graph: Path = typer.Option(..., "--graph", help="Graph directory (from build-graph)."),
    out: Path = typer.Option(..., "--out", help="Content embedding directory to write (model_name 'raw')."),
    dim: int | None = typer.Option(None, "--dim", help="Output dimension (config key dim, default 64)."),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed of the randomized PCA (same seed, same bytes; default 0)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="YAML: RawFeatureConfig keys, or a run config (its raw section)."
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="Config override key=value, e.g. text_weight=2 (repeatable)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Non-learned content features (pixels + TF-IDF + metadata, PCA'd): the PinCLIP stand-in."""
    from graph_build.graph import load_graph
    from graphrec.features import RawFeatureConfig, write_raw_features
    from graphrec.utils.config import flag_overrides, load_section
    from graphrec.utils.io import check_output_free

    cfg = load_section(RawFeatureConfig, config, "raw", [*overrides, *flag_overrides(dim=dim, seed=seed)])
    check_output_free(out, overwrite=force)
    g = load_graph(graph)
    m = write_raw_features(g, out, cfg, overwrite=force)
    typer.echo(f"wrote raw features ({m['n_pins']:,} pins x {m['dim']}, blocks {m['raw_features']['blocks']}) to {out}")


@app.command("train-sage")
@handle_errors
def train_sage_cmd(
    graph: Path = typer.Option(..., "--graph", help="Graph directory (from build-graph)."),
    features: Path = typer.Option(None, "--emb", help="Content embedding directory (pin_content.npy)."),
    features_old: Path = typer.Option(None, "--features", hidden=True, help="Deprecated name of --emb."),
    out: Path = typer.Option(..., "--out", help="Model directory to write (atomically)."),
    config: Path | None = typer.Option(None, "--config", help="YAML config (SageConfig sections)."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Config override key=value, e.g. train.epochs=5 (repeatable)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint."),
    threads: int = typer.Option(0, "--threads", help="torch threads (0 = torch default)."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda (auto: CUDA when present)."),
    nproc: int = typer.Option(
        0, "--nproc", help="Data-parallel (DDP) processes to launch; sets train.nproc (0 = the config's, default 1)."
    ),
) -> None:
    """Train the PinSage-style GraphSAGE model on the train split (on N processes: --nproc N or torchrun)."""
    from graphrec.distributed.device import resolve_device

    features = renamed(features, features_old, "--emb", "--features")
    resolve_device(device, "train-sage")
    from graph_build.graph import load_graph
    from graphrec.sage.api import train_sage_dir
    from graphrec.sage.config import SageConfig
    from graphrec.tracking import open_run
    from graphrec.utils.config import load_section, to_dict

    cfg = load_section(SageConfig, config, "sage", [*overrides, *([f"train.nproc={nproc}"] if nproc else [])])
    _threads(threads)
    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun rank 0 alone tracks and prints
    with open_run("train-sage", params=to_dict(cfg), enabled=main_rank) as tracker:
        manifest = train_sage_dir(
            load_graph(graph), features, cfg, out, resume=resume, overwrite=force, tracker=tracker
        )
    history = manifest["history"]
    last = history[-1] if history else {}
    if main_rank:
        typer.echo(f"trained {len(history)} epochs (last loss {last.get('loss', float('nan')):.4f}); wrote {out}")


@app.command("embed-graph")
@handle_errors
def embed_graph_cmd(
    graph: Path = typer.Option(..., "--graph", help="Graph directory."),
    features: Path = typer.Option(None, "--emb", help="Content embedding directory the model was trained with."),
    features_old: Path = typer.Option(None, "--features", hidden=True, help="Deprecated name of --emb."),
    model: Path = typer.Option(..., "--model", help="Model directory (from train-sage)."),
    out: Path = typer.Option(..., "--out", help="Embedding directory to write (pin_emb.npy, board_emb.npy)."),
    name: str | None = typer.Option(
        None, "--name", help="Evaluation model name (default: full, or sage_raw on raw features)."
    ),
    threads: int = typer.Option(0, "--threads", help="torch threads (0 = torch default)."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda (auto: CUDA when present)."),
    ray: bool = typer.Option(False, "--ray", help="Run each layer in shards on a local Ray (every CPU); same bytes."),
    ray_address: str = typer.Option(None, "--ray-address", help="Run the shards on this Ray cluster (ADDR)."),
    ray_shards: int = typer.Option(None, "--ray-shards", help="Shards for --ray (default: the cluster's CPUs)."),
) -> None:
    """Embed every pin and board (layer by layer; cold pins from content alone)."""
    from graphrec.distributed.device import resolve_device
    from graphrec.distributed.ray_jobs import options_from_cli

    features = renamed(features, features_old, "--emb", "--features")
    resolve_device(device, "embed-graph")
    ray_opts = options_from_cli(ray, ray_address, ray_shards)
    from graph_build.graph import load_graph
    from graphrec.sage.api import embed_graph_dir

    _threads(threads)
    m = embed_graph_dir(load_graph(graph), features, model, out, name=name, overwrite=force, ray=ray_opts)
    typer.echo(
        f"wrote {m['model_name']} embeddings of {m['n_pins']:,} pins and {m['n_boards']:,} boards to {out} "
        f"({m['timings']})"
    )
