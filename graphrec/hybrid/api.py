"""Directory-level jobs of ``full`` (what ``graphrec run``'s train-full / embed-full stages call)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graph_build.graph import PinBoardGraph
from graphrec.hybrid.config import FullConfig
from graphrec.utils.io import check_output_free


def train_full_dir(graph: PinBoardGraph, features: str | Path, cfg: FullConfig, out: str | Path, *,
                   overwrite: bool = False) -> dict[str, Any]:
    """Fit ``full`` on ``graph`` with the content embedding directory ``features``; write ``out``."""
    from graphrec.hybrid.store import save_full
    from graphrec.hybrid.train import fit_full
    from graphrec.sage.inference import check_features
    from graphrec.utils.seed import seed_everything

    check_output_free(out, overwrite=overwrite)
    feats = check_features(features, graph)
    seed_everything(cfg.seed)
    model = fit_full(graph, feats.pin, cfg)
    return save_full(out, model, cfg, graph, feats, overwrite=overwrite)


def embed_full_dir(graph: PinBoardGraph, features: str | Path, model_dir: str | Path, out: str | Path, *,
                   name: str = "full", overwrite: bool = False) -> dict[str, Any]:
    """Embed every pin and board with a fitted ``full`` model (an embedding directory)."""
    from graphrec.embeddings import write_embeddings
    from graphrec.hybrid.store import check_graph, load_full
    from graphrec.sage.inference import check_features

    check_output_free(out, overwrite=overwrite)
    model, _, manifest = load_full(model_dir)
    check_graph(manifest, graph, Path(model_dir))
    feats = check_features(features, graph, None, manifest["features"]["model_name"])
    pin = model.pin_emb(feats.pin, graph.is_cold)
    return write_embeddings(out, graph, model_name=name, pin=pin, board=model.board_emb(), overwrite=overwrite,
                            extra={"model_dir": str(Path(model_dir).resolve()), "features": str(Path(features).resolve()),
                                   "features_model_name": feats.model_name,
                                   "calibration": {"offset": model.offset, "recency_weight": model.recency_weight}})
