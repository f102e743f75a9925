"""``graphrec sweep`` and ``graphrec ablation``: many pipeline runs under one MLflow parent.

A sweep runs the cartesian product of ``--grid key=v1,v2`` lists over a base config. Each trial
is a whole ``run_pipeline`` into ``OUT/trials/<trial>``, tracked as one nested MLflow run under
the sweep's parent run (the pipeline's stage runs nest under it), with its metrics logged to
it. Trials reuse each other's identical stages: a stage whose key another trial already stamped
is copied, not recomputed (a grid over ``sage.train.epochs`` trains PinCLIP once). The sweep
writes ``OUT/sweep.md`` and ``OUT/sweep.json`` and logs both to the parent run.

``run_ablation`` runs the base config with ``ablations.sage_ladder`` on into ``OUT`` and writes
``OUT/ablation.md`` / ``OUT/ablation.json`` (experiments/ablation.py) into the same MLflow run.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.config import RunConfig, load_run_config
from experiments.pipeline import PipelineResult, run_pipeline
from graphrec import tracking
from graphrec.tracking import NULL, Tracker

log = logging.getLogger(__name__)
SWEEP_MD, SWEEP_JSON, TRIALS = "sweep.md", "sweep.json", "trials"
# Trials and ablation runs do not register candidate models unless asked (--set register.enabled=true).
RUN_DEFAULTS = ("register.enabled=false",)
TRIAL_METRICS = ("recall@20", "ndcg@20", "mrr")
SLICES = ("warm", "cold", "all")


@dataclass(frozen=True)
class Trial:
    """One point of the grid: a directory-safe name and its ``key=value`` overrides."""

    name: str
    overrides: tuple[str, ...]


@dataclass
class TrialResult:
    trial: Trial
    out: Path
    wall_seconds: float
    pipeline: PipelineResult
    run_id: str | None = None


@dataclass
class SweepResult:
    out: Path
    model: str
    trials: list[TrialResult] = field(default_factory=list)
    run_id: str | None = None
    document: dict[str, Any] = field(default_factory=dict)


def split_values(raw: str) -> list[str]:
    """Split ``v1,v2`` on commas outside brackets/braces (``ks=[10,20],[20]`` has two values)."""
    values, depth, cur = [], 0, ""
    for ch in raw:
        depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            values.append(cur.strip())
            cur = ""
        else:
            cur += ch
    values.append(cur.strip())
    if any(v == "" for v in values):
        raise ValueError(f"grid values {raw!r}: empty value")
    return values


def parse_grid(items: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``["a.b=1,2", "c=x"]`` -> ``[("a.b", ["1", "2"]), ("c", ["x"])]``; keys must be unique."""
    grid: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--grid {item!r}: expected key=v1,v2,...")
        if any(k == key for k, _ in grid):
            raise ValueError(f"--grid {key!r} given twice")
        grid.append((key, split_values(raw)))
    return grid


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=,+-]+", "-", text).strip("-")


def make_trials(grid: Sequence[tuple[str, Sequence[str]]]) -> list[Trial]:
    """The cartesian product of the grid, in order (the last key varies fastest)."""
    keys = [k for k, _ in grid]
    trials = []
    for i, combo in enumerate(itertools.product(*(vals for _, vals in grid))):
        overrides = tuple(f"{k}={v}" for k, v in zip(keys, combo))
        label = _safe("_".join(overrides))[:80] or "base"
        trials.append(Trial(f"t{i:02d}-{label}", overrides))
    return trials


def _summary_metrics(metrics: Mapping[str, Any], model: str) -> dict[str, float]:
    """Metrics for a trial's MLflow run: ``<model>.<slice>_<metric>`` for every model, plus the
    sweep's model without prefix (``all_recall_at_20``) for side-by-side comparison."""
    flat: dict[str, float] = {}
    for name, res in metrics.get("models", {}).items():
        for s in SLICES:
            for m in TRIAL_METRICS:
                v = res.get(s, {}).get(m)
                if v is not None:
                    flat[f"{name}.{s}_{m}"] = v
                    if name == model:
                        flat[f"{s}_{m}"] = v
    return flat


