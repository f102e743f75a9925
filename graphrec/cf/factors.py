"""A fitted factor model's directory: one fit shared by the stages that need it.

``graphrec run``'s ``fit-lightgcn`` stage writes the ``lightgcn`` baseline's vectors once
(eval/recommenders/lightgcn.py); the ``full`` teacher search reads them as one more candidate
family (graphrec/hybrid/teacher.py) and ``evaluate`` scores them as the ``lightgcn`` row, so the
same fit is not trained twice. Layout:

* ``factors.npz``: ``board`` (n_boards x d) and ``pin`` (n_pins x d), float32, rows in graph
  index order; a score is ``board @ pin.T`` (no pickles: ``allow_pickle=False``);
* ``manifest.json``: ``kind``, ``model``, the graph it was fitted on (a reader refuses another),
  ``identity`` (what produced it: config, seed, validation sample; a reader asking for another
  identity gets an error instead of a stale fit), ``chosen`` (values chosen on validation),
  ``fit_seconds`` and the array file's sha256.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graph_build.graph import PinBoardGraph
from graphrec.embeddings import graph_fingerprint
from graphrec.utils.io import atomic_output_dir, sha256_file, write_json
from graphrec.utils.modeldir import ModelDirError, read_manifest

KIND = "graphrec.cf_factors"
FACTORS, MANIFEST = "factors.npz", "manifest.json"


@dataclass(frozen=True)
class FittedFactors:
    """The vectors of a factor directory and what produced them."""

    model: str
    board: np.ndarray
    pin: np.ndarray
    identity: dict[str, Any]
    chosen: dict[str, Any] | None
    fit_seconds: float
    root: Path


def plain(obj: Any) -> Any:
    """``obj`` as JSON would give it back (tuples become lists), so identities compare equal."""
    return json.loads(json.dumps(obj, sort_keys=True))


def save_factors(
    out: str | Path,
    *,
    model: str,
    board: np.ndarray,
    pin: np.ndarray,
    graph: PinBoardGraph,
    identity: dict[str, Any],
    chosen: dict[str, Any] | None,
    fit_seconds: float,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the directory atomically; return its manifest."""
    if board.shape != (graph.n_boards, pin.shape[1]) or pin.shape[0] != graph.n_pins:
        raise ValueError(
            f"{model} factors: board {board.shape} / pin {pin.shape} do not fit the graph's "
            f"{graph.n_boards} boards x {graph.n_pins} pins"
        )
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        np.savez(tmp / FACTORS, board=board.astype(np.float32), pin=pin.astype(np.float32))
        manifest = {
            "schema_version": 1,
            "kind": KIND,
            "model": model,
            "graph": {
                "path": str(graph.root.resolve()),
                "manifest_sha256": graph_fingerprint(graph),
                "dataset": graph.name,
            },
            "identity": plain(identity),
            "chosen": plain(chosen),
            "fit_seconds": round(float(fit_seconds), 3),
            "files_sha256": {FACTORS: sha256_file(tmp / FACTORS)},
        }
        write_json(tmp / MANIFEST, manifest)
    return manifest


def load_factors(root: str | Path, graph: PinBoardGraph, identity: dict[str, Any] | None = None) -> FittedFactors:
    """The vectors of a directory written by :func:`save_factors`, checked against ``graph`` (and
    against ``identity`` when given): a one-line ``ModelDirError`` otherwise."""
    root = Path(root)
    m = read_manifest(root, KIND, what="a fitted factor directory", hint="`graphrec run` writes one (fit-lightgcn)")
    if not (root / FACTORS).is_file():
        raise ModelDirError(f"{root}: not a fitted factor directory (no {FACTORS})")
    if m["graph"]["manifest_sha256"] != graph_fingerprint(graph):
        raise ModelDirError(f"{root}: fitted on graph {m['graph']['path']}, not {graph.root}")
    if identity is not None and m["identity"] != plain(identity):
        raise ModelDirError(f"{root}: fitted with {m['identity']}, not the requested {plain(identity)}")
    arr = np.load(root / FACTORS, allow_pickle=False)
    return FittedFactors(
        model=str(m["model"]),
        board=arr["board"],
        pin=arr["pin"],
        identity=m["identity"],
        chosen=m.get("chosen"),
        fit_seconds=float(m.get("fit_seconds", 0.0)),
        root=root,
    )
