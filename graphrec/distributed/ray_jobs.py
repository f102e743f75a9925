"""Shards of a job as Ray tasks: a local Ray (``--ray``) or an existing cluster (``--ray-address``).

Ray is an optional extra (``pip install -e '.[distributed]'``). Every job here splits its work
into shards, runs each shard as one Ray task (retried once on failure), shows one progress bar
of shards done, and merges the shard outputs with the job's own merge step, so the outputs are
byte for byte those of the single-process job. Shard outputs are files, so a re-run after a
failure reuses the shards that completed. A shard that fails twice fails the job with its name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from graphrec.utils.logs import progress

log = logging.getLogger(__name__)
INSTALL_HINT = "Ray is not installed: pip install -e '.[distributed]' (or pip install ray==2.60.0)"


class RayUnavailableError(RuntimeError):
    """``--ray`` was asked for but the ``ray`` package is missing."""


class ShardFailedError(RuntimeError):
    """A shard failed on its first run and on its retry."""


@dataclass(frozen=True)
class RayOptions:
    """Where the shards run.

    Args:
        address: an existing cluster (``ray://host:10001`` or ``host:6379``); None = local Ray.
        num_cpus: CPUs of a local Ray (None = every available CPU).
        shards: number of shards (None = the cluster's CPUs, at least 1).
    """

    address: str | None = None
    num_cpus: int | None = None
    shards: int | None = None

    def __post_init__(self) -> None:
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ValueError(f"ray num_cpus must be >= 1, got {self.num_cpus}")
        if self.shards is not None and self.shards < 1:
            raise ValueError(f"ray shards must be >= 1, got {self.shards}")


def require_ray() -> Any:
    """The ``ray`` module, or a one-line install hint."""
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(INSTALL_HINT) from None
    return ray


@contextmanager
def ray_session(opts: RayOptions) -> Iterator[Any]:
    """Reuse a running Ray, or start/join one for the block (and shut down what we started)."""
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        kw: dict[str, Any] = (
            {"address": opts.address} if opts.address else {"num_cpus": opts.num_cpus or os.cpu_count() or 1}
        )
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kw)
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def n_shards(ray: Any, opts: RayOptions) -> int:
    """``opts.shards`` or the CPUs Ray sees."""
    return opts.shards or max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_shards(
    fn: Callable[..., Any],
    shard_args: Sequence[tuple],
    names: Sequence[str],
    desc: str,
    opts: RayOptions,
    num_cpus_per_task: float = 1.0,
) -> list[Any]:
    """Run ``fn(*args)`` for every shard as a Ray task; results in shard order.

    Each task is retried once (``max_retries=1`` for a lost worker, ``retry_exceptions=True``
    for an exception); a second failure raises :class:`ShardFailedError` naming the shard
    (the other shards still finish, so their outputs are there for a re-run).
    """
    with ray_session(opts) as ray:
        remote = ray.remote(num_cpus=num_cpus_per_task, max_retries=1, retry_exceptions=True)(fn)
        refs = [remote.remote(*a) for a in shard_args]
        name_of = {r: n for r, n in zip(refs, names)}
        results: dict[Any, Any] = {}
        failed: list[tuple[str, BaseException]] = []

        def done() -> Iterator[None]:
            pending = list(refs)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                try:
                    results[ready[0]] = ray.get(ready[0])
                except Exception as exc:  # a RayTaskError after the retry
                    failed.append((name_of[ready[0]], exc))
                    log.error("shard %s failed twice: %s", name_of[ready[0]], _short(exc))
                yield None

        for _ in progress(done(), total=len(refs), desc=desc, unit="shard"):
            pass
        if failed:
            name, exc = failed[0]
            raise ShardFailedError(
                f"{desc}: shard {name} failed after 1 retry ({len(failed)} of "
                f"{len(refs)} shards failed; completed shards are kept for a "
                f"re-run): {_short(exc)}"
            )
        return [results[r] for r in refs]


def _short(exc: BaseException) -> str:
    """The last line of a (Ray-wrapped) exception message."""
    cause = getattr(exc, "cause", None) or exc
    lines = [line for line in str(cause).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(cause).__name__


def options_from_cli(use_ray: bool, address: str | None, shards: int | None = None) -> RayOptions | None:
    """``--ray`` / ``--ray-address`` / ``--ray-shards`` -> options (None: run in this process).

    Fails at once with the install hint when Ray is missing.
    """
    if not use_ray and not address:
        if shards is not None:
            raise ValueError("--ray-shards needs --ray or --ray-address")
        return None
    require_ray()
    return RayOptions(address=address, shards=shards)


def shard_batches(n_rows: int, batch_size: int, count: int) -> list[range]:
    """Global batch numbers of each of ``count`` shards (contiguous runs, as ``--shard i/n``)."""
    from graphrec.candidates.config import Shard

    n_batches = -(-n_rows // batch_size)
    return [Shard(i, count).batch_range(n_batches) for i in range(1, count + 1)]


# ---------------------------------------------------------------------------------------------
# graphrec candidates: one run_candidates(--shard i/n) per task; the last part merges.


def _candidates_shard(graph_dir: str, emb_dir: str, out: str, cfg: Any, index: int, count: int, force: bool) -> Any:
    from graphrec.candidates.config import Shard
    from graphrec.candidates.job import run_candidates

    return run_candidates(graph_dir, emb_dir, out, cfg, Shard(index, count), force=force)


def candidates_on_ray(
    graph_dir: str | os.PathLike,
    emb_dir: str | os.PathLike,
    out: str | os.PathLike,
    cfg: Any,
    opts: RayOptions,
    force: bool = False,
) -> Any:
    """``graphrec candidates --ray``: every shard a Ray task, merged by the job's own merge step.

    The index is built once (by the first shard, under the directory lock) and reused by the
    others; complete parts of an earlier run with the same inputs are skipped. The merged tables
    are the unsharded job's tables byte for byte. Returns the merging shard's ``JobResult``.
    """
    from graphrec.candidates.job import JobResult
    from graphrec.candidates.layout import MANIFEST, read_json_or_none

    with ray_session(opts) as ray:
        count = n_shards(ray, opts)
        args = [(str(graph_dir), str(emb_dir), str(out), cfg, i, count, force) for i in range(1, count + 1)]
        names = [f"{i}/{count}" for i in range(1, count + 1)]
        results = run_shards(_candidates_shard, args, names, "candidates shards", opts)
    merged = [r for r in results if r.status in ("merged", "complete")]
    if not merged:  # all parts written but none saw the others complete (not under the lock)
        raise ShardFailedError(
            f"{out}: all {count} parts written but not merged; run `graphrec candidates-merge {out}`"
        )
    # the shard that merged names the job's status; a shard reused from an earlier run may finish
    # after that merge and report "complete", in either order (the flaky status of the rerun test)
    first = next((r for r in merged if r.status == "merged"), merged[0])
    return JobResult(
        first.out,
        first.status,
        first.shard,
        all(r.part_skipped for r in results),
        read_json_or_none(first.out / MANIFEST),
    )


# ---------------------------------------------------------------------------------------------
# graphrec embed-pins: each task embeds a contiguous run of batches into a part file.


def _embed_pins_shard(graph_dir: str, model_dir: str, batch_size: int, batches: range, part: str) -> str:
    import numpy as np

    from graph_build.graph import load_graph
    from graphrec.pinclip.embed import embed_table
    from graphrec.pinclip.store import load_model_dir
    from graphrec.pinclip.table import PinTable

    if os.path.exists(part):  # completed by an earlier run of the same job
        return part
    graph, loaded = load_graph(graph_dir), load_model_dir(model_dir)
    table = PinTable.from_pins(
        graph.pins, graph.images(), loaded.tokenizer, loaded.vocab, loaded.cfg, loaded.image_size
    )
    emb = embed_table(loaded, table, batch_size, batches=batches)
    tmp = f"{part}.tmp.npy"
    np.save(tmp, emb)
    os.replace(tmp, part)
    return part


def embed_pins_on_ray(
    graph: Any, model_dir: str | os.PathLike, batch_size: int, out: str | os.PathLike, opts: RayOptions
) -> Any:
    """The ``embed_table`` result for every pin of ``graph``, computed as Ray shards of batches.

    Shards hold whole batches of the single-process job, so every pin goes through the same
    batch and the vectors are the same bytes. Parts live in ``<out parent>/.<out name>.ray-parts/``
    (keyed by model, graph and batch size) until the caller has written ``out``.
    """
    import hashlib
    import shutil
    from pathlib import Path

    import numpy as np

    from graphrec.embeddings import graph_fingerprint
    from graphrec.utils.io import sha256_file

    out = Path(out)
    with ray_session(opts) as ray:
        count = n_shards(ray, opts)
        model_sha = sha256_file(Path(model_dir) / "manifest.json")
        blob = json_key(model_sha, graph_fingerprint(graph), batch_size, count)
        key = hashlib.sha256(blob.encode()).hexdigest()[:16]
        parts = out.parent / f".{out.name}.ray-parts" / key
        parts.mkdir(parents=True, exist_ok=True)
        ranges = shard_batches(graph.n_pins, batch_size, count)
        names = [f"{i}/{count}" for i in range(1, count + 1)]
        args = [
            (str(graph.root), str(model_dir), batch_size, r, str(parts / f"part-{i:05d}.npy"))
            for i, r in enumerate(ranges, 1)
        ]
        paths = run_shards(_embed_pins_shard, args, names, "embed-pins shards", opts)
    emb = np.concatenate([np.load(p) for p in paths])
    shutil.rmtree(parts.parent, ignore_errors=True)  # ours alone: a hidden dir named after out
    return emb


def json_key(*parts: Any) -> str:
    import json

    return json.dumps(parts, default=str)


# ---------------------------------------------------------------------------------------------
# graphrec evaluate: the scoring of one (model, task) in shards of whole query batches.


def _eval_shard(
    model: Any,
    graph_dir: str,
    task_name: str,
    split: str,
    queries: Any,
    ks: tuple[int, ...],
    batch_size: int,
    seed: int,
    batches: range,
) -> Any:
    from eval.protocol import make_task, score_batches
    from graph_build.graph import load_graph

    graph = load_graph(graph_dir)
    task = make_task(graph, task_name, split)
    return score_batches(model, graph, task, queries, ks, batch_size, seed, batches=batches)


def evaluate_task_on_ray(
    model: Any,
    graph: Any,
    task: Any,
    split: str,
    queries: Any,
    ks: tuple[int, ...],
    batch_size: int,
    seed: int,
    opts: RayOptions,
) -> Any:
    """``eval.protocol.evaluate_task`` with the query batches in Ray shards (the same numbers).

    The fitted model goes to the object store once; each shard rebuilds the task from the graph
    directory and scores a contiguous run of the unsharded loop's batches, so every query is
    scored in the same batch; the per-query metrics are concatenated in shard order.
    """
    from eval.protocol import merge_accumulators, query_batches

    with ray_session(opts) as ray:
        count = n_shards(ray, opts)
        ref = ray.put(model)
        n_batches = query_batches(len(queries), batch_size, graph.n_pins)
        from graphrec.candidates.config import Shard

        ranges = [Shard(i, count).batch_range(n_batches) for i in range(1, count + 1)]
        args = [(ref, str(graph.root), task.name, split, queries, ks, batch_size, seed, r) for r in ranges]
        names = [f"{i}/{count}" for i in range(1, count + 1)]
        parts = run_shards(_eval_shard, args, names, f"{model.name} {task.name} shards", opts)
    return merge_accumulators(parts).result(len(queries) / max(len(task.queries), 1))
