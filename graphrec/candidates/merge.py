"""Merge the parts of a sharded candidates run into the final tables and manifest.

The job merges by itself as soon as the last part of a sharding is written (whichever shard
finishes last does it, under the directory lock). ``graphrec candidates-merge CAND_DIR`` does
the same by hand, e.g. after copying parts computed on several machines into one directory.
Parts are concatenated row group by row group in shard order, so the merged tables are the
unsharded job's tables byte for byte.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from graphrec.candidates.config import CandidatesError, Shard
from graphrec.candidates.layout import (
    BOARD_TABLE,
    INDEX_DIR,
    KIND,
    MANIFEST,
    PARTS_DIR,
    PIN_TABLE,
    complete_parts,
    final_key,
    index_key,
    locked,
    part_manifests,
    read_json_or_none,
    remove,
    remove_final,
)
from graphrec.candidates.tables import BOARD_SCHEMA, PIN_SCHEMA, concat_row_groups
from graphrec.utils.io import sha256_file, write_json

log = logging.getLogger(__name__)
_PART = re.compile(r"^part-(\d{5})-of-(\d{5})$")
_SUMMED = (
    "pin_queries",
    "board_queries",
    "pin_queries_short",
    "board_queries_short",
    "boards_without_vector",
    "pin_candidate_rows",
    "board_candidate_rows",
)


def _final_manifest(out: Path, bundle_meta: dict[str, Any], parts: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {c: sum(int(p["counts"][c]) for p in parts) for c in _SUMMED}
    counts.update(pins=int(bundle_meta["n_catalogue"]), boards=int(bundle_meta["n_boards"]))
    cfg = bundle_meta["config"]
    return {
        "schema_version": 1,
        "kind": KIND,
        "run_key": bundle_meta["run_key"],
        "k": cfg["k"],
        "index": bundle_meta["index"],
        "index_config": bundle_meta["index_config"],
        "recall_estimate": bundle_meta.get("recall_estimate"),
        "graph": bundle_meta["graph"],
        "embeddings": bundle_meta["embeddings"],
        "board_vectors": bundle_meta["board_vectors"],
        "exclusions": {"query_pin_itself": True, "saved_to_board_in_splits": cfg["exclude_saved_splits"]},
        "tables": {
            PIN_TABLE: "pin_id, candidate_pin_id, rank (1 = best), score (inner product)",
            BOARD_TABLE: "board_id, candidate_pin_id, rank (1 = best), score (inner product)",
        },
        "config": cfg,
        "counts": counts,
        "merged_from_parts": len(parts),
        "files_sha256": {f: sha256_file(out / f) for f in (PIN_TABLE, BOARD_TABLE)},
    }


def merge_if_complete(out: Path, key: str, count: int, keep_parts: bool = False) -> dict[str, Any] | None:
    """Merge the ``count`` parts for ``key`` when all are complete (caller holds the lock).

    Returns the final manifest, or None while parts are missing. Already merged: returns it.

    Args:
        out: the candidate directory.
        key: the run key the parts must carry.
        count: the sharding (``n`` of ``--shard i/n``).
        keep_parts: keep ``parts/`` after merging.
    """
    if final_key(out) == key:
        if not keep_parts:
            remove(out / PARTS_DIR)
        return read_json_or_none(out / MANIFEST)
    paths = complete_parts(out, key, count)
    if paths is None:
        return None
    bundle_meta = read_json_or_none(out / INDEX_DIR / "bundle.json")
    if not bundle_meta or bundle_meta.get("run_key") != key:
        raise CandidatesError(f"{out / INDEX_DIR}: index is missing or from another run; re-run `graphrec candidates`")
    remove_final(out)
    concat_row_groups([p / PIN_TABLE for p in paths], out / PIN_TABLE, PIN_SCHEMA)
    concat_row_groups([p / BOARD_TABLE for p in paths], out / BOARD_TABLE, BOARD_SCHEMA)
    manifest = _final_manifest(out, bundle_meta, [read_json_or_none(p / MANIFEST) or {} for p in paths])
    tmp = out / f".{MANIFEST}.tmp"
    write_json(tmp, manifest)
    os.replace(tmp, out / MANIFEST)  # written last: its presence means complete
    if not keep_parts:
        remove(out / PARTS_DIR)
    log.info("merged %d part(s) into %s", count, out)
    return manifest


def merge_candidates(out: str | Path, keep_parts: bool = False) -> dict[str, Any]:
    """Merge a candidate directory whose parts are all present (the ``candidates-merge`` verb).

    Args:
        out: the candidate directory (with ``index/`` and ``parts/``).
        keep_parts: keep ``parts/`` after merging.
    """
    out = Path(out)
    key = index_key(out)
    if key is None:
        raise CandidatesError(f"{out}: no candidate index (index/bundle.json); run `graphrec candidates` first")
    with locked(out):
        if final_key(out) == key:
            return merge_if_complete(out, key, 1, keep_parts) or {}
        found = Counter()
        for p, m in part_manifests(out).items():
            match = _PART.match(p.name)
            if match and m and m.get("run_key") == key:
                found[int(match.group(2))] += 1
        for count, _ in found.most_common():
            manifest = merge_if_complete(out, key, count, keep_parts)
            if manifest:
                return manifest
        if not found:
            raise CandidatesError(
                f"{out}: no complete parts for the current index; run `graphrec candidates --shard i/n`"
            )
        count = found.most_common(1)[0][0]
        missing = [Shard(i, count).name for i in range(1, count + 1) if not _complete(out, key, Shard(i, count))]
        raise CandidatesError(f"{out}: cannot merge: missing or incomplete parts {missing[:10]} of {count}")


def _complete(out: Path, key: str, shard: Shard) -> bool:
    m = read_json_or_none(out / PARTS_DIR / shard.name / MANIFEST)
    return bool(m and m.get("run_key") == key)
