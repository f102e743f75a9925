"""Orchestration of ``graphrec evaluate`` and ``graphrec ab-sim`` (the CLI only parses arguments).

``evaluate`` writes a whole EVAL_DIR atomically (``atomic_output_dir``): ``metrics.json``
(board -> pin, the output contract, ``"ab": null`` until ab-sim runs), ``pin_to_pin.json``,
``manifest.json``, ``report.md`` and ``plots/``.

``ab_sim`` adds to an existing EVAL_DIR (or creates one, atomically, when it does not exist):
everything is computed and written to a staging directory inside EVAL_DIR first, then each
file (``ab.json``, ``plots/ab_lifts.png``, ``metrics.json``, ``manifest.json``, ``report.md``) is
swapped in with ``os.replace`` (atomic per file). A failure before the swap leaves EVAL_DIR
untouched; readers never see a half-written file.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from eval.config import EMBEDDING_MODELS, EvalConfig
from eval.protocol import SLICES, TaskResult, evaluate_task, make_task, sample_queries
from eval.recommenders import ModelSkipped, available_models, build_recommender, load_runs, select_models
from graph_build.graph import PinBoardGraph, load_graph
from graphrec.embeddings import graph_fingerprint
from graphrec.model_table import CONTROL_ORDER, TREATMENT_ORDER  # the A/B arms' preference ranks
from graphrec.tracking import NULL, Tracker
from graphrec.utils.config import to_dict
from graphrec.utils.io import atomic_output_dir, check_output_free, write_json
from graphrec.utils.logs import progress

log = logging.getLogger(__name__)
KIND = "graphrec.evaluation"
METRICS, PIN_TO_PIN, AB, MANIFEST, REPORT = "metrics.json", "pin_to_pin.json", "ab.json", "manifest.json", "report.md"
RECALL_PLOT, AB_PLOT = "plots/recall_warm_cold.png", "plots/ab_lifts.png"


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch threads, restoring the previous setting."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf become ``None`` (undefined metric), tuples become lists."""
    if isinstance(obj, Mapping):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def task_document(
    graph: PinBoardGraph, cfg: EvalConfig, task: str, results: Mapping[str, TaskResult]
) -> dict[str, Any]:
    """metrics.json-shaped dict for one task: dataset, protocol, models (no ``ab``)."""
    models = {name: {**{s: r.slices[s] for s in SLICES}, **r.coverage} for name, r in results.items()}
    ci = {name: r.ci95 for name, r in results.items() if r.ci95 is not None}  # sampled queries only
    return clean(
        {
            "dataset": graph.name,
            "protocol": {"task": task, "k": list(cfg.ks), "split": cfg.split},
            "models": models,
            "ci95": ci or None,
        }
    )


def _graph_info(graph: PinBoardGraph) -> dict[str, Any]:
    return {"path": str(graph.root.resolve()), "manifest_sha256": graph_fingerprint(graph), "dataset": graph.name}


def _log_model_metrics(tracker: Tracker, name: str, doc_by_task: Mapping[str, Mapping[str, Any]]) -> None:
    """One nested MLflow run per model, metrics like ``cold_recall_at_20`` (pin -> pin: ``p2p_`` prefix)."""
    flat: dict[str, float] = {}
    for task, doc in doc_by_task.items():
        prefix = "" if task == "board_to_pin" else "p2p_"
        m = doc["models"][name]
        for s in SLICES:
            flat.update({f"{prefix}{s}_{k}": v for k, v in m[s].items() if v is not None})
        flat.update({f"{prefix}{k}": v for k, v in m.items() if k not in SLICES and v is not None})
    with tracker.child(f"evaluate.{name}", tags={"graphrec.model": name}) as child:
        child.log_metrics(flat)


