"""The stages of ``graphrec run``: what each reads, writes and which config decides its output.

A stage's **key** is a sha256 of its name, the graphrec version and source code (every ``.py`` of
the four packages, so an edited checkout never reuses what older code computed), its config
section and the keys
of the stages it reads (for a ``--data`` directory: the sha256 of its files). Keys chain like a
Merkle tree over content and config, and every stage is deterministic given them, so the key
stands for the output. After a stage completes, its key is stamped into its output manifest
(``run_key``); a re-run with the same key skips the stage. (The stamped key, not the manifest
file's hash, is what downstream stages see: ``ab-sim`` adds to the evaluation manifest after
``evaluate`` ran, which must not invalidate either.)
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphrec
from experiments.config import RunConfig
from graphrec.tracking import NULL, Tracker
from graphrec.utils.config import to_dict
from graphrec.utils.io import read_json, sha256_file

STAMP = "run_key"


@dataclass
class Context:
    """What every stage function gets: the config, the run and dataset directories, and the
    stage's tracker (its child run of the pipeline's run; jobs report to it, never open runs)."""

    cfg: RunConfig
    out: Path
    data_dir: Path
    tracker: Tracker = NULL

    def path(self, stage: Stage) -> Path:
        return self.out / stage.out


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline.

    Args:
        name: stage name (MLflow child run name, summary row).
        out: output directory relative to OUT_DIR.
        inputs: names of the stages whose outputs it reads.
        config: the config that determines the output (hashed into the key).
        run: ``run(ctx, out_dir)`` writes the stage's output (atomically).
        manifest: the file in ``out`` that carries the stamp.
    """

    name: str
    out: str
    inputs: tuple[str, ...]
    config: Any
    run: Callable[[Context, Path], Any]
    manifest: str = "manifest.json"


def dataset_fingerprint(data_dir: Path) -> str:
    """sha256 over the dataset's files (the tables, images.npy, dataset.json), by name."""
    h = hashlib.sha256()
    for p in sorted(data_dir.iterdir()):
        if p.is_file() and p.suffix in (".csv", ".parquet", ".npy", ".json"):
            h.update(p.name.encode())
            h.update(sha256_file(p).encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over the source of graph_build, graphrec, eval and experiments (path + bytes)."""
    root = Path(graphrec.__file__).resolve().parents[1]
    h = hashlib.sha256()
    for pkg in ("graph_build", "graphrec", "eval", "experiments"):
        for f in sorted((root / pkg).rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def stage_key(stage: Stage, upstream: dict[str, str | None]) -> str:
    payload = {
        "stage": stage.name,
        "version": graphrec.__version__,
        "code": code_fingerprint(),
        "config": _plain(stage.config),
        "inputs": {name: upstream.get(name) for name in stage.inputs},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _plain(cfg: Any) -> Any:
    if dataclasses.is_dataclass(cfg):
        return to_dict(cfg)
    if isinstance(cfg, dict):
        return {k: _plain(v) for k, v in cfg.items()}
    return cfg


def stamped_key(manifest: Path) -> str | None:
    if not manifest.is_file():
        return None
    try:
        return read_json(manifest).get(STAMP)
    except (ValueError, OSError):
        return None


def stamp(manifest: Path, key: str) -> None:
    """Add ``run_key`` to a stage's manifest (temp file + rename: never half-written)."""
    data = read_json(manifest)
    data[STAMP] = key
    tmp = manifest.with_name(manifest.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, manifest)
