"""Benchmark: SAGE training pairs/s on N = 1 and 2 DDP processes at equal total threads.

Issue 14, section 4. One synthetic catalogue (``--pins``), raw features, then ``train_sage_dir``
with ``train.nproc = N`` and ``THREADS / N`` torch threads per rank (``--threads``, default 2:
the machine's cores), the same config otherwise (``--epochs``, ``--steps`` per epoch per rank:
a rank's batch is ``train.batch_size`` pairs, so N ranks train N x the pairs of a step).
Columns: the training pairs/s of the epochs after the first (summed over the ranks, from the
model manifest's history), and the wall time of the whole call (N > 1 includes spawning the
ranks and their imports).

    nice -n 15 .venv/bin/python bench/bench_ddp.py                  # 10,000 pins, 1 vs 2 processes
    nice -n 15 .venv/bin/python bench/bench_ddp.py --pins 20000 --nprocs 1,2 --threads 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import markdown_table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pins", type=int, default=10_000)
    ap.add_argument("--nprocs", default="1,2")
    ap.add_argument("--threads", type=int, default=2, help="total torch threads, shared by the ranks")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40, help="steps per epoch per rank")
    ap.add_argument("--work", type=Path, default=None)
    a = ap.parse_args()

    import torch

    from graph_build.build import build_graph
    from graph_build.graph import load_graph
    from graph_build.split import SplitConfig
    from graph_build.synthetic.generate import SynthConfig, write_synthetic
    from graphrec.features.raw import RawFeatureConfig, write_raw_features
    from graphrec.sage.api import train_sage_dir
    from graphrec.sage.config import SageConfig
    from graphrec.utils.config import load_config

    work = a.work or Path(tempfile.mkdtemp(prefix="bench_ddp_"))
    if not (work / "graph").exists():
        write_synthetic(SynthConfig(n_pins=a.pins, seed=0), work / "data")
        build_graph(work / "data", work / "graph", SplitConfig(seed=0))
    g = load_graph(work / "graph")
    if not (work / "f").exists():
        write_raw_features(g, work / "f", RawFeatureConfig())
    rows = []
    for n in (int(x) for x in a.nprocs.split(",")):
        cfg = load_config(
            SageConfig,
            None,
            [
                f"train.nproc={n}",
                f"train.epochs={a.epochs}",
                f"train.steps_per_epoch={a.steps}",
                "train.checkpoint_every=0",
            ],
        )
        torch.set_num_threads(a.threads)  # the launcher gives each of N ranks threads / N
        t0 = time.perf_counter()
        m = train_sage_dir(g, work / "f", cfg, work / f"m{n}", overwrite=True)
        wall = time.perf_counter() - t0
        later = m["history"][1:] or m["history"]
        pairs_s = sum(r["pairs_per_s"] for r in later) / len(later)
        rows.append(
            [
                str(n),
                f"{max(1, a.threads // n)}",
                f"{a.steps} x {cfg.train.batch_size}",
                f"{pairs_s:,.0f}",
                f"{wall:.1f}",
            ]
        )
        print(f"N={n}: {pairs_s:,.0f} pairs/s, {wall:.1f} s", flush=True)
    base = float(rows[0][3].replace(",", ""))
    for r in rows:
        r.append(f"{float(r[3].replace(',', '')) / base:.2f}x")
    header = ["processes", "threads/rank", "steps x batch per rank/epoch", "train pairs/s", "wall s", "speed-up"]
    print(f"\n{a.pins:,} pins, {a.threads} threads in total, {a.epochs} epochs (pairs/s of epochs 2-{a.epochs})\n")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