def fit_models(
    graph: PinBoardGraph,
    names: Sequence[str],
    cfg: EvalConfig,
    runs: Mapping[str, Any],
    prefit: Mapping[str, Path] | None = None,
) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """Build and fit each model on the train graph; yield ``(name, model, info)``.

    A model that cannot run here (``ModelSkipped``) yields ``(name, None, {"skipped": reason})``.
    Fitted models are kept for ``blend``, which reuses them instead of refitting. Values chosen
    on the validation split are in ``info["chosen"]``. A model loaded from ``prefit`` (see
    ``build_recommender``) reports the loaded fit's seconds and its directory as ``source``.
    """
    fitted: dict[str, Any] = {}
    for name in progress(list(names), desc="models", unit="model"):
        model = build_recommender(name, cfg, runs, fitted, prefit)
        t0 = time.perf_counter()
        try:
            model.fit(graph)
        except ModelSkipped as e:
            log.warning("skipped %s: %s", name, e)
            yield name, None, {"skipped": str(e)}
            continue
        fitted[name] = model
        info = {"can_score_cold": bool(model.can_score_cold), "fit_seconds": round(time.perf_counter() - t0, 3)}
        if getattr(model, "chosen", None) is not None:
            info["chosen"] = model.chosen
        if name in runs:
            info["source"] = f"{runs[name].root.resolve()} (boards: {model.board_source})"
        if getattr(model, "prefit_seconds", None) is not None:
            info["fit_seconds"] = model.prefit_seconds
            info["source"] = f"{Path(model.prefit).resolve()} (fitted once, shared with the full teacher search)"
        log.info("fitted %s in %.2fs", name, info["fit_seconds"])
        yield name, model, info


def evaluate(
    graph_dir: str | Path,
    run_dirs: Sequence[str | Path],
    out: str | Path,
    cfg: EvalConfig,
    force: bool = False,
    ray: Any = None,
    tracker: Tracker = NULL,
    prefit: Mapping[str, str | Path] | None = None,
) -> dict[str, Any]:
    """Evaluate every selected model on the declared protocol and write EVAL_DIR. Returns metrics.json.

    Args:
        graph_dir: graph directory (``graphrec build-graph``).
        run_dirs: embedding directories (their manifest ``model_name`` is the model name).
        out: EVAL_DIR, written atomically.
        cfg: the evaluation config.
        force: replace an existing EVAL_DIR.
        ray: ``graphrec.distributed.ray_jobs.RayOptions``: score in Ray shards (same numbers).
        tracker: the caller's run: a child run per model (``evaluate.<model>``), the artifacts.
        prefit: factor directories of this evaluation's own fits by model name (``lightgcn``),
            loaded instead of trained (``build_recommender``).
    """
    check_output_free(out, overwrite=force)
    graph = load_graph(graph_dir)
    runs = load_runs([*run_dirs, *cfg.runs], graph)
    selected, missing = select_models(cfg.models, available_models(graph, runs))
    unused = [m for m in EMBEDDING_MODELS if m not in runs and not cfg.models]
    if unused:  # not asked for and not given (e.g. ablations the run config turned off): no warning
        log.debug("embedding models without a directory (not evaluated): %s", ", ".join(unused))
    if not selected:
        raise ValueError(
            f"no model to evaluate: requested {list(cfg.models)}, available {available_models(graph, runs)}"
        )
    if missing:
        log.warning("left out (not available): %s", ", ".join(missing))
    tasks = {t: make_task(graph, t, cfg.split) for t in cfg.tasks}
    seeds = np.random.SeedSequence(cfg.seed).spawn(len(tasks))
    queries = {
        t: sample_queries(task, cfg.max_queries, np.random.default_rng(ss))
        for (t, task), ss in zip(tasks.items(), seeds)
    }
    results: dict[str, dict[str, TaskResult]] = {t: {} for t in tasks}
    info: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    tracker.set_tags({"graphrec.dataset": graph.name})
    with torch_threads(cfg.num_threads):
        prefit_dirs = {n: Path(p) for n, p in (prefit or {}).items()}
        for name, model, minfo in fit_models(graph, selected, cfg, runs, prefit_dirs):
            if model is None:
                skipped[name] = minfo["skipped"]
                continue
            t0 = time.perf_counter()
            for t, task in tasks.items():
                if ray is not None:
                    from graphrec.distributed.ray_jobs import evaluate_task_on_ray

                    results[t][name] = evaluate_task_on_ray(
                        model, graph, task, cfg.split, queries[t], cfg.ks, cfg.batch_size, cfg.seed, ray
                    )
                    continue
                results[t][name] = evaluate_task(model, graph, task, queries[t], cfg.ks, cfg.batch_size, cfg.seed)
            minfo["eval_seconds"] = round(time.perf_counter() - t0, 3)
            info[name] = minfo
        if not results["board_to_pin"]:
            raise ValueError(f"no model could be evaluated: {'; '.join(skipped.values())}")
        docs = {t: task_document(graph, cfg, t, results[t]) for t in tasks}
        for name in results["board_to_pin"]:
            _log_model_metrics(tracker, name, docs)
        metrics = {**docs["board_to_pin"], "ab": None}
        manifest = {
            "schema_version": 1,
            "kind": KIND,
            "graph": _graph_info(graph),
            "config": to_dict(cfg),
            "runs": {n: str(e.root.resolve()) for n, e in runs.items()},
            "prefit": {n: str(p.resolve()) for n, p in prefit_dirs.items()},
            "models": info,
            "missing_models": missing + unused,
            "skipped_models": skipped,
            "n_queries": {t: next(iter(results[t].values())).n_queries for t in tasks},
            "ab": None,
            "sampling": {t: {"scored": len(queries[t]), "total": len(task.queries)} for t, task in tasks.items()},
        }
        p2p = docs.get("pin_to_pin")
        with atomic_output_dir(out, overwrite=force) as tmp:
            write_json(tmp / METRICS, metrics)
            if p2p is not None:
                write_json(tmp / PIN_TO_PIN, p2p)
            write_json(tmp / MANIFEST, manifest)
            write_report(tmp, metrics, manifest, p2p, None)
        tracker.log_artifacts(out)
    return metrics


