"""Inference: whole-graph layer-by-layer embedding, and inductive embedding of new pins.

``embed_graph`` samples importance neighbourhoods on the whole train graph (one seeded pass,
all nodes at once), then runs ``SageModel.embed_all``: each layer computes every node's message
once and every node's new state once (PinSage's MapReduce inference), so shared neighbours are
never recomputed; with ``ray`` the same chunks run as Ray shards (``graphrec.distributed.ray_graph``).
Cold pins have no train saves, hence empty neighbourhoods: they are embedded inductively from
their content alone, by the same network that saw isolated pins in training.

``InductiveEmbedder.embed_new_pins`` embeds pins that are not in the graph at all (for
``graphrec add-pins``): their content vectors plus optional saves to existing boards, with the
trained weights and the existing nodes' neighbourhoods left untouched.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graph_build.graph import PinBoardGraph, load_graph
from graphrec.embeddings import KIND_CONTENT, EmbeddingDirError, load_embeddings
from graphrec.sage.adjacency import BOARD, PIN, Bipartite
from graphrec.sage.blocks import build_blocks
from graphrec.sage.config import SageConfig
from graphrec.sage.inputs import degree_column, node_inputs
from graphrec.sage.model import SageModel
from graphrec.sage.sampler import HeteroNeighborhoods, Neighborhood, sample_neighborhoods, walk_neighborhoods
from graphrec.sage.store import load_model
from graphrec.utils.logs import format_metrics, progress

log = logging.getLogger(__name__)
INFER_STREAM, NEW_PIN_STREAM = 8_888_888, 9_999_999
CHUNK = 65536  # rows per step of each inference layer


def inference_neighborhoods(bip: Bipartite, cfg: SageConfig) -> HeteroNeighborhoods:
    """The neighbourhoods used at inference (seeded by ``cfg.seed``; same for every call)."""
    return sample_neighborhoods(bip, cfg.sampler, np.random.default_rng([cfg.seed, INFER_STREAM]))


def embed_graph(
    graph: PinBoardGraph,
    pin_x: np.ndarray,
    model: SageModel,
    cfg: SageConfig,
    chunk: int = CHUNK,
    ray: Any = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Embed every pin and board of ``graph``.

    Args:
        graph: the graph (its train split is the message graph).
        pin_x: ``[n_pins, in_dim]`` content features.
        model: a trained model.
        cfg: its config (sampler settings and seed).
        chunk: rows per step of each layer (the bytes depend on it).
        ray: a ``graphrec.distributed.ray_jobs.RayOptions`` to map every layer's chunks in Ray
            shards (the same bytes); None computes them here.

    Returns:
        ``(pin_emb, board_emb, timings)``: L2-normalised float32 arrays and seconds per phase.
    """
    t0 = time.perf_counter()
    bip = Bipartite.from_csr(graph.csr("train"))
    nbrs = inference_neighborhoods(bip, cfg)
    t1 = time.perf_counter()
    x = node_inputs(pin_x, bip, cfg.model.degree_feature)
    if ray is None:
        out = model.embed_all(nbrs, x, chunk=chunk, progress=progress, known=known_nodes(bip))
    else:
        from graphrec.distributed.ray_graph import embed_all_on_ray
        from graphrec.sage.layerwise import graph_inputs

        out = embed_all_on_ray(model, graph_inputs(model, nbrs, x, known_nodes(bip)), chunk, ray)
    t2 = time.perf_counter()
    timings = {"sample_s": round(t1 - t0, 3), "layers_s": round(t2 - t1, 3)}
    log.info("embedded %d pins and %d boards: %s", graph.n_pins, graph.n_boards, format_metrics(timings))
    return out[PIN].numpy(), out[BOARD].numpy(), timings


def check_model_graph(cfg: SageConfig, manifest: dict, graph: PinBoardGraph) -> None:
    """A model with ID vectors only fits the graph it was trained on (its ids index the tables)."""
    from graphrec.embeddings import graph_fingerprint

    if cfg.model.id_dim > 0 and manifest["graph"]["manifest_sha256"] != graph_fingerprint(graph):
        raise ValueError(
            f"the model has ID vectors (model.id_dim={cfg.model.id_dim}) for graph "
            f"{manifest['graph']['path']}, not {graph.root}; embed that graph or train with model.id_dim=0"
        )


def known_nodes(bip: Bipartite) -> dict[str, torch.Tensor]:
    """Nodes with train saves (the only ones whose ID vectors were trained)."""
    return {PIN: torch.from_numpy(bip.degree(PIN) > 0), BOARD: torch.from_numpy(bip.degree(BOARD) > 0)}


def check_features(
    features_dir: str | Path, graph: PinBoardGraph, in_dim: int | None = None, trained_on: str | None = None
):
    """Load a content embedding directory for ``graph`` and check it fits a model.

    Args:
        features_dir: the content embedding directory.
        graph: the graph the features must have been computed for.
        in_dim: the model's input width (None: any).
        trained_on: the features' model_name the model was trained with (None: any).
    """
    feats = load_embeddings(features_dir, graph)
    if feats.manifest.get("kind") != KIND_CONTENT:
        raise EmbeddingDirError(
            f"{features_dir}: --emb must be a content embedding directory "
            f"(kind {KIND_CONTENT}), got {feats.manifest.get('kind')}"
        )
    if in_dim is not None and feats.dim != in_dim:
        raise EmbeddingDirError(f"{features_dir}: features have dim {feats.dim} but the model takes {in_dim}")
    if trained_on is not None and feats.model_name != trained_on:
        raise EmbeddingDirError(
            f"{features_dir}: features are {feats.model_name!r} but the model was trained on {trained_on!r} features"
        )
    return feats


