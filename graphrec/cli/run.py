"""CLI commands of the run stage: graphrec run (the whole pipeline) and graphrec sweep."""

from __future__ import annotations

from pathlib import Path

import typer

from graphrec.cli import app, handle_errors


def data_overrides(synthetic: bool, data: Path | None) -> list[str]:
    """Config overrides for ``--synthetic`` / ``--data DIR`` (run, sweep and ablation share them)."""
    if synthetic and data is not None:
        raise ValueError("give --synthetic or --data, not both")
    if synthetic:
        return ["data.source=synthetic"]
    if data is not None:
        return ["data.source=dir", f"data.path={data}"]
    return []


def require_data_source(config: Path | None, overrides: list[str]) -> None:
    """Refuse to guess the data: ``--synthetic``, ``--data`` or a config setting ``data.source``."""
    from graphrec.utils.config import read_yaml_mapping

    if any(o.split("=", 1)[0] in ("data.source", "data.path") for o in overrides):
        return
    data = read_yaml_mapping(config).get("data") if config is not None else None
    if not (isinstance(data, dict) and ("source" in data or "path" in data)):
        raise ValueError("say which data to use: --synthetic (the embedded demo catalogue) or --data DATASET_DIR")


@app.command("run")
@handle_errors
def run_cmd(
    out: Path = typer.Option(..., "--out", help="Run directory: graph/, pinclip/, sage/, eval/, candidates/ ..."),
    synthetic: bool = typer.Option(
        False, "--synthetic", help="Use the embedded synthetic catalogue (data.source=synthetic)."
    ),
    data: Path = typer.Option(None, "--data", help="A dataset directory following the contract (data.source=dir)."),
    config: Path = typer.Option(None, "--config", help="Run config YAML, e.g. experiments/configs/default.yaml."),
    set_: list[str] = typer.Option([], "--set", help="Override a config key, e.g. --set pinclip.train.steps=100."),
    force: bool = typer.Option(False, "--force", help="Redo every stage, even those already complete."),
    no_mlflow: bool = typer.Option(
        False, "--no-mlflow", help="Do not track in MLflow (and do not register the model)."
    ),
    promote: bool = typer.Option(False, "--promote", help="Point the registry alias (@candidate) at this run's model."),
    promote_if_better: bool = typer.Option(
        False,
        "--promote-if-better",
        help="Move @candidate here only if validation Recall@20 beats the aliased version.",
    ),
) -> None:
    """Run the whole pipeline, tracked in MLflow, and print a summary table."""
    from experiments.config import load_run_config
    from experiments.pipeline import run_pipeline
    from experiments.summary import format_summary

    overrides = [*set_, *data_overrides(synthetic, data)]
    overrides += ["register.promote=true"] if promote else []
    overrides += ["register.promote_if_better=true"] if promote_if_better else []
    require_data_source(config, overrides)
    cfg = load_run_config(config, overrides)
    result = run_pipeline(cfg, out, data_dir=data, force=force, track=not no_mlflow)
    typer.echo(format_summary(result))
