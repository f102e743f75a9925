"""The candidate directory's layout, its lock, and what is stale, complete or left over in it.

::

    CAND_DIR/
      manifest.json             written last by the merge: its presence = the job is complete
      pin_candidates.parquet    pin_id, candidate_pin_id, rank, score
      board_candidates.parquet  board_id, candidate_pin_id, rank, score
      index/                    the serving bundle (bundle.py), written atomically, shared by shards
      parts/part-00002-of-00004/  one shard's tables + manifest.json, written atomically
      .lock                     flock held while the index is built, stale files are removed or parts merged

Every item carries the job's ``run_key`` (a hash of the graph, the embeddings and the config), so
outputs made from other inputs are recognised as stale instead of being mixed in.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from graphrec.candidates.config import Shard
from graphrec.utils.io import read_json

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
PIN_TABLE = "pin_candidates.parquet"
BOARD_TABLE = "board_candidates.parquet"
INDEX_DIR = "index"
PARTS_DIR = "parts"
LOCK = ".lock"
KIND = "graphrec.candidates"
KIND_PART = "graphrec.candidates_part"


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``out/.lock`` (serialises index builds and merges across shards)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_json_or_none(path: Path) -> dict[str, Any] | None:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def part_dir(out: Path, shard: Shard) -> Path:
    return out / PARTS_DIR / shard.name


def is_candidate_dir(out: Path) -> bool:
    """Does ``out`` hold anything this stage wrote?"""
    return any((out / p).exists() for p in (MANIFEST, INDEX_DIR, PARTS_DIR, LOCK))


def is_foreign(out: Path) -> bool:
    """A non-empty path that this stage did not write (a file, or a directory of other things)."""
    if not out.exists():
        return False
    if not out.is_dir():
        return True
    return any(True for _ in out.iterdir()) and not is_candidate_dir(out)


def final_key(out: Path) -> str | None:
    m = read_json_or_none(out / MANIFEST)
    return m.get("run_key") if m and m.get("kind") == KIND else None


def index_key(out: Path) -> str | None:
    m = read_json_or_none(out / INDEX_DIR / "bundle.json")
    return m.get("run_key") if m else None


def part_manifests(out: Path) -> dict[Path, dict[str, Any] | None]:
    """Every part directory and its manifest (None when unreadable)."""
    root = out / PARTS_DIR
    if not root.is_dir():
        return {}
    return {p: read_json_or_none(p / MANIFEST) for p in sorted(root.glob("part-*")) if p.is_dir()}


def stale_items(out: Path, key: str) -> list[Path]:
    """Outputs in ``out`` made for another run key (other inputs or config)."""
    stale = []
    if (out / MANIFEST).exists() and final_key(out) != key:
        stale.append(out / MANIFEST)
    if (out / INDEX_DIR).exists() and index_key(out) != key:
        stale.append(out / INDEX_DIR)
    stale += [p for p, m in part_manifests(out).items() if not m or m.get("run_key") != key]
    return stale


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def remove_final(out: Path) -> None:
    """Remove the merged outputs, manifest first (so a half-removed state reads as incomplete)."""
    for name in (MANIFEST, PIN_TABLE, BOARD_TABLE):
        remove(out / name)


def clean_leftovers(directory: Path, name: str) -> int:
    """Remove temp/trash siblings that a killed writer of ``directory/name`` left behind."""
    if not directory.is_dir():
        return 0
    found = [p for pat in (f".{name}.tmp*", f".{name}.old-*") for p in directory.glob(pat)]
    for p in found:
        log.info("removing leftover %s of an interrupted run", p)
        remove(p)
    return len(found)


def complete_parts(out: Path, key: str, count: int) -> list[Path] | None:
    """The ``count`` parts of a ``count``-way sharding, in order, if all are complete with ``key``."""
    paths = [part_dir(out, Shard(i, count)) for i in range(1, count + 1)]
    for p in paths:
        m = read_json_or_none(p / MANIFEST)
        if not m or m.get("run_key") != key or m.get("kind") != KIND_PART:
            return None
    return paths
