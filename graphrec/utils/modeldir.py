"""The one check every model directory reader makes: files present, manifest kind, typed config."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from graphrec.config import ConfigError, from_dict
from graphrec.utils.io import read_json

T = TypeVar("T")


class ModelDirError(ValueError):
    """A model directory that is missing, incomplete, of another kind or does not fit the inputs."""


def open_model_dir(root: Path, *, files: tuple[str, ...], kind: str, config_cls: type[T],
                   section: str | None, what: str, hint: str,
                   error: type[Exception] = ModelDirError) -> tuple[dict[str, Any], dict[str, Any], T]:
    """``(manifest, raw config.json, typed config)`` of a model directory, or a one-line ``error``.

    Args:
        root: the directory.
        files: files it must hold (``manifest.json`` and ``config.json`` among them).
        kind: the manifest's expected ``kind``.
        config_cls, section: the config dataclass and its key in ``config.json`` (None: the
            whole file).
        error: the exception type raised.
        what, hint: "not a {what} directory (no FILE); {hint}".
    """
    for f in files:
        if not (root / f).is_file():
            raise error(f"{root}: not a {what} directory (no {f}); {hint}")
    manifest = read_json(root / "manifest.json")
    if manifest.get("kind") != kind:
        raise error(f"{root / 'manifest.json'}: kind {manifest.get('kind')!r} is not {kind!r}")
    raw = read_json(root / "config.json")
    try:
        cfg = from_dict(config_cls, raw if section is None else raw[section], prefix=section or "")
    except (ConfigError, KeyError) as exc:
        raise error(f"{root / 'config.json'}: {exc}") from None
    return manifest, raw, cfg
