"""Typed configuration of the PinSage-style GraphSAGE stage (``graphrec train-sage``).

Load it with ``graphrec.utils.config.load_config(SageConfig, yaml_path, ["train.epochs=5", ...])``.
Every section is a frozen dataclass; the whole tree is logged to MLflow and stored in the model
directory's ``config.json`` so ``embed-graph`` rebuilds exactly the trained model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from graphrec.utils.config import check, check_min, check_positive, check_range


@dataclass(frozen=True)
class SamplerConfig:
    """Importance neighbourhoods from short random walks (PinSage section 3.2, DGL PinSAGESampler).

    A walk from a pin alternates pin -> board -> pin; one *traversal* is two hops. After each
    traversal the walk stops with ``restart_prob`` (the next walk restarts at the origin), at
    most ``walk_length`` traversals. Visits are counted per origin; the top-T visited nodes of
    each type, weighted by L1-normalised visit counts, are the node's neighbourhood.

    Args:
        n_walks: walks started from every node (default 32).
        walk_length: maximum traversals per walk (default 2).
        restart_prob: chance to stop (restart) after each traversal (default 0.5).
        pin_pins: T for pin -> pin neighbours (pins reached after whole traversals; default 10).
        pin_boards: T for pin -> board neighbours (boards on the way; 0 disables; default 0).
        board_pins: T for board -> pin neighbours (default 10).
        board_boards: T for board -> board neighbours (0 disables; default 0).
        exclude_self: never list a node as its own neighbour (its self path is separate).
        chunk: origins walked per vectorised chunk (bounds memory; fixed for determinism).
    """

    n_walks: int = 32
    walk_length: int = 2
    restart_prob: float = 0.5
    pin_pins: int = 10
    pin_boards: int = 0
    board_pins: int = 10
    board_boards: int = 0
    exclude_self: bool = True
    chunk: int = 65536

    def __post_init__(self) -> None:
        check_min("sage.sampler", self, 1, "n_walks", "walk_length", "chunk", "board_pins")
        check_range("sage.sampler", self, "restart_prob")
        check_min("sage.sampler", self, 0, "pin_pins", "pin_boards", "board_boards")
        check(self.pin_pins + self.pin_boards > 0, "sage.sampler.pin_pins", "pins need pin_pins or pin_boards > 0")


@dataclass(frozen=True)
class ModelConfig:
    """The heterogeneous PinSage convolution stack.

    Args:
        n_layers: K convolutions (default 2, as PinSage).
        hidden_dim: width of messages ``ReLU(Q h + q)`` and of intermediate layers (default 128).
        out_dim: embedding dimension of pins and boards (default 64).
        pooling: ``importance`` (visit-count weighted mean, PinSage) or ``mean`` (uniform weights
            over the same top-T neighbours: the "mean-pool" ablation of PinSage Table 1).
        input_skip: add a linear projection of the node's own input features to the output
            (keeps the content path strong for pins with empty neighbourhoods).
        degree_feature: append ``log1p(degree)`` to the input features (PinSage does); cold
            and isolated pins see 0.
        id_dim: width of learned ID vectors for warm pins and boards (0 = none: a purely
            inductive model). Cold, isolated and new pins get zeros, so they are embedded from
            content alone; the model is then tied to the graph it was trained on.
    """

    n_layers: int = 2
    hidden_dim: int = 128
    out_dim: int = 64
    pooling: Literal["importance", "mean"] = "importance"
    input_skip: bool = True
    degree_feature: bool = True
    id_dim: int = 0

    def __post_init__(self) -> None:
        check_min("sage.model", self, 1, "n_layers", "hidden_dim", "out_dim")
        check_min("sage.model", self, 0, "id_dim")


@dataclass(frozen=True)
class LossConfig:
    """Training objective.

    Args:
        kind: ``sampled_softmax`` (OmniSearchSage: in-batch + random negatives, logQ
            correction, learnable temperature; the default, it won on validation recall) or
            ``max_margin`` (PinSage).
        margin: hinge margin on inner products of unit vectors (max_margin).
        easy_negatives: uniformly drawn negative pins shared by the batch (PinSage shares 500).
        negatives_from: ``warm`` draws them from pins with train saves (pins the training data
            says something about; isolation then hits positives and negatives alike, so an empty
            neighbourhood carries no label information), ``all`` from the whole catalogue.
        hard_negatives: curriculum hard negatives per query; epoch 1 uses none, then one more per
            epoch up to this number (PinSage). 0 disables them.
        hard_rank_lo, hard_rank_hi: the hard-negative rank window as fractions of the catalogue
            (ranked by a 3-hop personalised-PageRank truncation from the query board), capped at
            PinSage's absolute window 2000-5000 (tuned for billions of pins): 1 %-5 % gives ranks
            50-250 for 5,000 pins and exactly 2000-5000 from 200,000 pins up.
        hard_pool: hard-negative candidates drawn per board from its window (once per run).
        temperature_init: initial softmax temperature (0.07 -> logit scale 14.3).
        max_logit_scale: clamp of the learnable logit scale 1/temperature (100).
        logq: subtract log sampling probability from negative logits (sampled_softmax).
        pin_pair_weight: weight of the pin -> co-saved pin loss next to the board -> pin loss.
    """

    kind: Literal["max_margin", "sampled_softmax"] = "sampled_softmax"
    margin: float = 0.1
    easy_negatives: int = 256
    negatives_from: Literal["warm", "all"] = "warm"
    hard_negatives: int = 6
    hard_rank_lo: float = 0.01
    hard_rank_hi: float = 0.05
    hard_pool: int = 64
    temperature_init: float = 0.07
    max_logit_scale: float = 100.0
    logq: bool = True
    pin_pair_weight: float = 0.5

    def __post_init__(self) -> None:
        check_min("sage.loss", self, 1, "easy_negatives", "hard_pool")
        check_min("sage.loss", self, 0, "hard_negatives", "pin_pair_weight")
        check(
            0.0 <= self.hard_rank_lo < self.hard_rank_hi <= 1.0,
            "sage.loss.hard_rank_lo",
            f"need 0 <= hard_rank_lo < hard_rank_hi <= 1, got {self.hard_rank_lo} and {self.hard_rank_hi}",
        )
        check_positive("sage.loss", self, "temperature_init", "max_logit_scale")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and the supervision/message edge split.

    Args:
        epochs: passes over the supervision edges (default 15).
        batch_size: positive (board, pin) pairs per step (default 512).
        lr: AdamW learning rate; weight_decay its decay.
        lr_schedule: ``cosine`` (decay to 5 % of ``lr`` over the run, a function of epoch and
            step, so a resumed run follows the same curve) or ``constant``.
        supervision_fraction: share of train edges held out of message passing each epoch and
            used as positives (re-drawn every epoch), so the model never sees the edge it must
            predict, and pins whose every edge is held out train the cold-start path.
        cold_fraction: share of pins made pseudo-cold each epoch: all their edges are held out
            (isolated in message passing, positives for every board they are on), as the graph
            split does with cold pins. It sets how new pins rank against established ones:
            0 lets popularity win (cold recall collapses), 0.1-0.2 floods the top with new pins
            (warm recall collapses); 0.03 was chosen on validation recall (docs/sage.md).
        id_dropout: chance a warm pin's ID vector is zeroed in a batch (with ``model.id_dim``).
        isolate_prob: node-level neighbourhood dropout: chance a target pin is embedded with an
            empty neighbourhood at every layer, as a cold pin is at inference.
        edge_dropout: chance to drop each sampled neighbour (weights are renormalised).
        steps_per_epoch: cap on steps per epoch (0 = one pass over the supervision edges).
        checkpoint_every: write a checkpoint every N steps (0 = only at epoch ends).
        keep_checkpoints: newest checkpoints kept.
    """

    epochs: int = 15
    batch_size: int = 512
    lr: float = 3e-3
    weight_decay: float = 1e-5
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    supervision_fraction: float = 0.25
    cold_fraction: float = 0.03
    isolate_prob: float = 0.1
    id_dropout: float = 0.1
    edge_dropout: float = 0.1
    steps_per_epoch: int = 0
    checkpoint_every: int = 200
    keep_checkpoints: int = 2

    def __post_init__(self) -> None:
        check_min("sage.train", self, 1, "epochs", "keep_checkpoints")
        check_min("sage.train", self, 2, "batch_size")
        check_positive("sage.train", self, "lr")
        fractions = ("supervision_fraction", "cold_fraction", "isolate_prob", "id_dropout", "edge_dropout")
        check_range("sage.train", self, *fractions)
        check_min("sage.train", self, 0, "steps_per_epoch", "checkpoint_every")


@dataclass(frozen=True)
class SageConfig:
    """The whole stage: sampler, model, loss, training, and the one seed."""

    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
