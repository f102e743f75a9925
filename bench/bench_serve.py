"""Latency of answering recommendations for one query at a time: over HTTP (``graphrec serve``,
MLflow's scoring server) and in-process (``graphrec.load_run``), on a finished run directory.

    .venv/bin/python bench/bench_serve.py RUN_DIR [--queries 200] [--k 20] [--port 5077]

Each request asks for one board (or one pin) with ``params.k``; boards and pins are a seeded
sample. Prints start-up seconds and p50 / p95 / mean milliseconds per request. Timings, not
assertions: nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _post(port: int, payload: dict) -> list:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())["predictions"]


def _stats(ms: list[float]) -> str:
    a = np.asarray(ms)
    return f"p50 {np.percentile(a, 50):7.2f} ms  p95 {np.percentile(a, 95):7.2f} ms  mean {a.mean():7.2f} ms"


def _wait(port: int, proc: subprocess.Popen, timeout: float = 300) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return time.perf_counter() - t0
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not come up")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--port", type=int, default=5077)
    args = ap.parse_args()

    import graphrec

    t0 = time.perf_counter()
    run = graphrec.load_run(args.run)
    load_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    boards = rng.choice(run.graph.boards["board_id"].to_numpy(), size=args.queries)
    pins = rng.choice(run.graph.pins["pin_id"].to_numpy(), size=args.queries)
    print(
        f"{args.run}: {run.bundle.n_pins:,} pins, {len(run.bundle.board_ids):,} boards, "
        f"{run.bundle.index.cfg.kind} index; k={args.k}, {args.queries} queries each"
    )
    for name, fn in (
        ("api board", lambda i: run.recommend([boards[i]], k=args.k)),
        ("api pin", lambda i: run.similar_pins([pins[i]], k=args.k)),
    ):
        ms = []
        for i in range(args.queries):
            t = time.perf_counter()
            fn(i)
            ms.append(1000 * (time.perf_counter() - t))
        print(f"{name:10s} (load_run {load_s:.2f} s)  {_stats(ms)}")

    cmd = [str(Path(sys.executable).parent / "graphrec"), "serve", "--run", str(args.run), "--port", str(args.port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        up = _wait(args.port, proc)
        _post(args.port, {"dataframe_records": [{"board_id": str(boards[0])}]})  # warm-up
        for name, col, ids in (("http board", "board_id", boards), ("http pin", "pin_id", pins)):
            ms = []
            for i in range(args.queries):
                t = time.perf_counter()
                _post(args.port, {"dataframe_records": [{col: str(ids[i])}], "params": {"k": args.k}})
                ms.append(1000 * (time.perf_counter() - t))
            print(f"{name:10s} (server up {up:.1f} s)  {_stats(ms)}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
