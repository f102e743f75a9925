"""Recommenders compared by the evaluation stage, all behind one ``Recommender`` contract.

``available_models`` lists what can be evaluated for a graph and a set of embedding
directories; ``build_recommender`` makes an unfitted instance by name. Names are output
contracts (``popularity``, ``als``, ``bpr``, ``lightgcn``, the embedding model names, and
``oracle`` on synthetic graphs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from eval.config import BASELINES, EMBEDDING_MODELS, KNOWN_MODELS, ORACLE, EvalConfig
from eval.recommenders.base import FactorRecommender, Factors, ModelSkipped, NotFittedError, Recommender
from eval.recommenders.oracle import has_truth
from graph_build.graph import PinBoardGraph
from graphrec.embeddings import EmbeddingDirError, Embeddings, load_embeddings

# PRECOMPUTABLE: built-in models whose vectors may come from an embedding directory instead
# (``graphrec run``'s ``embed-text`` stage writes ``content_minilm`` once; evaluation then
# scores that directory): the model table's baseline rows with a stage.
from graphrec.model_table import PRECOMPUTABLE

__all__ = [
    "Recommender",
    "FactorRecommender",
    "Factors",
    "ModelSkipped",
    "NotFittedError",
    "available_models",
    "build_recommender",
    "load_runs",
    "select_models",
]


def load_runs(run_dirs: Sequence[str | Path], graph: PinBoardGraph) -> dict[str, Embeddings]:
    """Load embedding directories (checked against ``graph``), keyed by their ``model_name``."""
    runs: dict[str, Embeddings] = {}
    for d in run_dirs:
        emb = load_embeddings(d, graph)
        name = emb.model_name
        if (name in BASELINES and name not in PRECOMPUTABLE) or name == ORACLE:
            raise EmbeddingDirError(
                f"{d}: model_name {name!r} is reserved for a built-in model; "
                f"use one of {list(EMBEDDING_MODELS)} or another name"
            )
        if name in runs:
            raise EmbeddingDirError(
                f"{d}: model_name {name!r} is also the model of {runs[name].root}; "
                "pass one embedding directory per model"
            )
        runs[name] = emb
    return runs


def available_models(graph: PinBoardGraph, runs: Mapping[str, Embeddings]) -> list[str]:
    """Baselines, then the embedding runs (contract order first), then the oracle when truth exists."""
    known = [n for n in EMBEDDING_MODELS if n in runs]
    other = sorted(n for n in runs if n not in EMBEDDING_MODELS)
    return list(BASELINES) + known + other + ([ORACLE] if has_truth(graph) else [])


def select_models(requested: Sequence[str], available: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(selected, missing)``: the requested names that are available (all when none requested)
    and the known ones that are not (left out, never faked). An unknown name is an error."""
    if not requested:
        return list(available), []
    unknown = [n for n in requested if n not in available and n not in KNOWN_MODELS]
    if unknown:
        raise ValueError(
            f"unknown model(s) {unknown}: expected names from {list(KNOWN_MODELS)} "
            f"or the model_name of an embedding directory passed with --runs"
        )
    seen: list[str] = []
    for n in requested:
        if n not in seen:
            seen.append(n)
    return [n for n in seen if n in available], [n for n in seen if n not in available]


def build_recommender(
    name: str,
    cfg: EvalConfig,
    runs: Mapping[str, Embeddings],
    fitted: Mapping[str, Recommender] | None = None,
    prefit: Mapping[str, Path] | None = None,
) -> Recommender:
    """An unfitted recommender by evaluation name (imports heavy libraries lazily).

    ``fitted``: models already fitted in this run, which ``blend`` reuses instead of refitting.
    ``prefit``: factor directories (graphrec/cf/factors.py) of this evaluation's own fits, by
    model name (``lightgcn``: ``graphrec run``'s fit-lightgcn stage), loaded instead of trained.
    """
    prefit = prefit or {}
    if name in runs:
        from eval.recommenders.embedding import EmbeddingRecommender

        return EmbeddingRecommender(runs[name])
    if name == "popularity":
        from eval.recommenders.popularity import PopularityRecommender

        return PopularityRecommender()
    if name == "als":
        from dataclasses import replace

        from eval.recommenders.implicit_models import ALSRecommender
        from eval.recommenders.selection import SelectedOnValidation, grid

        als = [(p, lambda p=p: ALSRecommender(replace(cfg.als, **p), cfg.seed)) for p in grid(**cfg.als.grid())]
        return SelectedOnValidation("als", als, False, cfg.seed, max_boards=cfg.max_queries)
    if name == "ease":
        from eval.recommenders.ease import EASERecommender
        from eval.recommenders.selection import SelectedOnValidation

        shared: dict = {}  # one Gram matrix for the whole grid
        ease = [({"lambda": v}, lambda v=v: EASERecommender(v, cfg.ease, shared)) for v in cfg.ease.lambdas]
        return SelectedOnValidation("ease", ease, False, cfg.seed, shared.clear, cfg.max_queries)
    if name == "rp3beta":
        from eval.recommenders.rp3beta import RP3betaRecommender
        from eval.recommenders.selection import SelectedOnValidation, grid

        c = cfg.rp3beta
        rp3 = [
            (p, lambda p=p: RP3betaRecommender(p["alpha"], p["beta"], c.top_k))
            for p in grid(alpha=c.alphas, beta=c.betas)
        ]
        return SelectedOnValidation("rp3beta", rp3, False, cfg.seed, max_boards=cfg.max_queries)
    if name == "content_minilm":
        from eval.recommenders.content_minilm import ContentMiniLMRecommender

        return ContentMiniLMRecommender(cfg.content_minilm)
    if name == "blend":
        from eval.recommenders.blend import BlendRecommender

        return BlendRecommender(
            cfg.blend, cfg.seed, fitted, lambda n: build_recommender(n, cfg, runs, prefit=prefit), cfg.max_queries
        )
    if name == "bpr":
        from eval.recommenders.implicit_models import BPRRecommender

        return BPRRecommender(cfg.bpr, cfg.seed)
    if name == "lightgcn":
        from eval.recommenders.lightgcn import LightGCNRecommender

        return LightGCNRecommender(cfg.lightgcn, cfg.seed, cfg.max_queries, prefit.get("lightgcn"))
    if name == ORACLE:
        from eval.recommenders.oracle import OracleRecommender

        return OracleRecommender()
    raise ValueError(
        f"model {name!r} is not available: expected one of {list(BASELINES) + [ORACLE]} "
        f"or an embedding directory with that model_name (got {sorted(runs)})"
    )
