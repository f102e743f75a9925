"""Atomic output directories, file hashing and deterministic JSON/Parquet writing."""

from __future__ import annotations

import errno
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


# --- crash-safe commit helpers (add-pins, run dirs): additions, the helpers above are unchanged ---

KILL_ENV = "GRAPHREC_TEST_KILL_AT"
_RENAME_EXCHANGE = 2


def crash_point(name: str) -> None:
    """Test hook: SIGKILL this process here when ``GRAPHREC_TEST_KILL_AT`` equals ``name``.

    Used by the kill-anywhere tests to stop a writer between two steps of a commit, exactly as a
    ``kill -9`` or a power cut would (no cleanup, no ``finally``).
    """
    if os.environ.get(KILL_ENV) == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def fsync_path(path: str | os.PathLike[str]) -> None:
    """fsync a file or a directory (its entries), so a rename after it survives a power cut."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if Path(path).is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: str | os.PathLike[str]) -> None:
    """fsync every file and directory under ``root`` (then ``root`` itself)."""
    for dirpath, _, files in os.walk(root, topdown=False):
        for f in files:
            fsync_path(Path(dirpath) / f)
        fsync_path(dirpath)


def write_json_atomic(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """:func:`write_json` to a temp file, fsync, rename over ``path``, fsync the directory."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    write_json(tmp, data)
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent)


def exchange_dirs(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Atomically swap two paths on one filesystem (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False when the kernel, libc or filesystem cannot (the caller then falls back to two
    renames under its own journal).
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(a))


def check_writable_location(out: str | os.PathLike[str]) -> None:
    """Raise OSError with a one-line reason when ``out`` could not be created and written.

    Nothing is created: the deepest existing ancestor must be a directory we may write to (or
    ``out`` itself, when it exists).
    """
    out = Path(out).absolute()
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                raise NotADirectoryError(f"cannot write {out}: {p} is not a directory")
            if not os.access(p, os.W_OK | os.X_OK):
                raise PermissionError(f"cannot write {out}: {p} is not writable")
            st = os.statvfs(p)
            if st.f_flag & os.ST_RDONLY:
                raise PermissionError(f"cannot write {out}: {p} is on a read-only filesystem")
            return
