"""MLflow tracking: one helper for every stage, a no-op when tracking is off.

The tracking URI is ``MLFLOW_TRACKING_URI`` when set, else ``sqlite:///mlruns.db`` in the working
directory. ``GRAPHREC_MLFLOW=0`` (or a stage's ``--no-mlflow``) turns tracking off. A stage run
opened while another run is active becomes its nested child; the first one opened under
``mlflow run`` (``MLFLOW_RUN_ID`` set) resumes the project's run, in its experiment. Metric names
are sanitised (``recall@20`` -> ``recall_at_20``) because MLflow rejects ``@``.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from graphrec.config import flatten

log = logging.getLogger(__name__)
DEFAULT_URI = "sqlite:///mlruns.db"
EXPERIMENT = "graphrec"
_BAD = re.compile(r"[^A-Za-z0-9_\-. /]")


def tracking_enabled() -> bool:
    return os.environ.get("GRAPHREC_MLFLOW", "1").lower() not in ("0", "false", "off", "no")


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def sanitize(name: str) -> str:
    """An MLflow-safe metric/param name: ``@`` -> ``_at_``, other odd characters -> ``_``."""
    return _BAD.sub("_", name.replace("@", "_at_"))


def git_commit() -> str | None:
    """The commit of the source tree graphrec runs from, if it is a git checkout."""
    try:
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _mlflow():
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    import mlflow

    return mlflow


@contextmanager
def stage_run(
    name: str,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    enabled: bool = True,
) -> Iterator[Any]:
    """Open an MLflow run for a stage (nested under an active run); yield it, or None when off.

    An exception inside the block marks the run FAILED and propagates. Opened inside a run of
    the same stage (a pipeline wrapping a stage function that tracks itself), it reuses that run
    instead of nesting a duplicate.
    """
    if not (enabled and tracking_enabled()):
        yield None
        return
    mlflow = _mlflow()
    current = mlflow.active_run()
    if current is not None and mlflow.get_run(current.info.run_id).data.tags.get("graphrec.stage") == name:
        if params:
            log_params(params)
        yield current
        return
    if mlflow.active_run() is None:
        mlflow.set_tracking_uri(tracking_uri())
        # Under `mlflow run` (MLFLOW_RUN_ID set) the first run resumes the project's run, which
        # mlflow refuses unless the active experiment is the run's own.
        resume = os.environ.get("MLFLOW_RUN_ID")
        if resume:
            mlflow.set_experiment(experiment_id=mlflow.MlflowClient().get_run(resume).info.experiment_id)
        else:
            mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT))
    nested = mlflow.active_run() is not None
    run = mlflow.start_run(run_name=name, nested=nested)
    try:
        all_tags = {"graphrec.stage": name, "graphrec.git_commit": git_commit() or "unknown", **(tags or {})}
        mlflow.set_tags({k: str(v) for k, v in all_tags.items()})
        if params:
            log_params(params)
        yield run
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run(status="FINISHED")


def active() -> bool:
    if not tracking_enabled():
        return False
    return _mlflow().active_run() is not None


def log_params(params: Mapping[str, Any]) -> None:
    """Log a (nested) config as flattened params; a no-op without an active run."""
    if not active():
        return
    flat = {sanitize(k): (str(v)[:5000] if v is not None else "None") for k, v in flatten(params).items()}
    items = list(flat.items())
    mlflow = _mlflow()
    for i in range(0, len(items), 100):
        mlflow.log_params(dict(items[i:i + 100]))


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log finite numeric metrics with sanitised names; a no-op without an active run."""
    if not active():
        return
    clean = {}
    for k, v in metrics.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if f == f and abs(f) != float("inf"):
            clean[sanitize(k)] = f
    if clean:
        _mlflow().log_metrics(clean, step=step)


def log_artifacts(path: str | Path, artifact_path: str | None = None) -> None:
    """Log a file or a directory's files as artifacts; a no-op without an active run."""
    if not active():
        return
    p = Path(path)
    mlflow = _mlflow()
    if p.is_dir():
        mlflow.log_artifacts(str(p), artifact_path=artifact_path)
    elif p.is_file():
        mlflow.log_artifact(str(p), artifact_path=artifact_path)


def set_tags(tags: Mapping[str, Any]) -> None:
    if active():
        _mlflow().set_tags({k: str(v) for k, v in tags.items()})
