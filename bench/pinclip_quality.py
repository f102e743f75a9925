"""PinCLIP quality table (issue 3), measured end to end from the shared data.

* fashion-products-1k: 20 % of products held out (the graph's cold pins, a seeded random
  fraction since the data has no timestamps); image->text and text->image Recall@1/5/10 among
  them for the trained model against the same architecture at random init (0 steps).
* synthetic default (5,000 pins) and movielens-small: for cold pins with test saves, recall of
  their test boards' other pins among nearest neighbours by content embedding, with and
  without the neighbour-alignment objective (loss.neighbor = 0).

    .venv/bin/python bench/pinclip_quality.py                      # all three, default config
    .venv/bin/python bench/pinclip_quality.py --datasets synthetic --set train.steps=600
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GRAPHREC_MLFLOW", "0")

import numpy as np  # noqa: E402

from bench.common import markdown_table  # noqa: E402
from eval.stats import paired_lifts  # noqa: E402
from graph_build.adapters.fashion_products import FashionOptions, convert_fashion_products  # noqa: E402
from graph_build.adapters.movielens import MovieLensOptions, convert_movielens  # noqa: E402
from graph_build.build import build_graph  # noqa: E402
from graph_build.graph import load_graph  # noqa: E402
from graph_build.split import SplitConfig  # noqa: E402
from graph_build.synthetic.generate import SynthConfig, write_synthetic  # noqa: E402
from graphrec.embeddings import load_embeddings  # noqa: E402
from graphrec.pinclip.api import train_pinclip_dir as train_pinclip  # noqa: E402
from graphrec.pinclip.config import PinClipConfig  # noqa: E402
from graphrec.pinclip.embed import embed_graph_pins, modality_embeddings  # noqa: E402
from graphrec.pinclip.quality import cold_neighbor_recall, cross_modal_recall  # noqa: E402
from graphrec.pinclip.store import load_model_dir  # noqa: E402
from graphrec.pinclip.table import PinTable  # noqa: E402
from graphrec.utils.config import apply_overrides, from_dict  # noqa: E402

SHARED = Path(os.environ.get("GRAPHREC_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DATASET_SETS = {  # per-dataset config changes (documented in the README table)
    "fashion": ["image.image_size=64"],
    "movielens": [],
    "synthetic": [],
}


def config(extra: list[str]) -> PinClipConfig:
    return from_dict(PinClipConfig, apply_overrides({}, extra), prefix="pinclip")


def graph_for(name: str, work: Path) -> Path:
    data, graph = work / f"{name}-data", work / f"{name}-graph"
    if (graph / "manifest.json").exists():
        return graph
    if name == "synthetic":
        write_synthetic(SynthConfig(n_pins=5000, seed=0), data, overwrite=True)
    elif name == "movielens":
        convert_movielens(SHARED / "movielens-small", data, MovieLensOptions(), overwrite=True)
    else:
        convert_fashion_products(SHARED / "fashion-products-1k", data, FashionOptions(), overwrite=True)
    build_graph(data, graph, SplitConfig(seed=0), overwrite=True)
    return graph


def neighbor_rows(name: str, work: Path, sets: list[str], reuse: bool) -> list[list[str]]:
    g = load_graph(graph_for(name, work))
    rows, res = [], {}
    for label, extra in (("with neighbour alignment", []), ("CLIP without neighbours", ["loss.neighbor=0"])):
        cfg = config(DATASET_SETS[name] + sets + extra)
        model, emb = work / f"{name}-{len(extra)}-model", work / f"{name}-{len(extra)}-emb"
        if not (reuse and (emb / "manifest.json").exists()):
            train_pinclip(g, cfg, model, overwrite=True)
            embed_graph_pins(g, model, emb, overwrite=True)
        train_s = json.loads((model / "manifest.json").read_text())["train_seconds_this_run"]
        r = cold_neighbor_recall(g, load_embeddings(emb, g).pin, per_query=True)
        res[label] = r
        rows.append(
            [
                name,
                label,
                f"{r['cold_neighbor_recall@20']:.4f}",
                f"{r['cold_neighbor_recall@50']:.4f}",
                str(r["cold_queries"]),
                f"{train_s:.0f}",
            ]
        )
    a, b = res["with neighbour alignment"], res["CLIP without neighbours"]
    cells = []
    for k in (20, 50):
        ones = np.ones_like(a[f"per_query@{k}"])
        lift = paired_lifts(
            {k: (a[f"per_query@{k}"], ones, b[f"per_query@{k}"], ones)}, 2000, 2000, np.random.default_rng(0)
        )[k]
        cells.append(f"{lift.lift:+.1%} [{lift.ci95[0]:+.1%}, {lift.ci95[1]:+.1%}] p={lift.p_value:.3f}")
    rows.append([name, "gain of neighbour alignment (95% CI, p)", *cells, "", ""])
    return rows


def fashion_rows(work: Path, sets: list[str]) -> list[list[str]]:
    g = load_graph(graph_for("fashion", work))
    held = np.flatnonzero(g.is_cold)
    rows = []
    for label, steps in (("trained", None), ("random init", ["train.steps=0"])):
        cfg = config(DATASET_SETS["fashion"] + sets + (steps or []))
        model = work / f"fashion-{label.replace(' ', '-')}-model"
        train_pinclip(g, cfg, model, overwrite=True)
        loaded = load_model_dir(model)
        table = PinTable.from_pins(g.pins, g.images(), loaded.tokenizer, loaded.vocab, loaded.cfg, loaded.image_size)
        m = modality_embeddings(loaded, table, held)
        r = cross_modal_recall(m["image"], m["text"])
        rows.append(
            [f"{label} ({len(held)} held-out products)"]
            + [f"{r[f'image_to_text_recall@{k}']:.3f}" for k in (1, 5, 10)]
            + [f"{r[f'text_to_image_recall@{k}']:.3f}" for k in (1, 5, 10)]
        )
    n = len(held)
    rows.append([f"chance (1/{n}, 5/{n}, 10/{n})"] + [f"{k / n:.3f}" for k in (1, 5, 10)] * 2)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["fashion", "synthetic", "movielens"])
    ap.add_argument("--set", dest="sets", action="append", default=[], help="PinCLIP config override for every run")
    ap.add_argument("--workdir", type=Path, default=Path("bench/out/pinclip_quality"))
    ap.add_argument("--reuse", action="store_true", help="reuse embeddings already in --workdir (no retraining)")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    out = {}
    if "fashion" in args.datasets:
        rows = fashion_rows(args.workdir, args.sets)
        out["fashion"] = rows
        print("\nfashion-products-1k, image<->text retrieval among held-out products\n")
        print(markdown_table(["model", "i->t R@1", "i->t R@5", "i->t R@10", "t->i R@1", "t->i R@5", "t->i R@10"], rows))
    nb = [
        r
        for name in ("synthetic", "movielens")
        if name in args.datasets
        for r in neighbor_rows(name, args.workdir, args.sets, args.reuse)
    ]
    if nb:
        out["neighbors"] = nb
        print("\nCold pins: recall of their test boards' other pins among content nearest neighbours\n")
        print(markdown_table(["dataset", "model", "recall@20", "recall@50", "cold pins", "train s"], nb))
    (args.workdir / "results.json").write_text(json.dumps({"sets": args.sets, **out}, indent=2))


if __name__ == "__main__":
    main()
