"""Typed configuration of the ``full`` model (``graphrec train-full``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphrec.utils.config import check, check_choices, check_each, check_min, check_positive, check_range

TEACHER_MODELS = ("als", "ease", "rp3beta", "lightgcn")
CRITERIA = ("guarded", "macro", "all")
STUDENT_KINDS = ("auto", "mlp", "neighbours", "mix")
ABLATIONS = ("teacher_only", "mlp_no_recency", "no_recency")
"""``full`` without parts, rebuilt from a fitted model without retraining (a cumulative ladder,
graphrec/hybrid/train.py ``ablate``): the teacher alone (no cold pin ever enters a list), + the
MLP student calibrated without the recency term, + the validation's choice of inductive path
(neighbours / MLP / mix), still without recency; ``full`` itself adds the recency term."""


@dataclass(frozen=True)
class TeacherConfig:
    """The warm (collaborative) part, chosen on validation (graphrec/hybrid/teacher.py).

    Every ALS of the ``factors x regularization`` grid, EASE over ``ease_lambdas`` and RP3beta
    over ``rp3_alphas x rp3_betas`` are fitted on the train saves, LightGCN is the ``lightgcn``
    baseline's fit (``eval.lightgcn``, epochs chosen on validation; ``graphrec run`` trains it
    once, in its fit-lightgcn stage, for this search and for ``evaluate``) and a candidate on its
    own, not a blend component; the best of each of the other families and
    their per-board z-scored blends (weights on a simplex of ``blend_step``) are scored by
    validation Recall@20 on warm pins, and the best becomes the teacher (a blend through its
    rank-``rank`` SVD). No single model is best everywhere (ALS on the synthetic catalogue, an
    ALS + EASE blend on MovieLens): the search is the recipe, the data picks the winner.

    Args:
        models: the families searched (``als`` is always fitted: it is the fallback and the
            fold-in of ``add-pins``).
        factors: ALS latent dimensions (32, 64, 128).
        regularization: ALS L2 weights (0.05, 5.0).
        alpha: ALS confidence of a save (10).
        iterations: ALS sweeps (15).
        ease_lambdas: EASE L2 weights (the ``ease`` baseline's grid).
        ease_max_pins: no EASE above this many warm pins (a dense warm x warm inverse).
        rp3_alphas, rp3_betas: RP3beta exponents and popularity penalties.
        blend_step: grid step of the blend weights (0.25: 15 blends of ALS, EASE and RP3beta;
            LightGCN is searched alone, not blended).
        rank: dimension of a blend's truncated SVD (128).
        dense_max: largest boards x warm pins score matrix held in memory (EASE, RP3beta and
            blends need it; above it ALS alone is the teacher).
    """

    models: tuple[str, ...] = TEACHER_MODELS
    factors: tuple[int, ...] = (32, 64, 128)
    regularization: tuple[float, ...] = (0.05, 5.0)
    alpha: float = 10.0
    iterations: int = 15
    ease_lambdas: tuple[float, ...] = (50.0, 200.0, 1000.0)
    ease_max_pins: int = 30_000
    rp3_alphas: tuple[float, ...] = (0.5, 1.0)
    rp3_betas: tuple[float, ...] = (0.0, 0.25, 0.5)
    blend_step: float = 0.25
    rank: int = 128
    dense_max: int = 100_000_000

    def __post_init__(self) -> None:
        check_each("full.teacher.factors", self.factors, 1)
        check_each("full.teacher.regularization", self.regularization, 0)
        check_min("full.teacher", self, 1, "iterations", "ease_max_pins", "rank", "dense_max")
        check_positive("full.teacher", self, "alpha")
        check_choices("full.teacher.models", self.models, TEACHER_MODELS)
        check("als" in self.models, "full.teacher.models", f"must include als, got {list(self.models)}")
        check_each("full.teacher.ease_lambdas", self.ease_lambdas, 0, strict=True)
        check_each("full.teacher.rp3_alphas", self.rp3_alphas, 0, strict=True)
        check_each("full.teacher.rp3_betas", self.rp3_betas, 0)
        step = self.blend_step
        one_over_n = 0 < step <= 1 and abs(round(1 / step) * step - 1) <= 1e-9
        check(one_over_n, "full.teacher.blend_step", f"1/n for an integer n expected, got {step}")


@dataclass(frozen=True)
class StudentConfig:
    """The inductive part: an MLP from a pin's PinCLIP content embedding to its teacher vector.

    Trained on warm pins as if they were cold (content only), with the teacher's board vectors
    frozen: mean squared error to the teacher pin vector (ALDI's alignment) plus, with
    ``rank_weight > 0``, a softmax over the warm catalogue for every train save (the ranking
    the teacher induces, scored through the student).

    Args:
        hidden_dim: hidden width (256).
        dropout: input dropout (0.2).
        epochs: passes over the train saves (40).
        batch_size: saves per step (2048).
        lr, weight_decay: AdamW.
        rank_weight: weight of the softmax ranking loss (0 = alignment only).
        temperature: softmax temperature of the ranking loss.
        kind: the inductive path: ``mlp`` (this student), ``neighbours`` (the softmax-weighted
            teacher vectors of the pin's most content-similar warm pins,
            graphrec/hybrid/neighbours.py), ``mix`` (their mean) or ``auto`` (the default: the
            best of the three, every ``neighbours x neighbour_temperature``, by validation
            Recall@20 of cold pins ranked among cold pins).
        neighbours, neighbour_temperature: the neighbour path's grids (20/50, 0.05/0.1).
    """

    hidden_dim: int = 256
    dropout: float = 0.2
    epochs: int = 40
    batch_size: int = 2048
    lr: float = 3e-3
    weight_decay: float = 1e-4
    rank_weight: float = 0.0
    temperature: float = 0.05
    kind: str = "auto"
    neighbours: tuple[int, ...] = (20, 50)
    neighbour_temperature: tuple[float, ...] = (0.05, 0.1)

    def __post_init__(self) -> None:
        check_choices("full.student.kind", self.kind, STUDENT_KINDS)
        check_each("full.student.neighbours", self.neighbours, 1)
        check_each("full.student.neighbour_temperature", self.neighbour_temperature, 0, strict=True)
        check_min("full.student", self, 1, "hidden_dim", "epochs", "batch_size")
        check_positive("full.student", self, "lr", "temperature")
        check_range("full.student", self, "dropout")
        check_min("full.student", self, 0, "weight_decay", "rank_weight")


@dataclass(frozen=True)
class CalibrationConfig:
    """How cold (student) scores are put on the warm (teacher) scale, chosen on the validation split.

    Per board, warm scores and cold scores are each z-scored over the catalogue's warm / cold
    pins; a cold pin then gets ``offset + recency * r_b`` added, where ``r_b`` is the board's
    standardised time of its latest train save (0 without timestamps): boards active lately are
    the ones that save new pins. Both are picked from the grids on the validation saves
    (``criterion``).

    Args:
        offsets: grid of the constant added to cold z-scores.
        recency: grid of the recency weight.
        criterion: ``guarded`` (the default: the most cold Recall@20 among the grid points that
            keep warm Recall@20 within ``tolerance`` of the best single collaborative model of
            the teacher search (ALS, EASE or RP3beta alone, the strongest baseline a user would
            pick): fresh pins may spend what the teacher's blend gained over it, and no more),
            ``macro`` (mean of the warm and cold slices' Recall@20) or ``all`` (Recall@20 over
            every held-out pin, which on every dataset measured so far picks "no cold pins").
        tolerance: how far below that model's validation warm Recall@20 ``guarded`` may go,
            as a share (0.01).
        popularity: grid of the weight of the cold pins' content-predicted popularity
            (graphrec/hybrid/prior.py; 0 = none). Off by default, ``(0.0,)``: with the grid
            (0, 0.5, 1, 2) validation chose 0 on MovieLens (seed 0) and 2 on the synthetic
            default, where popularity does not follow content and cold test recall fell to 0.
        popularity_ridge: the ridge of that prediction, relative to the mean eigenvalue (0.1).
        k: the cut-off of the criterion.
    """

    offsets: tuple[float, ...] = (-12.0, -10.0, -8.0, -7.0, -6.0, -5.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0)
    recency: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0)
    criterion: str = "guarded"
    tolerance: float = 0.01
    popularity: tuple[float, ...] = (0.0,)
    popularity_ridge: float = 0.1
    k: int = 20

    def __post_init__(self) -> None:
        check(len(self.offsets) > 0, "full.calibration.offsets", "needs at least one value")
        check(len(self.recency) > 0, "full.calibration.recency", "needs at least one value")
        check_min("full.calibration", self, 1, "k")
        check_choices("full.calibration.criterion", self.criterion, CRITERIA)
        check_range("full.calibration", self, "tolerance")
        check_each("full.calibration.popularity", self.popularity, 0)
        check_positive("full.calibration", self, "popularity_ridge")


@dataclass(frozen=True)
class FullConfig:
    """The whole stage and its one seed.

    Args:
        text_features: feed the student the frozen MiniLM text embedding (``content_minilm``)
            next to the PinCLIP content embedding: a pretrained text model knows that two short
            names are related, which a tower trained on a few thousand titles cannot.
    """

    text_features: bool = True
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    seed: int = 0
