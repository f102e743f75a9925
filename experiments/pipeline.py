"""``graphrec run``: build-graph -> train-pinclip -> embed-pins -> train-sage -> embed-graph ->
evaluate -> ab-sim -> candidates (+ the ablation models), tracked as one MLflow parent run with a
nested child run per stage, skipping stages whose inputs and config did not change (or copying
them from another run directory that has them with the same key: ``reuse_from``, for sweeps)."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from experiments import rundir
from experiments.config import RunConfig, dump_yaml
from experiments.stages import Context, Stage, dataset_fingerprint, stage_key, stamp, stamped_key
from graphrec import tracking
from graphrec.hybrid.config import ABLATIONS as FULL_ABLATIONS
from graphrec.model_table import BUILT
from graphrec.sage.config import SageConfig
from graphrec.tracking import Tracker
from graphrec.utils.config import ConfigError, to_dict

log = logging.getLogger(__name__)

# Which models exist: the one table in graphrec/model_table.py (adding a model is one row there).
RUNS = {m.stage: m.out for m in BUILT}  # embedding directories evaluated, by the stage that writes them
MODEL_NAMES = {m.stage: m.name for m in BUILT}  # evaluation model name of each embedding stage's output
# The SAGE rows of the ablation ladder (ablations.sage_ladder), all over the clip_no_neighbors
# embeddings, each adding one thing: (stage suffix, model name, pooling, with hard negatives).
LADDER = (
    ("mean-pool", "sage_mean_pool", "mean", False),
    ("importance-pool", "sage_importance_pool", "importance", False),
    ("hard-negatives", "sage_hard_negatives", "importance", True),
)


def _graph(ctx: Context):
    from graph_build.graph import load_graph

    return load_graph(ctx.out / "graph")


def _synth(ctx: Context, out: Path) -> None:
    from graph_build.synthetic.generate import write_synthetic

    write_synthetic(ctx.cfg.data.synth, out, overwrite=True)


def _build_graph(ctx: Context, out: Path) -> None:
    from graph_build.build import build_graph

    build_graph(ctx.data_dir, out, ctx.cfg.split, overwrite=True)


def _train_pinclip(neighbors: bool):
    def run(ctx: Context, out: Path) -> None:
        from graphrec.pinclip.api import train_pinclip_dir

        cfg = ctx.cfg.pinclip if neighbors else _no_neighbors(ctx.cfg)
        train_pinclip_dir(
            _graph(ctx),
            cfg,
            out,
            overwrite=True,
            resume="auto",
            tracker=ctx.tracker,
            text_features=ctx.out / RUNS["embed-text"],
        )

    return run


def _no_neighbors(cfg: RunConfig):
    return dataclasses.replace(cfg.pinclip, loss=dataclasses.replace(cfg.pinclip.loss, neighbor=0.0))


def _embed_pins(model: str, name: str):
    def run(ctx: Context, out: Path) -> None:
        from graphrec.pinclip.embed import embed_graph_pins

        embed_graph_pins(
            _graph(ctx), ctx.out / model, out, name=name, overwrite=True, text_features=ctx.out / RUNS["embed-text"]
        )

    return run


def _raw_features(ctx: Context, out: Path) -> None:
    from graphrec.features.raw import write_raw_features

    write_raw_features(_graph(ctx), out, ctx.cfg.raw, overwrite=True)


def _train_sage(features: str, sage: SageConfig | None = None):
    def run(ctx: Context, out: Path) -> None:
        from graphrec.sage.api import train_sage_dir

        train_sage_dir(
            _graph(ctx),
            ctx.out / features,
            sage or ctx.cfg.sage,
            out,
            overwrite=True,
            resume="auto",
            tracker=ctx.tracker,
        )

    return run


def ladder_sage(cfg: RunConfig, pooling: str, hard: bool) -> SageConfig:
    """The run's SAGE config with the ladder row's pooling and hard negatives (the config's or 0)."""
    s = cfg.sage
    return dataclasses.replace(
        s,
        model=dataclasses.replace(s.model, pooling=pooling),
        loss=dataclasses.replace(s.loss, hard_negatives=s.loss.hard_negatives if hard else 0),
    )


def _embed_graph(features: str, model: str, name: str):
    def run(ctx: Context, out: Path) -> None:
        from graphrec.sage.api import embed_graph_dir

        embed_graph_dir(_graph(ctx), ctx.out / features, ctx.out / model, out, name=name, overwrite=True)

    return run


LIGHTGCN_FIT = "lightgcn"  # fit-lightgcn's directory: the lightgcn baseline's vectors (graphrec/cf/factors.py)


def _fit_lightgcn(ctx: Context, out: Path) -> None:
    from eval.recommenders.lightgcn import write_lightgcn_dir

    write_lightgcn_dir(_graph(ctx), ctx.cfg.eval, out, overwrite=True)


def lightgcn_fit_identity(cfg: RunConfig) -> dict[str, Any]:
    """What fit-lightgcn's vectors depend on (its stage config): evaluate's LightGCN settings."""
    e = cfg.eval
    return {"lightgcn": e.lightgcn, "seed": e.seed, "max_queries": e.max_queries, "num_threads": e.num_threads}


def teacher_uses_lightgcn(cfg: RunConfig) -> bool:
    return "lightgcn" in cfg.full.teacher.models


def evaluates_lightgcn(cfg: RunConfig) -> bool:
    return not cfg.eval.models or "lightgcn" in cfg.eval.models


def _train_full(ctx: Context, out: Path) -> None:
    from graphrec.hybrid.api import train_full_dir

    factors = {"lightgcn": ctx.out / LIGHTGCN_FIT} if teacher_uses_lightgcn(ctx.cfg) else {}
    train_full_dir(
        _graph(ctx),
        ctx.out / RUNS["embed-pins"],
        ctx.cfg.full,
        out,
        text=ctx.out / RUNS["embed-text"],
        factors=factors,
        overwrite=True,
    )


def _embed_full(ctx: Context, out: Path) -> None:
    from graphrec.hybrid.api import embed_full_dir

    embed_full_dir(
        _graph(ctx),
        ctx.out / RUNS["embed-pins"],
        ctx.out / "full",
        out,
        text=ctx.out / RUNS["embed-text"],
        overwrite=True,
    )


def _embed_full_ablation(variant: str):
    def run(ctx: Context, out: Path) -> None:
        from graphrec.hybrid.api import embed_full_ablation_dir

        embed_full_ablation_dir(
            _graph(ctx),
            ctx.out / RUNS["embed-pins"],
            ctx.out / "full",
            out,
            variant,
            text=ctx.out / RUNS["embed-text"],
            overwrite=True,
        )

    return run


def _embed_text(ctx: Context, out: Path) -> None:
    from graphrec.features.minilm import write_minilm_features

    write_minilm_features(_graph(ctx), out, overwrite=True)


def _eval_runs(ctx: Context) -> list[Path]:
    """The embedding directories of this config's model stages (not stale ones of other configs)."""
    names = {st.name for st in build_stages(ctx.cfg)}
    return [ctx.out / d for n, d in RUNS.items() if n in names and (ctx.out / d / "manifest.json").exists()]


def _evaluate(ctx: Context, out: Path) -> None:
    from eval.run import evaluate

    prefit = {"lightgcn": ctx.out / LIGHTGCN_FIT} if evaluates_lightgcn(ctx.cfg) else {}  # an input stage then
    evaluate(ctx.out / "graph", _eval_runs(ctx), out, ctx.cfg.eval, force=True, tracker=ctx.tracker, prefit=prefit)


def _ab_sim(ctx: Context, out: Path) -> None:
    from eval.ab_run import ab_sim

    ab_sim(ctx.out / "graph", _eval_runs(ctx), out, ctx.cfg.eval, force=True, tracker=ctx.tracker)


def _candidates(ctx: Context, out: Path) -> None:
    from graphrec.candidates.job import run_candidates

    run_candidates(ctx.out / "graph", ctx.out / "embeddings", out, ctx.cfg.candidates, force=True)


PINCLIP_NO_NEIGHBORS, RAW_FEATURES, SAGE_RAW = (
    "ablations/pinclip_no_neighbors",
    "ablations/raw_features",
    "ablations/sage_raw",
)
_ROWS = {m.name: m for m in BUILT}


def _model_stage(
    name: str, inputs: tuple[str, ...], make: Callable[[str], Callable[[Context, Path], None]], config: Any = None
) -> Stage:
    """The stage writing model ``name``'s embedding directory: stage name and directory from the
    model table, ``make(name)`` its run function; its config is ``config``, else the model name."""
    row = _ROWS[name]
    return Stage(row.stage, row.out, inputs, name if config is None else config, make(name))


def _minilm_stage_config() -> dict[str, str]:
    """embed-text's identity: the model and the precision this machine runs MiniLM in (bf16 or
    fp32 give other vectors, so a run directory moved to another machine re-embeds)."""
    from graphrec.pinclip.towers import minilm_precision

    return {"model": "content_minilm", "precision": minilm_precision()}


def build_stages(cfg: RunConfig) -> list[Stage]:
    """The ordered stage list for ``cfg`` (ablation stages only when enabled)."""
    s: list[Stage] = []
    if cfg.data.source == "synthetic":
        s.append(Stage("synth", "data", (), cfg.data.synth, _synth, manifest="dataset.json"))
    s.append(Stage("build-graph", "graph", ("data",), cfg.split, _build_graph))
    # The frozen text features come first: a frozen PinCLIP text backbone reuses them.
    s.append(_model_stage("content_minilm", ("build-graph",), lambda _: _embed_text, _minilm_stage_config()))
    s.append(Stage("train-pinclip", "pinclip", ("build-graph", "embed-text"), cfg.pinclip, _train_pinclip(True)))
    s.append(_model_stage("content", ("build-graph", "embed-text", "train-pinclip"), partial(_embed_pins, "pinclip")))
    if cfg.ablations.clip_no_neighbors or cfg.ablations.sage_ladder:
        s.append(
            Stage(
                "train-pinclip-no-neighbors",
                PINCLIP_NO_NEIGHBORS,
                ("build-graph", "embed-text"),
                _no_neighbors(cfg),
                _train_pinclip(False),
            )
        )
        s.append(
            _model_stage(
                "clip_no_neighbors",
                ("build-graph", "embed-text", "train-pinclip-no-neighbors"),
                partial(_embed_pins, PINCLIP_NO_NEIGHBORS),
            )
        )
    s.append(Stage("train-sage", "sage", ("build-graph", "embed-pins"), cfg.sage, _train_sage("content")))
    s.append(
        _model_stage("sage", ("build-graph", "embed-pins", "train-sage"), partial(_embed_graph, "content", "sage"))
    )
    # One LightGCN fit for the full teacher search and for evaluate's lightgcn row.
    lightgcn = teacher_uses_lightgcn(cfg) or evaluates_lightgcn(cfg)
    if lightgcn:
        s.append(Stage("fit-lightgcn", LIGHTGCN_FIT, ("build-graph",), lightgcn_fit_identity(cfg), _fit_lightgcn))
    full_inputs = (
        "build-graph",
        "embed-pins",
        "embed-text",
        *(("fit-lightgcn",) if teacher_uses_lightgcn(cfg) else ()),
    )
    s.append(Stage("train-full", "full", full_inputs, cfg.full, _train_full))
    s.append(_model_stage("full", ("build-graph", "embed-pins", "embed-text", "train-full"), lambda _: _embed_full))
    if cfg.ablations.full_ladder:
        for variant in FULL_ABLATIONS:
            s.append(
                _model_stage(
                    f"full_{variant}",
                    ("build-graph", "embed-pins", "embed-text", "train-full"),
                    lambda _, v=variant: _embed_full_ablation(v),
                )
            )
    if cfg.ablations.sage_raw:
        s.append(Stage("raw-features", RAW_FEATURES, ("build-graph",), cfg.raw, _raw_features))
        s.append(
            Stage("train-sage-raw", SAGE_RAW, ("build-graph", "raw-features"), cfg.sage, _train_sage(RAW_FEATURES))
        )
        s.append(
            _model_stage(
                "sage_raw",
                ("build-graph", "raw-features", "train-sage-raw"),
                partial(_embed_graph, RAW_FEATURES, SAGE_RAW),
            )
        )
    if cfg.ablations.sage_ladder:
        s += _ladder_stages(cfg)
    model_stages = tuple(n for n in RUNS if any(st.name == n for st in s))
    fits = ("fit-lightgcn",) if evaluates_lightgcn(cfg) else ()
    s.append(Stage("evaluate", "eval", ("build-graph", *model_stages, *fits), cfg.eval, _evaluate))
    s.append(Stage("ab-sim", "eval", ("evaluate",), cfg.eval.ab, _ab_sim, manifest="ab.json"))
    s.append(Stage("candidates", "candidates", ("build-graph", "embed-full"), cfg.candidates, _candidates))
    return s


def _ladder_stages(cfg: RunConfig) -> list[Stage]:
    """train-sage-<row> / embed-graph-<row> for each SAGE row of the ablation ladder."""
    feats, s = RUNS["embed-pins-no-neighbors"], []
    for suffix, name, pooling, hard in LADDER:
        model, sage = f"ablations/{name}", ladder_sage(cfg, pooling, hard)
        s.append(
            Stage(
                f"train-sage-{suffix}",
                model,
                ("build-graph", "embed-pins-no-neighbors"),
                sage,
                _train_sage(feats, sage),
            )
        )
        s.append(
            _model_stage(
                name,
                ("build-graph", "embed-pins-no-neighbors", f"train-sage-{suffix}"),
                partial(_embed_graph, feats, model),
            )
        )
    return s


@dataclass
class StageResult:
    name: str
    status: str  # "ran" | "skipped" | "reused" (copied from a reuse_from directory)
    seconds: float
    out: Path


@dataclass
class PipelineResult:
    out: Path
    stages: list[StageResult] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    model_version: str | None = None
    run_id: str | None = None
    registered: str | None = None  # what the registry step did, one line (experiments/registry.py)


@rundir.guarded  # checks, creates and locks ``out`` first (experiments/rundir.py)
def run_pipeline(
    cfg: RunConfig,
    out: str | Path,
    *,
    data_dir: str | Path | None = None,
    force: bool = False,
    reuse_from: Sequence[str | Path] = (),
    track: bool = True,
    tracker: Tracker | None = None,
) -> PipelineResult:
    """Run every stage of ``cfg`` into ``out``; completed stages with unchanged keys are skipped.

    Args:
        cfg: the resolved run config.
        out: the run directory (created; stage outputs are its subdirectories).
        data_dir: the dataset directory when ``cfg.data.source`` is ``dir``.
        force: redo every stage (and reuse nothing).
        reuse_from: other run directories (e.g. the other trials of a sweep): a stage that is not
            up to date here but whose output there carries the same stamped key is copied
            instead of recomputed (keys stand for outputs; paths recorded in copied manifests
            still name the directory they were computed in).
        track: open an MLflow run for the pipeline (``--no-mlflow`` passes False).
        tracker: report to this (a sweep's trial run) instead of opening a run.
    """
    out = Path(out)
    stages = build_stages(cfg)
    check_ab_arms(cfg, stages)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.data.source == "dir":
        path = data_dir or cfg.data.path
        if path is None:
            raise ConfigError(
                "data.path: data.source is 'dir' but no dataset directory was given (--data or data.path)"
            )
        data = Path(path)
    else:
        data = out / "data"
    (out / "config.yaml").write_text(dump_yaml(cfg))
    ctx = Context(cfg=cfg, out=out, data_dir=data)
    sources = [Path(r) for r in reuse_from if Path(r).resolve() != out.resolve()]
    if cfg.ablations.sage_ladder and cfg.sage.loss.hard_negatives == 0:
        log.warning("sage.loss.hard_negatives is 0: the '+ hard negatives' ablation row equals importance-pool")
    result = PipelineResult(out=out)
    tags = {
        "dataset": "synthetic" if cfg.data.source == "synthetic" else str(data),
        "seed": cfg.seed,
        "config_name": cfg.name,
    }
    opened = tracking.open_run("graphrec run", enabled=track) if tracker is None else nullcontext(tracker)
    with opened as parent:
        parent.set_tags(tags)
        parent.log_params(to_dict(cfg))
        result.run_id = parent.run_id
        rundir.record_mlflow_run(out, result.run_id)
        if tracker is None:
            _name_parent(parent, cfg, data)
        parent.log_artifacts(out / "config.yaml")
        ctx.tracker = parent
        prints: dict[str, str | None] = {}
        if cfg.data.source == "dir":
            prints["data"] = dataset_fingerprint(data)
        for st in stages:
            result.stages.append(_run_stage(st, ctx, prints, force, sources))
        result.metrics = _finish(ctx, result)
    return result


def check_ab_arms(cfg: RunConfig, stages: list[Stage]) -> None:
    """Fail before any work when an A/B arm names a model this config does not build."""
    from eval.config import BASELINES, ORACLE

    names = {st.name for st in stages}
    built = {MODEL_NAMES[n] for n in RUNS if n in names}
    available = built | set(BASELINES) | ({ORACLE} if cfg.data.source == "synthetic" else set())
    for arm in ("control", "treatment"):
        name = getattr(cfg.eval.ab, arm)
        if name != "auto" and name not in available:
            raise ConfigError(
                f"eval.ab.{arm}: {name!r} is not built by this config; "
                f"available: {', '.join(sorted(available))} (enable its ablation or pick another)"
            )


def _name_parent(parent: Tracker, cfg: RunConfig, data: Path) -> None:
    """Name the pipeline's own run ``<dataset> <config> <short id>`` (a sweep names its trials)."""
    if parent.run_id is None:
        return
    dataset = "synthetic" if cfg.data.source == "synthetic" else data.resolve().name
    parent.set_tags({"mlflow.runName": f"{dataset} {cfg.name} {parent.run_id[:8]}"})


def config_section(cfg: Any, sub: Any, prefix: str = "") -> str | None:
    """The dotted key of the section of ``cfg`` of ``sub``'s type (``pinclip``, ``eval.ab``)."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if not dataclasses.is_dataclass(value):
            continue
        if type(value) is type(sub):
            return prefix + f.name
        if (inner := config_section(value, sub, f"{prefix}{f.name}.")) is not None:
            return inner
    return None


def _stage_params(cfg: RunConfig, st: Stage) -> dict[str, Any] | None:
    """A stage's config as flattened params under its section's key (``pinclip.train.lr``)."""
    if not dataclasses.is_dataclass(st.config):
        return None
    return {config_section(cfg, st.config) or "config": to_dict(st.config)}


def _reuse(st: Stage, key: str, target: Path, sources: Sequence[Path]) -> Path | None:
    """Copy ``st``'s output from the first source whose stamped key is ``key`` into ``target``."""
    for src in sources:
        if stamped_key(src / st.out / st.manifest) != key:
            continue
        tmp = target.with_name(f".{target.name}.reuse")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src / st.out, tmp)
        if stamped_key(tmp / st.manifest) != key:  # changed while copying
            shutil.rmtree(tmp)
            continue
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        return src
    return None


