"""Typed configs of the evaluation stage (``graphrec evaluate`` and ``graphrec ab-sim``).

Baseline defaults were picked on the **val** split of the synthetic default
(``graphrec synth --pins 5000 --seed 0``), never on test; see docs/evaluation.md.

One YAML file (``--config``) plus ``--set key.sub=value`` overrides fills :class:`EvalConfig`;
the protocol is declared here once and run the same way for every model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# Which models exist comes from the one model table (graphrec/model_table.py):
# BASELINES are fitted on the train graph by the evaluation stage itself; EMBEDDING_MODELS are
# read from embedding directories (``--emb``, names are output contracts); ORACLE is the
# reference ceiling from the planted truth of synthetic data (only when ``truth/`` exists).
from graphrec.model_table import BASELINES, EMBEDDING_MODELS, ORACLE
from graphrec.utils.config import check, check_choices, check_each, check_min, check_positive, check_range

KNOWN_MODELS = BASELINES + EMBEDDING_MODELS + (ORACLE,)

Task = Literal["board_to_pin", "pin_to_pin"]
Split = Literal["test", "val"]
Examination = Literal["log2", "reciprocal", "uniform"]


@dataclass(frozen=True)
class ALSConfig:
    """implicit's AlternatingLeastSquares (board = user row, pin = item column).

    Args:
        factors: latent dimension (32).
        regularization: L2 weight (0.05).
        alpha: confidence scale of a save (10).
        iterations: ALS sweeps (15).
        num_threads: implicit threads (1: deterministic and polite on shared cores).
        factors_grid, regularization_grid, alpha_grid: values searched on the validation split
            (every combination; an empty grid keeps the single value above).
    """

    factors: int = 32
    regularization: float = 0.05
    alpha: float = 10.0
    iterations: int = 15
    num_threads: int = 1
    factors_grid: tuple[int, ...] = (16, 32, 64)
    regularization_grid: tuple[float, ...] = (0.05, 5.0)
    alpha_grid: tuple[float, ...] = (5.0, 10.0)

    def __post_init__(self) -> None:
        check_min("eval.als", self, 1, "factors", "iterations", "num_threads")
        check_min("eval.als", self, 0, "regularization")
        check_positive("eval.als", self, "alpha")
        check_each("eval.als.factors_grid", self.factors_grid, 1, empty=True)
        check_each("eval.als.regularization_grid", self.regularization_grid, 0, empty=True)
        check_each("eval.als.alpha_grid", self.alpha_grid, 0, strict=True, empty=True)

    def grid(self) -> dict[str, tuple]:
        """The searched values per setting (a setting without a grid keeps its one value)."""
        return {
            "factors": self.factors_grid or (self.factors,),
            "regularization": self.regularization_grid or (self.regularization,),
            "alpha": self.alpha_grid or (self.alpha,),
        }


@dataclass(frozen=True)
class BPRConfig:
    """implicit's BayesianPersonalizedRanking (board = user row).

    Args:
        factors: latent dimension (64).
        learning_rate: SGD step (0.01).
        regularization: L2 weight (0.01).
        iterations: epochs over the saves (200).
        num_threads: implicit threads (1: Hogwild with more threads is not deterministic).
    """

    factors: int = 64
    learning_rate: float = 0.01
    regularization: float = 0.01
    iterations: int = 200
    num_threads: int = 1

    def __post_init__(self) -> None:
        check_min("eval.bpr", self, 1, "factors", "iterations", "num_threads")
        check_positive("eval.bpr", self, "learning_rate")
        check_min("eval.bpr", self, 0, "regularization")


@dataclass(frozen=True)
class LightGCNConfig:
    """torch_geometric.nn.LightGCN trained with BPR on the train graph (boards and pins are nodes).

    The number of epochs is chosen on the validation split (early stopping): every
    ``eval_every`` epochs the model's val Recall@20 (the criterion of every tuned baseline,
    eval.recommenders.selection) is measured, the best epoch's embeddings are kept, and training
    stops after ``patience`` measurements without a new best. A fixed 60 epochs left it
    undertrained on MovieLens-small (val 0.234 at 60 epochs, 0.26 at 120-160).

    Args:
        dim: embedding size (64).
        layers: propagation layers (2).
        epochs: most passes over the train saves (200).
        batch_size: saves per BPR step (4096).
        lr: Adam learning rate (0.01).
        lambda_reg: L2 weight of the BPR loss on the batch's layer-0 embeddings (1e-4).
        eval_every: epochs between two validation measurements (10).
        patience: measurements without a new best before stopping (3); 0 trains all ``epochs``
            and never reads the validation split.
    """

    dim: int = 64
    layers: int = 2
    epochs: int = 200
    batch_size: int = 4096
    lr: float = 0.01
    lambda_reg: float = 1e-4
    eval_every: int = 10
    patience: int = 3

    def __post_init__(self) -> None:
        check_min("eval.lightgcn", self, 1, "dim", "layers", "epochs", "batch_size", "eval_every")
        check_min("eval.lightgcn", self, 0, "patience")
        check_positive("eval.lightgcn", self, "lr")
        check_min("eval.lightgcn", self, 0, "lambda_reg")


@dataclass(frozen=True)
class EASEConfig:
    """EASE (Steck 2019), ``B = I - P / diag(P)``, ``P = (X^T X + lambda I)^-1``.

    Args:
        lambdas: L2 weights searched on the validation split (one value: no search).
        max_pins: skip the model (logged, in the manifest) above this many warm pins.
        dtype: precision of the inverse, ``float32`` (half the memory and time) or ``float64``.
    """

    lambdas: tuple[float, ...] = (50.0, 200.0, 1000.0)
    max_pins: int = 30_000
    dtype: Literal["float32", "float64"] = "float32"

    def __post_init__(self) -> None:
        check_each("eval.ease.lambdas", self.lambdas, 0, strict=True)
        check_min("eval.ease", self, 1, "max_pins")


@dataclass(frozen=True)
class RP3betaConfig:
    """RP3beta (Paudel et al. 2017): 3-step walk similarity with popularity penalty.

    Args:
        alphas: exponents of the transition probabilities searched on validation (> 0).
        betas: popularity penalties searched on validation (>= 0).
        top_k: neighbours kept per pin (0 = all).
    """

    alphas: tuple[float, ...] = (0.5, 1.0)
    betas: tuple[float, ...] = (0.0, 0.25, 0.5)
    top_k: int = 0

    def __post_init__(self) -> None:
        check_each("eval.rp3beta.alphas", self.alphas, 0, strict=True)
        check_each("eval.rp3beta.betas", self.betas, 0)
        check_min("eval.rp3beta", self, 0, "top_k")


@dataclass(frozen=True)
class ContentMiniLMConfig:
    """Frozen all-MiniLM-L6-v2 text baseline (``title. description``).

    Args:
        max_length: tokens per text (128).
        batch_size: texts per encoder batch (256).
    """

    max_length: int = 128
    batch_size: int = 256

    def __post_init__(self) -> None:
        check_min("eval.content_minilm", self, 8, "max_length")
        check_min("eval.content_minilm", self, 1, "batch_size")


CF_MODELS = ("als", "ease", "rp3beta", "lightgcn", "bpr")
"""Collaborative models the blend may pick for warm pins."""


@dataclass(frozen=True)
class BlendConfig:
    """Blend of the best CF model (warm pins) and content_minilm (cold pins), z-scored per board.

    Args:
        cf_models: candidate CF models (those evaluated in the same run; all when none is).
        offset_min, offset_max, offset_step: grid of the constant added to the cold z-scores.
        criterion: what the val split maximises: ``all`` (Recall@20 on all relevant pins) or
            ``warm_cold_mean`` (the mean of the warm and cold Recall@20).
    """

    cf_models: tuple[str, ...] = CF_MODELS
    offset_min: float = -3.0
    offset_max: float = 3.0
    offset_step: float = 0.25
    criterion: Literal["all", "warm_cold_mean"] = "all"

    def __post_init__(self) -> None:
        check(len(self.cf_models) > 0, "eval.blend.cf_models", f"needs at least one of {list(CF_MODELS)}")
        check_choices("eval.blend.cf_models", self.cf_models, CF_MODELS)
        check_positive("eval.blend", self, "offset_step")
        check(
            self.offset_max >= self.offset_min,
            "eval.blend.offset_max",
            f"{self.offset_max} must be >= offset_min ({self.offset_min})",
        )

    def offsets(self) -> tuple[float, ...]:
        """``offset_min, offset_min + step, ..., <= offset_max`` (rounded to 1e-9)."""
        n = int((self.offset_max - self.offset_min) / self.offset_step + 1e-9) + 1
        return tuple(round(self.offset_min + i * self.offset_step, 9) for i in range(n))


@dataclass(frozen=True)
class ABConfig:
    """Offline A/B simulator: feeds, engagement model, statistics.

    Relevance r in [0, 1] of a served pin: the planted affinity of the board for the pin divided
    by the board's best affinity (synthetic data, ``truth/``), else 1 for the board's held-out
    saves and 0 otherwise. A pin at position i (1-based) is examined with probability
    ``examination(i)``, clicked with ``click_min + (click_max - click_min) * r`` given examined,
    and saved ("repinned") with ``repin_min + (repin_max - repin_min) * r`` given a click.

    Args:
        control: control arm model name. ``auto`` (the default): of the content-only models
            given as runs (content, clip_no_neighbors, the run's content_minilm; not the
            treatment), the one with the best validation cold Recall@20, the strongest model a
            user would serve fresh pins with instead (``eval.ab_run.choose_control``, recorded in
            ab.json ``control_choice``); without one, the first available of sage_raw,
            clip_no_neighbors, lightgcn, als, bpr, popularity that is not the treatment.
        treatment: treatment arm (``auto``: the first available of full, content,
            clip_no_neighbors, sage_raw).
        feed_size: pins per user feed (top-N of the arm's ranking, train/val saves masked).
        examination: position bias, ``log2`` (1/log2(i+1)), ``reciprocal`` (1/i) or ``uniform``.
        click_min, click_max: click probability of an examined pin at relevance 0 and 1.
        repin_min, repin_max: save probability given a click at relevance 0 and 1.
        n_bootstrap: paired bootstrap resamples of users for the 95 % CIs (>= 100: the
            log-ratio interval uses their standard deviation).
        n_permutations: paired sign-flip permutations for the p-values.
        interleaving: also run team-draft interleaving of the two arms.
        max_users: simulate at most this many users (seeded sample; 0 = every test board).
        min_events: fewer clicks/repins than this in either arm -> "insufficient data", no lift.
        sensitivity: also report the expected lifts under other c0, dc and examination curves.
        ope: also log feeds from a stochastic policy and estimate both arms with IPS/SNIPS/DR.
        ope_epsilon: the logging policy's uniform-exploration probability per slot (0, 1].
        sessions: independent sessions per user, each showing the same feed (more events, the
            same expected lifts; the bootstrap stays over users, so sessions of one user are
            not treated as independent users). 20 by default: with one session the fresh arm
            of an 11k-pin catalogue had 2 repins, below ``min_events``.
        replay: also replay the held-out saves in time order (``eval.replay``; needs
            ``saved_at``): is the saved pin in the arm's feed for that board at that time?
    """

    control: str = "auto"
    treatment: str = "auto"
    feed_size: int = 25
    examination: Examination = "log2"
    click_min: float = 0.02
    click_max: float = 0.3
    repin_min: float = 0.05
    repin_max: float = 0.5
    n_bootstrap: int = 1000
    n_permutations: int = 1000
    interleaving: bool = True
    max_users: int = 0
    min_events: int = 30
    sensitivity: bool = True
    ope: bool = True
    ope_epsilon: float = 0.1
    sessions: int = 20
    replay: bool = True

    def __post_init__(self) -> None:
        probabilities = ("click_min", "click_max", "repin_min", "repin_max")
        for name in probabilities:
            v = getattr(self, name)
            check(isinstance(v, (int, float)) and not isinstance(v, bool), f"eval.ab.{name}", f"a number, got {v!r}")
        check_range("eval.ab", self, *probabilities, hi_closed=True)
        for lo, hi in (("click_min", "click_max"), ("repin_min", "repin_max")):
            a, b = getattr(self, lo), getattr(self, hi)
            check(a <= b, f"eval.ab.{lo}", f"{a} must be <= ab.{hi} ({b})")
        check_choices("eval.ab.examination", self.examination, ("log2", "reciprocal", "uniform"))
        checks = (
            ("feed_size", 1),
            ("n_bootstrap", 100),
            ("n_permutations", 10),
            ("max_users", 0),
            ("min_events", 0),
            ("sessions", 1),
        )
        for name, low in checks:
            v = getattr(self, name)
            check(isinstance(v, int) and not isinstance(v, bool), f"eval.ab.{name}", f"an integer expected, got {v!r}")
            check_min("eval.ab", self, low, name)
        eps = self.ope_epsilon
        check(0.0 < eps <= 1.0, "eval.ab.ope_epsilon", f"must be in (0, 1], got {eps!r}")


@dataclass(frozen=True)
class EvalConfig:
    """The evaluation protocol, the baselines' settings and the A/B simulator.

    Args:
        ks: cut-offs K of Recall/NDCG/Hit/coverage/popularity (10, 20, 50).
        split: held-out split scored: ``test`` (train and val saves masked) or ``val``.
        tasks: ``board_to_pin`` (metrics.json) and optionally ``pin_to_pin`` (pin_to_pin.json).
        runs: embedding directories to evaluate, in addition to the CLI's ``--emb``.
        models: names to evaluate; empty = every available model (baselines, the runs, the
            oracle when the graph has planted truth). Unavailable known names are left out.
        batch_size: queries scored per batched matrix product.
        max_queries: evaluate at most this many queries per task (20,000): above it a seeded
            sample is scored and metrics.json gets ``ci95`` (the sample's 95 % CIs); 0 = all.
            The validation choices (grids, blend, LightGCN's epochs, the A/B control) score at
            most this many val boards, in the same way.
            20,000 queries x 100k pins scores in well under a minute per model and task.
        num_threads: torch threads while fitting/scoring (1: on a shared 2-core machine more
            threads made sparse products 10x slower; restored afterwards).
        seed: the one seed (model fits, tie-breaking, sampling, A/B draws).
        als, bpr, lightgcn, ease, rp3beta, content_minilm, blend: baseline settings (grids are
            searched on the val split: eval.recommenders.selection).
        ab: the offline A/B simulator.
    """

    ks: tuple[int, ...] = (10, 20, 50)
    split: Split = "test"
    tasks: tuple[Task, ...] = ("board_to_pin", "pin_to_pin")
    runs: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    batch_size: int = 512
    max_queries: int = 20_000
    num_threads: int = 1
    seed: int = 0
    als: ALSConfig = field(default_factory=ALSConfig)
    bpr: BPRConfig = field(default_factory=BPRConfig)
    lightgcn: LightGCNConfig = field(default_factory=LightGCNConfig)
    ease: EASEConfig = field(default_factory=EASEConfig)
    rp3beta: RP3betaConfig = field(default_factory=RP3betaConfig)
    content_minilm: ContentMiniLMConfig = field(default_factory=ContentMiniLMConfig)
    blend: BlendConfig = field(default_factory=BlendConfig)
    ab: ABConfig = field(default_factory=ABConfig)

    def __post_init__(self) -> None:
        ks = list(self.ks)
        increasing = bool(ks) and min(ks) >= 1 and ks == sorted(set(ks))
        check(increasing, "eval.ks", f"must be increasing positive cut-offs, got {ks}")
        check("board_to_pin" in self.tasks, "eval.tasks", "must include board_to_pin (the metrics.json protocol)")
        check_min("eval", self, 1, "batch_size", "num_threads")
        check_min("eval", self, 0, "max_queries")
