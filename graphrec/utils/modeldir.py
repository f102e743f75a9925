"""The checks every stage-directory reader makes: manifest present and of the right kind
(:func:`read_manifest`), and for model directories files present and a typed config
(:func:`open_model_dir`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from graphrec.utils.config import ConfigError, from_dict
from graphrec.utils.io import read_json

T = TypeVar("T")


class ModelDirError(ValueError):
    """A model directory that is missing, incomplete, of another kind or does not fit the inputs."""


def read_manifest(
    root: Path,
    kind: str | tuple[str, ...],
    *,
    what: str,
    hint: str = "",
    name: str = "manifest.json",
    error: type[Exception] = ModelDirError,
) -> dict[str, Any]:
    """The JSON manifest ``root/name`` of a directory of ``kind`` (or one of several), else ``error``.

    Messages: "ROOT: not {what} (no NAME); {hint}" and "ROOT/NAME: kind K is not {kind}" (``what``
    instead of the kind when several are accepted).
    """
    path = root / name
    if not path.is_file():
        raise error(f"{root}: not {what} (no {name})" + (f"; {hint}" if hint else ""))
    manifest = read_json(path)
    kinds = (kind,) if isinstance(kind, str) else kind
    if manifest.get("kind") not in kinds:
        raise error(f"{path}: kind {manifest.get('kind')!r} is not {repr(kind) if isinstance(kind, str) else what}")
    return manifest


def open_model_dir(
    root: Path,
    *,
    files: tuple[str, ...],
    kind: str,
    config_cls: type[T],
    section: str | None,
    what: str,
    hint: str,
    error: type[Exception] = ModelDirError,
) -> tuple[dict[str, Any], dict[str, Any], T]:
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
    manifest = read_manifest(root, kind, what=f"a {what} directory", hint=hint, error=error)
    raw = read_json(root / "config.json")
    try:
        cfg = from_dict(config_cls, raw if section is None else raw[section], prefix=section or "")
    except (ConfigError, KeyError) as exc:
        raise error(f"{root / 'config.json'}: {exc}") from None
    return manifest, raw, cfg