def _run_stage(
    st: Stage, ctx: Context, prints: dict[str, str | None], force: bool, sources: Sequence[Path] = ()
) -> StageResult:
    """Run ``st`` unless its stamped key matches (here, or in a ``sources`` run directory, then
    copied); record its key as downstream's input fingerprint."""
    target = ctx.path(st)
    manifest = target / st.manifest
    key = stage_key(st, prints)
    t0 = time.perf_counter()
    if not force and stamped_key(manifest) == key:
        log.info("%s: up to date, skipped", st.name)
        res = StageResult(st.name, "skipped", 0.0, target)
    elif not force and (src := _reuse(st, key, target, sources)) is not None:
        log.info("%s: same key in %s, copied", st.name, src)
        res = StageResult(st.name, "reused", time.perf_counter() - t0, target)
    else:
        log.info("%s: running -> %s", st.name, target)
        with ctx.tracker.child(st.name, params=_stage_params(ctx.cfg, st)) as child:
            st.run(dataclasses.replace(ctx, tracker=child), target)
            stamp(manifest, key)
            seconds = time.perf_counter() - t0
            child.log_metrics({"wall_seconds": seconds})
            child.log_artifacts(manifest, "manifests")
        res = StageResult(st.name, "ran", seconds, target)
    prints[st.name] = key
    if st.name == "synth":
        prints["data"] = key
    return res