def tracked_pipeline(
    cfg: RunConfig,
    out: Path,
    trial: Trial,
    *,
    tags: Mapping[str, Any],
    model: str = "full",
    data_dir: str | Path | None = None,
    force: bool = False,
    reuse_from: Sequence[Path] = (),
    parent: Tracker = NULL,
) -> TrialResult:
    """``run_pipeline`` inside a ``graphrec run`` run named after ``trial``, a child of ``parent``.

    The pipeline reports to that run (its stages nest directly under it); metrics and wall time
    are logged to it.
    """
    with parent.child("graphrec run", tags=tags) as run:
        return _run_trial(run, cfg, out, trial, model=model, data_dir=data_dir, force=force, reuse_from=reuse_from)


def _run_trial(
    run: Tracker,
    cfg: RunConfig,
    out: Path,
    trial: Trial,
    *,
    model: str,
    data_dir: str | Path | None,
    force: bool,
    reuse_from: Sequence[Path] = (),
) -> TrialResult:
    """``run_pipeline`` reporting to ``run`` (named after ``trial``), with its summary metrics."""
    run.set_tags({"mlflow.runName": trial.name})
    t0 = time.perf_counter()
    res = run_pipeline(cfg, out, data_dir=data_dir, force=force, reuse_from=reuse_from, tracker=run)
    wall = time.perf_counter() - t0
    run.log_metrics({**_summary_metrics(res.metrics, model), "wall_seconds": wall})
    return TrialResult(trial, out, wall, res, run.run_id)


def run_sweep(
    config: str | Path | None,
    grid: Sequence[str],
    out: str | Path,
    *,
    overrides: Sequence[str] = (),
    data_dir: str | Path | None = None,
    force: bool = False,
    model: str = "full",
    track: bool = True,
) -> SweepResult:
    """Run every trial of ``grid`` over ``config`` + ``overrides`` into ``out/trials/<trial>``.

    Args:
        config: the base run config YAML (None: RunConfig defaults).
        grid: ``key=v1,v2`` items; their cartesian product is the trials.
        out: the sweep directory (sweep.md, sweep.json, trials/).
        overrides: ``key=value`` overrides applied to every trial before its grid values.
        data_dir: dataset directory when ``data.source`` is ``dir``.
        force: redo every stage of every trial (reuses nothing).
        model: the model whose Recall@20 the sweep table reports.
    """
    out = Path(out)
    trials = make_trials(parse_grid(grid))
    base = [*RUN_DEFAULTS, *overrides]
    configs = [load_run_config(config, [*base, *t.overrides]) for t in trials]  # fail before running anything
    result = SweepResult(out=out, model=model)
    trial_dirs = [out / TRIALS / t.name for t in trials]
    params = {
        "config": str(config),
        "overrides": " ".join(overrides),
        "model": model,
        **{f"grid.{k}": ",".join(v) for k, v in parse_grid(grid)},
    }
    with tracking.open_run("graphrec sweep", params=params, tags={"graphrec.sweep": str(out)}, enabled=track) as parent:
        result.run_id = parent.run_id
        for trial, cfg, tdir in zip(trials, configs, trial_dirs):
            log.info("trial %s: %s", trial.name, " ".join(trial.overrides) or "(base config)")
            tags = {
                "graphrec.trial": trial.name,
                "graphrec.overrides": " ".join(trial.overrides) or "-",
                "graphrec.sweep": str(out),
                "dataset": cfg.data.source,
                "seed": cfg.seed,
                "config_name": cfg.name,
            }
            others = [d for d in trial_dirs if d != tdir]
            result.trials.append(
                tracked_pipeline(
                    cfg,
                    tdir,
                    trial,
                    tags=tags,
                    model=model,
                    data_dir=data_dir,
                    force=force,
                    reuse_from=others,
                    parent=parent,
                )
            )
        result.document = sweep_document(result, config, overrides, grid)
        _write_sweep(out, result.document, parent)
    return result


def _write_sweep(out: Path, doc: Mapping[str, Any], tracker: Tracker) -> None:
    """sweep.json + sweep.md, logged (with the best trial) to the sweep's run."""
    out.mkdir(parents=True, exist_ok=True)
    (out / SWEEP_JSON).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (out / SWEEP_MD).write_text(format_sweep(doc), encoding="utf-8")
    tracker.log_artifacts(out / SWEEP_JSON)
    tracker.log_artifacts(out / SWEEP_MD)
    best = _best(doc)
    if best is not None:
        tracker.set_tags({"graphrec.best_trial": best["trial"]})
        tracker.log_metrics({"best_all_recall_at_20": best["recall@20"]["all"]})


