"""Data-parallel training on torch.distributed: the process group, a small :class:`World`, the launcher.

A trainer runs as one of N ranks either under ``torchrun --nproc_per_node N -m graphrec ...``
(which sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``) or from :func:`launch`, which starts the N
workers itself through torch.distributed's elastic launcher (``--nproc N`` / ``train.nproc``).
:func:`process_group` joins the group (gloo on CPU, nccl on CUDA) and yields the rank's
:class:`World`; without a launcher it yields :data:`SINGLE` and nothing distributed happens, so a
1-process run is the plain loop.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    """The rank's view of the job: ``rank`` of ``world_size`` (1 = not distributed)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only rank that writes checkpoints, outputs, manifests and MLflow."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def stream(self) -> tuple[int, ...]:
        """Extra rng key of this rank's random draws (empty in a 1-process run: its draws are unchanged)."""
        return (self.rank,) if self.distributed else ()

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def sum(self, value: float) -> float:
        """``value`` summed over the ranks (the value itself in a 1-process run)."""
        if not self.distributed:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64)
        torch.distributed.all_reduce(t)
        return float(t.item())

    def share(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled broadcast)."""
        if not self.distributed:
            return obj
        box = [obj if self.is_main else None]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def on_main(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on rank 0 only and return its result (or raise its error) on every rank."""
        result: Any = None
        if self.is_main:
            try:
                result = fn()
            except Exception as exc:  # re-raised on every rank below, so no rank waits forever
                result = exc
        result = self.share(result)
        if isinstance(result, Exception):
            raise result
        return result

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` in DistributedDataParallel (gradients all-reduced, averaged) when distributed."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model)


SINGLE = World()


def launched_world_size() -> int:
    """``WORLD_SIZE`` set by torchrun or the elastic launcher (1 outside one)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def threads_per_rank(total: int, world_size: int | None = None) -> int:
    """Torch threads of one rank when ``total`` threads are shared by the ranks (at least 1)."""
    n = launched_world_size() if world_size is None else world_size
    return max(1, total // max(n, 1))


def backend_for(device: str) -> str:
    """The process-group backend of ``device``: nccl on CUDA, gloo on CPU."""
    return "nccl" if device == "cuda" else "gloo"


@contextmanager
def process_group(device: str = "cpu") -> Iterator[World]:
    """Join the launcher's process group for the body (and leave it); :data:`SINGLE` without one."""
    dist = torch.distributed
    if launched_world_size() <= 1:
        yield SINGLE
        return
    if dist.is_initialized():  # a caller already set it up: use it, leave teardown to it
        yield World(dist.get_rank(), dist.get_world_size())
        return
    dist.init_process_group(backend_for(device))
    world = World(dist.get_rank(), dist.get_world_size())
    log.info("rank %d of %d joined (%s)", world.rank, world.world_size, dist.get_backend())
    try:
        yield world
    finally:
        dist.destroy_process_group()


def launch(fn: Callable[..., Any], args: tuple[Any, ...], nproc: int) -> dict[int, Any]:
    """Run ``fn(*args)`` in ``nproc`` local worker processes (spawned); ``{rank: return value}``.

    ``fn`` must be a module-level function and ``args`` picklable. The workers find each other
    through a c10d rendezvous on a free localhost port, as ``torchrun --standalone`` does.
    """
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"graphrec-{uuid.uuid4().hex[:12]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.1,
        start_method="spawn",
    )
    return elastic_launch(config, fn)(*args)
