"""Typed configuration of the candidates stage and the ``--shard i/n`` syntax."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from graphrec.utils.config import check_choices, check_min

IndexKind = Literal["flat", "hnsw", "ivf"]
SPLITS = ("train", "val", "test")


class CandidatesError(ValueError):
    """Bad input to the candidates stage (bad shard, stale output, missing bundle, ...).

    Config problems raise :class:`graphrec.utils.config.ConfigError` instead."""


@dataclass(frozen=True)
class IndexConfig:
    """How the faiss index over L2-normalised pin vectors is built and searched (inner product).

    Args:
        kind: ``flat`` (exact; small catalogues), ``hnsw`` or ``ivf`` (approximate; large ones).
        hnsw_m: HNSW graph degree M (memory and recall grow with it).
        hnsw_ef_construction: HNSW build-time beam width.
        hnsw_ef_search: HNSW query-time beam width (the recall/speed knob; raised to the
            number of results asked for when that is larger).
        ivf_nlist: IVF inverted lists; 0 = ``round(sqrt(n_pins))`` clipped to ``[1, n_pins // 39]``.
        ivf_nprobe: IVF lists visited per query.
        ivf_train_points_per_list: k-means training sample per list (a seeded sample of pins).
    """

    kind: IndexKind = "flat"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 128
    ivf_nlist: int = 0
    ivf_nprobe: int = 16
    ivf_train_points_per_list: int = 64

    def __post_init__(self) -> None:
        sizes = ("hnsw_m", "hnsw_ef_construction", "hnsw_ef_search", "ivf_nprobe", "ivf_train_points_per_list")
        check_min("candidates.index", self, 1, *sizes)
        check_min("candidates.index", self, 0, "ivf_nlist")  # 0 = auto


@dataclass(frozen=True)
class CandidatesConfig:
    """The ``graphrec candidates`` job.

    Args:
        k: candidates kept per query pin / board (after exclusions).
        index: the faiss index (see :class:`IndexConfig`).
        batch_size: queries per faiss search call. Batches sit on one global grid that shards
            split, so a sharded run computes every query exactly as the unsharded run does.
        exclude_saved_splits: splits whose saves count as "already saved to the board" and are
            never recommended to that board (default: the train graph).
        recall_sample: pin queries sampled (seeded) to estimate recall@k of the index against
            exact search; 0 skips the estimate.
        keep_parts: keep the per-shard parts after they are merged (default: delete them).
        threads: faiss OpenMP threads; 0 = faiss's default (all cores).
        seed: seeds the recall sample and IVF k-means.
    """

    k: int = 100
    index: IndexConfig = field(default_factory=IndexConfig)
    batch_size: int = 8192
    exclude_saved_splits: tuple[str, ...] = ("train",)
    recall_sample: int = 1000
    keep_parts: bool = False
    threads: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        check_min("candidates", self, 1, "k", "batch_size")
        check_min("candidates", self, 0, "recall_sample", "threads")
        check_choices("candidates.exclude_saved_splits", self.exclude_saved_splits, SPLITS)


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based, as in ``--shard 2/4``)."""

    index: int = 1
    count: int = 1

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}-of-{self.count:05d}"

    def batch_range(self, n_batches: int) -> range:
        """The contiguous run of global query batches this shard processes."""
        lo = (self.index - 1) * n_batches // self.count
        hi = self.index * n_batches // self.count
        return range(lo, hi)


_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str | None) -> Shard:
    """Parse ``i/n`` (1 <= i <= n); None means the whole job (``1/1``).

    Args:
        text: the ``--shard`` value, e.g. ``"2/4"``.
    """
    if text is None:
        return Shard()
    m = _SHARD.match(text)
    if not m:
        raise CandidatesError(f"--shard {text!r}: expected i/n with whole numbers, e.g. 2/4")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= i <= n:
        raise CandidatesError(f"--shard {text!r}: shard index must be in 1..n (1-based), got {i} of {n}")
    return Shard(i, n)
