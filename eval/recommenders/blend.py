"""``blend``: a collaborative model for warm pins, ``content_minilm`` for cold pins, one ranking.

For each board (or query pin) the CF model's scores of the **warm** pins and the MiniLM
scores of the **cold** pins are z-scored separately (mean and standard deviation over that
row's pins of that kind; a constant row becomes 0), and a constant ``cold_offset`` is added to
the cold ones::

    s_j = z_warm(cf)_j               for a warm pin j
    s_j = z_cold(minilm)_j + offset  for a cold pin j

The CF model (among ``blend.cf_models`` evaluated in the same run, fitted once and reused) and
the offset (``blend.offset_min..offset_max`` by ``offset_step``) are chosen together on the
validation split (``eval.recommenders.selection``): by default val Recall@20 on ``all``
(``blend.criterion=warm_cold_mean``: the mean of the warm and cold val Recall@20). The first
grid point wins a tie, i.e. the lowest offset (the least cold exposure). Pin -> pin: the
same rule on the CF model's pin scores; for a cold query pin (no CF vector) the warm pins are
scored by MiniLM too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping

import numpy as np
import torch

from eval.config import BlendConfig
from eval.protocol import rank_top, tie_break_permutation
from eval.recommenders.base import ModelSkipped, Recommender
from eval.recommenders.selection import (
    CRITERION,
    SELECT_K,
    SELECT_SLICE,
    Ranked,
    ValidationSet,
    best_index,
    chosen_record,
    merge_ranked,
    val_recall,
)
from graph_build.graph import PinBoardGraph

log = logging.getLogger(__name__)


def zscore_columns(scores: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Per row, ``(s - mean) / std`` over the columns ``cols`` (bool); other columns are 0."""
    out = torch.zeros_like(scores)
    if not bool(cols.any()):
        return out
    s = scores[:, cols].to(torch.float64)
    mean = s.mean(1, keepdim=True)
    std = s.std(1, unbiased=False, keepdim=True)
    out[:, cols] = torch.where(std > 1e-12, (s - mean) / std.clamp(min=1e-12), 0.0).to(scores.dtype)
    return out


class BlendRecommender(Recommender):
    """Per-board z-scored CF (warm) + MiniLM (cold) + offset, chosen on validation.

    Args:
        cfg: candidate CF models and the offset grid.
        seed: tie-breaking permutation seed of the selection.
        fitted: models already fitted in this run (reused, never refitted).
        build: makes an unfitted model by name, for the ones ``fitted`` does not hold.
        max_boards: val boards the choice is scored on (a seeded sample above it; 0 = all).
    """

    name = "blend"
    can_score_cold = True

    def __init__(
        self,
        cfg: BlendConfig,
        seed: int,
        fitted: Mapping[str, Recommender] | None = None,
        build: Callable[[str], Recommender] | None = None,
        max_boards: int = 0,
    ) -> None:
        super().__init__()
        self.cfg, self.seed, self.max_boards = cfg, seed, max_boards
        self._fitted, self._build = dict(fitted or {}), build
        self.cf: Recommender | None = None
        self.content: Recommender | None = None
        self.offset = 0.0
        self.chosen: dict | None = None

    def _get(self, name: str, graph: PinBoardGraph) -> Recommender | None:
        if name in self._fitted:
            return self._fitted[name]
        if self._build is None:
            return None
        try:
            return self._build(name).fit(graph)
        except ModelSkipped as e:
            log.warning("blend: %s skipped: %s", name, e)
            return None

    def _fit(self, graph: PinBoardGraph) -> None:
        self.content = self._get("content_minilm", graph)
        if self.content is None:
            raise ModelSkipped("blend: content_minilm is not available")
        names = [n for n in self.cfg.cf_models if n in self._fitted] or list(self.cfg.cf_models)
        cands = {n: m for n in names if (m := self._get(n, graph)) is not None}
        if not cands:
            raise ModelSkipped(f"blend: none of the CF models {list(self.cfg.cf_models)} is available")
        offsets = self.cfg.offsets()
        cold = torch.from_numpy(graph.is_cold.copy())
        perm = tie_break_permutation(graph.n_pins, self.seed)
        position = torch.empty_like(perm)
        position[perm] = torch.arange(len(perm))

        def ranked(scores: torch.Tensor, kind: torch.Tensor, excluded: torch.Tensor) -> Ranked:
            z = zscore_columns(scores, kind)
            z[excluded | ~kind] = -torch.inf
            return Ranked(*rank_top(z, SELECT_K, perm))

        def variants(boards: np.ndarray, excluded: torch.Tensor) -> Iterator[tuple[tuple[str, float], Ranked]]:
            # the offset only shifts the cold list: rank warm and cold once, merge per offset
            rc = ranked(self.content.score_boards(boards), cold, excluded)
            for n, m in cands.items():
                rw = ranked(m.score_boards(boards), ~cold, excluded)
                for off in offsets:
                    shifted = Ranked(rc.vals + off, rc.ids)
                    yield (n, off), merge_ranked(rw, shifted, SELECT_K, position)

        table = val_recall(ValidationSet.from_graph(graph, self.seed).sample(self.max_boards), variants)
        labels = [(n, off) for n in cands for off in offsets]
        crit = {lab: self._criterion(table[lab]) for lab in labels}
        n, off = labels[best_index([crit[lab] for lab in labels])]
        self.cf, self.offset = cands[n], float(off)
        name = CRITERION if self.cfg.criterion == "all" else f"mean of val warm and cold recall@{SELECT_K}"
        grid = [({"cf_model": a, "cold_offset": b}, table[(a, b)]) for a, b in labels]
        self.chosen = chosen_record({"cf_model": n, "cold_offset": self.offset}, grid, name)
        for a in cands:
            log.info("blend with %s: best %s %.4f", a, name, max(crit[(a, b)] for b in offsets))
        r = table[(n, off)]
        log.info(
            "blend: chose cf_model=%s cold_offset=%+.2f (%s %.4f; val warm %.4f cold %.4f all %.4f)",
            n,
            self.offset,
            name,
            crit[(n, off)],
            r["warm"],
            r["cold"],
            r["all"],
        )

    def _criterion(self, r: Mapping[str, float]) -> float:
        if self.cfg.criterion == "warm_cold_mean" and np.isfinite(r["cold"]):
            return (r["warm"] + r["cold"]) / 2
        return r[SELECT_SLICE]

    def _mix(self, cf_scores: torch.Tensor, content_scores: torch.Tensor) -> torch.Tensor:
        cold = self._check()
        return torch.where(cold, zscore_columns(content_scores, cold) + self.offset, zscore_columns(cf_scores, ~cold))

    def _board_scores(self, boards: torch.Tensor) -> torch.Tensor:
        assert self.cf is not None and self.content is not None
        return self._mix(self.cf.score_boards(boards), self.content.score_boards(boards))

    def _pin_scores(self, pins: torch.Tensor) -> torch.Tensor:
        assert self.cf is not None and self.content is not None
        content = self.content.score_pins(pins)
        cf = self.cf.score_pins(pins)
        cold_query = self._check()[pins]
        cf[cold_query] = content[cold_query]  # no CF vector for a cold query pin
        return self._mix(cf, content)
