"""The run directory of ``graphrec run``: what may be used as one, and one writer at a time.

* ``OUT/run.json`` (kind ``graphrec.run``) marks a directory graphrec made a run dir, and names
  its dataset (``synthetic`` or the dataset directory's resolved path).
* A directory that is not empty and has no ``run.json`` (nor the ``config.yaml`` + graph manifest
  of a run made before the marker existed) is refused, as is a run dir of another dataset,
  unless ``--force``; even then nothing graphrec did not write is replaced (a stage output path
  holding something without a graphrec manifest is refused). An ``--out`` inside a stage
  directory of another run (``RUN/eval/x``) is always refused.
* The location is checked before anything is validated or computed: under a file, read-only or
  not creatable gives a one-line :class:`RunDirError`.
* ``OUT/.graphrec.lock`` is held with ``fcntl.flock`` for the whole run (the kernel drops it when
  the process dies, however it dies). A second writer gets ``run dir locked by pid N since T``
  and touches nothing. The lock file records the run's MLflow run id; the next writer marks a run
  that a killed writer left ``RUNNING`` (and its running children) ``KILLED``.
* Temporary files of the run (``tempfile``) go to ``OUT/.tmp``, removed at the end and, after a
  kill, by the next writer; a run that fails before any stage output exists removes what it
  wrote (``config.yaml``, ``run.json``, the directory when it created it).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from graphrec.utils.runlock import LOCK, RunDirError, RunDirLocked, acquire, write_holder

__all__ = ["LOCK", "RunDirError", "RunDirLocked", "claim", "guarded", "record_mlflow_run"]

log = logging.getLogger(__name__)

MARKER = "run.json"
TMP = ".tmp"
KIND = "graphrec.run"
OWN_FILES = (MARKER, LOCK, TMP, "config.yaml")
# Top-level names graphrec run (and add-pins) write inside a run dir.
STAGE_DIRS = (
    "data",
    "graph",
    "pinclip",
    "content",
    "sage",
    "embeddings",
    "eval",
    "candidates",
    "ablations",
    "added_pins",
)
_LEFTOVER = re.compile(r"^(\..+\.(tmp-.+|old-.+|reuse)|[^.].*\.json\.tmp)$")
_HELD: dict[Path, int] = {}  # resolved run dir -> fd of its held lock file
F = TypeVar("F", bound=Callable[..., Any])


def dataset_id(cfg: Any, data_dir: str | Path | None) -> str | None:
    """``synthetic`` or the resolved dataset directory (None when not given: the run fails
    later)."""
    if cfg.data.source != "dir":
        return "synthetic"
    path = data_dir or cfg.data.path
    return str(Path(path).resolve()) if path is not None else None


def _is_run_dir(d: Path) -> bool:
    """Made by graphrec run: ``run.json``, or (older runs) ``config.yaml`` + a graph manifest."""
    if (d / MARKER).is_file():
        return True
    return (d / "config.yaml").is_file() and (d / "graph" / "manifest.json").is_file()


def _read_marker(d: Path) -> dict[str, Any]:
    try:
        return json.loads((d / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def check_location(out: Path, dataset: str | None, *, force: bool, stage_outs: tuple[str, ...] = ()) -> None:
    """Raise RunDirError when ``out`` cannot be (or must not be) used as this run's directory."""
    for anc in out.parents:
        if anc.exists() and not anc.is_dir():
            raise RunDirError(f"cannot use --out {out}: {anc} is a file, not a directory")
    if out.exists() and not out.is_dir():
        raise RunDirError(f"cannot use --out {out}: it is a file, not a directory")
    for anc in out.parents:
        if anc.is_dir() and _is_run_dir(anc):
            first = out.relative_to(anc).parts[0]
            if first in STAGE_DIRS or first.startswith("."):
                raise RunDirError(
                    f"--out {out} is inside {anc / first}, a stage directory of "
                    f"the run in {anc}; pick a directory outside it"
                )
    if not out.is_dir() or not any(out.iterdir()):
        return
    if _is_run_dir(out):
        had = _read_marker(out).get("dataset")
        if had and dataset and had != dataset and not force:
            raise RunDirError(
                f"{out} is the run dir of dataset {had}, not {dataset}; use another "
                "--out (or --force to redo every stage there for the new dataset)"
            )
        return
    if not force:
        raise RunDirError(
            f"{out} is not empty and is not a graphrec run dir (no {MARKER}); use "
            "an empty or new directory (--force uses it anyway, keeping files "
            "graphrec did not write)"
        )
    for rel in ("config.yaml", *stage_outs):
        p = out / rel
        if p.exists() and not _graphrec_output(p):
            raise RunDirError(
                f"{p} exists and graphrec did not write it; a run would replace it: move it away or use another --out"
            )


def _graphrec_output(p: Path) -> bool:
    """A stage output graphrec wrote (a directory with a graphrec manifest)."""
    if not p.is_dir():
        return False
    return any((p / m).is_file() for m in ("manifest.json", "dataset.json", "ab.json"))


def _make_dirs(out: Path) -> list[Path]:
    """Create ``out`` (and parents); return those created, deepest first. One-line errors."""
    created = []
    for d in (out, *out.parents):
        if d.exists():
            break
        created.append(d)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"cannot create --out {out}: {exc.strerror or exc}") from None
    return created


def _probe_writable(out: Path) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".write-probe-", dir=out)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise RunDirError(f"cannot write to --out {out}: {exc.strerror or exc}") from None


