"""Typed configuration of the ``full`` model (``graphrec train-full``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphrec.utils.config import ConfigError

TEACHER_MODELS = ("als", "ease", "rp3beta")
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
    over ``rp3_alphas x rp3_betas`` are fitted on the train saves; the best of each family and
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
        blend_step: grid step of the blend weights (0.25: 15 blends of three families).
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
        if not self.factors or not self.regularization:
            raise ConfigError("full.teacher: factors and regularization need at least one value")
        if min(self.factors) < 1 or min(self.regularization) < 0 or self.iterations < 1 or self.alpha <= 0:
            raise ConfigError("full.teacher: factors, iterations >= 1, regularization >= 0, alpha > 0")
        unknown = sorted(set(self.models) - set(TEACHER_MODELS))
        if unknown or "als" not in self.models:
            raise ConfigError(
                f"full.teacher.models: choose from {list(TEACHER_MODELS)} (als included), got {list(self.models)}"
            )
        if not self.ease_lambdas or min(self.ease_lambdas) <= 0 or self.ease_max_pins < 1:
            raise ConfigError(f"full.teacher.ease_lambdas: positive values expected, got {list(self.ease_lambdas)}")
        if not self.rp3_alphas or not self.rp3_betas or min(self.rp3_alphas) <= 0 or min(self.rp3_betas) < 0:
            raise ConfigError("full.teacher: rp3_alphas > 0 and rp3_betas >= 0, both non-empty")
        if not 0 < self.blend_step <= 1 or abs(round(1 / self.blend_step) * self.blend_step - 1) > 1e-9:
            raise ConfigError(f"full.teacher.blend_step: 1/n for an integer n expected, got {self.blend_step}")
        if self.rank < 1 or self.dense_max < 1:
            raise ConfigError(f"full.teacher: rank and dense_max >= 1 (got {self.rank}, {self.dense_max})")


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
        if self.kind not in STUDENT_KINDS:
            raise ConfigError(f"full.student.kind: expected one of {list(STUDENT_KINDS)}, got {self.kind!r}")
        if (
            not self.neighbours
            or min(self.neighbours) < 1
            or not self.neighbour_temperature
            or min(self.neighbour_temperature) <= 0
        ):
            raise ConfigError(
                "full.student: neighbours >= 1 and neighbour_temperature > 0, both non-empty "
                f"(got {list(self.neighbours)}, {list(self.neighbour_temperature)})"
            )
        if self.hidden_dim < 1 or self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("full.student: hidden_dim, epochs, batch_size >= 1 and lr > 0")
        if not 0.0 <= self.dropout < 1.0 or self.weight_decay < 0 or self.rank_weight < 0 or self.temperature <= 0:
            raise ConfigError("full.student: dropout in [0, 1), weight_decay, rank_weight >= 0, temperature > 0")


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
        if not self.offsets or not self.recency or self.k < 1:
            raise ConfigError("full.calibration: offsets and recency grids must be non-empty and k >= 1")
        if self.criterion not in CRITERIA:
            raise ConfigError(f"full.calibration.criterion: expected one of {list(CRITERIA)}, got {self.criterion!r}")
        if not self.popularity or min(self.popularity) < 0 or self.popularity_ridge <= 0:
            raise ConfigError(
                "full.calibration: popularity must be a non-empty grid of weights >= 0 and popularity_ridge > 0"
            )
        if not 0.0 <= self.tolerance < 1.0:
            raise ConfigError(f"full.calibration.tolerance: expected a share in [0, 1), got {self.tolerance}")


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
