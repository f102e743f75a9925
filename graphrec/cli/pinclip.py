"""CLI commands of the PinCLIP stage: train-pinclip, embed-pins."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from graphrec.cli import app, handle_errors


@app.command("train-pinclip")
@handle_errors
def train_pinclip_cmd(
    graph: Path = typer.Option(..., "--graph", help="Graph directory from build-graph."),
    out: Path = typer.Option(..., "--out", help="Model directory to write (weights, tokenizer, config, manifest)."),
    config: Path = typer.Option(
        None, "--config", help="YAML file with a PinCLIP config (top level or a 'pinclip:' section)."
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a config key, e.g. --set train.steps=500 --set loss.neighbor=0."
    ),
    clip_path: Path = typer.Option(
        None, "--clip-path", help="Local Hugging Face CLIP folder for the image (and text) tower."
    ),
    seed: int = typer.Option(None, "--seed", help="Seed (overrides the config's)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint of an interrupted run."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not log to MLflow."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda (auto: CUDA when present)."),
    nproc: int = typer.Option(
        0, "--nproc", help="Data-parallel (DDP) processes to launch; sets train.nproc (0 = the config's, default 1)."
    ),
) -> None:
    """Train the multimodal pin encoder (image-text contrastive + neighbour alignment; on N processes:
    --nproc N or torchrun)."""
    from graphrec.distributed.device import resolve_device

    resolve_device(device, "train-pinclip")
    from graph_build.graph import load_graph
    from graphrec.pinclip.api import train_pinclip_dir
    from graphrec.tracking import open_run
    from graphrec.utils.config import to_dict

    extra = [f"train.nproc={nproc}"] if nproc else []
    cfg = stage_config(config, [*set_, *extra], clip_path=clip_path, seed=seed)
    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun rank 0 alone tracks and prints
    with open_run("train-pinclip", params=to_dict(cfg), enabled=main_rank and not no_mlflow) as tracker:
        manifest = train_pinclip_dir(load_graph(graph), cfg, out, resume=resume, overwrite=force, tracker=tracker)
    if not main_rank:
        return
    final = manifest["final_losses"]
    typer.echo(
        f"trained PinCLIP for {manifest['steps']} steps on {manifest['train_pins']:,} warm pins; final loss "
        f"{final.get('loss', float('nan')):.4f}; wrote {out}"
    )


@app.command("embed-pins")
@handle_errors
def embed_pins_cmd(
    graph: Path = typer.Option(None, "--graph", help="Graph directory: embed all its pins (warm and cold)."),
    model: Path = typer.Option(..., "--model", help="PinCLIP model directory from train-pinclip."),
    out: Path = typer.Option(..., "--out", help="Embedding directory to write (pin_content.npy + manifest.json)."),
    pins: Path = typer.Option(
        None, "--pins", help="A new pins table (.csv/.parquet, dataset contract) instead of --graph."
    ),
    name: str = typer.Option(
        "content", "--name", help="Model name recorded for evaluation (e.g. content, clip_no_neighbors)."
    ),
    batch_size: int = typer.Option(None, "--batch-size", help="Pins per forward pass."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
    ray: bool = typer.Option(False, "--ray", help="Embed in shards on a local Ray (every CPU); same bytes."),
    ray_address: str = typer.Option(None, "--ray-address", help="Run the shards on this Ray cluster (ADDR)."),
    ray_shards: int = typer.Option(None, "--ray-shards", help="Shards for --ray (default: the cluster's CPUs)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda (auto: CUDA when present)."),
) -> None:
    """Embed pins with a trained PinCLIP: every pin of a graph, or a new pins table."""
    from graphrec.distributed.device import resolve_device

    resolve_device(device, "embed-pins")
    from graphrec.distributed.ray_jobs import options_from_cli
    from graphrec.pinclip.embed import embed_graph_pins, embed_new_pins

    if (graph is None) == (pins is None):
        raise ValueError("give exactly one of --graph (embed a graph's pins) or --pins (embed a new pins table)")
    ray_opts = options_from_cli(ray, ray_address, ray_shards)
    if ray_opts is not None and pins is not None:
        raise ValueError("--ray embeds a graph's pins (--graph); a new pins table is embedded in this process")
    if pins is not None:
        m = embed_new_pins(model, pins, out, name=name, batch_size=batch_size, overwrite=force)
    else:
        from graph_build.graph import load_graph

        m = embed_graph_pins(
            load_graph(graph), model, out, name=name, batch_size=batch_size, overwrite=force, ray=ray_opts
        )
    typer.echo(f"embedded {m['n_pins']:,} pins ({m['dim']}-d) -> {out}")


def stage_config(config: Path | None, overrides: list[str], *, clip_path: Path | None, seed: int | None):
    """PinClipConfig from a YAML file (stage-only or a run config's 'pinclip' section) plus overrides."""
    from graphrec.pinclip.config import PinClipConfig
    from graphrec.utils.config import load_section

    extra = list(overrides)
    if clip_path is not None:
        extra.append(f"clip_path={clip_path}")
    if seed is not None:
        extra.append(f"seed={seed}")
    return load_section(PinClipConfig, config, "pinclip", extra)
