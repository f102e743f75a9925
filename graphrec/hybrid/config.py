"""Typed configuration of the ``full`` model (``graphrec train-full``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphrec.utils.config import ConfigError


@dataclass(frozen=True)
class TeacherConfig:
    """The warm (collaborative) part: implicit's ALS over the train saves, tuned on validation.

    Every combination of the grids is fitted on the train saves and the one with the best
    validation Recall@20 on warm pins is kept (the same search as the tuned ``als`` baseline,
    with a larger factor range so big catalogues can use more capacity).

    Args:
        factors: latent dimensions searched (32, 64, 128).
        regularization: L2 weights searched (0.05, 5.0).
        alpha: confidence of a save (10).
        iterations: ALS sweeps (15).
    """

    factors: tuple[int, ...] = (32, 64, 128)
    regularization: tuple[float, ...] = (0.05, 5.0)
    alpha: float = 10.0
    iterations: int = 15

    def __post_init__(self) -> None:
        if not self.factors or not self.regularization:
            raise ConfigError("full.teacher: factors and regularization need at least one value")
        if min(self.factors) < 1 or min(self.regularization) < 0 or self.iterations < 1 or self.alpha <= 0:
            raise ConfigError("full.teacher: factors, iterations >= 1, regularization >= 0, alpha > 0")


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
    """

    hidden_dim: int = 256
    dropout: float = 0.2
    epochs: int = 40
    batch_size: int = 2048
    lr: float = 3e-3
    weight_decay: float = 1e-4
    rank_weight: float = 0.0
    temperature: float = 0.05

    def __post_init__(self) -> None:
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
    the ones that save new pins. Both are picked from the grids by validation Recall@20 on the
    whole catalogue (``criterion``).

    Args:
        offsets: grid of the constant added to cold z-scores.
        recency: grid of the recency weight.
        criterion: ``macro`` (mean of the warm and cold slices' Recall@20: both halves of the
            job count the same; the default) or ``all`` (Recall@20 over every held-out pin, which
            on every dataset measured so far picks "no cold pins": see docs/full.md).
        k: the cut-off of the criterion.
    """

    offsets: tuple[float, ...] = (-3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5)
    recency: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0)
    criterion: str = "macro"
    k: int = 20

    def __post_init__(self) -> None:
        if not self.offsets or not self.recency or self.k < 1:
            raise ConfigError("full.calibration: offsets and recency grids must be non-empty and k >= 1")
        if self.criterion not in ("all", "macro"):
            raise ConfigError(f"full.calibration.criterion: expected all or macro, got {self.criterion!r}")


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
