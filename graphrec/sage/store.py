"""The SAGE model directory: ``model.safetensors`` + ``config.json`` + ``manifest.json`` (+ ``checkpoints/``).

``config.json`` holds the whole ``SageConfig`` and the input width, so ``load_model`` rebuilds the
exact module tree before loading the weights. Nothing is pickled.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from graph_build.graph import MANIFEST, PinBoardGraph
from graphrec.embeddings import Embeddings, graph_fingerprint
from graphrec.sage.config import SageConfig
from graphrec.sage.model import SageModel, build_model
from graphrec.utils.config import to_dict
from graphrec.utils.io import atomic_output_dir, sha256_file, write_json
from graphrec.utils.modeldir import open_model_dir

KIND = "graphrec.sage_model"
WEIGHTS, CONFIG, CHECKPOINTS = "model.safetensors", "config.json", "checkpoints"


def save_model(
    out: str | Path,
    model: SageModel,
    cfg: SageConfig,
    graph: PinBoardGraph,
    features: Embeddings,
    history: list[dict[str, Any]],
    checkpoints: Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the model directory atomically (moving ``checkpoints`` into it); return the manifest."""
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp / WEIGHTS))
        write_json(
            tmp / CONFIG,
            {"sage": to_dict(cfg), "in_dim": int(features.dim), "n_pins": graph.n_pins, "n_boards": graph.n_boards},
        )
        manifest = {
            "schema_version": 1,
            "kind": KIND,
            "in_dim": int(features.dim),
            "out_dim": cfg.model.out_dim,
            "graph": {
                "path": str(graph.root.resolve()),
                "manifest_sha256": graph_fingerprint(graph),
                "dataset": graph.name,
            },
            "features": {
                "path": str(features.root.resolve()),
                "model_name": features.model_name,
                "manifest_sha256": sha256_file(features.root / MANIFEST),
            },
            "history": history,
            "files_sha256": {f: sha256_file(tmp / f) for f in (WEIGHTS, CONFIG)},
        }
        write_json(tmp / MANIFEST, manifest)
        if checkpoints is not None and checkpoints.is_dir():
            shutil.move(str(checkpoints), str(tmp / CHECKPOINTS))
    return manifest


def load_model(root: str | Path) -> tuple[SageModel, SageConfig, dict[str, Any]]:
    """Rebuild the model of a model directory: ``(model in eval mode, config, manifest)``."""
    root = Path(root)
    manifest, raw, cfg = open_model_dir(
        root,
        files=(MANIFEST, CONFIG, WEIGHTS),
        kind=KIND,
        config_cls=SageConfig,
        section="sage",
        what="SAGE model",
        hint="train one with `graphrec train-sage`",
    )
    model = build_model(cfg, int(raw["in_dim"]), int(raw.get("n_pins", 0)), int(raw.get("n_boards", 0)))
    model.load_state_dict(load_file(str(root / WEIGHTS)))
    model.eval()
    return model, cfg, manifest