def headline_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The evaluation contract flattened for the parent run, so runs compare side by side in MLflow:
    ``full/cold_recall@20``, ``full/coverage@20``, ``ab/fresh_repin_rate_lift`` ..."""
    flat: dict[str, float] = {}
    for model, res in metrics.get("models", {}).items():
        for key, val in res.items():
            if isinstance(val, dict):
                flat.update({f"{model}/{key}_{m}": v for m, v in val.items() if isinstance(v, (int, float))})
            elif isinstance(val, (int, float)):
                flat[f"{model}/{key}"] = val
    for sl in ("fresh", "warm"):
        for key, val in (metrics.get("ab") or {}).get(sl, {}).items():
            if isinstance(val, (int, float)):
                flat[f"ab/{sl}_{key}"] = val
    return flat


def _finish(ctx: Context, result: PipelineResult) -> dict[str, Any]:
    from graphrec.utils.io import read_json

    metrics = read_json(ctx.out / "eval" / "metrics.json")
    parent = ctx.tracker
    parent.log_metrics({f"stage_seconds/{s.name}": s.seconds for s in result.stages})
    parent.log_metrics(headline_metrics(metrics))
    for f in ("report.md", "metrics.json", "ab.json"):
        parent.log_artifacts(ctx.out / "eval" / f, "eval")
    parent.log_artifacts(ctx.out / "eval" / "plots", "eval/plots")
    if ctx.cfg.register.enabled and parent.enabled:
        from experiments.registry import register_run

        reg = register_run(ctx.out, ctx.cfg.register)
        result.model_version, result.registered = reg.version, reg.describe()
    return metrics
