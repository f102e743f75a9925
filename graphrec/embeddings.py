"""The embedding directory contract shared by embed-pins, embed-graph, evaluate and candidates.

An embedding directory holds ``manifest.json`` plus either ``pin_content.npy`` (PinCLIP content
embeddings, ``kind = graphrec.pin_content``) or ``pin_emb.npy`` and ``board_emb.npy`` (graph
embeddings, ``kind = graphrec.graph_embeddings``). Arrays are float32, row i = ``pin_idx`` /
``board_idx`` i of the graph they were computed for, L2-normalised rows. The manifest names the
model (``model_name``: the evaluation name, e.g. ``content``, ``clip_no_neighbors``, ``full``)
and the graph (its manifest's sha256), so an embedding set is never scored against another graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graph_build.graph import MANIFEST, PinBoardGraph
from graphrec.utils.io import atomic_output_dir, sha256_file, write_json
from graphrec.utils.modeldir import read_manifest

PIN_CONTENT = "pin_content.npy"
PIN_EMB = "pin_emb.npy"
BOARD_EMB = "board_emb.npy"
KIND_CONTENT = "graphrec.pin_content"
KIND_GRAPH = "graphrec.graph_embeddings"


class EmbeddingDirError(ValueError):
    """An embedding directory that is missing, malformed, or made for another graph."""


@dataclass
class Embeddings:
    """A loaded embedding directory. ``board`` is None for content-only embeddings."""

    root: Path
    model_name: str
    pin: np.ndarray
    board: np.ndarray | None
    manifest: dict[str, Any]

    @property
    def dim(self) -> int:
        return int(self.pin.shape[1])


def graph_fingerprint(graph: PinBoardGraph) -> str:
    """sha256 of the graph's manifest.json: identifies the graph an embedding was made for."""
    return sha256_file(graph.root / MANIFEST)


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)


def boards_from_pins(graph: PinBoardGraph, pin: np.ndarray, split: str = "train") -> np.ndarray:
    """Board vectors as the L2-normalised mean of their ``split`` pins (the content-only board).

    Boards with no pin in ``split`` get a zero vector (they score every pin 0).
    """
    adj = graph.csr(split).T.tocsr()  # boards x pins
    return l2_normalize(np.asarray(adj @ np.asarray(pin, dtype=np.float32)))


def write_embeddings(
    out: str | Path,
    graph: PinBoardGraph,
    *,
    model_name: str,
    pin: np.ndarray,
    board: np.ndarray | None = None,
    extra: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Validate shapes/finiteness and write an embedding directory atomically; return the manifest."""
    pin = np.ascontiguousarray(pin, dtype=np.float32)
    if pin.ndim != 2 or pin.shape[0] != graph.n_pins:
        raise EmbeddingDirError(f"pin embeddings must be n_pins x d = {graph.n_pins} x d, got {pin.shape}")
    if board is not None:
        board = np.ascontiguousarray(board, dtype=np.float32)
        if board.shape != (graph.n_boards, pin.shape[1]):
            raise EmbeddingDirError(f"board embeddings must be {graph.n_boards} x {pin.shape[1]}, got {board.shape}")
    for name, arr in (("pin", pin), ("board", board)):
        if arr is not None and not np.isfinite(arr).all():
            raise EmbeddingDirError(f"{name} embeddings contain NaN or inf")
    kind = KIND_CONTENT if board is None else KIND_GRAPH
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        files = {PIN_CONTENT if board is None else PIN_EMB: pin}
        if board is not None:
            files[BOARD_EMB] = board
        for fname, arr in files.items():
            np.save(tmp / fname, arr)
        manifest = {
            "schema_version": 1,
            "kind": kind,
            "model_name": model_name,
            "dim": int(pin.shape[1]),
            "n_pins": graph.n_pins,
            "n_boards": graph.n_boards,
            "graph": {
                "path": str(graph.root.resolve()),
                "manifest_sha256": graph_fingerprint(graph),
                "dataset": graph.name,
            },
            "files_sha256": {f: sha256_file(tmp / f) for f in files},
            **(extra or {}),
        }
        write_json(tmp / MANIFEST, manifest)
    return manifest


def load_embeddings(root: str | Path, graph: PinBoardGraph | None = None) -> Embeddings:
    """Read an embedding directory; with ``graph``, check it was made for that graph."""
    root = Path(root)
    m = read_manifest(
        root, (KIND_CONTENT, KIND_GRAPH), what="an embedding directory", name=MANIFEST, error=EmbeddingDirError
    )
    pin_file = PIN_CONTENT if m["kind"] == KIND_CONTENT else PIN_EMB
    pin = np.load(root / pin_file, allow_pickle=False)
    board = np.load(root / BOARD_EMB, allow_pickle=False) if m["kind"] == KIND_GRAPH else None
    if graph is not None:
        if m["graph"]["manifest_sha256"] != graph_fingerprint(graph) or pin.shape[0] != graph.n_pins:
            raise EmbeddingDirError(
                f"{root}: embeddings were computed for graph {m['graph']['path']}, "
                f"not for {graph.root}; recompute them for this graph"
            )
    return Embeddings(root=root, model_name=str(m["model_name"]), pin=pin, board=board, manifest=m)
