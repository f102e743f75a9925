"""Embedding-directory models (``content``, ``clip_no_neighbors``, ``sage_raw``, ``full``, ...).

Pins are scored by inner products of the directory's L2-normalised vectors. Boards use the
directory's ``board_emb.npy`` when it has one, else the normalised mean of their **train** pins
(``graphrec.embeddings.boards_from_pins``). Every pin has a vector, cold ones included.
"""

from __future__ import annotations

from pathlib import Path

from eval.recommenders.base import FactorRecommender, Factors
from graph_build.graph import PinBoardGraph
from graphrec.embeddings import Embeddings, boards_from_pins, load_embeddings


class EmbeddingRecommender(FactorRecommender):
    """Scores from a loaded embedding directory (checked to belong to the evaluated graph).

    Args:
        emb: the loaded embeddings; its ``model_name`` is the evaluation name.
    """

    can_score_cold = True

    def __init__(self, emb: Embeddings) -> None:
        super().__init__()
        self.emb = emb
        self.name = emb.model_name

    @classmethod
    def from_dir(cls, root: str | Path, graph: PinBoardGraph) -> EmbeddingRecommender:
        return cls(load_embeddings(root, graph))

    @property
    def board_source(self) -> str:
        return "board_emb.npy" if self.emb.board is not None else "mean of train pins"

    def _factors(self, graph: PinBoardGraph) -> Factors:
        pin = self.emb.pin
        board = self.emb.board if self.emb.board is not None else boards_from_pins(graph, pin, "train")
        return Factors.from_numpy(board=board, pin=pin, pin_query=pin, pin_item=pin)
