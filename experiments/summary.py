"""The summary table ``graphrec run`` prints: stage times, Recall@20 per model, A/B lifts."""

from __future__ import annotations

from typing import Any

from experiments.pipeline import PipelineResult


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{v:+.1%}" if pct else f"{v:.4f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return [line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]


def format_summary(result: PipelineResult) -> str:
    """Plain-text summary of a pipeline run."""
    from graph_build.stats import format_summary as graph_summary
    from graphrec.utils.io import read_json

    out: list[str] = []
    graph_manifest = result.out / "graph" / "manifest.json"
    if graph_manifest.is_file():
        out += ["Graph", graph_summary(read_json(graph_manifest)), ""]
    total = sum(s.seconds for s in result.stages)
    stage_rows = [[s.name, s.status, f"{s.seconds:.1f}"] for s in result.stages] + [["total", "", f"{total:.1f}"]]
    out += ["Stages (wall seconds)"] + _table(["stage", "status", "seconds"], stage_rows)
    m = result.metrics
    models = m.get("models", {})
    rows = []
    for name, res in sorted(models.items(), key=lambda kv: -(kv[1]["all"].get("recall@20") or 0)):
        rows.append([name] + [_fmt(res[s].get("recall@20")) for s in ("warm", "cold", "all")]
                    + [_fmt(res.get("coverage@20"))])
    proto = m.get("protocol", {})
    out += ["", f"Board -> pin Recall@20 on {proto.get('split', 'test')} saves ({m.get('dataset', '?')})"]
    out += _table(["model", "warm", "cold", "all", "coverage@20"], rows)
    ab = m.get("ab")
    if ab:
        out += ["", f"Offline A/B: treatment {ab['treatment']} vs control {ab['control']} (relative lift, 95% CI)"]
        ab_rows = []
        for sl in ("fresh", "warm"):
            for metric in ("repin_rate", "ctr"):
                d = ab.get(sl, {})
                ci = d.get(f"{metric}_ci95")
                ab_rows.append([f"{sl} {metric}", _fmt(d.get(f"{metric}_lift"), pct=True),
                                f"[{ci[0]:+.1%}, {ci[1]:+.1%}]" if ci else "n/a"])
        out += _table(["slice metric", "lift", "95% CI"], ab_rows)
    if result.run_id:
        reg = f"; {result.registered}" if result.registered else ""
        out += ["", f"MLflow parent run {result.run_id}{reg}"]
    out += [f"Outputs in {result.out}"]
    return "\n".join(out)
