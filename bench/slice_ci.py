"""Paired bootstrap CI over boards for the Recall@K difference of two models on one slice.

Small slices (MovieLens has 56 boards with cold test saves) make single recall numbers noisy;
this says whether a difference between two models of a `graphrec run` directory is real.

    .venv/bin/python bench/slice_ci.py RUN_DIR --a full --b content [--slice cold] [--k 20]

Uses the evaluation stage's own protocol (task, masking, tie-break order, recommenders), so the
per-model means equal those in RUN_DIR/eval/metrics.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eval.config import EvalConfig  # noqa: E402
from eval.protocol import board_to_pin_task, rank_top, tie_break_permutation  # noqa: E402
from eval.recommenders import load_runs  # noqa: E402
from eval.run import fit_models  # noqa: E402
from experiments.pipeline import RUNS  # noqa: E402
from graph_build.graph import load_graph  # noqa: E402


def per_board_recall(root: Path, names: list[str], slice_: str, k: int, split: str) -> dict[str, np.ndarray]:
    g = load_graph(root / "graph")
    runs = load_runs([root / d for d in RUNS.values() if (root / d / "manifest.json").exists()], g)
    cfg = EvalConfig()
    task = board_to_pin_task(g, split)
    cold = torch.from_numpy(np.asarray(g.is_cold, dtype=bool))
    mask = {"cold": cold, "warm": ~cold, "all": torch.ones_like(cold)}[slice_]
    perm = tie_break_permutation(g.n_pins, cfg.seed)
    rel, exc = task.batch(task.queries)
    rel = rel & mask
    keep = rel.sum(1) > 0
    out = {}
    for name, model, _ in fit_models(g, names, cfg, runs):
        scores = model.score_boards(task.queries)
        scores[exc] = -torch.inf
        _, top = rank_top(scores, k, perm)
        hits = rel.gather(1, top).sum(1).float()
        out[name] = (hits[keep] / rel.sum(1)[keep].float()).numpy()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--a", default="full")
    ap.add_argument("--b", default="content")
    ap.add_argument("--slice", default="cold", choices=("warm", "cold", "all"))
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--split", default="test")
    ap.add_argument("--n-bootstrap", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    per = per_board_recall(args.run_dir, [args.a, args.b], args.slice, args.k, args.split)
    d = per[args.a] - per[args.b]
    rng = np.random.default_rng(args.seed)
    boots = d[rng.integers(0, len(d), size=(args.n_bootstrap, len(d)))].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    print(
        f"{args.slice} recall@{args.k} on {args.split}, {len(d)} boards: {args.a} {per[args.a].mean():.4f}, "
        f"{args.b} {per[args.b].mean():.4f}; difference {d.mean():+.4f}, 95% CI [{lo:+.4f}, {hi:+.4f}]"
    )


if __name__ == "__main__":
    main()