def write_report(
    root: Path,
    metrics: Mapping[str, Any],
    manifest: Mapping[str, Any],
    p2p: Mapping[str, Any] | None,
    ab: Mapping[str, Any] | None,
) -> None:
    """Write ``report.md`` and the plots into ``root`` (a fresh or staging directory)."""
    from eval.plots import plot_ab_lifts, plot_recall_warm_cold
    from eval.report import render

    (root / "plots").mkdir(exist_ok=True)
    cold_blind = [m for m, d in manifest.get("models", {}).items() if not d.get("can_score_cold", True)]
    if metrics["models"]:
        plot_recall_warm_cold(metrics, cold_blind, root / RECALL_PLOT)
    if ab is not None:
        plot_ab_lifts(ab, root / AB_PLOT)
    (root / REPORT).write_text(render(metrics, manifest, p2p, ab), encoding="utf-8")


def resolve_arms(control: str, treatment: str, available: Sequence[str]) -> tuple[str, str]:
    """Pick the arms (``auto`` -> first available in TREATMENT_ORDER / CONTROL_ORDER); check them."""
    if treatment == "auto":
        treatment = next((m for m in TREATMENT_ORDER if m in available), "")
        if not treatment:
            raise ValueError(
                f"ab-sim: no embedding model for the treatment arm (expected one of {list(TREATMENT_ORDER)}"
                f" via --emb); available: {list(available)}; or pass --treatment NAME"
            )
    if control == "auto":
        control = next((m for m in CONTROL_ORDER if m in available and m != treatment), "")
    for role, name in (("control", control), ("treatment", treatment)):
        if name not in available:
            raise ValueError(f"ab-sim: {role} model {name!r} is not available; available: {list(available)}")
    if control == treatment:
        raise ValueError(f"ab-sim: control and treatment are both {control!r}; pick two different models")
    return control, treatment
