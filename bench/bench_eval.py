"""Benchmark: the sparse evaluation loop (eval/protocol.py) vs the old dense one (eval_dense.py).

Issue 14, section 3: a full-catalogue evaluation of 100k pins at >= 100 million scored
(query, pin) pairs per second on 2 cores, with peak RSS independent of the number of boards.
Each measurement is a child process (its own peak RSS from ``wait4``); the model is fitted in
the child before the clock starts, so pairs/s is the scoring + ranking + metrics loop alone.

    graphrec synth --pins 100000 --seed 0 D && graphrec build-graph --data D --out G
    .venv/bin/python bench/bench_eval.py G                       # popularity + als, board -> pin
    .venv/bin/python bench/bench_eval.py G --models als --task pin_to_pin --dense-queries 1000
    .venv/bin/python bench/bench_eval.py G --old-tree ../base --no-dense   # old vs new sparse loop, one run

The dense loop is ~15x slower, so it runs on a seeded sample (``--dense-queries``); the sparse
loop runs on the same sample (the metrics must be identical: the table says so) and on every
query. RSS "before" = after loading the graph and fitting the model, "peak" = whole child.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, os.environ.get("BENCH_THREADS", "2"))

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import BENCH_ENV, markdown_table  # noqa: E402


def child(args: argparse.Namespace) -> None:
    """Fit one model, evaluate one task with one loop, print one JSON line."""
    import numpy as np
    import torch

    from bench.eval_dense import evaluate_task_dense
    from eval.config import EvalConfig
    from eval.protocol import evaluate_task, make_task, sample_queries
    from eval.recommenders import build_recommender
    from graph_build.graph import load_graph

    torch.set_num_threads(args.threads)
    cfg = EvalConfig(max_queries=0)
    graph = load_graph(args.graph)
    task = make_task(graph, args.task, cfg.split)
    queries = sample_queries(task, args.max_queries, np.random.default_rng(cfg.seed))
    model = build_recommender(args.model, cfg, {}).fit(graph)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    run = evaluate_task_dense if args.path == "dense" else evaluate_task
    t0, c0 = time.perf_counter(), time.process_time()
    res = run(model, graph, task, queries, cfg.ks, cfg.batch_size, cfg.seed)
    sec, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        json.dumps(
            {
                "seconds": sec,
                "cpu_seconds": cpu,
                "pairs": len(queries) * graph.n_pins,
                "queries": len(queries),
                "n_pins": graph.n_pins,
                "rss_before_gb": before,
                "slices": res.slices,
                "coverage": res.coverage,
            }
        )
    )


def measure(argv: list[str]) -> dict:
    """Run a child; its JSON line plus its own peak RSS (``wait4``)."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env={**os.environ, **BENCH_ENV})
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0), err.seek(0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"child failed: {' '.join(argv)}\n{err.read()[-2000:]}")
        doc = json.loads(out.read().strip().splitlines()[-1])
    doc["peak_gb"] = usage.ru_maxrss / 1024**2
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("graph", type=Path)
    ap.add_argument("--models", default="popularity,als")
    ap.add_argument("--task", default="board_to_pin", choices=["board_to_pin", "pin_to_pin"])
    ap.add_argument("--dense-queries", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-full", action="store_true", help="skip the sparse run on every query")
    ap.add_argument("--no-dense", action="store_true", help="skip the dense loop (its rows compare to the first run)")
    ap.add_argument(
        "--old-tree",
        type=Path,
        help="another checkout (e.g. the base commit): its sparse loop runs on the sample too, in the same run",
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--path", choices=["dense", "sparse"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--max-queries", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    rows = []
    load = [os.getloadavg()[0]]
    for model in args.models.split(","):
        child_args = [
            str(args.graph),
            "--child",
            "--model",
            model,
            "--task",
            args.task,
            "--threads",
            str(args.threads),
        ]
        new = [sys.executable, __file__]
        old = [sys.executable, str(args.old_tree / "bench" / "bench_eval.py")] if args.old_tree else None
        runs = [] if args.no_dense else [("dense", new, args.dense_queries)]
        runs += [("sparse (old)", old, args.dense_queries)] if old else []
        runs += [("sparse", new, args.dense_queries)]
        runs += [] if args.no_full else [("sparse", new, 0)]
        docs = []
        for label, script, mq in runs:
            path = "dense" if label == "dense" else "sparse"
            d = measure(script + child_args + ["--path", path, "--max-queries", str(mq)])
            docs.append(d)
            same = "yes" if d["slices"] == docs[0]["slices"] else "no"
            same = "" if len(docs) == 1 else same if mq == args.dense_queries else "-"
            rows.append(
                [
                    model,
                    label,
                    f"{d['queries']:,}",
                    f"{d['n_pins']:,}",
                    f"{d['seconds']:.1f}",
                    f"{d['pairs'] / d['seconds'] / 1e6:.1f}",
                    f"{d['pairs'] / d['cpu_seconds'] / 1e6:.1f}",
                    f"{d['rss_before_gb']:.2f}",
                    f"{d['peak_gb']:.2f}",
                    same,
                ]
            )
            print(rows[-1], file=sys.stderr, flush=True)
            load.append(os.getloadavg()[0])
    print(
        markdown_table(
            [
                "model",
                "loop",
                "queries",
                "pins",
                "eval s",
                "M pairs/s",
                "M pairs/CPU-s",
                "RSS before GB",
                "peak RSS GB",
                "= first row's metrics",
            ],
            rows,
        )
    )
    print(f"\nload average (1 min) before / after each row: {' / '.join(f'{v:.1f}' for v in load)}")


if __name__ == "__main__":
    main()
