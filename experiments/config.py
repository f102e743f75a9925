"""The typed config of ``graphrec run``: every stage's config in one tree, one seed for all.

Loaded from YAML (experiments/configs/*.yaml) with ``--set key.sub=value`` overrides; the
resolved tree is written to ``OUT_DIR/config.yaml`` and logged whole to MLflow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from eval.config import EvalConfig
from graph_build.split import SplitConfig
from graph_build.synthetic.generate import SynthConfig
from graphrec.candidates.config import CandidatesConfig
from graphrec.features.raw import RawFeatureConfig
from graphrec.hybrid.config import FullConfig
from graphrec.pinclip.config import PinClipConfig
from graphrec.sage.config import SageConfig
from graphrec.utils.config import (
    ConfigError,
    apply_overrides,
    check,
    config_source,
    from_dict,
    read_yaml_mapping,
    to_dict,
)


@dataclass(frozen=True)
class DataConfig:
    """Args:
    source: ``synthetic`` (generate the embedded default catalogue) or ``dir`` (a dataset
        directory following the contract, given by ``path`` or ``--data``).
    path: the dataset directory when ``source`` is ``dir``.
    synth: the synthetic catalogue's settings.
    """

    source: Literal["synthetic", "dir"] = "synthetic"
    path: str | None = None
    synth: SynthConfig = field(default_factory=SynthConfig)


@dataclass(frozen=True)
class AblationConfig:
    """Extra models trained for the comparison table.

    Args:
        clip_no_neighbors: PinCLIP without neighbour alignment (``clip_no_neighbors``).
        sage_raw: SAGE on raw, non-learned content features (``sage_raw``).
        sage_ladder: the cumulative SAGE rows of the ablation table (experiments/ablation.py),
            all over the ``clip_no_neighbors`` embeddings (trained when this is on):
            ``sage_mean_pool`` (mean pooling, no hard negatives), ``sage_importance_pool``
            (importance pooling, no hard negatives) and ``sage_hard_negatives`` (importance
            pooling with ``sage.loss.hard_negatives``). Off by default: three more SAGE trainings.
        full_ladder: ``full`` without parts (``full_teacher_only``, ``full_mlp_no_recency``,
            ``full_no_recency``; graphrec/hybrid/config.py ABLATIONS), rebuilt from the fitted
            model without retraining: a few seconds each.
    """

    clip_no_neighbors: bool = True
    sage_raw: bool = True
    sage_ladder: bool = False
    full_ladder: bool = True


@dataclass(frozen=True)
class RegisterConfig:
    """The model registry (rules in experiments/registry.py).

    Args:
    enabled: log the candidate generator as an mlflow.pyfunc model and register it.
    name: registered model name; ``{dataset}`` is replaced by the graph's dataset name.
    alias: alias of the served version: set on a name's first version, moved only by ``promote``.
    promote: point the alias at this run's version (``graphrec run --promote``).
    promote_if_better: point it there when this run's validation Recall@20 beats the aliased
        version's (``graphrec run --promote-if-better``; experiments/registry.py).
    """

    enabled: bool = True
    name: str = "graphrec-{dataset}"
    alias: str = "candidate"
    promote: bool = False
    promote_if_better: bool = False

    def __post_init__(self) -> None:
        check(bool(self.name.strip()), "register.name", "must not be empty")
        check(bool(self.alias.strip()), "register.alias", "must not be empty")


@dataclass(frozen=True)
class RunConfig:
    """Everything ``graphrec run`` does. ``seed`` overrides every section's seed."""

    name: str = "default"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    pinclip: PinClipConfig = field(default_factory=PinClipConfig)
    raw: RawFeatureConfig = field(default_factory=RawFeatureConfig)
    sage: SageConfig = field(default_factory=SageConfig)
    full: FullConfig = field(default_factory=FullConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    candidates: CandidatesConfig = field(default_factory=CandidatesConfig)
    ablations: AblationConfig = field(default_factory=AblationConfig)
    register: RegisterConfig = field(default_factory=RegisterConfig)


def with_seed(cfg: RunConfig) -> RunConfig:
    """Propagate ``cfg.seed`` into every section that has a seed of its own."""
    s = cfg.seed
    return dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, synth=dataclasses.replace(cfg.data.synth, seed=s)),
        split=dataclasses.replace(cfg.split, seed=s),
        pinclip=dataclasses.replace(cfg.pinclip, seed=s),
        raw=dataclasses.replace(cfg.raw, seed=s),
        sage=dataclasses.replace(cfg.sage, seed=s),
        full=dataclasses.replace(cfg.full, seed=s),
        eval=dataclasses.replace(cfg.eval, seed=s),
        candidates=dataclasses.replace(cfg.candidates, seed=s),
    )


def load_run_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """RunConfig from an optional YAML file plus ``key=value`` overrides, seeds propagated.

    Section seeds cannot differ from the top-level ``seed`` (the one seed): a YAML or override
    that sets one to another value is rejected, so no stage silently runs with a different seed.
    (A resolved config.yaml repeats the seed in every section and loads back unchanged.)
    """
    data = read_yaml_mapping(path) if path is not None else {}
    data = apply_overrides(data, list(overrides))
    top = data.get("seed", RunConfig.seed)
    sections = {k: v for k, v in data.items() if isinstance(v, dict)}
    if isinstance(data.get("data"), dict) and isinstance(data["data"].get("synth"), dict):
        sections["data.synth"] = data["data"]["synth"]
    stray = [k for k, v in sections.items() if "seed" in v and v["seed"] != top]
    if stray:
        raise ConfigError(
            f"seed: set the one top-level 'seed' ({top}); these sections set another: {', '.join(sorted(stray))}"
        )
    with config_source(path):
        return with_seed(from_dict(RunConfig, data))


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
