"""Imports point down the pipeline only (docs/architecture.md): walk every import statement of
the four packages, lazy ones inside functions included, and check each against the layers."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("graph_build", "graphrec", "eval", "experiments")
# bottom -> top; a module may import its own layer and the layers below (longest prefix wins)
LAYERS: tuple[tuple[str, ...], ...] = (
    ("=graphrec", "graphrec.utils"),  # "=": the root module only (it holds __version__, a lazy facade)
    ("graph_build",),
    (
        "graphrec.embeddings",
        "graphrec.features",
        "graphrec.cf",
        "graphrec.pinclip",
        "graphrec.sage",
        "graphrec.hybrid",
        "graphrec.tracking",
        "graphrec.model_table",
        "graphrec.distributed",
    ),
    ("graphrec.candidates",),
    ("eval",),
    ("experiments", "graphrec.api", "graphrec.addpins"),
    ("graphrec.cli", "graphrec.__main__"),
)
# Known lazy imports against the arrows, each with its reason (keep this list short).
EXCEPTIONS = {
    # the package facade: graphrec.load_run is graphrec.api.load_run, imported on call
    ("graphrec", "graphrec.api"),
    # the Ray executor runs shards of every stage; its eval shard imports eval.protocol on call
    ("graphrec.distributed.ray_jobs", "eval.protocol"),
    # the executor's candidates shards (run by candidates' own --ray entry point)
    ("graphrec.distributed.ray_jobs", "graphrec.candidates.config"),
    ("graphrec.distributed.ray_jobs", "graphrec.candidates.job"),
    ("graphrec.distributed.ray_jobs", "graphrec.candidates.layout"),
}


def layer(module: str) -> int | None:
    best, found = -1, None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            exact = p.startswith("=")
            p = p.lstrip("=")
            if (module == p or (not exact and module.startswith(p + "."))) and len(p) > best:
                best, found = len(p), i
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return {m for m in out if m.split(".")[0] in PACKAGES}


def violations() -> list[str]:
    bad, seen = [], set()
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            src = module_name(path)
            for dst in sorted(imports(path)):
                if (src, dst) in EXCEPTIONS:
                    seen.add((src, dst))
                    continue
                ls, ld = layer(src), layer(dst)
                if ls is None or ld is None:
                    bad.append(f"{src} -> {dst}: module outside every layer (add it to LAYERS)")
                elif ld > ls:
                    bad.append(f"{src} (layer {ls}) imports {dst} (layer {ld})")
    return bad + [f"stale exception {e}" for e in sorted(EXCEPTIONS - seen)]


def test_every_import_points_down_the_pipeline() -> None:
    assert violations() == []


def test_the_check_sees_an_upward_import() -> None:
    assert layer("graph_build.graph") < layer("graphrec.sage.train") < layer("eval.run") < layer("experiments.pipeline")
    assert layer("graphrec.utils.io") == 0 and layer("graphrec.cli.run") == len(LAYERS) - 1
    assert "graphrec.sage.api" in imports(ROOT / "experiments" / "pipeline.py")  # lazy imports count
