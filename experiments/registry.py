"""Registering a run's candidate generator in the MLflow model registry, safely.

Rules (``register`` section of the run config, see :class:`experiments.config.RegisterConfig`):

* the registered name is ``register.name`` with ``{dataset}`` replaced by the graph's dataset
  name (default ``graphrec-{dataset}``, e.g. ``graphrec-synthetic-fashion``), so runs on
  different datasets never share a model;
* a version is identified by the sha256 of its serving bundle's files: a run whose bundle is
  already registered under that name (a re-run that changed nothing) registers nothing;
* the alias (``register.alias``, default ``candidate``) is set on the first version of a name and
  afterwards moves only with ``--promote`` (``register.promote=true``), or with
  ``--promote-if-better`` (``register.promote_if_better=true``) when the new version's
  validation Recall@20 over all held-out pins (of the served ``full`` model, tagged on every
  version as ``graphrec.val_recall``) is higher than the aliased version's; a version without
  that tag never wins or loses by it (no promotion);
* ``graphrec add-pins`` registers the grown index as a new version of the run's model and moves
  the alias to it when the alias pointed at this run's version (what was served now also
  answers for the new pins).

What was registered is written to ``RUN_DIR/registry.json``, which ``add-pins`` reads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphrec.utils.io import read_json, write_json

if TYPE_CHECKING:
    from experiments.config import RegisterConfig

log = logging.getLogger(__name__)
REGISTRY_JSON = "registry.json"
TAG_BUNDLE = "graphrec.bundle_sha256"
TAG_RUN_DIR = "graphrec.run_dir"
TAG_METRIC = "graphrec.val_recall"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass
class Registration:
    """What :func:`register_bundle` did.

    ``new`` is false when the bundle was already registered (nothing logged); ``alias_version``
    is the version the alias points at afterwards (None when it is unset).
    """

    name: str
    version: str
    alias: str
    alias_version: str | None
    new: bool
    tracking_uri: str
    run_dir: str
    bundle_sha256: str

    def describe(self) -> str:
        """One line for the summary."""
        what = "registered" if self.new else "unchanged, already registered:"
        if self.alias_version == self.version:
            where = f"@{self.alias}"
        elif self.alias_version is None:
            where = f"no @{self.alias}"
        else:
            where = f"@{self.alias} stays on v{self.alias_version}; --promote moves it"
        return f"{what} {self.name} v{self.version} ({where})"


def model_name(template: str, dataset: str) -> str:
    """The registered model name: ``template`` with ``{dataset}`` replaced (MLflow-safe)."""
    return template.replace("{dataset}", _UNSAFE.sub("-", dataset).strip("-") or "dataset")


def bundle_digest(bundle_dir: str | Path) -> str:
    """sha256 of the bundle's file hashes (``bundle.json`` ``files_sha256``)."""
    files = read_json(Path(bundle_dir) / "bundle.json")["files_sha256"]
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def _versions(client: Any, name: str) -> list[Any]:
    from mlflow.exceptions import MlflowException

    try:
        return list(client.search_model_versions(f"name = '{name}'"))
    except MlflowException:
        return []