def _best(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    scored = [t for t in doc["trials"] if t["recall@20"].get("all") is not None]
    return max(scored, key=lambda t: t["recall@20"]["all"]) if scored else None


def sweep_document(
    result: SweepResult, config: str | Path | None, overrides: Sequence[str], grid: Sequence[str]
) -> dict[str, Any]:
    """sweep.json: the base config, the grid and per trial its overrides, Recall@20, time, stages."""
    trials = []
    for tr in result.trials:
        models = tr.pipeline.metrics.get("models", {})
        res = models.get(result.model, {})
        statuses = [s.status for s in tr.pipeline.stages]
        trials.append(
            {
                "trial": tr.trial.name,
                "overrides": list(tr.trial.overrides),
                "out": str(tr.out),
                "run_id": tr.run_id,
                "wall_seconds": round(tr.wall_seconds, 3),
                "recall@20": {s: res.get(s, {}).get("recall@20") for s in SLICES},
                "all_recall@20": {name: m.get("all", {}).get("recall@20") for name, m in models.items()},
                "stages": {s.name: s.status for s in tr.pipeline.stages},
                "stage_counts": {k: statuses.count(k) for k in ("ran", "reused", "skipped")},
            }
        )
    return {
        "config": str(config) if config is not None else None,
        "overrides": list(overrides),
        "grid": list(grid),
        "model": result.model,
        "run_id": result.run_id,
        "trials": trials,
    }


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def format_sweep(doc: Mapping[str, Any]) -> str:
    """sweep.md: one row per trial, Recall@20 of the sweep's model on warm/cold/all, wall time."""
    lines = [
        f"# Sweep over {doc['config'] or 'RunConfig defaults'}",
        "",
        f"Grid: {' '.join(f'`{g}`' for g in doc['grid']) or '(none)'}; "
        f"overrides: {' '.join(f'`{o}`' for o in doc['overrides']) or '(none)'}. "
        f"Board -> pin Recall@20 of `{doc['model']}`; stages ran / reused from another trial / skipped.",
        "",
        "| trial | overrides | warm R@20 | cold R@20 | all R@20 | wall s | stages ran/reused/skipped |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    best = _best(doc)
    for t in doc["trials"]:
        r, c = t["recall@20"], t["stage_counts"]
        name = f"**{t['trial']}**" if best is not None and t["trial"] == best["trial"] else t["trial"]
        lines.append(
            f"| {name} | {' '.join(f'`{o}`' for o in t['overrides']) or '(base)'} | {_num(r['warm'])} | "
            f"{_num(r['cold'])} | {_num(r['all'])} | {t['wall_seconds']:.1f} | "
            f"{c['ran']}/{c['reused']}/{c['skipped']} |"
        )
    if best is not None:
        lines += ["", f"Best all Recall@20: **{best['trial']}** ({_num(best['recall@20']['all'])})."]
    return "\n".join(lines) + "\n"


def run_ablation(
    config: str | Path | None,
    out: str | Path,
    *,
    overrides: Sequence[str] = (),
    data_dir: str | Path | None = None,
    force: bool = False,
    k: int = 20,
    track: bool = True,
) -> tuple[TrialResult, dict[str, Any]]:
    """Run ``config`` with both ladders on (SAGE and ``full``'s) into ``out``; write and log
    ablation.md / ablation.json."""
    from experiments.ablation import ABLATION_JSON, ABLATION_MD, flat_metrics, write_ablation

    out = Path(out)
    ladders = ("ablations.sage_ladder=true", "ablations.full_ladder=true")
    cfg = load_run_config(config, [*RUN_DEFAULTS, *overrides, *ladders])
    tags = {
        "graphrec.ablation": "sage_ladder,full_ladder",
        "dataset": cfg.data.source,
        "seed": cfg.seed,
        "config_name": cfg.name,
    }
    trial = Trial(f"ablation-{_safe(cfg.name)}", ladders)
    # One run: the pipeline reports to it, and it stays open for the table.
    with tracking.open_run("graphrec run", tags=tags, enabled=track) as run:
        tr = _run_trial(run, cfg, out, trial, model="full", data_dir=data_dir, force=force)
        doc = write_ablation(out, out, k=k)
        run.log_metrics(flat_metrics(doc))
        run.log_artifacts(out / ABLATION_MD)
        run.log_artifacts(out / ABLATION_JSON)
    return tr, doc