def record_mlflow_run(out: str | Path, run_id: str | None) -> None:
    """Note the run's MLflow run id in its lock file (so a killed run can be marked later)."""
    fd = _HELD.get(Path(out).resolve())
    if fd is None or run_id is None:
        return
    from graphrec import tracking

    uri = tracking.tracking_uri()
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri[len("sqlite:///") :]).resolve())
    h = _holder_fd(fd)
    write_holder(fd, {**h, "mlflow": {"uri": uri, "run_id": run_id}})


def _holder_fd(fd: int) -> dict[str, Any]:
    try:
        return json.loads(os.pread(fd, 1 << 16, 0).decode() or "{}")
    except ValueError:
        return {}


def mark_killed(previous: dict[str, Any]) -> list[str]:
    """Mark the MLflow run a killed writer recorded, and its running descendants, KILLED."""
    ml = previous.get("mlflow") or {}
    if not ml.get("run_id"):
        return []
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=ml["uri"])
        top = client.get_run(ml["run_id"])
        todo, killed = [top], []
        while todo:
            run = todo.pop()
            if run.info.status == "RUNNING":
                client.set_terminated(run.info.run_id, status="KILLED")
                killed.append(run.info.run_id)
            children = f"tags.mlflow.parentRunId = '{run.info.run_id}'"
            todo += client.search_runs([top.info.experiment_id], children, max_results=1000)
    except Exception as exc:  # noqa: BLE001 - a missing store must not stop the run
        log.warning("could not mark the interrupted MLflow run %s: %s", ml.get("run_id"), exc)
        return []
    if killed:
        log.warning("marked %d MLflow run(s) of an interrupted run KILLED: %s", len(killed), ", ".join(killed))
    return killed


@contextmanager
def claim(
    out: str | Path, dataset: str | None, *, force: bool = False, stage_outs: tuple[str, ...] = ()
) -> Iterator[Path]:
    """Check, create and lock ``out`` for one run; yield it. See the module docstring."""
    out = Path(out).absolute()
    check_location(out, dataset, force=force, stage_outs=stage_outs)
    fresh = not out.exists() or not any(out.iterdir())
    created = _make_dirs(out)
    try:
        fd, previous = acquire(out)
    except RunDirError:
        _remove_created(created)
        raise
    _HELD[out.resolve()] = fd
    old_tempdir, old_env = tempfile.tempdir, os.environ.get("TMPDIR")
    ok = False
    try:
        _probe_writable(out)
        mark_killed(previous)
        shutil.rmtree(out / TMP, ignore_errors=True)  # a killed run's: no one else uses it now
        clean_leftovers(out)
        (out / TMP).mkdir()
        tempfile.tempdir = os.environ["TMPDIR"] = str(out / TMP)  # this process and its children
        if dataset is not None:
            marker = {"kind": KIND, "schema_version": 1, "dataset": dataset}
            if _read_marker(out) != marker:
                tmp = out / f".{MARKER}.tmp"
                tmp.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
                os.replace(tmp, out / MARKER)
        yield out
        ok = True
    finally:
        tempfile.tempdir = old_tempdir
        if old_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_env
        shutil.rmtree(out / TMP, ignore_errors=True)
        if not ok and fresh:
            _undo_fresh(out, created)
        _release(out, fd)


def clean_leftovers(out: Path, depth: int = 3) -> list[Path]:
    """Remove what killed writers of this run dir left (the caller holds its lock): temp and
    trash siblings of atomic stage outputs (``.graph.tmp-*``, ``.eval.old-*``, ``.x.reuse``,
    ``eval/.ab-sim.tmp-*``) and half-written stamps (``manifest.json.tmp``). ``candidates/`` and
    ``added_pins/`` keep their own lock and cleanup (add-pins may be writing there now)."""
    found = []
    for dirpath, dirs, files in os.walk(out):
        here = Path(dirpath)
        level = len(here.relative_to(out).parts)
        if level == 0:
            dirs[:] = [d for d in dirs if d not in ("candidates", "added_pins", TMP)]
        for name in [*dirs, *files]:
            if _LEFTOVER.match(name):
                found.append(here / name)
        dirs[:] = [d for d in dirs if not _LEFTOVER.match(d)] if level + 1 < depth else []
    for p in found:
        log.info("removing %s, left by an interrupted run", p)
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    return found


def _undo_fresh(out: Path, created: list[Path]) -> None:
    """A run into a new/empty dir failed: remove what it wrote if no stage output exists yet."""
    if any(p.name not in OWN_FILES for p in out.iterdir()):
        return
    for name in (MARKER, "config.yaml"):
        (out / name).unlink(missing_ok=True)
    if created:  # the lock file goes with the directory (still held: no one can be waiting on it)
        (out / LOCK).unlink(missing_ok=True)
        _remove_created(created)


def _remove_created(created: list[Path]) -> None:
    for d in created:  # deepest first; only what we made and is empty
        try:
            d.rmdir()
        except OSError:
            break


def _release(out: Path, fd: int) -> None:
    _HELD.pop(out.resolve(), None)
    try:
        if (out / LOCK).exists():
            os.unlink(out / LOCK)  # removed while held: a later writer opens a fresh file
    except OSError:
        pass
    os.close(fd)


def guarded(fn: F) -> F:
    """Decorate ``run_pipeline(cfg, out, *, data_dir, force, ...)`` with :func:`claim`."""

    @functools.wraps(fn)
    def wrapper(cfg: Any, out: str | Path, *args: Any, **kwargs: Any) -> Any:
        from experiments.pipeline import build_stages

        outs = tuple(dict.fromkeys(st.out for st in build_stages(cfg)))
        with claim(out, dataset_id(cfg, kwargs.get("data_dir")), force=kwargs.get("force", False), stage_outs=outs):
            return fn(cfg, out, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
