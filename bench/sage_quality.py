"""Board -> pin Recall@20 of SAGE variants against content-only, warm and cold slices (issue 4).

A small stand-in for the official evaluation (issue 5): every pin is scored for every board by
inner product; the board's train and val saves are masked; relevant = the board's test saves;
the warm slice keeps relevant pins with ``is_cold`` False, the cold slice those with True; the
recall is averaged over boards with at least one relevant pin in the slice.

    .venv/bin/python bench/sage_quality.py --graph G --features F --work W [--variants full,mean_pool,...]

Each variant trains with ``graphrec train-sage`` (config overrides below), embeds with
``graphrec embed-graph`` and is scored here; a markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import BENCH_ENV, bin_path, markdown_table  # noqa: E402

VARIANTS: dict[str, list[str]] = {
    "full": [],
    "mean_pool": ["model.pooling=mean"],
    "no_hard_negatives": ["loss.hard_negatives=0"],
    "max_margin": ["loss.kind=max_margin"],
    "max_margin_no_hard": ["loss.kind=max_margin", "loss.hard_negatives=0"],
    "mean_pool_max_margin_no_hard": ["model.pooling=mean", "loss.kind=max_margin", "loss.hard_negatives=0"],
    "no_degree_feature": ["model.degree_feature=false"],
    "no_pseudo_cold": ["train.cold_fraction=0.0"],
    "board_relations": ["sampler.pin_boards=5", "sampler.board_boards=5"],
    "id_vectors": ["model.id_dim=32"],
}


def recall_at_k(
    graph, pin: np.ndarray, board: np.ndarray, k: int = 20, chunk: int = 1024, split: str = "test"
) -> dict[str, float]:
    """Mean board -> pin Recall@k on ``split`` saves, overall and on warm / cold relevant pins.

    For ``test`` the board's train and val saves are masked; for ``val`` (model selection) its
    train saves are.
    """
    seen = (graph.csr("train") + graph.csr("val")) if split == "test" else graph.csr("train")
    seen = seen.T.tocsr()  # boards x pins
    test = graph.csr(split).T.tocsr()
    cold = graph.is_cold
    sums = {"all": [], "warm": [], "cold": []}
    for lo in range(0, graph.n_boards, chunk):
        hi = min(lo + chunk, graph.n_boards)
        s = board[lo:hi] @ pin.T
        m = seen[lo:hi].tocoo()
        s[m.row, m.col] = -np.inf
        top = np.argpartition(-s, k, axis=1)[:, :k]
        rel = test[lo:hi].toarray() > 0
        hit = np.take_along_axis(rel, top, 1)
        for name, mask in (("all", np.ones_like(cold)), ("warm", ~cold), ("cold", cold)):
            n_rel = (rel & mask[None, :]).sum(1)
            n_hit = (hit & mask[top]).sum(1)
            ok = n_rel > 0
            sums[name].append(n_hit[ok] / n_rel[ok])
    return {
        name: float(np.concatenate(v).mean()) if sum(len(a) for a in v) else float("nan") for name, v in sums.items()
    }


def content_only(graph, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pin = content vector, board = normalised mean of its train pins."""
    from graphrec.embeddings import boards_from_pins

    return features, boards_from_pins(graph, features)


def _run(argv: list[str]) -> float:
    import os

    t = time.perf_counter()
    res = subprocess.run(argv, env={**os.environ, **BENCH_ENV, "GRAPHREC_MLFLOW": "0"}, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{res.stderr[-3000:]}")
    return time.perf_counter() - t


def _fmt(vals: list[float]) -> str:
    a = np.asarray(vals)
    return f"{a.mean():.4f}" if len(a) == 1 else f"{a.mean():.4f} ± {a.std(ddof=1):.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", type=Path, required=True)
    ap.add_argument("--features", type=Path, required=True, help="content embedding dir (raw or PinCLIP)")
    ap.add_argument("--work", type=Path, required=True, help="where model and embedding dirs go")
    ap.add_argument("--variants", default="full", help=f"comma list of {sorted(VARIANTS)}")
    ap.add_argument("--seeds", default="0", help="comma list of seeds (mean ± std over seeds)")
    ap.add_argument("--set", action="append", default=[], help="extra overrides for every variant")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    from graph_build.graph import load_graph
    from graphrec.embeddings import load_embeddings

    g = load_graph(args.graph)
    feats = load_embeddings(args.features, g)
    splits = ("test", "val")
    rows: dict[str, list[list[str]]] = {s: [] for s in splits}
    results: dict = {"content_only": {}}
    for sp_ in splits:
        r = recall_at_k(g, *content_only(g, feats.pin), split=sp_)
        results["content_only"][sp_] = r
        rows[sp_].append(
            [f"content only ({feats.model_name})", f"{r['all']:.4f}", f"{r['warm']:.4f}", f"{r['cold']:.4f}", "-"]
        )
    graphrec = bin_path("graphrec")
    for v in args.variants.split(","):
        runs = []
        for seed in args.seeds.split(","):
            model, emb = args.work / f"model-{v}-{seed}", args.work / f"emb-{v}-{seed}"
            sets = [x for s in [*VARIANTS[v], *args.set, f"seed={seed}"] for x in ("--set", s)]
            secs = _run(
                [
                    graphrec,
                    "-q",
                    "train-sage",
                    "--graph",
                    str(args.graph),
                    "--features",
                    str(args.features),
                    "--out",
                    str(model),
                    "--force",
                    "--threads",
                    str(args.threads),
                    *sets,
                ]
            )
            _run(
                [
                    graphrec,
                    "-q",
                    "embed-graph",
                    "--graph",
                    str(args.graph),
                    "--features",
                    str(args.features),
                    "--model",
                    str(model),
                    "--out",
                    str(emb),
                    "--force",
                    "--threads",
                    str(args.threads),
                ]
            )
            e = load_embeddings(emb, g)
            runs.append(
                {"seed": seed, "train_s": secs, **{sp_: recall_at_k(g, e.pin, e.board, split=sp_) for sp_ in splits}}
            )
            print(v, json.dumps(runs[-1]), flush=True)
        results[v] = runs
        for sp_ in splits:
            rows[sp_].append(
                [
                    f"SAGE {v} ({e.model_name})",
                    *(_fmt([x[sp_][k] for x in runs]) for k in ("all", "warm", "cold")),
                    f"{np.mean([x['train_s'] for x in runs]):.0f}",
                ]
            )
    for sp_ in splits:
        print(
            f"\nBoard -> pin Recall@20 on {sp_} saves: {g.name}, features {feats.model_name} ({args.features}); "
            f"seeds {args.seeds}\n"
        )
        print(markdown_table(["model", "all", "warm", "cold", "train s"], rows[sp_]))
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "quality.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
