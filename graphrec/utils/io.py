"""Atomic output directories, file hashing and deterministic JSON/Parquet writing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class OutputExistsError(FileExistsError):
    """Raised when an output directory already holds something and overwriting was not asked for."""


def _missing_parents(path: Path) -> list[Path]:
    """Ancestors of ``path`` that do not exist yet, deepest first."""
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing


def check_output_free(out: str | os.PathLike[str], *, overwrite: bool = False) -> None:
    """Raise OutputExistsError early when ``out`` holds something and overwriting was not asked for."""
    out = Path(out)
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise OutputExistsError(f"{out} already exists and is not empty (pass --force to replace it)")


@contextmanager
def atomic_output_dir(out: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``out`` only if the block succeeds.

    The temporary directory lives next to ``out`` (same filesystem, so the final rename is
    atomic). On any exception it is removed, together with any parent directories this call
    created, so a failed stage leaves nothing behind.

    Args:
        out: the final output directory.
        overwrite: replace an existing non-empty ``out``; otherwise raise ``OutputExistsError``.
    """
    out = Path(out).absolute()
    check_output_free(out, overwrite=overwrite)
    created = _missing_parents(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for parent in created:  # deepest first; only remove what we made and is still empty
            try:
                parent.rmdir()
            except OSError:
                break
        raise
    if out.exists():
        trash = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        out.rename(trash)
        tmp.rename(out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        tmp.rename(out)


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in chunks (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Write JSON with sorted keys and a trailing newline (byte-stable for equal inputs)."""
    text = json.dumps(data, indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_parquet(path: str | os.PathLike[str], df: pd.DataFrame) -> None:
    """Write a DataFrame to Parquet without the pandas index, deterministically."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, path, compression="zstd")


def link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> str:
    """Hard-link ``src`` to ``dst`` when both are on one filesystem, else copy. Returns the mode."""
    try:
        os.link(src, dst)
        return "hardlink"
    except OSError:
        shutil.copyfile(src, dst)
        return "copy"
