"""The one-writer lock of a run directory (``RUN_DIR/.graphrec.lock``, ``fcntl.flock``).

Held for the whole of ``graphrec run`` (experiments/rundir.py) and of ``graphrec add-pins``, so the
two never write the same run directory at once; the kernel drops it when the holder dies. The file
records who holds it (``pid``, ``since``) for the error the next writer prints.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCK = ".graphrec.lock"


class RunDirError(ValueError):
    """A run directory that cannot be used (one line, for the CLI)."""


class RunDirLocked(RunDirError):
    """Another graphrec process is writing to the run directory."""


def holder(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def acquire(out: Path) -> tuple[int, dict[str, Any]]:
    """Open and flock ``out/.graphrec.lock``; return the fd and what the previous holder
    recorded."""
    path = out / LOCK
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunDirError(f"cannot write to --out {out}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunDirError(f"cannot lock --out {out}: {exc.strerror or exc}") from None
            h = holder(path)
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(h["since"])) if "since" in h else "?"
            raise RunDirLocked(
                f"run dir locked by pid {h.get('pid', '?')} since {since}: another "
                f"graphrec run is writing to {out}; wait for it or use another "
                "--out"
            ) from None
        try:  # the holder may have removed the file between our open and flock: retry
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    previous = holder(path)
    write_holder(fd, {"pid": os.getpid(), "since": int(time.time())})
    return fd, previous


def write_holder(fd: int, data: dict[str, Any]) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(data, sort_keys=True) + "\n").encode(), 0)


@contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold the run dir's lock for a block (``add-pins``); a held lock raises :class:`RunDirLocked`."""
    out = Path(run_dir)
    fd, _ = acquire(out)
    try:
        yield
    finally:
        try:
            os.unlink(out / LOCK)
        except OSError:
            pass
        os.close(fd)
