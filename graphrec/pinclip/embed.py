"""``embed-pins``: content embeddings for every pin of a graph, or for a new pins table."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graph_build.contract import load_pins_table
from graph_build.graph import PinBoardGraph
from graphrec.embeddings import write_embeddings
from graphrec.pinclip.store import LoadedPinClip, load_model_dir
from graphrec.pinclip.table import PinTable
from graphrec.utils.io import atomic_output_dir, check_output_free, sha256_file, write_json, write_parquet
from graphrec.utils.logs import progress

log = logging.getLogger(__name__)


@torch.inference_mode()
def embed_table(loaded: LoadedPinClip, table: PinTable, batch_size: int, batches: range | None = None) -> np.ndarray:
    """Fused, L2-normalised embeddings (n x embed_dim float32) of every row of ``table``.

    ``batches``: only these batch numbers (a contiguous shard; rows of the shard in order).
    """
    model = loaded.model.eval()
    starts = (
        range(0, len(table), batch_size)
        if batches is None
        else range(batches.start * batch_size, min(len(table), batches.stop * batch_size), batch_size)
    )
    lo = starts.start
    out = np.zeros(
        (min(len(table), starts.stop) - lo if len(starts) else 0, model.out_proj.out_features), dtype=np.float32
    )
    for a in progress(starts, desc="embed-pins", unit="batch"):
        idx = np.arange(a, min(len(table), a + batch_size))
        out[idx - lo] = model(table.batch(idx), train=False).fused.numpy()
    return out


@torch.inference_mode()
def modality_embeddings(
    loaded: LoadedPinClip, table: PinTable, rows: np.ndarray, batch_size: int = 512
) -> dict[str, np.ndarray]:
    """Fused, image and text projections (each n x embed_dim, normalised) of ``rows`` of ``table``."""
    model = loaded.model.eval()
    parts: dict[str, list[np.ndarray]] = {"fused": [], "image": [], "text": []}
    for a in range(0, len(rows), batch_size):
        out = model(table.batch(rows[a : a + batch_size]), train=False)
        for k in parts:
            parts[k].append(getattr(out, k).numpy())
    return {
        k: np.concatenate(v) if v else np.zeros((0, model.out_proj.out_features), np.float32) for k, v in parts.items()
    }


def embed_graph_pins(
    graph: PinBoardGraph,
    model_dir: str | Path,
    out: str | Path,
    *,
    name: str = "content",
    batch_size: int | None = None,
    overwrite: bool = False,
    ray: Any = None,
    text_features: str | Path | None = None,
) -> dict[str, Any]:
    """Embed every pin of ``graph`` (warm and cold) and write an embedding directory.

    ``ray``: a ``graphrec.distributed.ray_jobs.RayOptions`` to embed in Ray shards (same bytes).
    ``text_features``: an ``embed-text`` directory of this graph (frozen backbone features reused).
    """
    check_output_free(out, overwrite=overwrite)
    loaded = load_model_dir(model_dir)
    if ray is not None:
        from graphrec.distributed.ray_jobs import embed_pins_on_ray

        t0 = time.perf_counter()
        emb = embed_pins_on_ray(graph, model_dir, batch_size or loaded.cfg.train.embed_batch_size, out, ray)
    else:
        from graphrec.pinclip.text_backbone import reusable_features

        table = PinTable.from_pins(
            graph.pins,
            graph.images(),
            loaded.tokenizer,
            loaded.vocab,
            loaded.cfg,
            loaded.image_size,
            text_features=reusable_features(text_features, graph),
        )
        t0 = time.perf_counter()
        emb = embed_table(loaded, table, batch_size or loaded.cfg.train.embed_batch_size)
    seconds = time.perf_counter() - t0
    log.info("embedded %d pins in %.1f s (%.0f pins/s)", len(emb), seconds, len(emb) / max(seconds, 1e-9))
    return write_embeddings(
        out,
        graph,
        model_name=name,
        pin=emb,
        overwrite=overwrite,
        extra={
            "model": {
                "path": str(Path(model_dir).resolve()),
                "manifest_sha256": sha256_file(Path(model_dir) / "manifest.json"),
                "kind": loaded.manifest["kind"],
            },
            "embed_seconds": round(seconds, 3),
        },
    )


def embed_new_pins(
    model_dir: str | Path,
    pins_file: str | Path,
    out: str | Path,
    *,
    name: str = "content",
    batch_size: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Embed a new pins table (dataset-contract rules) that arrived after training.

    Writes ``pin_content.npy`` (row i = row i of the table), ``pins.parquet`` (``row``,
    ``pin_id``) and a manifest of kind ``graphrec.new_pin_content``.
    """
    check_output_free(out, overwrite=overwrite)
    pins, images = load_pins_table(pins_file)
    loaded = load_model_dir(model_dir)
    table = PinTable.from_pins(pins, images, loaded.tokenizer, loaded.vocab, loaded.cfg, loaded.image_size)
    emb = embed_table(loaded, table, batch_size or loaded.cfg.train.embed_batch_size)
    manifest = {
        "schema_version": 1,
        "kind": "graphrec.new_pin_content",
        "model_name": name,
        "dim": int(emb.shape[1]),
        "n_pins": len(emb),
        "source": str(Path(pins_file).resolve()),
        "model": {"path": str(Path(model_dir).resolve())},
    }
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        np.save(tmp / "pin_content.npy", emb)
        write_parquet(tmp / "pins.parquet", pins[["pin_id"]].assign(row=np.arange(len(pins))))
        write_json(tmp / "manifest.json", manifest)
    return manifest