class InductiveEmbedder:
    """Embeds new pins with a trained model, without retraining and without changing anything else.

    Args:
        graph: the graph the new pins join.
        pin_x: content features of the graph's pins.
        model: the trained model; cfg: its config.
    """

    def __init__(self, graph: PinBoardGraph, pin_x: np.ndarray, model: SageModel, cfg: SageConfig):
        self.graph, self.model, self.cfg = graph, model, cfg
        self.bip = Bipartite.from_csr(graph.csr("train"))
        self.nbrs = inference_neighborhoods(self.bip, cfg)
        self.x = node_inputs(pin_x, self.bip, cfg.model.degree_feature)

    @classmethod
    def from_dirs(cls, graph_dir: str | Path, features_dir: str | Path, model_dir: str | Path) -> InductiveEmbedder:
        """Load graph, content features and model directories."""
        model, cfg, manifest = load_model(model_dir)
        graph = load_graph(graph_dir)
        check_model_graph(cfg, manifest, graph)
        feats = check_features(features_dir, graph, int(manifest["in_dim"]), manifest["features"]["model_name"])
        return cls(graph, feats.pin, model, cfg)

    @torch.no_grad()
    def embed_new_pins(
        self, content: np.ndarray, saves: tuple[np.ndarray, np.ndarray] | None = None, seed: int = 0
    ) -> np.ndarray:
        """Embed ``m`` new pins from their content and optional saves to existing boards.

        Args:
            content: ``[m, in_dim]`` content vectors (the same kind the model was trained on).
            saves: optional ``(new_pin, board_idx)`` int arrays: new pin ``new_pin[i]`` (0..m-1)
                was saved to existing board ``board_idx[i]``. Pins without saves are embedded from
                content alone (exactly as ``embed-graph`` embeds a cold pin).
            seed: seed of the new pins' random walks.

        Returns:
            ``[m, out_dim]`` L2-normalised float32 embeddings, comparable with ``pin_emb.npy`` /
            ``board_emb.npy`` of ``embed-graph`` for this graph and model.
        """
        content = np.ascontiguousarray(content, dtype=np.float32)
        m, n = len(content), self.bip.n_pins
        d = self.x[PIN].shape[1] - int(self.cfg.model.degree_feature)
        if content.ndim != 2 or content.shape[1] != d:
            raise ValueError(f"content must be m x {d}, got {content.shape}")
        new_pin, board = _saves_arrays(saves)
        if len(new_pin) and (
            new_pin.min() < 0 or new_pin.max() >= m or board.min() < 0 or board.max() >= self.bip.n_boards
        ):
            raise ValueError("saves: new pin indices must be in [0, m) and boards in [0, n_boards)")
        old_pin, old_board = self.bip.edges()
        aug = Bipartite.from_edges(
            np.concatenate([old_pin, new_pin + n]), np.concatenate([old_board, board]), n + m, self.bip.n_boards
        )
        rng = np.random.default_rng([self.cfg.seed, NEW_PIN_STREAM, seed])
        new_rows = walk_neighborhoods(aug, PIN, np.arange(n, n + m), self.cfg.sampler, rng)
        rel = dict(self.nbrs.rel)
        for src, nb in new_rows.items():
            old = rel[(PIN, src)]
            rel[(PIN, src)] = Neighborhood(np.concatenate([old.idx, nb.idx]), np.concatenate([old.weight, nb.weight]))
        nbrs = HeteroNeighborhoods(n + m, self.bip.n_boards, rel)
        blocks = build_blocks(nbrs, {PIN: np.arange(n, n + m)}, self.cfg.model.n_layers, self.cfg.model.pooling)
        new_x = content
        if self.cfg.model.degree_feature:
            new_x = np.concatenate([content, degree_column(np.bincount(new_pin, minlength=m))], axis=1)
        x_pin = torch.cat([self.x[PIN], torch.from_numpy(new_x)])
        x = {
            PIN: x_pin[torch.from_numpy(blocks.input_ids[PIN])],
            BOARD: self.x[BOARD][torch.from_numpy(blocks.input_ids[BOARD])],
        }
        return self.model(blocks, x, _known_inputs(blocks, known_nodes(self.bip)))[PIN].numpy()


def _saves_arrays(saves: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """``(new pin index, board)`` int64 arrays of the new pins' saves (empty without saves)."""
    if saves is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    new_pin, board = saves
    return np.asarray(new_pin, np.int64), np.asarray(board, np.int64)


def _known_inputs(blocks, known: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Which input nodes of ``blocks`` have trained ID vectors: the graph's ``known`` nodes; the
    new pins (ids past the graph's) never do."""
    out = {}
    for t, k in known.items():
        ids = blocks.input_ids[t]
        in_graph = ids < len(k)
        out[t] = torch.from_numpy(in_graph) & k[torch.from_numpy(np.minimum(ids, len(k) - 1))]
    return out
