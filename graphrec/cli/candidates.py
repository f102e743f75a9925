"""CLI commands of the candidates stage (registered on import by graphrec.cli.main)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from graphrec.cli import app, handle_errors


class IndexChoice(StrEnum):
    flat = "flat"
    hnsw = "hnsw"
    ivf = "ivf"


def _summary(manifest: dict) -> str:
    c, rec = manifest["counts"], manifest.get("recall_estimate") or {}
    recall = (
        f"recall@{rec['k']} {rec['recall']:.4f} on {rec['queries']} sampled queries" if rec else "no recall estimate"
    )
    return (
        f"{c['pin_candidate_rows']:,} pin candidates for {c['pin_queries']:,} pins, "
        f"{c['board_candidate_rows']:,} board candidates for {c['board_queries']:,} boards; "
        f"{manifest['index']['kind']} index, {recall}"
    )


@app.command("candidates")
@handle_errors
def candidates_cmd(
    graph: Path = typer.Option(..., "--graph", help="Graph directory (graphrec build-graph)."),
    emb: Path = typer.Option(
        ..., "--emb", help="Embedding directory made for that graph (pin vectors; board vectors optional)."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Candidate directory CAND_DIR (index/, parts/, the two tables, manifest.json)."
    ),
    k: int | None = typer.Option(None, "--k", help="Candidates per pin and per board (config key k, default 100)."),
    index: IndexChoice | None = typer.Option(
        None, "--index", help="flat (exact) | hnsw | ivf (config key index.kind, default flat)."
    ),
    shard: str | None = typer.Option(
        None,
        "--shard",
        help="i/n: process shard i of n (1-based) and write one part; the last shard to finish merges all parts.",
    ),
    config: Path | None = typer.Option(None, "--config", help="YAML file with CandidatesConfig keys."),
    set_: list[str] = typer.Option(
        [], "--set", help="Config override key=value (repeatable), e.g. index.hnsw_ef_search=256."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace outputs made from other inputs/config and recompute "
        "this shard (an unsharded run rebuilds everything).",
    ),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not log this stage to MLflow."),
    ray: bool = typer.Option(False, "--ray", help="Run every shard as a Ray task on a local Ray (every CPU)."),
    ray_address: str = typer.Option(None, "--ray-address", help="Run the shards on this Ray cluster (ADDR)."),
    ray_shards: int = typer.Option(None, "--ray-shards", help="Shards for --ray (default: the cluster's CPUs)."),
) -> None:
    """Build a faiss index over pin embeddings and write top-k candidates for every pin and board."""
    from graphrec.candidates.config import CandidatesConfig, parse_shard
    from graphrec.distributed.ray_jobs import options_from_cli
    from graphrec.utils.config import flag_overrides, load_config

    ray_opts = options_from_cli(ray, ray_address, ray_shards)
    if ray_opts is not None and shard is not None:
        raise ValueError("--ray runs every shard itself; drop --shard (use --ray-shards N)")
    shard_ = parse_shard(shard)
    overrides = [*set_, *flag_overrides(k=k, index__kind=index.value if index else None)]
    cfg = load_config(CandidatesConfig, config, overrides)
    from graphrec.candidates.job import log_result, run_candidates  # imports faiss: after the cheap checks
    from graphrec.tracking import open_run
    from graphrec.utils.config import to_dict

    with open_run(
        "candidates",
        params=to_dict(cfg),
        tags={"graphrec.shard": f"{shard_.index}/{shard_.count}"},
        enabled=not no_mlflow,
    ) as tracker:
        if ray_opts is not None:
            from graphrec.distributed.ray_jobs import candidates_on_ray

            result = candidates_on_ray(graph, emb, out, cfg, ray_opts, force=force)
        else:
            result = run_candidates(graph, emb, out, cfg, shard_, force=force)
        log_result(result, tracker)
    if result.status == "complete":
        typer.echo(f"{out} is already complete for these inputs and config (pass --force to redo it)")
    elif result.status == "merged":
        typer.echo(_summary(result.manifest or {}))
        typer.echo(f"wrote candidates to {out}")
    else:
        state = "was already complete" if result.part_skipped else "written"
        typer.echo(
            f"shard {shard_.index}/{shard_.count} {state}; {out} is merged when every part is complete "
            f"(or run `graphrec candidates-merge {out}`)"
        )


@app.command("candidates-merge")
@handle_errors
def candidates_merge_cmd(
    cand_dir: Path = typer.Argument(..., help="Candidate directory whose parts/ hold every shard of one sharding."),
    keep_parts: bool = typer.Option(False, "--keep-parts", help="Keep parts/ after merging."),
) -> None:
    """Merge the parts of a sharded `graphrec candidates` run (the job also does this by itself)."""
    from graphrec.candidates.merge import merge_candidates

    manifest = merge_candidates(cand_dir, keep_parts=keep_parts)
    typer.echo(_summary(manifest))
    typer.echo(f"merged candidates in {cand_dir}")
