"""Benchmark: wall time and peak RSS of every pipeline stage at 10k and 100k pins (1M optional).

Issue 14, section 4. Each stage is its own child process (``bench.common.measure``: wall time
from the parent, peak RSS of exactly that child), run one after the other on a synthetic
catalogue (``graphrec synth --pins N --seed 0``). The content stage is ``raw-features`` (the
non-learned PinCLIP stand-in: PinCLIP training time does not depend on the catalogue size,
only on its step count); SAGE trains a capped number of steps (``--sage-steps``, said in the
table) so the curve measures per-pin work, not a longer schedule. The growth exponent of a
stage is the slope of log(time) against log(pins) between consecutive sizes.

    .venv/bin/python bench/bench_scale.py                     # 10k and 100k
    .venv/bin/python bench/bench_scale.py --sizes 10000,100000,1000000 --work /tmp/scale

Run it alone (``nice -n 15``) on a shared machine: every stage uses the cores it is given.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import Measured, bin_path, markdown_table, measure  # noqa: E402

FLAT_MAX_PINS = 300_000
"""Above this, exact (flat) search is O(n^2) hours on 2 cores: the bench's candidates use HNSW."""


def stages(work: Path, n: int, sage_steps: int) -> list[tuple[str, list[str]]]:
    g, d = str(work / "graph"), str(work / "data")
    gr = bin_path("graphrec")
    sage = [
        "--set",
        f"train.steps_per_epoch={sage_steps}",
        "--set",
        "train.epochs=1",
        "--set",
        f"train.checkpoint_every={sage_steps}",
    ]
    return [
        ("synth", [gr, "synth", "--pins", str(n), "--seed", "0", d]),
        ("build-graph", [gr, "build-graph", "--data", d, "--out", g]),
        ("raw-features", [gr, "raw-features", "--graph", g, "--out", str(work / "raw")]),
        (
            f"train-sage ({sage_steps} steps)",
            [gr, "train-sage", "--graph", g, "--features", str(work / "raw"), "--out", str(work / "sage"), *sage],
        ),
        (
            "embed-graph",
            [
                gr,
                "embed-graph",
                "--graph",
                g,
                "--features",
                str(work / "raw"),
                "--model",
                str(work / "sage"),
                "--out",
                str(work / "emb"),
            ],
        ),
        (
            f"candidates (flat; hnsw above {FLAT_MAX_PINS:,} pins)",
            [
                gr,
                "candidates",
                "--graph",
                g,
                "--emb",
                str(work / "emb"),
                "--out",
                str(work / "cand"),
                "--no-mlflow",
                "--index",
                "flat" if n <= FLAT_MAX_PINS else "hnsw",
            ],
        ),
        (
            "evaluate b->p (popularity, sage_raw)",
            [
                gr,
                "evaluate",
                "--graph",
                g,
                "--runs",
                str(work / "emb"),
                "--out",
                str(work / "eval"),
                "--models",
                "popularity",
                "--models",
                "sage_raw",
                "--set",
                "tasks=[board_to_pin]",
            ],
        ),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated catalogue sizes")
    ap.add_argument("--work", type=Path, default=Path("/tmp/graphrec_bench_scale"))
    ap.add_argument("--sage-steps", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="keep the work directories")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[int, list[Measured]] = {}
    for n in sizes:
        work = args.work / f"n{n}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        results[n] = []
        for name, argv in stages(work, n, args.sage_steps):
            m = measure(name, argv)
            results[n].append(m)
            print(f"{n:>9,} pins  {name:40s} {m.wall_s:8.1f} s  {m.peak_rss_gb:6.2f} GB", file=sys.stderr, flush=True)
            if not m.ok:
                print(m.stderr_tail, file=sys.stderr)
                break
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    names = [m.name for m in results[sizes[0]]]
    header = ["stage"] + [f"{n:,} pins: s / GB" for n in sizes]
    header += [f"exponent {a:,}->{b:,}" for a, b in zip(sizes, sizes[1:])]
    rows = []
    for i, name in enumerate(names):
        cells = [name]
        for n in sizes:
            m = results[n][i] if i < len(results[n]) else None
            text = f"{m.wall_s:.1f} / {m.peak_rss_gb:.2f}" if m and m.ok else "failed"
            cells.append(text if m else "-")
        for a, b in zip(sizes, sizes[1:]):
            ma = results[a][i] if i < len(results[a]) else None
            mb = results[b][i] if i < len(results[b]) else None
            ok = ma and mb and ma.ok and mb.ok and ma.wall_s > 0.5
            cells.append(f"{math.log(mb.wall_s / ma.wall_s) / math.log(b / a):.2f}" if ok else "-")
        rows.append(cells)
    totals = ["total"] + [
        f"{sum(m.wall_s for m in results[n]):.1f} / {max(m.peak_rss_gb for m in results[n]):.2f}" for n in sizes
    ]
    totals += ["" for _ in sizes[1:]]
    print(markdown_table(header, rows + [totals]))


if __name__ == "__main__":
    main()
