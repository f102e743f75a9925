"""CLI commands of the evaluate stage (registered on import by graphrec.cli.main): evaluate, ab-sim, ab-seeds."""

from __future__ import annotations

from pathlib import Path

import typer

from graphrec.cli import app, handle_errors, renamed

_RUNS_HELP = "Embedding directory (repeat the option; its manifest model_name is the evaluation name)."
_SET_HELP = "Config override key=value, e.g. --set ks=[10,20] --set lightgcn.epochs=5 (repeatable)."


def _config(config: Path | None, overrides: list[str] | None, models: list[str] | None = None):
    from eval.config import EvalConfig
    from graphrec.utils.config import load_config

    sets = list(overrides or [])
    if models:
        sets.append("models=[" + ",".join(models) + "]")
    return load_config(EvalConfig, config, sets)


@app.command()
@handle_errors
def evaluate(
    graph: Path = typer.Option(..., "--graph", help="Graph directory written by `graphrec build-graph`."),
    runs: list[Path] = typer.Option([], "--emb", help=_RUNS_HELP),
    runs_old: list[Path] = typer.Option([], "--runs", hidden=True, help="Deprecated name of --emb."),
    out: Path = typer.Option(..., "--out", help="EVAL_DIR to write (atomically): metrics.json, report.md, plots/."),
    config: Path | None = typer.Option(None, "--config", help="YAML EvalConfig (e.g. experiments/configs/eval.yaml)."),
    overrides: list[str] = typer.Option([], "--set", help=_SET_HELP),
    models: list[str] = typer.Option(
        [], "--models", help="Only these models (repeatable; default: every available one)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace EVAL_DIR if it exists."),
    ray: bool = typer.Option(False, "--ray", help="Score the query batches in shards on a local Ray (same numbers)."),
    ray_address: str = typer.Option(None, "--ray-address", help="Score the shards on this Ray cluster (ADDR)."),
    ray_shards: int = typer.Option(None, "--ray-shards", help="Shards for --ray (default: the cluster's CPUs)."),
) -> None:
    """Warm/cold evaluation of the baselines, the embedding runs and (synthetic data) the oracle."""
    from contextlib import nullcontext

    from eval.run import evaluate as run_evaluate
    from graphrec.distributed.ray_jobs import options_from_cli, ray_session
    from graphrec.tracking import open_run
    from graphrec.utils.config import to_dict

    runs = renamed(runs, runs_old, "--emb", "--runs")
    ray_opts = options_from_cli(ray, ray_address, ray_shards)
    cfg = _config(config, overrides, models)
    with ray_session(ray_opts) if ray_opts else nullcontext(), open_run("evaluate", params=to_dict(cfg)) as tracker:
        metrics = run_evaluate(graph, runs, out, cfg, force=force, ray=ray_opts, tracker=tracker)
    k = 20 if 20 in cfg.ks else cfg.ks[len(cfg.ks) // 2]
    for name, m in metrics["models"].items():
        vals = "  ".join(f"{s} recall@{k} {_num(m[s].get(f'recall@{k}'))}" for s in ("warm", "cold", "all"))
        typer.echo(f"{name:<18} {vals}")
    typer.echo(f"wrote {out}/metrics.json, report.md, plots/")


@app.command("ab-sim")
@handle_errors
def ab_sim(
    graph: Path = typer.Option(..., "--graph", help="Graph directory written by `graphrec build-graph`."),
    runs: list[Path] = typer.Option([], "--emb", help=_RUNS_HELP),
    runs_old: list[Path] = typer.Option([], "--runs", hidden=True, help="Deprecated name of --emb."),
    out: Path = typer.Option(
        ..., "--out", help="EVAL_DIR: an evaluate output for this graph (ab.json is added) or a new dir."
    ),
    control: str | None = typer.Option(
        None, "--control", help="Control arm model name (default: config ab.control, auto)."
    ),
    treatment: str | None = typer.Option(
        None, "--treatment", help="Treatment arm model name (default: config ab.treatment, auto)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="YAML EvalConfig (the ab section configures the simulator)."
    ),
    overrides: list[str] = typer.Option([], "--set", help=_SET_HELP),
    force: bool = typer.Option(False, "--force", help="Replace an existing ab.json in EVAL_DIR."),
) -> None:
    """Offline A/B test of two models: simulated feeds, clicks and repins, lifts with bootstrap CIs."""
    from eval.ab_run import ab_sim as run_ab

    runs = renamed(runs, runs_old, "--emb", "--runs")
    sets = list(overrides)
    if control:
        sets.append(f"ab.control={control}")
    if treatment:
        sets.append(f"ab.treatment={treatment}")
    cfg = _config(config, sets)
    from graphrec.tracking import open_run
    from graphrec.utils.config import to_dict

    with open_run("ab-sim", params=to_dict(cfg)) as tracker:
        ab = run_ab(graph, runs, out, cfg, force=force, tracker=tracker)
    typer.echo(f"A/B {ab['treatment']} (treatment) vs {ab['control']} (control), {ab['users']} users")
    for s in ("fresh", "warm"):
        for m in ("ctr", "repin_rate", "repins"):
            d = ab["lifts"][s][m]
            ci = "n/a" if d["ci95"] is None else f"[{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"
            lift = (d.get("status") or "n/a") if d["lift"] is None else f"{d['lift']:+.3f}"
            typer.echo(f"  {s:<6} {m:<11} lift {lift}  95% CI {ci}  events {d.get('events')}")
    typer.echo(f"wrote {out}/ab.json (metrics.json ab block, report.md, plots/ab_lifts.png updated)")


@app.command("ab-seeds")
@handle_errors
def ab_seeds(
    runs: list[Path] = typer.Argument(
        ..., help="2+ `graphrec run` OUT dirs (or EVAL_DIRs / ab.json files) that differ only in seed."
    ),
    out: Path | None = typer.Option(None, "--out", help="Also write the combined result to this JSON file."),
) -> None:
    """One A/B lift per metric over training seeds, with a CI that includes the seed variance."""
    from eval.ab_seeds import check_replicates, combine, format_table, load_ab
    from graphrec.utils.io import write_json_atomic

    loaded = [load_ab(r) for r in runs]
    names = [str(r) for r in runs]
    check_replicates([a for a, _ in loaded], [c for _, c in loaded], names)
    combined = combine([a for a, _ in loaded])
    combined["runs"] = names
    typer.echo(format_table(combined), nl=False)
    if out is not None:
        write_json_atomic(out, combined)
        typer.echo(f"wrote {out}")


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"
