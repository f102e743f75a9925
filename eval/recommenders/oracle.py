"""``oracle``: the planted truth of the synthetic catalogue, a ceiling for every learned model.

``graphrec synth`` draws each save of board b by picking one of b's style slots s (probability
``weight_s``), then a niche (b's preferred niche ``n_s`` with probability ``niche_focus``, else a
uniform niche among ``niches_per_style``), then a pin of that (style, niche) group. So the
planted affinity of board b for pin p (style ``t``, niche ``m``), up to the pin's popularity
and the uniform ``save_noise``, is::

    a(b, p) = sum over slots s of b with style_s == t of
              weight_s * (niche_focus * [n_s == m] + (1 - niche_focus) / niches_per_style)

It is an inner product of a board vector over (style, niche) groups with the pin's one-hot
group, so it scores cold pins exactly like warm ones. Pin -> pin uses the same kernel with the
query pin as a single slot of weight 1.

When the truth carries the pins' planted appeal (the time-free part of popularity;
``group_share``: the chance a save of the pin's group picks it; ``global_share``: the chance a
noise save does), the oracle is the generative probability of a save, not just its group::

    P(b saves p) = (1 - save_noise) * a(b, p) * group_share_p + save_noise * global_share_p

again an inner product (the noise term is one extra factor column). Appeal leaves out exposure
(old pins had longer to be saved) on purpose: held-out saves are each board's latest, a period in
which new pins are not at a disadvantage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eval.recommenders.base import FactorRecommender, Factors
from graph_build.graph import PinBoardGraph


@dataclass(frozen=True)
class PlantedTruth:
    """The planted styles of a synthetic graph, re-keyed to pin/board indices."""

    pin_style: np.ndarray
    pin_niche: np.ndarray
    board_idx: np.ndarray  # one row per (board, slot)
    board_style: np.ndarray
    board_niche: np.ndarray
    board_weight: np.ndarray
    n_styles: int
    niches_per_style: int
    niche_focus: float
    group_share: np.ndarray | None = None  # per pin; None for older truth without popularity
    global_share: np.ndarray | None = None
    save_noise: float = 0.0


def has_truth(graph: PinBoardGraph) -> bool:
    """True when the graph carries planted styles (synthetic data)."""
    return (graph.root / "truth" / "pin_styles.parquet").is_file() and (
        graph.root / "truth" / "board_styles.parquet"
    ).is_file()


def load_truth(graph: PinBoardGraph) -> PlantedTruth:
    """Read ``truth/`` and the generator settings from the graph manifest."""
    pins, boards = graph.truth("pin_styles"), graph.truth("board_styles")
    if pins is None or boards is None:
        raise ValueError(
            f"{graph.root}: no planted truth (truth/pin_styles.parquet, truth/board_styles.parquet); "
            "the oracle exists only for synthetic graphs"
        )
    try:
        cfg = graph.manifest["dataset"]["info"]["config"]
        niches, focus = int(cfg["niches_per_style"]), float(cfg["niche_focus"])
        noise = float(cfg.get("save_noise", 0.0))
    except KeyError as exc:
        raise ValueError(
            f"{graph.root}/manifest.json: dataset.info.config lacks {exc} (needed by the oracle)"
        ) from None
    pins = pins.sort_values("pin_idx")
    if len(pins) != graph.n_pins or not np.array_equal(pins["pin_idx"].to_numpy(), np.arange(graph.n_pins)):
        raise ValueError(f"{graph.root}/truth/pin_styles.parquet: expected one row per pin_idx 0..{graph.n_pins - 1}")
    boards = boards[boards["board_idx"] < graph.n_boards]
    style = pins["style"].to_numpy(np.int64)
    n_styles = int(max(style.max(), boards["style"].max()) + 1)
    return PlantedTruth(
        pin_style=style,
        pin_niche=pins["niche"].to_numpy(np.int64),
        board_idx=boards["board_idx"].to_numpy(np.int64),
        board_style=boards["style"].to_numpy(np.int64),
        board_niche=boards["niche"].to_numpy(np.int64),
        board_weight=boards["weight"].to_numpy(np.float64),
        n_styles=n_styles,
        niches_per_style=niches,
        niche_focus=focus,
        group_share=pins["group_share"].to_numpy(np.float64) if "group_share" in pins else None,
        global_share=pins["global_share"].to_numpy(np.float64) if "global_share" in pins else None,
        save_noise=noise,
    )


def _slot_vectors(style: np.ndarray, niche: np.ndarray, weight: np.ndarray, t: PlantedTruth) -> np.ndarray:
    """Rows over the S*K groups: ``weight * (focus * [niche] + (1 - focus) / K)`` on the slot's style."""
    K = t.niches_per_style
    vec = np.zeros((len(style), t.n_styles * K))
    rows = np.repeat(np.arange(len(style)), K)
    cols = (style[:, None] * K + np.arange(K)[None, :]).ravel()
    vals = np.full((len(style), K), (1.0 - t.niche_focus) / K)
    vals[np.arange(len(style)), niche] += t.niche_focus
    vec[rows, cols] = (vals * weight[:, None]).ravel()
    return vec


def board_affinity_vectors(graph: PinBoardGraph, t: PlantedTruth) -> np.ndarray:
    """``n_boards x (S*K)`` board vectors; ``board_vectors @ pin_one_hot.T`` is the planted affinity."""
    slots = _slot_vectors(t.board_style, t.board_niche, t.board_weight, t)
    out = np.zeros((graph.n_boards, slots.shape[1]))
    np.add.at(out, t.board_idx, slots)
    return out


def pin_one_hot(t: PlantedTruth) -> np.ndarray:
    out = np.zeros((len(t.pin_style), t.n_styles * t.niches_per_style))
    out[np.arange(len(t.pin_style)), t.pin_style * t.niches_per_style + t.pin_niche] = 1.0
    return out


def generative_factors(board: np.ndarray, pin: np.ndarray, t: PlantedTruth) -> tuple[np.ndarray, np.ndarray]:
    """Board/pin factors whose inner product is P(b saves p) when popularity is known, else ``a(b, p)``."""
    if t.group_share is None or t.global_share is None:
        return board, pin
    board = np.hstack([(1.0 - t.save_noise) * board, np.full((len(board), 1), t.save_noise)])
    pin = np.hstack([pin * t.group_share[:, None], t.global_share[:, None]])
    return board, pin


class OracleRecommender(FactorRecommender):
    """Ranks by the planted affinity (synthetic graphs only). Not a model: a reference ceiling."""

    name = "oracle"
    can_score_cold = True

    def _factors(self, graph: PinBoardGraph) -> Factors:
        t = load_truth(graph)
        board, pin = generative_factors(board_affinity_vectors(graph, t), pin_one_hot(t), t)
        query, _ = generative_factors(
            _slot_vectors(t.pin_style, t.pin_niche, np.ones(len(t.pin_style)), t), pin_one_hot(t), t
        )
        return Factors.from_numpy(board=board, pin=pin, pin_query=query, pin_item=pin)
