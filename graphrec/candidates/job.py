"""The ``graphrec candidates`` batch job: index every pin, write top-k candidates per pin and board.

One invocation processes one shard (``Shard(1, 1)`` = everything): under the directory lock it
removes leftovers of killed runs (and, with ``force``, stale outputs), builds the serving bundle
once or reuses it, then writes its part atomically (skipped when already complete), and merges
when all parts of the sharding are complete. Re-running after a kill therefore only redoes what
was not finished, and never duplicates rows. See docs/candidates.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from graphrec.candidates.bundle import IndexBundle, build_bundle, estimate_recall, load_bundle
from graphrec.candidates.config import CandidatesConfig, CandidatesError, Shard
from graphrec.candidates.index import set_threads
from graphrec.candidates.layout import (
    BOARD_TABLE,
    INDEX_DIR,
    KIND_PART,
    MANIFEST,
    PARTS_DIR,
    PIN_TABLE,
    clean_leftovers,
    final_key,
    index_key,
    is_foreign,
    locked,
    part_dir,
    read_json_or_none,
    remove,
    remove_final,
    stale_items,
)
from graphrec.candidates.merge import merge_if_complete
from graphrec.candidates.tables import BOARD_SCHEMA, PIN_SCHEMA, TableWriter, topk_table
from graphrec.tracking import Tracker
from graphrec.utils.config import to_dict
from graphrec.utils.io import OutputExistsError, atomic_output_dir, sha256_file, write_json
from graphrec.utils.logs import progress

log = logging.getLogger(__name__)
_NOT_IN_KEY = ("threads", "keep_parts")


@dataclass
class JobResult:
    """What one invocation did: ``status`` is ``complete`` (nothing to do), ``merged`` or ``part``."""

    out: Path
    status: str
    shard: Shard
    part_skipped: bool
    manifest: dict[str, Any] | None


def run_key(graph_fp: str, emb_fp: str, cfg: CandidatesConfig) -> str:
    """sha256 of everything the outputs depend on: graph, embeddings and config (not threads)."""
    conf = {k: v for k, v in to_dict(cfg).items() if k not in _NOT_IN_KEY}
    blob = json.dumps({"schema": 1, "graph": graph_fp, "embeddings": emb_fp, "config": conf}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _inputs(graph_dir: Path, emb_dir: Path, cfg: CandidatesConfig) -> tuple[Any, Any, str, dict[str, Any]]:
    from graph_build.graph import load_graph
    from graphrec.embeddings import graph_fingerprint, load_embeddings

    graph = load_graph(graph_dir)
    emb = load_embeddings(emb_dir, graph)
    gfp, efp = graph_fingerprint(graph), sha256_file(Path(emb_dir) / MANIFEST)
    key = run_key(gfp, efp, cfg)
    meta = {
        "run_key": key,
        "config": to_dict(cfg),
        "graph": {"path": str(Path(graph_dir).resolve()), "manifest_sha256": gfp, "dataset": graph.name},
        "embeddings": {
            "path": str(Path(emb_dir).resolve()),
            "manifest_sha256": efp,
            "model_name": emb.model_name,
            "kind": emb.manifest.get("kind"),
        },
        "board_vectors": "embedding dir" if emb.board is not None else "boards_from_pins (train pins' mean)",
    }
    return graph, emb, key, meta


def _build(graph: Any, emb: Any, cfg: CandidatesConfig, meta: dict[str, Any]) -> IndexBundle:
    from graphrec.embeddings import boards_from_pins, l2_normalize

    pin = l2_normalize(emb.pin)
    board = emb.board if emb.board is not None else boards_from_pins(graph, pin)
    saved = sp.csr_matrix((graph.n_boards, graph.n_pins), dtype=np.float32)
    for split in cfg.exclude_saved_splits:
        saved = saved + graph.csr(split).T.tocsr()
    bundle = build_bundle(
        pin,
        board,
        graph.pins["pin_id"].to_numpy(),
        graph.boards["board_id"].to_numpy(),
        saved,
        cfg.index,
        seed=cfg.seed,
        meta=meta,
    )
    bundle.meta["recall_estimate"] = estimate_recall(bundle, cfg.k, cfg.recall_sample, cfg.seed)
    bundle.meta["n_catalogue"] = bundle.n_pins
    return bundle


def _ensure_bundle(
    out: Path, graph: Any, emb: Any, cfg: CandidatesConfig, key: str, meta: dict[str, Any]
) -> IndexBundle:
    """Reuse ``out/index`` when it was built for ``key``, else build and save it (caller holds the lock)."""
    clean_leftovers(out, INDEX_DIR)
    if index_key(out) == key:
        bundle = load_bundle(out / INDEX_DIR, cfg.index)
        if bundle.index.ntotal == bundle.meta.get("n_catalogue"):
            log.info("reusing index %s", out / INDEX_DIR)
            return bundle
        log.warning("%s holds pins added after the job; rebuilding the catalogue index", out / INDEX_DIR)
    bundle = _build(graph, emb, cfg, meta)
    bundle.save(out / INDEX_DIR, overwrite=True)
    log.info("saved %s index (%s) to %s", cfg.index.kind, bundle.index.params(), out / INDEX_DIR)
    return bundle


def _batches(n: int, batch_size: int, shard: Shard) -> list[np.ndarray]:
    n_batches = math.ceil(n / batch_size)
    return [
        np.arange(b * batch_size, min(n, (b + 1) * batch_size), dtype=np.int64) for b in shard.batch_range(n_batches)
    ]


def write_part(bundle: IndexBundle, cfg: CandidatesConfig, shard: Shard, out: Path, key: str) -> dict[str, Any]:
    """Compute this shard's candidates and write ``parts/<shard>/`` atomically; return its manifest."""
    n_pins, n_boards, k = int(bundle.meta["n_catalogue"]), len(bundle.board_ids), cfg.k
    pin_labels = pa.array(bundle.pin_ids.astype(str), pa.string())
    board_labels = pa.array(bundle.board_ids.astype(str), pa.string())
    n_saved = np.diff(bundle.saved.indptr)
    stats = {
        "pin_queries": 0,
        "board_queries": 0,
        "pin_queries_short": 0,
        "board_queries_short": 0,
        "boards_without_vector": 0,
    }
    dest = part_dir(out, shard)
    clean_leftovers(dest.parent, dest.name)
    with atomic_output_dir(dest, overwrite=True) as tmp:
        with TableWriter(tmp / PIN_TABLE, PIN_SCHEMA) as w:
            for rows in progress(_batches(n_pins, cfg.batch_size, shard), desc=f"pins {shard.name}"):
                top = bundle.pin_candidates(rows, k)
                w.write(topk_table(top, pin_labels.take(pa.array(rows)), pin_labels, PIN_SCHEMA))
                stats["pin_queries"] += len(rows)
                stats["pin_queries_short"] += int((top.counts < min(k, bundle.index.ntotal - 1)).sum())
            pin_rows = w.rows
        with TableWriter(tmp / BOARD_TABLE, BOARD_SCHEMA) as w:
            for rows in progress(_batches(n_boards, cfg.batch_size, shard), desc=f"boards {shard.name}"):
                top = bundle.board_candidates(rows, k)
                w.write(topk_table(top, board_labels.take(pa.array(rows)), pin_labels, BOARD_SCHEMA))
                no_vec = np.abs(bundle.board_vectors[rows]).sum(axis=1) == 0
                possible = np.minimum(k, bundle.index.ntotal - n_saved[rows])
                stats["board_queries"] += len(rows)
                stats["boards_without_vector"] += int(no_vec.sum())
                stats["board_queries_short"] += int(((top.counts < possible) & ~no_vec).sum())
            board_rows = w.rows
        manifest = {
            "kind": KIND_PART,
            "run_key": key,
            "shard": shard.index,
            "shards": shard.count,
            "counts": {**stats, "pin_candidate_rows": pin_rows, "board_candidate_rows": board_rows},
            "files_sha256": {f: sha256_file(tmp / f) for f in (PIN_TABLE, BOARD_TABLE)},
        }
        write_json(tmp / MANIFEST, manifest)
    log.info("wrote %s: %d pin and %d board candidate rows", dest, pin_rows, board_rows)
    return manifest


