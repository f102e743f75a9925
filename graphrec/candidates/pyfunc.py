"""The candidate generator as an MLflow pyfunc model, and a helper that logs, registers and aliases it.

The model is logged "from code" (MLflow's pickle-free mechanism): the logged code is
``graphrec/candidates/pyfunc_model.py``, which instantiates :class:`CandidateGenerator`; all
data is plain artifacts - the serving bundle (faiss index, id maps as Parquet, query vectors as
``.npy``, saved pins as ``.npz``, ``bundle.json``). Loading it needs graphrec importable (installed
from this repository) plus the pip requirements logged with it.

    mlflow.pyfunc.load_model("models:/graphrec-candidates@candidate").predict(
        pd.DataFrame({"pin_id": ["p1", "p2"]}), params={"k": 20})

returns long-format rows ``query_type, query_id, rank, candidate_pin_id, score``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from graphrec.candidates.bundle import BUNDLE_JSON, IndexBundle, load_bundle
from graphrec.candidates.config import CandidatesConfig, CandidatesError
from graphrec.candidates.index import set_threads
from graphrec.candidates.layout import INDEX_DIR
from graphrec.candidates.serve import recommend_frame

log = logging.getLogger(__name__)
MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
REGISTERED_NAME = "graphrec-candidates"
ALIAS = "candidate"


class CandidateGenerator(mlflow.pyfunc.PythonModel):
    """Top-k candidate pins for pin or board ids, served from a candidate index bundle.

    ``model_config``: ``k`` (default candidates per query; the ``k`` param overrides it per call)
    and ``threads`` (faiss threads, 0 = faiss default).
    """

    bundle: IndexBundle
    k: int
    # No type hints on predict (see below): this tells MLflow not to wrap it for type-hint
    # validation, which also stops its "Add type hints to the predict method" warning.
    _skip_type_hint_validation = True

    def load_context(self, context: Any) -> None:
        """Load the bundle artifact and the model config."""
        conf = dict(context.model_config or {})
        self.bundle = load_bundle(context.artifacts["bundle"])
        self.k = int(conf.get("k") or self.bundle.meta["config"]["k"])
        set_threads(int(conf.get("threads", 0)))

    # No type hints on the arguments: MLflow 3 would try to derive a schema from them.
    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        """Candidates for a DataFrame with a ``pin_id`` or ``board_id`` column (one per row).

        Args:
            context: MLflow's model context (unused after loading).
            model_input: the queries (see :func:`graphrec.candidates.serve.recommend_frame`).
            params: optional ``{"k": int}``.
        """
        k = int((params or {}).get("k") or self.k)
        return recommend_frame(self.bundle, model_input, k)


def _signature(k: int) -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema([ColSpec("string", "pin_id", required=False), ColSpec("string", "board_id", required=False)])
    outputs = Schema(
        [
            ColSpec("string", "query_type"),
            ColSpec("string", "query_id"),
            ColSpec("long", "rank"),
            ColSpec("string", "candidate_pin_id"),
            ColSpec("float", "score"),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs, params=ParamSchema([ParamSpec("k", "long", k)]))


def pip_requirements() -> list[str]:
    """Exact versions of what the model imports (passed so MLflow does not resolve the env)."""
    import pyarrow
    import scipy
    import yaml

    from graphrec.candidates._faiss import faiss

    return [
        f"mlflow=={mlflow.__version__}",
        f"faiss-cpu=={faiss.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
        f"pyarrow=={pyarrow.__version__}",
        f"scipy=={scipy.__version__}",
        f"pyyaml=={yaml.__version__}",
    ]


def _bundle_dir(cand_dir: Path) -> Path:
    for d in (cand_dir / INDEX_DIR, cand_dir):
        if (d / BUNDLE_JSON).is_file():
            return d
    raise CandidatesError(f"{cand_dir}: no candidate index bundle (index/{BUNDLE_JSON}); run `graphrec candidates`")


def _build_temp_bundle(graph_dir: Path, emb_dir: Path, cfg: CandidatesConfig, tmp: Path) -> Path:
    from graphrec.candidates.job import _build, _inputs

    graph, emb, _, meta = _inputs(graph_dir, emb_dir, cfg)
    _build(graph, emb, cfg, meta).save(tmp / INDEX_DIR)
    return tmp / INDEX_DIR


@contextmanager
def _quiet_registry_prints() -> Iterator[None]:
    """MLflow print()s "Successfully registered model ..." to stderr whatever its log level:
    keep its stream off while the ``mlflow`` logger is above INFO (the console without -v)."""
    from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

    if logging.getLogger("mlflow").getEffectiveLevel() <= logging.INFO:
        yield
        return
    before, MLFLOW_LOGGING_STREAM.enabled = MLFLOW_LOGGING_STREAM.enabled, False
    try:
        yield
    finally:
        MLFLOW_LOGGING_STREAM.enabled = before


def _model_kwargs(bundle_dir: Path, k: int | None) -> dict[str, Any]:
    """What log_model and save_model both get: the code, the bundle artifact, signature, config."""
    bundle = load_bundle(bundle_dir)
    k = int(k or bundle.meta["config"]["k"])
    example = pd.DataFrame({"pin_id": [str(bundle.pin_ids[0])]})
    return dict(
        python_model=str(MODEL_CODE),
        artifacts={"bundle": str(bundle_dir)},
        signature=_signature(k),
        input_example=example,
        pip_requirements=pip_requirements(),
        model_config={"k": k, "threads": 0},
    )


def save_candidate_model(cand_dir: str | Path, path: str | Path, k: int | None = None) -> Path:
    """Save the candidate generator of ``cand_dir`` (or a bundle dir) as a local MLflow model at
    ``path`` (no tracking server needed; what ``graphrec serve --run`` serves)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    mlflow.pyfunc.save_model(path=str(path), **_model_kwargs(_bundle_dir(Path(cand_dir)), k))
    return Path(path)


