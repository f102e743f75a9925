"""How much cold Recall@K a list can buy with slots, for a fitted ``full`` model of a run.

Per board the warm pins are ranked by the teacher and the cold pins by the inductive path
(exactly ``full``'s two rankings, before any calibration); the cold pins then get ``m`` of the
``K`` slots, for every board or (an oracle bound) only for the boards that have a held-out cold
save. It shows whether a better calibration could reach a cold target, or whether the cold
ranking itself has to improve at its first few ranks. Also prints cold-only Recall@{3,5,K}, and
the same when only the cold pins that have a held-out save in the split compete (an oracle of
which new pins are live: the gap is what the never-saved rest of the cold catalogue costs).

On a synthetic run, ``--cold-scorer`` replaces the inductive path by the planted truth a content
model could at best recover, to bound what any cold path can buy: ``planted`` ranks the cold
pins by their planted (style, niche) affinity to the board without the pins' appeal (drawn
independently of content by the generator), ``planted-style`` by the style alone (the niche is
only a faint trace in the image), ``oracle`` by the whole generative truth (appeal included: the
``oracle`` row's ranking). Ties rank in the evaluator's seeded permutation.

    .venv/bin/python bench/cold_frontier.py RUN_DIR [--split val] [--k 20] [--cold-scorer student]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eval.protocol import tie_break_permutation  # noqa: E402
from eval.recommenders import oracle  # noqa: E402
from graph_build.graph import PinBoardGraph, load_graph  # noqa: E402
from graphrec.hybrid.api import _fitted  # noqa: E402
from graphrec.hybrid.teacher import binary  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--cold-scorer", default="student", choices=("student", *PLANTED))
    args = ap.parse_args()
    graph = load_graph(args.run / "graph")
    text = args.run / "text"
    model, _, manifest, _, x = _fitted(graph, manifest_features(args.run), args.run / "full", text)
    cold = graph.is_cold
    scores = model.board_factors @ model.pin_factors.T
    if args.cold_scorer == "student":
        scores[:, cold] = model.board_factors @ model.student_emb(x[cold]).T
    else:
        scores[:, cold] = planted_scores(graph, args.cold_scorer)[:, cold]
    known = binary(graph, "train") + (binary(graph, "val") if args.split == "test" else 0)
    held = binary(graph, args.split).toarray() > 0
    scores[known.nonzero()] = -np.inf
    k = args.k
    place = np.argsort(tie_break_permutation(graph.n_pins, 0).numpy())  # each pin's tie-break place

    def top(s: np.ndarray) -> np.ndarray:
        """The first k columns of each row by score, ties in the evaluator's permutation order."""
        return np.lexsort((np.broadcast_to(place, s.shape), -s), axis=1)[:, :k]

    print(f"cold pins ranked by: {args.cold_scorer}")
    ranked = {}
    for name, mask in (("warm", ~cold), ("cold", cold)):
        s = np.where(mask[None, :], scores, -np.inf)
        ranked[name] = np.cumsum(np.take_along_axis(held, top(s), 1), axis=1)
    n_w, n_c = (held & ~cold).sum(1), (held & cold).sum(1)
    rows = np.arange(len(held))

    def recall(m: np.ndarray, cold_cum: np.ndarray | None = None) -> tuple[float, float]:
        cold_cum = ranked["cold"] if cold_cum is None else cold_cum
        hw = np.where(m < k, ranked["warm"][rows, np.maximum(k - m - 1, 0)], 0)
        hc = np.where(m > 0, cold_cum[rows, np.maximum(m - 1, 0)], 0)
        return float((hw[n_w > 0] / n_w[n_w > 0]).mean()), float((hc[n_c > 0] / n_c[n_c > 0]).mean())

    print(f"{args.run} ({args.split}): {(n_c > 0).sum()} of {(n_w + n_c > 0).sum()} boards have a held-out cold save")
    live = (held & cold).any(0)
    s = np.where((live & cold)[None, :], scores, -np.inf)
    live_cum = np.cumsum(np.take_along_axis(held, top(s), 1), axis=1)
    print(f"{cold.sum()} cold pins, {live.sum()} of them with a held-out save in {args.split}")
    for j in sorted({3, 5, k}):
        hits, oracle = ranked["cold"][:, min(j, k) - 1], live_cum[:, min(j, k) - 1]
        print(
            f"cold-only Recall@{j}: {(hits[n_c > 0] / n_c[n_c > 0]).mean():.4f}"
            f" (only the live cold pins competing: {(oracle[n_c > 0] / n_c[n_c > 0]).mean():.4f})"
        )
    print(
        "| cold slots | warm | cold | oracle boards: warm / cold | oracle boards, live cold pins: cold |"
        "\n|---|---|---|---|---|"
    )
    for m in (0, 1, 2, 3, 5, 8, 12):
        w, c = recall(np.full(len(held), m))
        ow, oc = recall(np.where(n_c > 0, m, 0))
        _, lc = recall(np.where(n_c > 0, m, 0), live_cum)
        print(f"| {m} | {w:.4f} | {c:.4f} | {ow:.4f} / {oc:.4f} | {lc:.4f} |")


PLANTED = ("planted", "planted-style", "oracle")


def planted_scores(graph: PinBoardGraph, kind: str) -> np.ndarray:
    """Boards x pins planted scores of a synthetic graph: ``kind`` is one of ``PLANTED``."""
    import dataclasses

    if not oracle.has_truth(graph):
        raise SystemExit(f"--cold-scorer {kind}: {graph.root} has no planted truth (synthetic runs only)")
    t = oracle.load_truth(graph)
    if kind != "oracle":
        t = dataclasses.replace(t, group_share=None, global_share=None)
    if kind == "planted-style":
        zeros = np.zeros_like
        t = dataclasses.replace(
            t, pin_niche=zeros(t.pin_niche), board_niche=zeros(t.board_niche), niches_per_style=1, niche_focus=1.0
        )
    board, pin = oracle.generative_factors(oracle.board_affinity_vectors(graph, t), oracle.pin_one_hot(t), t)
    return board @ pin.T


def manifest_features(run: Path) -> Path:
    """The content embeddings ``full`` was trained on (its manifest's features path)."""
    import json

    return Path(json.loads((run / "full" / "manifest.json").read_text())["features"]["path"])


if __name__ == "__main__":
    main()
