"""``popularity``: every board and every pin gets the same list, pins ordered by train saves."""

from __future__ import annotations

import numpy as np

from eval.recommenders.base import FactorRecommender, Factors, train_degree
from graph_build.graph import PinBoardGraph


class PopularityRecommender(FactorRecommender):
    """Score of a pin = its number of train saves. Cold pins have none, so they rank last."""

    name = "popularity"
    can_score_cold = False

    def _factors(self, graph: PinBoardGraph) -> Factors:
        count = train_degree(graph)[:, None]
        return Factors.from_numpy(
            board=np.ones((graph.n_boards, 1)), pin=count, pin_query=np.ones((graph.n_pins, 1)), pin_item=count
        )