def _alias_version(client: Any, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _absolute_uri(uri: str) -> str:
    """``sqlite:///relative.db`` made absolute, so add-pins finds the store from any directory."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        return prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


def register_bundle(
    bundle_dir: str | Path,
    name: str,
    alias: str,
    run_dir: str | Path,
    *,
    promote: bool = False,
    move_alias_from: str | None = None,
    run_name: str = "candidates-model",
    metric: float | None = None,
    promote_if_better: bool = False,
) -> Registration:
    """Register ``bundle_dir`` as a version of ``name`` unless an identical one exists.

    Args:
        bundle_dir: the serving bundle (``RUN_DIR/candidates/index``).
        name: the registered model name (already resolved, see :func:`model_name`).
        alias: the alias that marks the served version.
        run_dir: the run directory (tagged on the version).
        promote: point the alias at this version even when it is set already.
        move_alias_from: also move the alias when it currently points at this version.
        run_name: the MLflow run opened to log the model when none is active.
        metric: the validation metric tagged on a new version (``TAG_METRIC``).
        promote_if_better: move the alias when ``metric`` beats the aliased version's tag.
    """
    import mlflow

    from graphrec.candidates.pyfunc import log_candidate_model

    client = mlflow.MlflowClient()
    digest, run_dir = bundle_digest(bundle_dir), str(Path(run_dir).resolve())
    same = [v for v in _versions(client, name) if v.tags.get(TAG_BUNDLE) == digest]
    before = _alias_version(client, name, alias)
    if same:
        version, new = str(max(int(v.version) for v in same)), False
        log.info("%s: bundle already registered as version %s; nothing registered", name, version)
    else:
        info = log_candidate_model(
            bundle_dir,
            registered_model_name=name,
            alias=None,
            tags={
                TAG_BUNDLE: digest,
                TAG_RUN_DIR: run_dir,
                **({TAG_METRIC: repr(metric)} if metric is not None else {}),
            },
            run_name=run_name,
            tracking_uri=mlflow.get_tracking_uri(),
        )
        version, new = str(info.registered_model_version), True
    better = promote_if_better and before is not None and _beats(client, name, before, metric)
    if before is None or promote or better or (move_alias_from is not None and before == move_alias_from):
        if before != version:
            client.set_registered_model_alias(name, alias, version)
            log.info("@%s of %s -> version %s (was %s)", alias, name, version, before)
        before = version
    return Registration(
        name=name,
        version=version,
        alias=alias,
        alias_version=before,
        new=new,
        tracking_uri=_absolute_uri(mlflow.get_tracking_uri()),
        run_dir=run_dir,
        bundle_sha256=digest,
    )


def _beats(client: Any, name: str, aliased: str, metric: float | None) -> bool:
    """Whether ``metric`` is higher than the ``TAG_METRIC`` of version ``aliased`` (both known)."""
    old = client.get_model_version(name, aliased).tags.get(TAG_METRIC)
    if metric is None or old is None:
        log.info("%s: no validation metric on %s; --promote-if-better keeps the alias", name, aliased)
        return False
    log.info("%s: validation Recall@20 %.4f vs v%s's %.4f", name, metric, aliased, float(old))
    return metric > float(old)


def validation_metric(run_dir: str | Path) -> float | None:
    """The served ``full`` model's validation Recall@20 over all held-out pins (None without one)."""
    path = Path(run_dir) / "full" / "manifest.json"
    if not path.is_file():
        return None
    value = read_json(path).get("chosen", {}).get("val", {}).get("all")
    return None if value is None else float(value)


def register_run(run_dir: str | Path, cfg: RegisterConfig) -> Registration:
    """Register a finished run's ``candidates/index`` and record it in ``RUN_DIR/registry.json``."""
    run_dir = Path(run_dir)
    dataset = read_json(run_dir / "graph" / "manifest.json")["dataset"]["name"]
    name = model_name(cfg.name, dataset)
    index = run_dir / "candidates" / "index"
    reg = register_bundle(
        index,
        name,
        cfg.alias,
        run_dir,
        promote=cfg.promote,
        metric=validation_metric(run_dir),
        promote_if_better=cfg.promote_if_better,
    )
    write_json(run_dir / REGISTRY_JSON, asdict(reg))
    return reg


def register_added_pins(run_dir: str | Path) -> Registration | None:
    """After ``add-pins``: register the grown index as a new version of the run's model.

    A no-op (None) when the run registered nothing (no ``registry.json``) or tracking is off.
    The alias moves to the new version when it pointed at this run's previous version.
    """
    import os

    import mlflow

    from graphrec import tracking

    run_dir = Path(run_dir)
    path = run_dir / REGISTRY_JSON
    if not path.is_file() or not tracking.tracking_enabled():
        return None
    prev = read_json(path)
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI") or prev["tracking_uri"])
    reg = register_bundle(
        run_dir / "candidates" / "index",
        prev["name"],
        prev["alias"],
        run_dir,
        move_alias_from=prev["version"],
        run_name="add-pins",
    )
    write_json(path, asdict(reg))
    return reg
