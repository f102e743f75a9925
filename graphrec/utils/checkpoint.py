"""Pickle-free training checkpoints: tensors in safetensors, everything else in JSON.

While a model directory ``OUT`` is being trained, its checkpoints live in ``.<OUT name>.checkpoints``
next to it (:func:`checkpoint_dir`, one convention for every trainer); on success they move into
``OUT/checkpoints``. A checkpoint is ``ckpt-<step>.safetensors`` (model weights under ``model.``, optimizer tensors
under ``optim.``, torch RNG state) plus ``ckpt-<step>.json`` (step, optimizer hyper-parameters,
NumPy generator state, caller extras). Both are written to temporary names and renamed, JSON
last, so a checkpoint is complete exactly when its JSON exists: a kill mid-write leaves the
previous checkpoint as the latest.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from graphrec.utils.config import ConfigError

log = logging.getLogger(__name__)
_NAME = re.compile(r"ckpt-(\d+)\.json$")
Resume = bool | Literal["auto"]


def checkpoint_dir(out: str | Path) -> Path:
    """Where the checkpoints of the model directory ``out`` live until it is written."""
    out = Path(out).absolute()
    return out.parent / f".{out.name}.checkpoints"


def _plain(identity: Mapping[str, Any]) -> Any:
    """``identity`` as it reads back from a checkpoint's JSON (tuples become lists)."""
    return json.loads(json.dumps(identity, default=str))


def _meta(directory: Path, step: int) -> dict[str, Any]:
    return json.loads((directory / f"ckpt-{step}.json").read_text())


def _different(d: Path) -> ConfigError:
    return ConfigError(
        f"--resume: the checkpoint in {d} was written with a different config or "
        "inputs; pass the same --config/--set or start without --resume"
    )


def resume_from(directory: str | Path, identity: Mapping[str, Any], resume: Resume) -> bool:
    """Whether a trainer continues from the newest checkpoint in ``directory`` (else it is removed).

    Args:
        directory: the checkpoint directory (:func:`checkpoint_dir`).
        identity: what the run depends on (config, input fingerprints); trainers store it in
            every checkpoint and only a checkpoint with the same identity is continued.
        resume: ``False`` starts over; ``True`` requires a matching interrupted run
            (``--resume``: FileNotFoundError / ConfigError otherwise); ``"auto"`` continues a
            matching one when there is one (``graphrec run``).
    """
    d = Path(directory)
    step = latest_step(d)
    if resume is True and step is None:
        raise FileNotFoundError(f"--resume: no interrupted run in {d} (no complete checkpoint); run without --resume")
    same = step is not None and _meta(d, step)["extra"].get("identity") == _plain(identity)
    if resume is True and not same:
        raise _different(d)
    if resume is not False and same:
        log.info("continuing from checkpoint %d in %s", step, d)
        return True
    if d.exists():
        shutil.rmtree(d)
    return False


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for pid, pstate in state["state"].items():
        for k, v in pstate.items():
            if torch.is_tensor(v):
                tensors[f"optim.{pid}.{k}"] = v.detach().contiguous().clone()
            else:
                scalars[f"{pid}.{k}"] = v
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]]
    return tensors, {"scalars": scalars, "param_groups": groups}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, t in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = t
    for key, v in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def save_checkpoint(
    directory: str | Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    rng: np.random.Generator | None = None,
    extra: dict[str, Any] | None = None,
    keep: int = 2,
) -> Path:
    """Write checkpoint ``step`` to ``directory`` and keep only the newest ``keep``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    meta: dict[str, Any] = {"step": step, "extra": extra or {}}
    if optimizer is not None:
        opt_tensors, meta["optimizer"] = _flatten_optimizer(optimizer.state_dict())
        tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if rng is not None:
        meta["numpy_rng"] = rng.bit_generator.state
    st, js = d / f"ckpt-{step}.safetensors", d / f"ckpt-{step}.json"
    save_file(tensors, str(st) + ".tmp")
    os.replace(str(st) + ".tmp", st)
    js.with_suffix(".json.tmp").write_text(json.dumps(meta))
    os.replace(js.with_suffix(".json.tmp"), js)
    for old in sorted(_steps(d))[:-keep]:
        for suffix in (".json", ".safetensors"):
            (d / f"ckpt-{old}{suffix}").unlink(missing_ok=True)
    return js


def _steps(d: Path) -> list[int]:
    return [
        int(m.group(1))
        for p in d.glob("ckpt-*.json")
        if (m := _NAME.search(p.name)) and (d / f"ckpt-{m.group(1)}.safetensors").exists()
    ]


def latest_step(directory: str | Path) -> int | None:
    d = Path(directory)
    steps = _steps(d) if d.is_dir() else []
    return max(steps) if steps else None


def load_checkpoint(
    directory: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    rng: np.random.Generator | None = None,
    step: int | None = None,
    identity: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Restore the newest (or given) checkpoint in place; returns its metadata or None if none.

    With ``identity``, a checkpoint written for another identity raises ConfigError.
    """
    step = latest_step(directory) if step is None else step
    if step is None:
        return None
    d = Path(directory)
    meta = _meta(d, step)
    if identity is not None and meta["extra"].get("identity") != _plain(identity):
        raise _different(d)
    tensors = load_file(str(d / f"ckpt-{step}.safetensors"))
    model.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
    if optimizer is not None and "optimizer" in meta:
        optimizer.load_state_dict(_unflatten_optimizer(tensors, meta["optimizer"]))
    torch.set_rng_state(tensors["rng.torch"])
    if rng is not None and "numpy_rng" in meta:
        rng.bit_generator.state = meta["numpy_rng"]
    return meta
