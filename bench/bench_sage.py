"""Benchmark: SAGE training throughput and full-graph inference, side by side with a DGL-example loop.

On one synthetic graph of >= 1M saves (100,000 pins by default), in one run on this machine:

* training throughput, positive pairs/s: ``graphrec train-sage`` (one epoch, default config; the
  per-epoch edge split and neighbourhood sampling are inside the timed epoch) against
  ``bench/reference_dgl_pinsage.py train`` (DGL PinSAGESampler blocks per batch + DGL
  WeightedSAGEConv layers, as examples/pytorch/pinsage does it);
* full-graph inference: ``graphrec embed-graph`` (walks for every node + layer-by-layer
  inference + writing) against the reference's batched block inference;
* the target run: ``graphrec embed-graph`` on a 1,000,000-pin graph, under 60 s.

Each measured program runs in its own process (wall time and peak RSS are its own), with the
same thread settings. Setup steps (synth, build-graph, raw-features, the short training of the
1M-pin model whose weights only serve the inference timing) are listed but not compared.

    .venv/bin/python bench/bench_sage.py                     # 100k-pin comparison + 1M-pin inference
    .venv/bin/python bench/bench_sage.py --skip-big          # comparison only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import bin_path, markdown_table, measure  # noqa: E402

HERE = Path(__file__).resolve().parent


def _setup(work: Path, pins: int, seed: int, rows: list[list[str]]) -> tuple[Path, Path]:
    """Synthetic dataset, graph and raw features (each made once and reused)."""
    g, data, feats = work / f"graph-{pins}", work / f"data-{pins}", work / f"raw-{pins}"
    graphrec = bin_path("graphrec")
    steps = []
    if not (g / "manifest.json").exists():
        if not (data / "dataset.json").exists():
            steps.append(
                ("synth", [graphrec, "-q", "synth", "--pins", str(pins), "--seed", str(seed), "--force", str(data)])
            )
        steps.append(
            (
                "build-graph",
                [graphrec, "-q", "build-graph", "--data", str(data), "--out", str(g), "--force", "--seed", str(seed)],
            )
        )
    if not (feats / "manifest.json").exists():
        steps.append(
            ("raw-features", [graphrec, "-q", "raw-features", "--graph", str(g), "--out", str(feats), "--force"])
        )
    for name, argv in steps:
        m = measure(f"setup: {name} ({pins:,} pins)", argv)
        if not m.ok:
            sys.exit(f"{name} failed:\n{m.stderr_tail}")
        rows.append([m.name, f"{m.wall_s:.1f}", f"{m.peak_rss_gb:.2f}", "-"])
    return g, feats


def _json_line(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON result in output:\n{text[-2000:]}")


def _ours_train(g: Path, feats: Path, out: Path, threads: int, sets: list[str]):
    argv = [
        bin_path("graphrec"),
        "-q",
        "train-sage",
        "--graph",
        str(g),
        "--features",
        str(feats),
        "--out",
        str(out),
        "--force",
        "--threads",
        str(threads),
        *[x for s in sets for x in ("--set", s)],
    ]
    m = measure("graphrec train-sage", argv)
    if not m.ok:
        sys.exit(f"train-sage failed:\n{m.stderr_tail}")
    hist = json.loads((out / "manifest.json").read_text())["history"]
    return m, hist


def _ours_embed(g: Path, feats: Path, model: Path, out: Path, threads: int):
    argv = [
        bin_path("graphrec"),
        "-q",
        "embed-graph",
        "--graph",
        str(g),
        "--features",
        str(feats),
        "--model",
        str(model),
        "--out",
        str(out),
        "--force",
        "--threads",
        str(threads),
    ]
    m = measure("graphrec embed-graph", argv)
    if not m.ok:
        sys.exit(f"embed-graph failed:\n{m.stderr_tail}")
    return m, json.loads((out / "manifest.json").read_text())["timings"]


def _reference(mode: str, g: Path, feats: Path, extra: list[str], timeout: float):
    import subprocess
    import time

    argv = [
        sys.executable,
        str(HERE / "reference_dgl_pinsage.py"),
        mode,
        "--graph",
        str(g),
        "--features",
        str(feats),
        *extra,
    ]
    t = time.perf_counter()
    res = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env={**os.environ, "DGLBACKEND": "pytorch"}
    )
    wall = time.perf_counter() - t
    if res.returncode != 0:
        sys.exit(f"reference {mode} failed:\n{res.stderr[-3000:]}")
    return wall, _json_line(res.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pins", type=int, default=100_000, help="comparison graph (>= 1M saves at 100k pins)")
    ap.add_argument("--big-pins", type=int, default=1_000_000, help="inference target graph")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ref-steps", type=int, default=60, help="timed reference training steps (after 3 warm-up)")
    ap.add_argument("--ref-infer-items", type=int, default=0, help="reference inference on this many pins (0 = all)")
    ap.add_argument("--workdir", type=Path, default=Path("bench/out/sage"))
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--set", action="append", default=[], help="config override for our training")
    args = ap.parse_args()
    os.environ.update(
        {
            "OMP_NUM_THREADS": str(args.threads),
            "OMP_WAIT_POLICY": "PASSIVE",
            "GRAPHREC_MLFLOW": "0",
            "OPENBLAS_NUM_THREADS": "1",
        }
    )
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    setup_rows: list[list[str]] = []
    g, feats = _setup(work, args.pins, args.seed, setup_rows)
    manifest = json.loads((g / "manifest.json").read_text())
    saves = sum(manifest["counts"]["saves"].values())
    results: dict = {"pins": args.pins, "saves": saves, "threads": args.threads}

    sets = ["train.epochs=1", *args.set]
    tm, hist = _ours_train(g, feats, work / "model", args.threads, sets)
    ours_pairs = hist[0]["pairs_per_s"]
    results["ours_train"] = {"wall_s": tm.wall_s, "peak_rss_gb": tm.peak_rss_gb, "history": hist}
    im, timings = _ours_embed(g, feats, work / "model", work / "emb", args.threads)
    results["ours_infer"] = {"wall_s": im.wall_s, "peak_rss_gb": im.peak_rss_gb, **timings}
    train_rows = [
        [
            "graphrec train-sage, 1 epoch incl. its edge split + walks (board->pin pairs; each step "
            "also trains as many pin->pin pairs, not counted)",
            f"{ours_pairs:,.0f}",
            f"{hist[0]['seconds']:.1f} s / {hist[0]['steps']} steps",
            f"{tm.peak_rss_gb:.2f}",
            "",
        ]
    ]
    infer_rows = [
        [
            "graphrec embed-graph (walks + K layers, all pins and boards)",
            f"{im.wall_s:.1f}",
            f"sample {timings['sample_s']:.1f} s, layers {timings['layers_s']:.1f} s",
            f"{im.peak_rss_gb:.2f}",
            "",
        ]
    ]
    if not args.skip_reference:
        wall, ref = _reference("train", g, feats, ["--steps", str(args.ref_steps)], timeout=3600)
        results["reference_train"] = {"wall_s": wall, **ref}
        train_rows.append(
            [
                "reference: DGL pinsage example loop (item->item pairs)",
                f"{ref['pairs_per_s']:,.0f}",
                f"{ref['seconds']:.1f} s / {ref['steps']} steps",
                "-",
                "",
            ]
        )
        train_rows[0][4] = f"{ours_pairs / ref['pairs_per_s']:.1f}x reference"
        extra = ["--max-items", str(args.ref_infer_items)] if args.ref_infer_items else []
        wall, ref_i = _reference("infer", g, feats, extra, timeout=7200)
        results["reference_infer"] = {"wall_s": wall, **ref_i}
        note = "" if not args.ref_infer_items else f" (timed on {ref_i['items']:,} pins, extrapolated)"
        infer_rows.append(
            [
                f"reference: DGL example batched blocks, pins only{note}",
                f"{ref_i['extrapolated_all_s']:.1f}",
                f"model only (no load/write), {ref_i['items_per_s']:,.0f} pins/s",
                "-",
                "",
            ]
        )
        infer_rows[0][4] = f"{ref_i['extrapolated_all_s'] / im.wall_s:.1f}x faster"
    big_rows: list[list[str]] = []
    if not args.skip_big:
        bg, bf = _setup(work, args.big_pins, args.seed, setup_rows)
        bm, _ = _ours_train(
            bg, bf, work / "model-big", args.threads, ["train.epochs=1", "train.steps_per_epoch=20", *args.set]
        )
        setup_rows.append(
            [
                f"setup: train-sage 20 steps ({args.big_pins:,} pins; weights for the timing only)",
                f"{bm.wall_s:.1f}",
                f"{bm.peak_rss_gb:.2f}",
                "-",
            ]
        )
        em, bt = _ours_embed(bg, bf, work / "model-big", work / "emb-big", args.threads)
        results["big_infer"] = {"wall_s": em.wall_s, "peak_rss_gb": em.peak_rss_gb, **bt}
        bman = json.loads((bg / "manifest.json").read_text())["counts"]
        ok = "PASS" if em.wall_s < 60 else "FAIL (< 60 s)"
        big_rows.append(
            [
                f"graphrec embed-graph, {bman['pins']:,} pins / {bman['boards']:,} boards / "
                f"{bman['saves']['train']:,} train saves",
                f"{em.wall_s:.1f}",
                f"sample {bt['sample_s']:.1f} s, layers {bt['layers_s']:.1f} s",
                f"{em.peak_rss_gb:.2f}",
                ok,
            ]
        )
    load_after = os.getloadavg()
    print(
        f"\nSAGE benchmark: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, threads {args.threads}; load average before "
        f"{load_before[0]:.2f}, after {load_after[0]:.2f} (other work on the machine shares the cores)\n"
    )
    print(f"Training throughput on {args.pins:,} pins / {saves:,} saves (positive pairs per second):\n")
    print(markdown_table(["program", "pairs/s", "timed", "peak RSS GB", "vs reference"], train_rows))
    print(f"\nFull-graph inference on {args.pins:,} pins (seconds):\n")
    print(markdown_table(["program", "seconds", "detail", "peak RSS GB", "vs reference"], infer_rows))
    if big_rows:
        print("\nInference target: 1M pins under 60 s on 2 cores:\n")
        print(markdown_table(["program", "seconds", "detail", "peak RSS GB", "target"], big_rows))
    print("\nSetup (not compared):\n")
    print(markdown_table(["step", "wall s", "peak RSS GB", "-"], setup_rows or [["(all reused)", "-", "-", "-"]]))
    results["load_avg"] = {"before": load_before, "after": load_after}
    (work / "results.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
