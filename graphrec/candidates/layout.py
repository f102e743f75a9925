"""The candidate directory's layout, its lock, and what is stale, complete or left over in it.

::

    CAND_DIR/
      manifest.json             written last by the merge: its presence = the job is complete
      pin_candidates.parquet    pin_id, candidate_pin_id, rank, score
      board_candidates.parquet  board_id, candidate_pin_id, rank, score
      index/                    the serving bundle (bundle.py), written atomically, shared by shards
      parts/part-00002-of-00004/  one shard's tables + manifest.json, written atomically
      .lock                     flock held while the index is built, stale files are removed or parts merged
      .commit.json              add-pins journal: present only between its commit point and the end
      .index.next-*/            a staged index (add-pins) not yet switched in

**add-pins commit protocol.** The new index and the batch's outputs are written completely aside
(``.index.next-*``, ``.batch-*.tmp-*``) and fsynced; writing ``.commit.json`` (atomically) is the
commit point; the index is then switched in with one atomic ``renameat2(RENAME_EXCHANGE)`` (two
renames where the filesystem cannot exchange), the outputs renamed into place, the old index
removed and the journal deleted. Every holder of the lock first rolls a journal it finds forward
(each step checks what is already done, so a kill during recovery is fine too) and removes staged
leftovers without a journal: a kill at any point leaves the old state or, once committed, the new.

Every item carries the job's ``run_key`` (a hash of the graph, the embeddings and the config), so
outputs made from other inputs are recognised as stale instead of being mixed in.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from graphrec.candidates.config import Shard
from graphrec.utils.io import crash_point, exchange_dirs, fsync_path, read_json, sha256_file, write_json_atomic

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
PIN_TABLE = "pin_candidates.parquet"
BOARD_TABLE = "board_candidates.parquet"
INDEX_DIR = "index"
PARTS_DIR = "parts"
LOCK = ".lock"
JOURNAL = ".commit.json"
STAGED_INDEX = ".index.next-"
KIND = "graphrec.candidates"
KIND_PART = "graphrec.candidates_part"


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``out/.lock`` (serialises index builds and merges across shards)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            recover(out)
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
    return any((out / p).exists() for p in (MANIFEST, INDEX_DIR, PARTS_DIR, LOCK, JOURNAL))


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


def _bundle_sha(index: Path) -> str | None:
    p = index / "bundle.json"
    return sha256_file(p) if p.is_file() else None


def _rel(path: Path | None, out: Path) -> str | None:
    """``path`` relative to ``out`` (the journal stays valid if the run dir is moved)."""
    return None if path is None else os.path.relpath(Path(path).absolute(), Path(out).absolute())


def commit(out: Path, staged_index: Path, staged_files: Path | None, final_files: Path | None) -> None:
    """Switch a staged index (and move a staged output directory) in; caller holds the lock.

    Args:
        out: the candidate directory.
        staged_index: a complete, fsynced bundle directory inside ``out`` (``.index.next-*``).
        staged_files: a complete, fsynced directory to rename to ``final_files`` (or None).
        final_files: where ``staged_files`` goes (replaced when it exists).
    """
    journal = {
        "kind": "graphrec.commit",
        "schema_version": 1,
        "index_next": staged_index.name,
        "index_sha256": _bundle_sha(staged_index),
        "files_tmp": _rel(staged_files, out),
        "files": _rel(final_files, out),
    }
    write_json_atomic(out / JOURNAL, journal)  # the commit point
    crash_point("addpins:journal")
    roll_forward(out, journal)


def roll_forward(out: Path, journal: dict[str, Any]) -> None:
    """Finish a committed switch; every step is skipped when already done (idempotent)."""
    index, nxt = out / INDEX_DIR, out / str(journal["index_next"])
    if nxt.is_dir() and _bundle_sha(index) != journal["index_sha256"]:
        if not index.exists():
            nxt.rename(index)
        elif not exchange_dirs(nxt, index):  # fallback: two renames (the journal covers the gap)
            index.rename(out / f".{INDEX_DIR}.old-{nxt.name[len(STAGED_INDEX) :]}")
            crash_point("addpins:index-moved")
            nxt.rename(index)
        fsync_path(out)
    crash_point("addpins:switched")
    tmp, final = journal.get("files_tmp"), journal.get("files")
    if tmp and final and (out / tmp).is_dir():
        tmp, final_p = out / tmp, out / final
        if final_p.exists():
            final_p.rename(final_p.with_name(f".{final_p.name}.old-{nxt.name[len(STAGED_INDEX) :]}"))
        Path(tmp).rename(final_p)
        fsync_path(final_p.parent)
        for p in final_p.parent.glob(f".{final_p.name}.old-*"):
            remove(p)
    crash_point("addpins:files")
    if nxt.exists():  # after the exchange it holds the old index
        remove(nxt)
    clean_leftovers(out, INDEX_DIR)
    crash_point("addpins:cleaned")
    (out / JOURNAL).unlink(missing_ok=True)
    fsync_path(out)


def recover(out: Path) -> None:
    """Under the lock: roll a committed switch forward, drop staged leftovers of killed writers."""
    journal = read_json_or_none(out / JOURNAL)
    if journal is not None:
        log.warning("%s: finishing an add-pins commit that was interrupted", out)
        roll_forward(out, journal)
    elif (out / JOURNAL).exists():  # a torn journal cannot exist (atomic write); be safe anyway
        remove(out / JOURNAL)
    for p in out.glob(f"{STAGED_INDEX}*"):
        log.info("removing leftover %s of an interrupted add-pins", p)
        remove(p)
    for p in out.glob(f".{JOURNAL}.tmp-*"):
        remove(p)
