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
from graphrec.embeddings import Embeddings, graph_fingerprint
from graphrec.hybrid.calibrate import BoardStats
from graphrec.hybrid.config import FullConfig
from graphrec.hybrid.neighbours import ContentNeighbours
from graphrec.hybrid.prior import PopularityPrior
from graphrec.hybrid.student import Student
from graphrec.hybrid.teacher import Teacher
from graphrec.hybrid.train import FullModel
from graphrec.utils.config import to_dict
from graphrec.utils.io import atomic_output_dir, sha256_file, write_json
from graphrec.utils.modeldir import ModelDirError, open_model_dir

KIND = "graphrec.full_model"
ARRAYS, WEIGHTS, CONFIG, MANIFEST = "teacher.npz", "student.safetensors", "config.json", "manifest.json"


FullModelDirError = ModelDirError  # one error for every model directory (the old name stays)


def save_full(
    out: str | Path,
    model: FullModel,
    cfg: FullConfig,
    graph: PinBoardGraph,
    features: Embeddings,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the model directory atomically; return its manifest."""
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        st = model.stats
        np.savez(
            tmp / ARRAYS,
            board_factors=model.board_factors,
            pin_factors=model.pin_factors,
            warm_mean=st.warm_mean,
            warm_std=st.warm_std,
            cold_mean=st.cold_mean,
            recency=model.recency,
            prior_coef=model.prior.coef,
            **_fold_arrays(model.fold),
            **_neighbour_arrays(model),
        )
        save_file({k: v.detach().contiguous() for k, v in model.student.state_dict().items()}, str(tmp / WEIGHTS))
        write_json(
            tmp / CONFIG,
            {
                "full": to_dict(cfg),
                "in_dim": int(model.student.net[1].in_features),
                "ratio": st.ratio,
                "offset": model.offset,
                "recency_weight": model.recency_weight,
                "prior": {"weight": model.prior_weight, "mean": model.prior.mean, "std": model.prior.std},
                "pin_norm": model.pin_norm,
                "regularization": model.regularization,
                "alpha": model.alpha,
                "student_kind": model.student_kind,
                "mix_scale": model.mix_scale,
                "neighbours": None
                if model.neighbours is None
                else {"k": model.neighbours.k, "temperature": model.neighbours.temperature},
            },
        )
        manifest = {
            "schema_version": 1,
            "kind": KIND,
            "graph": {
                "path": str(graph.root.resolve()),
                "manifest_sha256": graph_fingerprint(graph),
                "dataset": graph.name,
            },
            "features": {"path": str(features.root.resolve()), "model_name": features.model_name},
            **model.info,
            "files_sha256": {f: sha256_file(tmp / f) for f in (ARRAYS, WEIGHTS, CONFIG)},
        }
        write_json(tmp / MANIFEST, manifest)
    return manifest


def _fold_arrays(fold: Teacher | None) -> dict[str, np.ndarray]:
    """A blend teacher's fold-in ALS (empty arrays for an ALS teacher)."""
    f = fold or Teacher(np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), 0.0, 0.0)
    return {"fold_board": f.fold_board, "fold_mean": f.fold_mean, "fold_std": f.fold_std}


def _neighbour_arrays(model: FullModel) -> dict[str, np.ndarray]:
    """The neighbour path's keys (warm pins' unit content rows) and values (their teacher vectors)."""
    nb = model.neighbours
    if nb is None:
        return {"neighbour_keys": np.zeros((0, 0), np.float32), "neighbour_values": np.zeros((0, 0), np.float32)}
    return {"neighbour_keys": nb.keys, "neighbour_values": nb.values}


def load_full(root: str | Path) -> tuple[FullModel, FullConfig, dict[str, Any]]:
    """``(model, config, manifest)`` of a model directory written by :func:`save_full`."""
    root = Path(root)
    manifest, raw, cfg = open_model_dir(
        root,
        files=(MANIFEST, CONFIG, WEIGHTS, ARRAYS),
        kind=KIND,
        config_cls=FullConfig,
        section="full",
        what="full model",
        hint="train one with `graphrec run`",
    )
    arr = np.load(root / ARRAYS, allow_pickle=False)
    student = Student(int(raw["in_dim"]), arr["pin_factors"].shape[1], cfg.student)
    student.load_state_dict(load_file(str(root / WEIGHTS)))
    student.eval()
    stats = BoardStats(arr["warm_mean"], arr["warm_std"], arr["cold_mean"], float(raw["ratio"]))
    fold = None
    if "fold_board" in arr.files and arr["fold_board"].size:
        fold = Teacher(
            arr["board_factors"],
            arr["pin_factors"],
            float(raw["alpha"]),
            float(raw["regularization"]),
            fold_board=arr["fold_board"],
            fold_mean=arr["fold_mean"],
            fold_std=arr["fold_std"],
        )
    model = FullModel(
        arr["board_factors"],
        arr["pin_factors"],
        student,
        stats,
        arr["recency"],
        float(raw["offset"]),
        float(raw["recency_weight"]),
        float(raw["pin_norm"]),
        float(raw["regularization"]),
        float(raw.get("alpha", cfg.teacher.alpha)),
        {},
        fold,
        raw.get("student_kind", "mlp"),
        None,
        float(raw.get("mix_scale", 1.0)),
    )
    if raw.get("prior"):
        p = raw["prior"]
        model.prior = PopularityPrior(arr["prior_coef"], float(p["mean"]), float(p["std"]))
        model.prior_weight = float(p["weight"])
    if raw.get("neighbours"):
        model.neighbours = ContentNeighbours(
            arr["neighbour_keys"],
            arr["neighbour_values"],
            int(raw["neighbours"]["k"]),
            float(raw["neighbours"]["temperature"]),
        )
    return model, cfg, manifest


def check_graph(manifest: dict[str, Any], graph: PinBoardGraph, root: Path) -> None:
    """The teacher's vectors index this graph's pins and boards: refuse any other graph."""
    if manifest["graph"]["manifest_sha256"] != graph_fingerprint(graph):
        raise FullModelDirError(f"{root}: trained on graph {manifest['graph']['path']}, not {graph.root}")
