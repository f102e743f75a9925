"""Benchmark: build + split of a large synthetic graph, side by side with a DGL-example-style build.

Target (issue 2): 1M pins / 10M saves built and split in under 2 minutes on 2 cores with peak
RSS under 4 GB. Each pipeline runs in its own process so wall time and peak RSS are its own.

    .venv/bin/python bench/bench_build.py                 # 1M pins, ~10.5M saves
    .venv/bin/python bench/bench_build.py --pins 100000   # quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import bin_path, markdown_table, measure  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pins", type=int, default=1_000_000)
    ap.add_argument("--saves-per-pin", type=float, default=10.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=Path("bench/out/build"))
    ap.add_argument("--reference-timeout", type=float, default=1800.0, help="Seconds before the reference is stopped.")
    ap.add_argument("--skip-reference", action="store_true")
    args = ap.parse_args()

    work = args.workdir
    data = work / f"synth-{args.pins}-{args.saves_per_pin}-{args.seed}"
    rows, results = [], {}
    graphrec = bin_path("graphrec")
    if not (data / "dataset.json").exists():
        m = measure(
            "graphrec synth (setup, not timed against the target)",
            [
                graphrec,
                "-q",
                "synth",
                "--pins",
                str(args.pins),
                "--saves-per-pin",
                str(args.saves_per_pin),
                "--seed",
                str(args.seed),
                "--force",
                str(data),
            ],
        )
        if not m.ok:
            sys.exit(f"synth failed:\n{m.stderr_tail}")
        results["synth"] = m.__dict__
        rows.append([m.name, f"{m.wall_s:.1f}", f"{m.peak_rss_gb:.2f}", "-"])
    import pyarrow.parquet as pq

    n_saves = pq.read_metadata(data / "saves.parquet").num_rows
    out = work / "graph"
    ours = measure(
        "graphrec build-graph (validate + split + write)",
        [graphrec, "-q", "build-graph", "--data", str(data), "--out", str(out), "--force", "--seed", str(args.seed)],
    )
    if not ours.ok:
        sys.exit(f"build-graph failed:\n{ours.stderr_tail}")
    ok = ours.wall_s < 120 and ours.peak_rss_gb < 4
    rows.append([ours.name, f"{ours.wall_s:.1f}", f"{ours.peak_rss_gb:.2f}", "PASS" if ok else "FAIL (<120 s, <4 GB)"])
    results["graphrec"] = ours.__dict__
    if not args.skip_reference:
        ref_out = work / "reference"
        ref = measure(
            "reference: DGL pinsage-example style (groupby-apply split + dgl.heterograph)",
            [sys.executable, str(Path(__file__).with_name("reference_dgl_build.py")), str(data), str(ref_out)],
            timeout=args.reference_timeout,
        )
        wall = (
            f"{ref.wall_s:.1f}"
            if ref.ok
            else f">{ref.wall_s:.0f} ({'timed out' if ref.returncode == -9 else 'failed'})"
        )
        rows.append(
            [ref.name, wall, f"{ref.peak_rss_gb:.2f}", f"{ref.wall_s / ours.wall_s:.1f}x slower" if ref.ok else "-"]
        )
        results["reference"] = ref.__dict__
        shutil.rmtree(ref_out, ignore_errors=True)
    print(
        f"\nBuild + split benchmark: {args.pins:,} pins, {n_saves:,} saves; {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}\n"
    )
    print(markdown_table(["pipeline", "wall s", "peak RSS GB", "vs target / ours"], rows))
    manifest = json.loads((out / "manifest.json").read_text())
    c = manifest["counts"]
    print(
        f"\ngraph: {c['pins']:,} pins ({c['cold_pins']:,} cold), {c['boards']:,} boards, saves "
        f"{c['saves']['train']:,}/{c['saves']['val']:,}/{c['saves']['test']:,} (train/val/test)"
    )
    (work / "results.json").write_text(
        json.dumps({"pins": args.pins, "saves": n_saves, **results}, indent=2, default=str)
    )


if __name__ == "__main__":
    main()
