"""CLI commands of the experiments: graphrec sweep, graphrec ablation, graphrec ablation-table."""

from __future__ import annotations

from pathlib import Path

import typer

from graphrec.cli import app, handle_errors, renamed
from graphrec.cli.run import data_overrides


@app.command("sweep")
@handle_errors
def sweep_cmd(
    out: Path = typer.Option(..., "--out", help="Sweep directory: sweep.md, sweep.json, trials/<trial>/."),
    grid: list[str] = typer.Option(
        [],
        "--grid",
        help="key=v1,v2 (repeatable); trials are the cartesian product, "
        "e.g. --grid sage.train.epochs=5,15 --grid sage.model.pooling=mean,importance.",
    ),
    config: Path = typer.Option(None, "--config", help="Base run config YAML, e.g. experiments/configs/tiny.yaml."),
    set_: list[str] = typer.Option([], "--set", help="Override a key in every trial (before the grid values)."),
    synthetic: bool = typer.Option(False, "--synthetic", help="Use the embedded synthetic catalogue."),
    data: Path = typer.Option(None, "--data", help="A dataset directory following the contract."),
    name: str | None = typer.Option(
        None, "--name", help="Evaluation model name whose Recall@20 the sweep table reports (default full)."
    ),
    model: str | None = typer.Option(None, "--model", hidden=True, help="Deprecated name of --name."),
    force: bool = typer.Option(False, "--force", help="Redo every stage of every trial (reuse nothing)."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not track in MLflow."),
) -> None:
    """Run a grid of pipeline runs, one nested MLflow run per trial; identical stages are shared."""
    from experiments.sweep import SWEEP_MD, run_sweep

    # --model names a model directory elsewhere; here it was an evaluation name, like embed-graph --name
    model = renamed(name, model, "--name", "--model") if name or model else "full"
    res = run_sweep(
        config,
        grid,
        out,
        overrides=[*data_overrides(synthetic, data), *set_],
        data_dir=data,
        force=force,
        model=model,
        track=not no_mlflow,
    )
    typer.echo((out / SWEEP_MD).read_text(encoding="utf-8"))
    if res.run_id:
        typer.echo(f"MLflow sweep run {res.run_id}")


@app.command("ablation")
@handle_errors
def ablation_cmd(
    out: Path = typer.Option(..., "--out", help="Run directory (the usual stages + ablations/) and ablation.md/json."),
    config: Path = typer.Option(None, "--config", help="Run config YAML, e.g. experiments/configs/default.yaml."),
    set_: list[str] = typer.Option([], "--set", help="Override a config key (both ablation ladders are forced on)."),
    synthetic: bool = typer.Option(False, "--synthetic", help="Use the embedded synthetic catalogue."),
    data: Path = typer.Option(None, "--data", help="A dataset directory following the contract."),
    k: int = typer.Option(20, "--k", help="Cut-off of Recall/NDCG in the table (one of eval.ks)."),
    force: bool = typer.Option(False, "--force", help="Redo every stage, even those already complete."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not track in MLflow."),
) -> None:
    """Run the pipeline with the SAGE and full ablation ladders and write the PinSage Table 1 style table."""
    from experiments.ablation import ABLATION_MD
    from experiments.sweep import run_ablation

    tr, _ = run_ablation(
        config,
        out,
        overrides=[*data_overrides(synthetic, data), *set_],
        data_dir=data,
        force=force,
        k=k,
        track=not no_mlflow,
    )
    typer.echo((out / ABLATION_MD).read_text(encoding="utf-8"))
    if tr.run_id:
        typer.echo(f"MLflow run {tr.run_id}")


@app.command("ablation-table")
@handle_errors
def ablation_table_cmd(
    metrics: Path = typer.Argument(..., help="A metrics.json, an EVAL_DIR or a run directory."),
    out: Path = typer.Option(None, "--out", help="Write ablation.md and ablation.json here (default: print only)."),
    k: int = typer.Option(20, "--k", help="Cut-off of Recall/NDCG (one of the metrics' k)."),
) -> None:
    """Print (and optionally write) the ablation table of an evaluated run."""
    import json

    from experiments.ablation import ablation_document, find_metrics, format_markdown, write_ablation

    if out is not None:
        doc = write_ablation(metrics, out, k=k)
    else:
        doc = ablation_document(json.loads(find_metrics(metrics).read_text(encoding="utf-8")), k)
    typer.echo(format_markdown(doc))