def log_candidate_model(
    cand_dir: str | Path | None = None,
    *,
    graph_dir: str | Path | None = None,
    emb_dir: str | Path | None = None,
    config: CandidatesConfig | None = None,
    registered_model_name: str = REGISTERED_NAME,
    alias: str | None = ALIAS,
    name: str = "candidate_generator",
    k: int | None = None,
    tags: dict[str, str] | None = None,
    run_name: str = "candidates-model",
    tracking_uri: str | None = None,
) -> Any:
    """Log the candidate generator in the active MLflow run, register it and set its alias.

    Give either ``cand_dir`` (the output of ``graphrec candidates``; its ``index/`` bundle is
    logged) or ``graph_dir`` + ``emb_dir`` (a bundle is built with ``config``). Without an active
    run, one named ``run_name`` is opened at ``tracking_uri`` (default
    :func:`graphrec.tracking.tracking_uri`). The registry policy (names per dataset, no duplicate
    versions, when the alias moves) is experiments/registry.py's.

    Args:
        cand_dir: candidate directory.
        graph_dir, emb_dir: inputs to build a bundle from instead.
        config: job config used with ``graph_dir``/``emb_dir`` (default :class:`CandidatesConfig`).
        registered_model_name: registry name (``graphrec-candidates``).
        alias: alias pointed at the new version (``candidate``); None leaves aliases alone.
        name: the model's name inside the run.
        k: default candidates per query (default: the bundle's ``k``).
        tags: tags set on the new model version.
        run_name, tracking_uri: the run opened when none is active.

    Returns:
        MLflow's ``ModelInfo`` (``model_uri``, ``registered_model_version``, ...).
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with tempfile.TemporaryDirectory(prefix="graphrec-cand-") as tmp:
        if cand_dir is not None:
            bundle_dir = _bundle_dir(Path(cand_dir))
        elif graph_dir is not None and emb_dir is not None:
            bundle_dir = _build_temp_bundle(Path(graph_dir), Path(emb_dir), config or CandidatesConfig(), Path(tmp))
        else:
            raise CandidatesError("log_candidate_model needs cand_dir, or graph_dir and emb_dir")
        kwargs = dict(name=name, registered_model_name=registered_model_name, **_model_kwargs(bundle_dir, k))
        if mlflow.active_run() is None:
            from graphrec.tracking import EXPERIMENT
            from graphrec.tracking import tracking_uri as default_uri

            mlflow.set_tracking_uri(tracking_uri or default_uri())
            mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT))
            with mlflow.start_run(run_name=run_name), _quiet_registry_prints():
                info = mlflow.pyfunc.log_model(**kwargs)
        else:
            with _quiet_registry_prints():
                info = mlflow.pyfunc.log_model(**kwargs)
    version, client = str(info.registered_model_version), mlflow.MlflowClient()
    for key, value in (tags or {}).items():
        client.set_model_version_tag(registered_model_name, version, key, value)
    if alias is not None:
        client.set_registered_model_alias(registered_model_name, alias, version)
    log.info("registered %s version %s%s", registered_model_name, version, f" as @{alias}" if alias else "")
    return info
