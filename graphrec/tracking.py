"""MLflow tracking in one layer: the CLI/pipeline opens runs, jobs report to a :class:`Tracker`.

The tracking URI is ``MLFLOW_TRACKING_URI`` when set, else ``sqlite:///mlruns.db`` in the working
directory. A command's ``--no-mlflow`` (``open_run(enabled=False)``) or ``GRAPHREC_MLFLOW=0``
turns tracking off: the tracker is then :data:`NULL`. A run opened while another run is active
becomes its nested child; the first one opened under ``mlflow run`` (``MLFLOW_RUN_ID`` set)
resumes the project's run, in its experiment. Metric names are sanitised (``recall@20`` ->
``recall_at_20``) because MLflow rejects ``@``.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from graphrec.utils.config import flatten

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


class Tracker:
    """Where a job reports: params, metrics, artifacts, tags and child runs of one MLflow run.

    Jobs and trainers take a tracker (default :data:`NULL`, which does nothing) and never open
    runs or decide whether tracking is on: the CLI or pipeline layer does, once, with
    :func:`open_run`. Calls go to the innermost active run, which is this tracker's own run while
    no child of it is open (children are context managers).
    """

    def __init__(self, run: Any = None) -> None:
        self.run = run

    @property
    def enabled(self) -> bool:
        return self.run is not None

    @property
    def run_id(self) -> str | None:
        return self.run.info.run_id if self.run is not None else None

    def child(
        self, name: str, params: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None
    ) -> AbstractContextManager[Tracker]:
        """A nested run (FAILED if the block raises); a no-op tracker when this one is off."""
        return open_run(name, params=params, tags=tags, enabled=self.enabled)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log a (nested) config as flattened params (``pinclip.train.lr``)."""
        if not self.enabled:
            return
        flat = {sanitize(k): (str(v)[:5000] if v is not None else "None") for k, v in flatten(params).items()}
        items = list(flat.items())
        for i in range(0, len(items), 100):
            _mlflow().log_params(dict(items[i : i + 100]))

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log the finite numeric values with sanitised names (others are left out)."""
        if not self.enabled:
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

    def log_artifacts(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Log a file, or a directory's files, as artifacts."""
        p = Path(path)
        if not self.enabled:
            return
        if p.is_dir():
            _mlflow().log_artifacts(str(p), artifact_path=artifact_path)
        elif p.is_file():
            _mlflow().log_artifact(str(p), artifact_path=artifact_path)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if self.enabled:
            _mlflow().set_tags({k: str(v) for k, v in tags.items()})


NULL = Tracker()  # tracking off: every call is a no-op


@contextmanager
def open_run(
    name: str, *, params: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None, enabled: bool = True
) -> Iterator[Tracker]:
    """Open an MLflow run (nested under an active one) and yield its :class:`Tracker`.

    The one place runs are opened: the CLI and pipeline layer call it (``enabled=not
    no_mlflow``); ``GRAPHREC_MLFLOW=0`` turns it off too. An exception inside the block marks
    the run FAILED and propagates. Yields :data:`NULL` when tracking is off.
    """
    if not (enabled and tracking_enabled()):
        yield NULL
        return
    mlflow = _mlflow()
    if mlflow.active_run() is None:
        mlflow.set_tracking_uri(tracking_uri())
        # Under `mlflow run` (MLFLOW_RUN_ID set) the first run resumes the project's run, which
        # mlflow refuses unless the active experiment is the run's own.
        resume = os.environ.get("MLFLOW_RUN_ID")
        if resume:
            mlflow.set_experiment(experiment_id=mlflow.MlflowClient().get_run(resume).info.experiment_id)
        else:
            mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT))
    run = mlflow.start_run(run_name=name, nested=mlflow.active_run() is not None)
    tracker = Tracker(run)
    try:
        tracker.set_tags({"graphrec.stage": name, "graphrec.git_commit": git_commit() or "unknown", **(tags or {})})
        if params:
            tracker.log_params(params)
        yield tracker
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run(status="FINISHED")
