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
        rows.append(
            [name] + [_fmt(res[s].get("recall@20")) for s in ("warm", "cold", "all")] + [_fmt(res.get("coverage@20"))]
        )
    proto = m.get("protocol", {})
    out += ["", f"Board -> pin Recall@20 on {proto.get('split', 'test')} saves ({m.get('dataset', '?')})"]
    out += _table(["model", "warm", "cold", "all", "coverage@20"], rows)
    ab = m.get("ab")
    if ab:
        out += [""] + _ab_lines(ab, result.out / "eval" / "ab.json")
    if result.run_id:
        reg = f"; {result.registered}" if result.registered else ""
        out += ["", f"MLflow parent run {result.run_id}{reg}"]
    out += [f"Outputs in {result.out}"]
    return "\n".join(out)


_AB_ROWS = (
    ("repins", "repins/user"),
    ("repin_exam", "repins/exam"),
    ("ctr_exam", "clicks/exam"),
    ("ctr", "CTR"),
    ("repin_rate", "repin rate"),
)


def _ci(ci: Any) -> str:
    return f"[{ci[0]:+.1%}, {ci[1]:+.1%}]" if ci else "n/a"


def _lift(d: dict) -> str:
    if d.get("lift") is not None:
        return _fmt(d["lift"], pct=True)
    return d.get("status") if d.get("status") not in (None, "ok") else "n/a"


def _ab_lines(ab: dict, ab_json: Any) -> list[str]:
    """The A/B table: from ab.json when present (every metric), else the metrics.json ab block."""
    from graphrec.utils.io import read_json

    full = read_json(ab_json) if ab_json.is_file() else None
    users = f", {ab['users']:,} users" if "users" in ab else ""
    out = [
        f"Offline A/B: treatment {ab['treatment']} vs control {ab['control']}{users} "
        "(lift of expected engagement; 95% CI of the simulated experiment; events control/treatment)"
    ]
    rows = []
    if full is None:  # an older metrics.json block: the contract keys only
        for sl in ("fresh", "warm"):
            for metric in ("repin_rate", "ctr"):
                d = ab.get(sl, {})
                rows.append(
                    [f"{sl} {metric}", _fmt(d.get(f"{metric}_lift"), pct=True), _ci(d.get(f"{metric}_ci95")), "n/a"]
                )
        return out + _table(["slice metric", "lift", "95% CI", "events"], rows)
    for sl in ("fresh", "warm"):
        for key, label in _AB_ROWS:
            d = full["lifts"][sl][key]
            ev = d.get("events")
            rows.append([f"{sl} {label}", _lift(d), _ci(d.get("ci95")), f"{ev[0]}/{ev[1]}" if ev else "n/a"])
        a = full["arms"]
        rows.append(
            [f"{sl} share of feed", f"{_fmt(a['control'][sl]['share'])} -> {_fmt(a['treatment'][sl]['share'])}", "", ""]
        )
    out += _table(["slice metric", "lift", "95% CI", "events"], rows)
    il = full.get("interleaving")
    if il:
        ci = il.get("delta_ci95")
        ci_s = f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "n/a"
        out += [
            f"Team-draft interleaving: delta {il['delta']:+.4f} {ci_s} (> 0 favours treatment; "
            f"{il['wins']} wins / {il['losses']} losses / {il['ties']} ties), {il.get('status', 'ok')}"
        ]
    ope = full.get("ope")
    if ope:
        rows = []
        for r in ("repins", "fresh_repins"):
            for e in ("ips", "snips", "dr"):
                lf = ope["lifts"][e][r]
                lift = _fmt(lf["lift"], pct=True) if lf["lift"] is not None else lf["status"]
                rows.append(
                    [f"{r.replace('_', ' ')}/user {e.upper()}", lift, _ci(lf["ci95"]), _fmt(lf["truth"], pct=True)]
                )
        out += [f"Counterfactual lifts from a logging policy (eps = {ope['epsilon']:g}) vs the online truth"]
        out += _table(["reward estimator", "lift", "95% CI", "true lift"], rows)
    rp = full.get("replay")
    if rp:
        rows = []
        for sl in ("fresh", "warm", "all"):
            c, t, d = rp["arms"]["control"][sl], rp["arms"]["treatment"][sl], rp["lifts"][sl]["hit_rate"]
            rows.append(
                [
                    f"{sl} hit rate",
                    f"{_fmt(c['hit_rate'])} -> {_fmt(t['hit_rate'])}",
                    _lift(d),
                    _ci(d.get("ci95")),
                    f"{c['hits']}/{t['hits']} of {c['events']}",
                ]
            )
        out += [
            f"Time-ordered replay of {rp['events']:,} held-out saves (saved pin in the top "
            f"{rp['feed_size']} at that time; hits control/treatment)"
        ]
        out += _table(["slice metric", "control -> treatment", "lift", "95% CI", "hits"], rows)
    return out
