"""Benchmark: ``graphrec add-pins`` latency per new pin vs re-embedding the whole catalogue.

One ``graphrec run`` directory (``--run``, or one built here into ``--work`` from ``--config`` /
``--set``; the built run is reused when its stages are up to date). The new pins are a freshly
generated synthetic catalogue (same generator settings as the run, another seed, ids prefixed
``new-``), written as a contract pins table + ``images.npy``. In one process, one after the other:

* ``PinAdder`` is loaded once (timed: the one-off cost of a long-lived process);
* batch size 1: ``--singles`` single-pin ``add()`` calls (p50/p99 ms per pin). They accumulate in
  the in-memory index, as in a serving process (the index grows by ``--singles`` pins);
* batch size ``--batch``: ``--batches`` batches; per pin = batch wall time / batch size, and the
  p50/p99 of the batch wall time. Each batch starts from the saved index (the bundle is reloaded,
  untimed, between batches), so the index never grows beyond one batch;
* both with no saves (a pin as uploaded) and with ``--saves-per-pin`` saves to existing boards
  drawn uniformly at random (timing only: exercises the random walks of the inductive step);
* the reference, what you would pay without incremental insertion: ``embed-pins`` + ``embed-graph``
  over the whole catalogue (``embed_graph_pins`` + ``embed_graph_dir``, as ``graphrec run`` calls
  them) and the index rebuild. It is a lower bound: the new pins would also need a graph rebuild.

Nothing is persisted (``add()`` only; the run's ``candidates/index`` is never written). No timing
asserts. Timings are wall-clock on a shared machine (see the load average printed with the table).

    .venv/bin/python bench/bench_add_pins.py                           # builds bench/out/add_pins/run
    .venv/bin/python bench/bench_add_pins.py --run RUN_DIR --singles 50 --batches 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

THREADS_DEFAULT = "2"
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = os.environ.get("BENCH_THREADS", THREADS_DEFAULT)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GRAPHREC_MLFLOW", "0")
os.environ.setdefault("GRAPHREC_NO_PROGRESS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import markdown_table  # noqa: E402

DEFAULT_CONFIG = ROOT / "experiments" / "configs" / "default.yaml"
# The bench never registers a model. Without a config file, the RunConfig defaults run with the
# ablations off (add-pins needs none of them); default.yaml is used as it is (its A/B control is one).
BASE_SETS = ["register.enabled=false"]
NO_ABLATIONS = ["ablations.clip_no_neighbors=false", "ablations.sage_raw=false"]


def get_run(args: argparse.Namespace) -> Path:
    """``--run`` as given, or a run built (or brought up to date) in ``--work``."""
    if args.run:
        return Path(args.run)
    from experiments.config import load_run_config
    from experiments.pipeline import run_pipeline

    config = args.config or (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    cfg = load_run_config(config, [*BASE_SETS, *([] if config else NO_ABLATIONS), *args.set])
    out = Path(args.work) / "run"
    t0 = time.perf_counter()
    res = run_pipeline(cfg, out)
    ran = [s.name for s in res.stages if s.status == "ran"]
    print(
        f"run {out} ({config or 'RunConfig defaults'}; {' '.join(args.set) or 'no --set'}): "
        f"{time.perf_counter() - t0:.0f} s, stages run: {', '.join(ran) or 'none (all up to date)'}",
        flush=True,
    )
    return out


def new_pins_table(run: Path, n: int, seed: int, root: Path) -> Path:
    """``n`` pins of a fresh synthetic catalogue (the run's generator settings, another seed), ids ``new-*``."""
    import dataclasses

    import pandas as pd

    from experiments.config import load_run_config
    from graph_build.synthetic.generate import write_synthetic

    synth = load_run_config(run / "config.yaml").data.synth
    synth = dataclasses.replace(synth, n_pins=max(n, synth.n_styles * synth.niches_per_style), seed=seed)
    write_synthetic(synth, root, overwrite=True)
    pins = pd.read_parquet(root / "pins.parquet").head(n)
    pins["pin_id"] = "new-" + pins["pin_id"].astype(str)
    pins.to_parquet(root / "pins.parquet", index=False)
    return root / "pins.parquet"


def random_saves(m: int, per_pin: float, n_boards: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Poisson(``per_pin``) saves per new pin (at least one) to uniformly drawn existing boards."""
    counts = np.maximum(rng.poisson(per_pin, size=m), 1)
    return np.repeat(np.arange(m), counts), rng.integers(n_boards, size=int(counts.sum()))


def timed_add(adder, pins, images, saves) -> tuple[float, dict[str, float]]:
    t0 = time.perf_counter()
    res = adder.add(pins, images, saves)
    return time.perf_counter() - t0, res.seconds


def rebase(saves: tuple[np.ndarray, np.ndarray] | None, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The saves of new pins ``lo..hi-1``, renumbered from 0."""
    if saves is None:
        return None
    keep = (saves[0] >= lo) & (saves[0] < hi)
    return saves[0][keep] - lo, saves[1][keep]


def bench_adds(adder, pins, images, saves, singles: int, batch: int, batches: int, reload) -> list[dict]:
    """Per-pin and per-batch timings: ``singles`` one-pin calls, then ``batches`` batches of ``batch``."""
    out = []
    walls, parts = [], []
    for i in range(singles):
        wall, sec = timed_add(adder, pins.iloc[i : i + 1], images, rebase(saves, i, i + 1))
        walls.append(wall)
        parts.append(sec)
    out.append({"batch": 1, "pins": singles, "per_pin_s": walls, "batch_s": walls, "parts": parts})
    walls, parts = [], []
    for b in range(batches):
        reload(adder)
        lo = singles + b * batch
        wall, sec = timed_add(adder, pins.iloc[lo : lo + batch], images, rebase(saves, lo, lo + batch))
        walls.append(wall)
        parts.append(sec)
    out.append(
        {
            "batch": batch,
            "pins": batch * batches,
            "per_pin_s": [w / batch for w in walls],
            "batch_s": walls,
            "parts": [{k: v / batch for k, v in p.items()} for p in parts],
        }
    )
    reload(adder)
    return out


def reembed_everything(run: Path, work: Path) -> dict[str, float]:
    """Seconds of embed-pins + embed-graph over the whole catalogue, and of the index rebuild."""
    from graph_build.graph import load_graph
    from graphrec.candidates.bundle import load_bundle
    from graphrec.candidates.index import CandidateIndex
    from graphrec.pinclip.embed import embed_graph_pins
    from graphrec.sage.api import embed_graph_dir

    graph = load_graph(run / "graph")
    t0 = time.perf_counter()
    embed_graph_pins(graph, run / "pinclip", work / "content", name="content", overwrite=True)
    t1 = time.perf_counter()
    embed_graph_dir(graph, work / "content", run / "sage", work / "embeddings", name="full", overwrite=True)
    t2 = time.perf_counter()
    cfg = load_bundle(run / "candidates" / "index").index.cfg
    CandidateIndex.build(np.load(work / "embeddings" / "pin_emb.npy"), cfg, seed=0)
    t3 = time.perf_counter()
    return {
        "embed_pins_s": t1 - t0,
        "embed_graph_s": t2 - t1,
        "index_s": t3 - t2,
        "total_s": t3 - t0,
        "n_pins": graph.n_pins,
        "index_kind": cfg.kind,
    }


def ms(x: float) -> str:
    return f"{1000 * x:,.2f}"


def add_rows(results: list[dict], label: str) -> list[list[str]]:
    rows = []
    for r in results:
        pp, bs = np.asarray(r["per_pin_s"]), np.asarray(r["batch_s"])
        med = {k: float(np.median([p[k] for p in r["parts"]])) for k in ("content_s", "sage_s", "index_s")}
        rows.append(
            [
                f"add-pins, {label}",
                f"{r['batch']:,}",
                f"{r['pins']:,}",
                ms(np.percentile(pp, 50)),
                ms(np.percentile(pp, 99)),
                ms(np.percentile(bs, 50)),
                ms(np.percentile(bs, 99)),
                ms(med["content_s"]),
                ms(med["sage_s"]),
                ms(med["index_s"]),
            ]
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="an existing `graphrec run` output directory (default: build one in --work)")
    ap.add_argument("--work", default=str(ROOT / "bench" / "out" / "add_pins"), help="work dir (reused)")
    ap.add_argument(
        "--config",
        help=f"run config when building (default {DEFAULT_CONFIG.relative_to(ROOT)} if it "
        "exists, else RunConfig defaults)",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"config override when building (after {' '.join(BASE_SETS)}, and {' '.join(NO_ABLATIONS)} "
        "when there is no config file)",
    )
    ap.add_argument("--singles", type=int, default=200, help="single-pin add() calls")
    ap.add_argument("--batch", type=int, default=1000, help="batch size of the batched calls")
    ap.add_argument("--batches", type=int, default=5, help="batched calls")
    ap.add_argument("--saves-per-pin", type=float, default=3.0, help="mean saves per new pin in the 'with saves' rows")
    ap.add_argument("--k", type=int, default=100, help="candidates per new pin")
    ap.add_argument("--boards", type=int, default=10, help="best-fit boards per new pin")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", THREADS_DEFAULT)))
    ap.add_argument("--seed", type=int, default=1000, help="seed of the new pins' catalogue and their saves")
    ap.add_argument(
        "--report",
        default=str(ROOT / "bench" / "results" / "add_pins.md"),
        help="markdown report (a .json with the raw numbers is written beside it)",
    )
    args = ap.parse_args()

    import torch

    from graph_build.contract import load_pins_table
    from graphrec.addpins import PinAdder
    from graphrec.candidates.bundle import load_bundle
    from graphrec.candidates.index import set_threads

    torch.set_num_threads(args.threads)
    set_threads(args.threads)
    run = get_run(args)
    load0 = os.getloadavg()
    n_new = args.singles + args.batch * args.batches
    with tempfile.TemporaryDirectory(dir=args.work if Path(args.work).is_dir() else None) as tmp:
        tmp = Path(tmp)
        pins, images = load_pins_table(new_pins_table(run, n_new + 1, args.seed, tmp / "new"))
        warmup, pins = pins.iloc[:1], pins.iloc[1:].reset_index(drop=True)

        load_s = []  # first load (with the imports of the model code when the run was not built here), then again
        for _ in range(2):
            t0 = time.perf_counter()
            adder = PinAdder(run, k=args.k, n_boards=args.boards)
            load_s.append(time.perf_counter() - t0)
        n_catalogue, n_boards = adder.bundle.n_pins, len(adder.bundle.board_ids)

        def reload(a: PinAdder) -> None:
            a.bundle = load_bundle(run / "candidates" / "index")

        adder.add(warmup, images)  # first call: lazy imports and allocations, untimed
        reload(adder)
        saves = random_saves(n_new, args.saves_per_pin, n_boards, np.random.default_rng(args.seed))
        results = {
            "no saves": bench_adds(adder, pins, images, None, args.singles, args.batch, args.batches, reload),
            f"~{args.saves_per_pin:g} saves/pin": bench_adds(
                adder, pins, images, saves, args.singles, args.batch, args.batches, reload
            ),
        }
        ref = reembed_everything(run, tmp / "ref")
    load1 = os.getloadavg()

    rows = [r for label, res in results.items() for r in add_rows(res, label)]
    for b in (1, args.batch):
        rows.append(
            [
                f"re-embed everything ({ref['n_pins']:,} pins) + {ref['index_kind']} index",
                f"{b:,}",
                "-",
                ms(ref["total_s"] / b),
                "-",
                ms(ref["total_s"]),
                "-",
                ms(ref["embed_pins_s"] / b),
                ms(ref["embed_graph_s"] / b),
                ms(ref["index_s"] / b),
            ]
        )
    header = [
        "method",
        "batch",
        "pins timed",
        "per pin p50 ms",
        "per pin p99 ms",
        "batch wall p50 ms",
        "batch wall p99 ms",
        "content p50 ms/pin",
        "sage p50 ms/pin",
        "index p50 ms/pin",
    ]
    table = markdown_table(header, rows)
    notes = [
        f"Run `{run}`: {n_catalogue:,} catalogue pins, {n_boards:,} boards, {ref['index_kind']} index, k={args.k}, "
        f"{args.boards} boards per pin. New pins: a fresh synthetic catalogue (seed {args.seed}), not copies.",
        f"PinAdder load (once per process): {load_s[0]:.2f} s first, {load_s[1]:.2f} s again. "
        f"{args.threads} threads (torch, faiss, BLAS); "
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores.",
        f"Load average before / after: {load0[0]:.2f} / {load1[0]:.2f} - the 2 cores are shared with other work, "
        "so timings are under contention.",
        "Batch 1: per pin = one add() call (the index grows by one pin per call). Batch N: per pin = batch wall / N; "
        "each batch starts from the saved index. content/sage/index = median over calls of add()'s own breakdown, "
        "per pin (index = insert + candidate search + board search). p99 at batch 1 is mostly scheduling noise "
        "from the other processes.",
        "Re-embed rows: embed-pins + embed-graph over the whole catalogue + index build, once; 'per pin' = that "
        "total divided by the batch size it would serve. It excludes the graph rebuild the new pins would also need.",
    ]
    text = (
        "# add-pins: incremental insertion vs re-embedding everything\n\n"
        + table
        + "\n\n"
        + "\n".join(f"- {n}" for n in notes)
        + "\n"
    )
    print()
    print(text)
    report = Path(args.report)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(text)
    raw = {
        "run": str(run),
        "n_catalogue": n_catalogue,
        "n_boards": n_boards,
        "load_s": load_s,
        "args": vars(args),
        "load_avg": [load0[0], load1[0]],
        "reembed": ref,
        "add": {
            label: [
                {"batch": r["batch"], "per_pin_s": r["per_pin_s"], "batch_s": r["batch_s"], "parts": r["parts"]}
                for r in res
            ]
            for label, res in results.items()
        },
    }
    report.with_suffix(".json").write_text(json.dumps(raw, indent=1))
    print(f"wrote {report} and {report.with_suffix('.json')}")


if __name__ == "__main__":
    main()
