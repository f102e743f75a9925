"""Directory-level jobs of ``full`` (what ``graphrec run``'s train-full / embed-full stages call)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from graph_build.graph import PinBoardGraph
from graphrec.hybrid.config import FullConfig
from graphrec.utils.io import check_output_free


def student_inputs(content: np.ndarray, text: np.ndarray | None) -> np.ndarray:
    """The student's input rows: PinCLIP content, then the MiniLM text embedding when used."""
    return content if text is None else np.hstack([content, text]).astype(np.float32)


def _inputs(graph: PinBoardGraph, features: str | Path, text: str | Path | None):
    from graphrec.sage.inference import check_features

    feats = check_features(features, graph)
    txt = check_features(text, graph).pin if text is not None else None
    return feats, student_inputs(feats.pin, txt)


def train_full_dir(
    graph: PinBoardGraph,
    features: str | Path,
    cfg: FullConfig,
    out: str | Path,
    *,
    text: str | Path | None = None,
    factors: Mapping[str, str | Path] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Fit ``full`` on ``graph`` with the content embedding directory ``features`` (and the MiniLM
    text embedding directory ``text`` when ``cfg.text_features``); write ``out``.

    ``factors``: fitted factor directories (graphrec/cf/factors.py) of teacher families by name
    (``lightgcn``: ``graphrec run``'s fit-lightgcn stage), searched with the teacher's own fits.
    """
    from graphrec.cf.factors import load_factors
    from graphrec.hybrid.store import save_full
    from graphrec.hybrid.train import fit_full
    from graphrec.utils.seed import seed_everything

    check_output_free(out, overwrite=overwrite)
    if cfg.text_features and text is None:
        raise ValueError("full.text_features is on but no text embedding directory was given")
    feats, x = _inputs(graph, features, text if cfg.text_features else None)
    given = {}
    for name, root in (factors or {}).items():
        f = load_factors(root, graph)
        given[name] = (f.board, f.pin, dict((f.chosen or {}).get("values", {})))
    seed_everything(cfg.seed)
    model = fit_full(graph, x, cfg, given)
    model.info["factors"] = {n: str(Path(r).resolve()) for n, r in (factors or {}).items()}
    return save_full(out, model, cfg, graph, feats, overwrite=overwrite)


def _fitted(graph: PinBoardGraph, features: str | Path, model_dir: str | Path, text: str | Path | None):
    """``(model, config, manifest, content embeddings, student inputs)`` of a fitted model dir,
    checked against ``graph`` and the content model it was trained on."""
    from graphrec.hybrid.store import check_graph, load_full
    from graphrec.sage.inference import check_features

    model, cfg, manifest = load_full(model_dir)
    check_graph(manifest, graph, Path(model_dir))
    check_features(features, graph, None, manifest["features"]["model_name"])
    feats, x = _inputs(graph, features, text if cfg.text_features else None)
    return model, cfg, manifest, feats, x


def embed_full_dir(
    graph: PinBoardGraph,
    features: str | Path,
    model_dir: str | Path,
    out: str | Path,
    *,
    text: str | Path | None = None,
    name: str = "full",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Embed every pin and board with a fitted ``full`` model (an embedding directory)."""
    from graphrec.embeddings import write_embeddings

    check_output_free(out, overwrite=overwrite)
    model, cfg, manifest, feats, x = _fitted(graph, features, model_dir, text)
    pin = model.pin_emb(x, graph.is_cold)
    return write_embeddings(
        out,
        graph,
        model_name=name,
        pin=pin,
        board=model.board_emb(),
        overwrite=overwrite,
        extra={
            "model_dir": str(Path(model_dir).resolve()),
            "features": str(Path(features).resolve()),
            "features_model_name": feats.model_name,
            "calibration": {
                "offset": model.offset,
                "recency_weight": model.recency_weight,
                "popularity_weight": model.prior_weight,
            },
        },
    )


def embed_full_ablation_dir(
    graph: PinBoardGraph,
    features: str | Path,
    model_dir: str | Path,
    out: str | Path,
    variant: str,
    *,
    text: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Embed the graph with ``full`` without some of its parts (``graphrec.hybrid.train.ABLATIONS``),
    rebuilt from the fitted model directory without retraining; model name ``full_<variant>``."""
    from graphrec.embeddings import write_embeddings
    from graphrec.hybrid.train import ablate

    check_output_free(out, overwrite=overwrite)
    model, cfg, manifest, _, x = _fitted(graph, features, model_dir, text)
    part = ablate(model, graph, x, cfg, float(manifest["chosen"]["guard_floor"]), variant)
    return write_embeddings(
        out,
        graph,
        model_name=f"full_{variant}",
        pin=part.pin_emb(x, graph.is_cold),
        board=part.board_emb(),
        overwrite=overwrite,
        extra={
            "model_dir": str(Path(model_dir).resolve()),
            "ablation": variant,
            "calibration": {
                "offset": part.offset,
                "recency_weight": part.recency_weight,
                "popularity_weight": part.prior_weight,
            },
        },
    )
