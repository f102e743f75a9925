"""Benchmark helpers: run a command as a child process and read its wall time and peak RSS."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_ENV = {
    "DGLBACKEND": "pytorch",
    "OPENBLAS_NUM_THREADS": "1",
    "GRAPHREC_NO_PROGRESS": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


@dataclass
class Measured:
    name: str
    wall_s: float
    peak_rss_gb: float
    returncode: int
    stderr_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def measure(name: str, argv: list[str], timeout: float | None = None) -> Measured:
    """Run ``argv``; wall time from the parent, peak RSS of exactly that child from ``wait4``."""
    with tempfile.TemporaryFile(mode="w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, **BENCH_ENV})
        timer = threading.Timer(timeout, proc.kill) if timeout else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if timer:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read()[-3000:]
    return Measured(name, wall, usage.ru_maxrss / 1024**2, proc.returncode, tail)


def bin_path(name: str) -> str:
    """A console script installed next to the running interpreter (the project's .venv)."""
    return str(Path(sys.executable).parent / name)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])
