"""The one table of models: every model ``graphrec run`` builds or evaluation fits, one row each.

Stage building (``experiments.pipeline``), evaluation (``eval.config`` / ``eval.recommenders``),
the A/B arm choice (``eval.run``) and the ablation ladder (``experiments.ablation``) all read
this table, so adding a model is one row. It lives at the bottom of the ``graphrec`` package so
that both ``eval`` and ``experiments`` may import it (imports point down the pipeline only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["baseline", "embedding", "oracle"]


@dataclass(frozen=True)
class ModelRun:
    """One model.

    Args:
        name: the evaluation model name (an output contract: ``metrics.json`` keys).
        kind: ``baseline`` (fitted by the evaluation stage on the train graph), ``embedding``
            (read from an embedding directory) or ``oracle`` (planted truth of synthetic data).
        stage: the ``graphrec run`` stage that writes its embedding directory (None: none).
        out: that directory, relative to the run directory.
        contract: an embedding model listed in the contract order and reported as missing when
            absent (False: ablation-ladder extras, evaluated when present).
        treatment, control: preference rank as the automatic A/B treatment / control arm
            (1 = first choice; None = never chosen automatically).
        content_only: scores pins from their content alone (no graph, no IDs): the automatic
            A/B control is the one of these with the best validation cold Recall@20.
        ladder: the model's row label in the ablation ladder (None: not on it).
    """

    name: str
    kind: Kind = "embedding"
    stage: str | None = None
    out: str | None = None
    contract: bool = True
    treatment: int | None = None
    control: int | None = None
    content_only: bool = False
    ladder: str | None = None


# Row order is the contract order (baselines, embedding models, oracle) and the ladder order.
MODEL_RUNS: tuple[ModelRun, ...] = (
    ModelRun("popularity", "baseline", control=6),
    ModelRun("als", "baseline", control=4),
    ModelRun("bpr", "baseline", control=5),
    ModelRun("lightgcn", "baseline", control=3),
    ModelRun("ease", "baseline"),
    ModelRun("rp3beta", "baseline"),
    ModelRun("content_minilm", "baseline", stage="embed-text", out="text", content_only=True),  # precomputed by the run
    ModelRun("blend", "baseline"),
    ModelRun("content", stage="embed-pins", out="content", treatment=2, content_only=True, ladder="content-only"),
    ModelRun(
        "clip_no_neighbors",
        stage="embed-pins-no-neighbors",
        out="ablations/content_no_neighbors",
        treatment=3,
        control=2,
        content_only=True,
        ladder="CLIP without neighbors",
    ),
    ModelRun(
        "sage_mean_pool",
        stage="embed-graph-mean-pool",
        out="ablations/embeddings_sage_mean_pool",
        contract=False,
        ladder="SAGE mean-pool",
    ),
    ModelRun(
        "sage_importance_pool",
        stage="embed-graph-importance-pool",
        out="ablations/embeddings_sage_importance_pool",
        contract=False,
        ladder="importance-pool",
    ),
    ModelRun(
        "sage_hard_negatives",
        stage="embed-graph-hard-negatives",
        out="ablations/embeddings_sage_hard_negatives",
        contract=False,
        ladder="+ hard negatives",
    ),
    ModelRun("sage", stage="embed-graph", out="ablations/embeddings_sage", ladder="SAGE over PinCLIP"),
    ModelRun("sage_raw", stage="embed-graph-raw", out="ablations/embeddings_sage_raw", treatment=4, control=1),
    # full without parts (ablations.full_ladder; graphrec/hybrid/config.py ABLATIONS), no retraining
    ModelRun(
        "full_teacher_only",
        stage="embed-full-teacher-only",
        out="ablations/embeddings_full_teacher_only",
        contract=False,
        ladder="full's teacher alone (ALS/EASE/RP3beta chosen on validation; no cold pins)",
    ),
    ModelRun(
        "full_mlp_no_recency",
        stage="embed-full-mlp-no-recency",
        out="ablations/embeddings_full_mlp_no_recency",
        contract=False,
        ladder="+ MLP content student, calibrated (no recency term)",
    ),
    ModelRun(
        "full_no_recency",
        stage="embed-full-no-recency",
        out="ablations/embeddings_full_no_recency",
        contract=False,
        ladder="+ inductive path chosen on validation (neighbours / MLP / mix)",
    ),
    ModelRun(
        "full", stage="embed-full", out="embeddings", treatment=1, ladder="full: + recency term in the calibration"
    ),
    ModelRun("oracle", "oracle"),
)


def _ranked(attr: str) -> tuple[str, ...]:
    rows = [m for m in MODEL_RUNS if getattr(m, attr) is not None]
    return tuple(m.name for m in sorted(rows, key=lambda m: getattr(m, attr)))


BUILT = tuple(m for m in MODEL_RUNS if m.stage is not None)
"""The rows ``graphrec run`` writes an embedding directory for."""
BASELINES = tuple(m.name for m in MODEL_RUNS if m.kind == "baseline")
EMBEDDING_MODELS = tuple(m.name for m in MODEL_RUNS if m.kind == "embedding" and m.contract)
ORACLE = next(m.name for m in MODEL_RUNS if m.kind == "oracle")
PRECOMPUTABLE = tuple(m.name for m in BUILT if m.kind == "baseline")
TREATMENT_ORDER = _ranked("treatment")
CONTROL_ORDER = _ranked("control")
CONTENT_ONLY = tuple(m.name for m in MODEL_RUNS if m.content_only)
"""The content-only models, in table order (the automatic A/B control's candidates)."""
LADDER = tuple((m.ladder, m.name) for m in MODEL_RUNS if m.ladder is not None)
