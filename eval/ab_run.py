"""Orchestration of ``graphrec ab-sim``: fit the two arms, simulate, add the result to EVAL_DIR.

Adding to an existing EVAL_DIR (written by ``graphrec evaluate`` for the same graph) is atomic
per file: every new file is first written to a staging directory inside EVAL_DIR, then moved
into place with ``os.replace`` (``ab.json``, ``plots/ab_lifts.png``, ``metrics.json``,
``manifest.json``, ``report.md``, in that order). Any failure before the moves leaves EVAL_DIR
as it was. A missing EVAL_DIR is created whole with ``atomic_output_dir`` (``metrics.json``
then has ``"models": {}``). An existing ``ab.json`` is only replaced with ``--force``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.ab import examination, held_out_relevance, metrics_section, planted_relevance, serve_feeds, simulate_ab
from eval.config import EvalConfig
from eval.protocol import board_to_pin_task, tie_break_permutation
from eval.recommenders import available_models, build_recommender, load_runs
from eval.recommenders.oracle import has_truth
from eval.recommenders.selection import SELECT_K, ValidationSet, best_index, model_variants, val_recall
from eval.replay import replay_compare, replay_log, replay_ranks
from eval.run import (
    AB,
    AB_PLOT,
    KIND,
    MANIFEST,
    METRICS,
    PIN_TO_PIN,
    REPORT,
    _graph_info,
    clean,
    fit_models,
    resolve_arms,
    torch_threads,
    write_report,
)
from graph_build.graph import PinBoardGraph, load_graph
from graphrec.model_table import CONTENT_ONLY
from graphrec.tracking import NULL, Tracker
from graphrec.utils.config import to_dict
from graphrec.utils.io import OutputExistsError, atomic_output_dir, read_json, write_json

log = logging.getLogger(__name__)


def _engagement_text(cfg: EvalConfig) -> str:
    a = cfg.ab
    return (
        f"examination {a.examination}, P(click | examined) = {a.click_min} + {a.click_max - a.click_min:g} r, "
        f"P(repin | click) = {a.repin_min} + {a.repin_max - a.repin_min:g} r, feed of {a.feed_size}, "
        f"{a.sessions} session(s) per user"
    )


def run_simulation(
    graph: PinBoardGraph, cfg: EvalConfig, runs: dict[str, Any], control: str, treatment: str
) -> dict[str, Any]:
    """Fit both arms on the train graph, serve feeds to the test boards, simulate; the ab.json dict."""
    task = board_to_pin_task(graph, cfg.split)
    users = task.queries
    if cfg.ab.max_users and len(users) > cfg.ab.max_users:
        users = np.sort(np.random.default_rng([cfg.seed, 1]).choice(users, cfg.ab.max_users, replace=False))
    depth = 2 * cfg.ab.feed_size if cfg.ab.interleaving else cfg.ab.feed_size
    feeds: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {}
    rlog = replay_log(graph, cfg.split, users) if cfg.ab.replay else None
    ranks: dict[str, np.ndarray] = {}
    for name, model, minfo in fit_models(graph, [control, treatment], cfg, runs):
        feeds[name] = serve_feeds(model, graph, task, users, depth, cfg.batch_size, cfg.seed)
        if rlog is not None:
            ranks[name] = replay_ranks(model.score_boards, rlog, tie_break_permutation(graph.n_pins, cfg.seed))
        info[name] = minfo
    planted = has_truth(graph)
    relevance = planted_relevance(graph) if planted else held_out_relevance(graph, cfg.split)
    result = simulate_ab(users, feeds[control], feeds[treatment], relevance, graph.is_cold, cfg.ab, cfg.seed)
    result["replay"] = _replay(rlog, ranks, control, treatment, cfg)
    return clean(
        {
            "dataset": graph.name,
            "graph": _graph_info(graph),
            "control": control,
            "treatment": treatment,
            "split": cfg.split,
            "seed": cfg.seed,
            "config": to_dict(cfg.ab),
            "engagement": _engagement_text(cfg),
            "relevance": "planted affinity / board's best (synthetic truth)"
            if planted
            else f"held-out {cfg.split} saves (1) vs other pins (0)",
            "models": info,
            **result,
        }
    )


def _replay(
    rlog: Any, ranks: dict[str, np.ndarray], control: str, treatment: str, cfg: EvalConfig
) -> dict[str, Any] | None:
    """The time-ordered replay (``eval.replay``) of the two arms, or None (off, or saves without times)."""
    if rlog is None:
        if cfg.ab.replay:
            log.info("ab-sim: no replay (the saves have no saved_at)")
        return None
    a = cfg.ab
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(5,)))  # after simulate_ab's 5
    return replay_compare(
        rlog,
        {"control": ranks[control], "treatment": ranks[treatment]},
        examination(a.feed_size, a.examination),
        a.n_bootstrap,
        a.n_permutations,
        a.min_events,
        rng,
    )


def _log_ab(tracker: Tracker, ab: dict[str, Any]) -> None:
    flat: dict[str, float] = {}
    for s, per in ab["lifts"].items():
        for m, d in per.items():
            if d["lift"] is not None:
                flat[f"{s}_{m}_lift"] = d["lift"]
            if d["ci95"] is not None:
                flat[f"{s}_{m}_ci95_lo"], flat[f"{s}_{m}_ci95_hi"] = d["ci95"]
            if d["p_value"] is not None:
                flat[f"{s}_{m}_p_value"] = d["p_value"]
    tracker.log_metrics(flat)


def _existing(out: Path, graph: PinBoardGraph, force: bool) -> tuple[dict, dict, dict | None] | None:
    """``(metrics, manifest, pin_to_pin)`` of an existing EVAL_DIR for this graph, or None when absent/empty."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return None
    if not (out / METRICS).is_file() or not (out / MANIFEST).is_file():
        raise ValueError(
            f"{out}: not an evaluation directory (no {METRICS} / {MANIFEST}); "
            "pass an EVAL_DIR written by `graphrec evaluate` or a new directory"
        )
    manifest = read_json(out / MANIFEST)
    if manifest.get("kind") != KIND or manifest["graph"]["manifest_sha256"] != _graph_info(graph)["manifest_sha256"]:
        raise ValueError(
            f"{out}: evaluated graph {manifest.get('graph', {}).get('path')}, not {graph.root}; "
            "use a new --out for this graph"
        )
    if (out / AB).exists() and not force:
        raise OutputExistsError(f"{out / AB} already exists (pass --force to replace the A/B result)")
    p2p = read_json(out / PIN_TO_PIN) if (out / PIN_TO_PIN).is_file() else None
    return read_json(out / METRICS), manifest, p2p