def _prepare_dir(out: Path, key: str, shard: Shard, force: bool) -> None:
    """Under the lock: refuse or remove stale/foreign outputs, drop leftovers of killed runs."""
    stale = stale_items(out, key)
    if stale and not force:
        raise CandidatesError(
            f"{out} holds candidates made from other inputs or config ({stale[0].name}); pass --force to replace them"
        )
    for p in stale:
        log.info("removing stale %s", p)
        remove(p)
    if final_key(out) is None:
        remove_final(out)  # tables of an interrupted merge
    for name in (PIN_TABLE, BOARD_TABLE):
        clean_leftovers(out, name)
    if force:
        remove_final(out)
        if shard.count == 1:
            remove(out / INDEX_DIR)
            remove(out / PARTS_DIR)


def run_candidates(
    graph_dir: str | Path,
    emb_dir: str | Path,
    out: str | Path,
    cfg: CandidatesConfig | None = None,
    shard: Shard | None = None,
    force: bool = False,
) -> JobResult:
    """Run (one shard of) the candidates job.

    Args:
        graph_dir: graph directory (``graphrec build-graph``).
        emb_dir: embedding directory made for that graph (pin vectors; board vectors optional).
        out: the candidate directory CAND_DIR.
        cfg: job configuration (default :class:`CandidatesConfig`).
        shard: which shard to process (default: all queries, ``1/1``).
        force: replace outputs made from other inputs/config (and a non-candidate ``out``), and
            recompute this shard even if complete; an unsharded run then rebuilds everything.
    """
    cfg, shard, out = cfg or CandidatesConfig(), shard or Shard(), Path(out)
    threads = set_threads(cfg.threads)
    graph, emb, key, meta = _inputs(Path(graph_dir), Path(emb_dir), cfg)
    if is_foreign(out) and not force:
        raise OutputExistsError(f"{out} already exists and is not a candidate directory (pass --force to replace it)")
    created = not out.exists()
    try:
        if is_foreign(out):
            remove(out)
        with locked(out):
            _prepare_dir(out, key, shard, force)
            if final_key(out) == key:
                merge_if_complete(out, key, shard.count, cfg.keep_parts)  # tidies parts left by a kill
                return JobResult(out, "complete", shard, True, read_json_or_none(out / MANIFEST))
            bundle = _ensure_bundle(out, graph, emb, cfg, key, meta)
        log.info("candidates %s with %s index, faiss threads %d", shard.name, cfg.index.kind, threads)
        pmanifest = read_json_or_none(part_dir(out, shard) / MANIFEST)
        skipped = bool(pmanifest and pmanifest.get("run_key") == key and not force)
        if skipped:
            log.info("%s is already complete; skipping it", part_dir(out, shard))
        else:
            write_part(bundle, cfg, shard, out, key)
        with locked(out):
            manifest = merge_if_complete(out, key, shard.count, cfg.keep_parts)
    except BaseException:
        if created and not (out / INDEX_DIR).exists():
            shutil.rmtree(out, ignore_errors=True)
        raise
    return JobResult(out, "merged" if manifest else "part", shard, skipped, manifest)


def is_complete(
    out: str | Path, graph_dir: str | Path, emb_dir: str | Path, cfg: CandidatesConfig | None = None
) -> bool:
    """True when ``out`` holds the merged candidates of exactly these inputs and config."""
    _, _, key, _ = _inputs(Path(graph_dir), Path(emb_dir), cfg or CandidatesConfig())
    return final_key(Path(out)) == key


def log_result(result: JobResult, tracker: Tracker) -> None:
    """Log the merged manifest's recall estimate and counts (and the manifest) to ``tracker``."""
    m = result.manifest
    if not m or not tracker.enabled:
        return
    rec = m.get("recall_estimate") or {}
    metrics = {f"counts.{k}": v for k, v in m["counts"].items()}
    if rec:
        metrics[f"index_recall@{rec['k']}"] = rec["recall"]
    tracker.log_metrics(metrics)
    tracker.log_artifacts(result.out / MANIFEST, artifact_path="candidates")
