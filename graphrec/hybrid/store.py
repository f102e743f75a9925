"""The ``full`` model directory: ``teacher.npz`` + ``student.safetensors`` + ``config.json`` + ``manifest.json``.

Nothing is pickled: arrays are a plain ``.npz`` (``allow_pickle=False``), weights safetensors,
settings JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from safetensors.torch import load_file, save_file

from graph_build.graph import PinBoardGraph
from graphrec.utils.config import to_dict
from graphrec.embeddings import Embeddings, graph_fingerprint
from graphrec.hybrid.calibrate import BoardStats
from graphrec.hybrid.config import FullConfig
from graphrec.hybrid.student import Student
from graphrec.hybrid.train import FullModel
from graphrec.utils.io import atomic_output_dir, sha256_file, write_json
from graphrec.utils.modeldir import ModelDirError, open_model_dir

KIND = "graphrec.full_model"
ARRAYS, WEIGHTS, CONFIG, MANIFEST = "teacher.npz", "student.safetensors", "config.json", "manifest.json"


FullModelDirError = ModelDirError  # one error for every model directory (the old name stays)


def save_full(out: str | Path, model: FullModel, cfg: FullConfig, graph: PinBoardGraph, features: Embeddings,
              overwrite: bool = False) -> dict[str, Any]:
    """Write the model directory atomically; return its manifest."""
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        st = model.stats
        np.savez(tmp / ARRAYS, board_factors=model.board_factors, pin_factors=model.pin_factors,
                 warm_mean=st.warm_mean, warm_std=st.warm_std, cold_mean=st.cold_mean, recency=model.recency)
        save_file({k: v.detach().contiguous() for k, v in model.student.state_dict().items()}, str(tmp / WEIGHTS))
        write_json(tmp / CONFIG, {"full": to_dict(cfg), "in_dim": int(model.student.net[1].in_features), "ratio": st.ratio,
                                  "offset": model.offset, "recency_weight": model.recency_weight,
                                  "pin_norm": model.pin_norm, "regularization": model.regularization})
        manifest = {"schema_version": 1, "kind": KIND,
                    "graph": {"path": str(graph.root.resolve()), "manifest_sha256": graph_fingerprint(graph),
                              "dataset": graph.name},
                    "features": {"path": str(features.root.resolve()), "model_name": features.model_name},
                    **model.info, "files_sha256": {f: sha256_file(tmp / f) for f in (ARRAYS, WEIGHTS, CONFIG)}}
        write_json(tmp / MANIFEST, manifest)
    return manifest


def load_full(root: str | Path) -> tuple[FullModel, FullConfig, dict[str, Any]]:
    """``(model, config, manifest)`` of a model directory written by :func:`save_full`."""
    root = Path(root)
    manifest, raw, cfg = open_model_dir(root, files=(MANIFEST, CONFIG, WEIGHTS, ARRAYS), kind=KIND,
                                        config_cls=FullConfig, section="full",
                                        what="full model", hint="train one with `graphrec run`")
    arr = np.load(root / ARRAYS, allow_pickle=False)
    student = Student(int(raw["in_dim"]), arr["pin_factors"].shape[1], cfg.student)
    student.load_state_dict(load_file(str(root / WEIGHTS)))
    student.eval()
    stats = BoardStats(arr["warm_mean"], arr["warm_std"], arr["cold_mean"], float(raw["ratio"]))
    model = FullModel(arr["board_factors"], arr["pin_factors"], student, stats, arr["recency"], float(raw["offset"]),
                      float(raw["recency_weight"]), float(raw["pin_norm"]), float(raw["regularization"]), {})
    return model, cfg, manifest


def check_graph(manifest: dict[str, Any], graph: PinBoardGraph, root: Path) -> None:
    """The teacher's vectors index this graph's pins and boards: refuse any other graph."""
    if manifest["graph"]["manifest_sha256"] != graph_fingerprint(graph):
        raise FullModelDirError(f"{root}: trained on graph {manifest['graph']['path']}, not {graph.root}")