def ab_sim(
    graph_dir: str | Path,
    run_dirs: Sequence[str | Path],
    out: str | Path,
    cfg: EvalConfig,
    force: bool = False,
    tracker: Tracker = NULL,
) -> dict[str, Any]:
    """Run the offline A/B simulation and add it to EVAL_DIR. Returns the ab.json dict.

    Args:
        graph_dir: graph directory.
        run_dirs: embedding directories (arms may also be baselines or the oracle).
        out: EVAL_DIR (existing from ``graphrec evaluate`` for this graph, or new).
        cfg: the config; ``cfg.ab.control`` / ``cfg.ab.treatment`` name the arms.
        force: replace an existing ab.json.
        tracker: the caller's run (lift metrics, artifacts).
    """
    out = Path(out)
    graph = load_graph(graph_dir)
    runs = load_runs([*run_dirs, *cfg.runs], graph)
    control, treatment = resolve_arms(cfg.ab.control, cfg.ab.treatment, available_models(graph, runs))
    existing = _existing(out, graph, force)
    tracker.set_tags({"graphrec.dataset": graph.name})
    with torch_threads(cfg.num_threads):
        choice = choose_control(graph, cfg, runs, treatment) if cfg.ab.control == "auto" else None
        control = choice["chosen"] if choice is not None else control
        cfg = dataclasses.replace(cfg, ab=dataclasses.replace(cfg.ab, control=control, treatment=treatment))
        ab = run_simulation(graph, cfg, runs, control, treatment)
        if choice is not None:
            ab["control_choice"] = choice
        _log_ab(tracker, ab)
        section = metrics_section(control, treatment, ab)
        if existing is None:
            metrics = {
                "dataset": graph.name,
                "protocol": {"task": "board_to_pin", "k": list(cfg.ks), "split": cfg.split},
                "models": {},
                "ab": section,
            }
            manifest = {
                "schema_version": 1,
                "kind": KIND,
                "graph": _graph_info(graph),
                "config": to_dict(cfg),
                "runs": {},
                "models": {},
                "missing_models": [],
                "n_queries": {},
                "ab": ab["models"],
            }
            with atomic_output_dir(out) as tmp:
                _write_all(tmp, metrics, manifest, None, ab)
        else:
            metrics, manifest, p2p = existing
            metrics = {**metrics, "ab": section}
            manifest = {**manifest, "ab": ab["models"]}
            _swap_in(out, metrics, manifest, p2p, ab)
        tracker.log_artifacts(out)
    return ab


def choose_control(
    graph: PinBoardGraph, cfg: EvalConfig, runs: dict[str, Any], treatment: str
) -> dict[str, Any] | None:
    """The automatic A/B control: of the content-only models given as runs (``CONTENT_ONLY``:
    ``content``, ``clip_no_neighbors``, the run's precomputed ``content_minilm``), other than the
    treatment, the one with the best **validation** cold Recall@20 (the first on a tie), i.e. the
    strongest thing a user would serve fresh pins with instead. None without such a run (the
    caller keeps the ``CONTROL_ORDER`` preference). Returns ``{"chosen", "criterion",
    "val_recall@20": {model: {slice: recall}}}``."""
    names = [m for m in CONTENT_ONLY if m in runs and m != treatment]
    if not names:
        return None
    val = ValidationSet.from_graph(graph, cfg.seed).sample(cfg.max_queries)
    table = {n: val_recall(val, model_variants(build_recommender(n, cfg, runs).fit(graph)))[None] for n in names}
    chosen = names[best_index([table[n]["cold"] for n in names])]
    log.info(
        "ab-sim: control %s, the content-only model with the best val cold recall@%d (%s)",
        chosen,
        SELECT_K,
        ", ".join(f"{n} {table[n]['cold']:.4f}" for n in names),
    )
    return {"chosen": chosen, "criterion": f"val cold recall@{SELECT_K}", f"val_recall@{SELECT_K}": table}


def _write_all(root: Path, metrics: dict, manifest: dict, p2p: dict | None, ab: dict) -> None:
    write_json(root / AB, ab)
    write_json(root / METRICS, metrics)
    write_json(root / MANIFEST, manifest)
    write_report(root, metrics, manifest, p2p, ab)


def _swap_in(out: Path, metrics: dict, manifest: dict, p2p: dict | None, ab: dict) -> None:
    """Stage every new file inside ``out``, then ``os.replace`` them one by one (atomic per file)."""
    stage = Path(tempfile.mkdtemp(prefix=".ab-sim.tmp-", dir=out))
    try:
        _write_all(stage, metrics, manifest, p2p, ab)
        (out / "plots").mkdir(exist_ok=True)
        for rel in (AB, AB_PLOT, METRICS, MANIFEST, REPORT):
            os.replace(stage / rel, out / rel)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
