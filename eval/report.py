"""``report.md``: the evaluation tables, rendered only from the files of an EVAL_DIR.

``render`` takes ``metrics.json``, ``pin_to_pin.json``, ``manifest.json`` and ``ab.json``
contents, so ``graphrec ab-sim`` can re-render the report after adding an A/B result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eval.config import ORACLE
from eval.plots import format_p

SLICE_TITLES = {
    "cold": "Cold slice: relevant pins with no train save (the cold-start case)",
    "warm": "Warm slice: relevant pins in the train graph",
    "all": "All relevant pins",
}


def _fmt(x: Any, pct: bool = False) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{100 * x:+.1f}%" if pct else f"{x:.4f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _main_k(ks: Sequence[int]) -> int:
    return 20 if 20 in ks else ks[len(ks) // 2]


def order_models(models: Mapping[str, Any], slice_: str, k: int, cold_blind: Sequence[str]) -> list[str]:
    """Best first by Recall@k on ``slice_``; on the cold slice, models that cannot score cold pins go last."""
    def key(m: str) -> tuple[int, float]:
        v = models[m][slice_].get(f"recall@{k}")
        last = 1 if (slice_ == "cold" and m in cold_blind) else 0
        return (last, -(v if v is not None else -1.0))

    return sorted(models, key=key)


def _label(m: str, cold_blind: Sequence[str]) -> str:
    if m == ORACLE:
        return "oracle (planted truth, ceiling)"
    return f"{m} (no cold scores)" if m in cold_blind else m


def _slice_tables(metrics: Mapping[str, Any], cold_blind: Sequence[str], title: str) -> list[str]:
    ks = list(metrics["protocol"]["k"])
    k = _main_k(ks)
    lines = [f"## {title}", ""]
    models = metrics["models"]
    if not models:
        return lines + ["No model was evaluated.", ""]
    for s in ("cold", "warm", "all"):
        header = ["model"] + [f"recall@{x}" for x in ks] + [f"ndcg@{k}", f"hit@{k}", "mrr", f"popularity@{k}"]
        if s == "all":
            header += [f"coverage@{x}" for x in ks]
        rows = []
        for m in order_models(models, s, k, cold_blind):
            d = models[m][s]
            row = [_label(m, cold_blind)] + [_fmt(d.get(f"recall@{x}")) for x in ks]
            row += [_fmt(d.get(f"ndcg@{k}")), _fmt(d.get(f"hit@{k}")), _fmt(d.get("mrr")), _fmt(d.get(f"popularity@{k}"))]
            if s == "all":
                row += [_fmt(models[m].get(f"coverage@{x}")) for x in ks]
            rows.append(row)
        lines += [f"### {SLICE_TITLES[s]}", ""] + _table(header, rows) + [""]
    return lines


def _ab_section(ab: Mapping[str, Any]) -> list[str]:
    lines = ["## Offline A/B simulation", "",
             f"Control **{ab['control']}** vs treatment **{ab['treatment']}** on {ab['users']:,} simulated users "
             f"(the {ab['split']} boards); relevance = {ab['relevance']}. Engagement model: {ab['engagement']}.", ""]
    header = ["arm", "slice", "impressions", "share", "CTR", "repin rate", "expected CTR", "expected repin rate"]
    rows = []
    for arm in ("control", "treatment"):
        for s in ("fresh", "warm", "all"):
            d = ab["arms"][arm][s]
            rows.append([f"{ab[arm]} ({arm})", s, _fmt(d["impressions"]), _fmt(d["share"]), _fmt(d["ctr"]),
                         _fmt(d["repin_rate"]), _fmt(d["expected_ctr"]), _fmt(d["expected_repin_rate"])])
    lines += _table(header, rows) + [""]
    header = ["slice", "metric", "control", "treatment", "lift", "95% CI", "p-value"]
    rows = []
    for s in ("fresh", "warm", "all"):
        for m in ("ctr", "repin_rate", "repins", "share"):
            d = ab["lifts"][s][m]
            ci = "n/a" if d["ci95"] is None else f"[{_fmt(d['ci95'][0], True)}, {_fmt(d['ci95'][1], True)}]"
            rows.append([s, m, _fmt(d["control"]), _fmt(d["treatment"]), _fmt(d["lift"], True), ci,
                         format_p(d["p_value"], ab["config"]["n_permutations"]) or "n/a"])
    lines += _table(header, rows) + [""]
    lines += ["`repins` is the lift in repins per user (volume: the seed's \"+15 % repins on fresh pins\"); "
              "`ctr` and `repin_rate` are per impression of the slice; `share` is the slice's share of the feed. "
              "A lift is n/a when the control's rate is 0 or it served no pin of the slice (a model that "
              "cannot score cold pins serves no fresh pins).", ""]
    il = ab.get("interleaving")
    if il:
        lines += [f"Team-draft interleaving: {il['wins']:,} users prefer {ab['treatment']}, {il['losses']:,} prefer "
                  f"{ab['control']}, {il['ties']:,} ties; preference {_fmt(il['preference'])}, "
                  f"delta {il['delta']:+.4f}, sign-test p = {_fmt(il['p_value'])}.", ""]
    lines += ["![A/B lifts](plots/ab_lifts.png)", ""]
    return lines


def render(metrics: Mapping[str, Any], manifest: Mapping[str, Any], pin_to_pin: Mapping[str, Any] | None = None,
           ab: Mapping[str, Any] | None = None) -> str:
    """The whole report as Markdown.

    Args:
        metrics: metrics.json contents (board -> pin).
        manifest: the EVAL_DIR manifest (model info: can_score_cold, sources; missing models).
        pin_to_pin: pin_to_pin.json contents, when that task ran.
        ab: ab.json contents, when ``graphrec ab-sim`` ran.
    """
    info = manifest.get("models", {})
    cold_blind = [m for m, d in info.items() if not d.get("can_score_cold", True)]
    p = metrics["protocol"]
    lines = [f"# Evaluation: {metrics['dataset']}", "",
             f"Graph `{manifest.get('graph', {}).get('path', '?')}`, split **{p['split']}**, K = {p['k']}. "
             "Every pin of the catalogue is ranked for each query; the query board's earlier saves are masked; "
             "metrics are averaged per query over queries with >= 1 relevant pin in the slice "
             "(see docs/evaluation.md).", ""]
    counts = manifest.get("n_queries", {})
    for task, c in counts.items():
        lines.append(f"- {task}: " + ", ".join(f"{s} {n:,} queries" for s, n in c.items()))
    if cold_blind:
        lines += ["", f"**Cannot score cold pins: {', '.join(cold_blind)}.** These models learn a vector only for "
                  "pins with train saves, so every cold pin is ranked below every warm pin: their cold-slice "
                  "numbers are ~0 by construction and they are listed last on the cold slice."]
    missing = manifest.get("missing_models", [])
    if missing:
        lines += ["", f"Not evaluated (their stage has not produced an embedding directory): {', '.join(missing)}."]
    skipped = manifest.get("skipped_models", {})
    if skipped:
        lines += ["", "Skipped: " + "; ".join(f"{m} ({why})" for m, why in skipped.items()) + "."]
    chosen = {m: d["chosen"]["values"] for m, d in info.items() if d.get("chosen")}
    if chosen:
        text = "; ".join(f"{m}: " + ", ".join(f"{k}={v}" for k, v in vals.items())
                         for m, vals in chosen.items())
        lines += ["", "Chosen on the val split (Recall@20; every grid point in manifest.json): "
                  + text + "."]
    if ORACLE in metrics["models"]:
        lines += ["", "`oracle` ranks by the planted style/niche affinity of the synthetic generator; it ignores "
                  "per-pin popularity (not in truth/), so popularity-aware models can beat it on warm pins."]
    sources = [f"{m}: {d['source']}" for m, d in info.items() if d.get("source")]
    if sources:
        lines += ["", "Sources: " + "; ".join(sources) + "."]
    lines += [""] + _slice_tables(metrics, cold_blind, "Board -> pin (more ideas for this board)")
    if metrics["models"]:
        lines += ["![Recall warm vs cold](plots/recall_warm_cold.png)", ""]
    if pin_to_pin is not None:
        lines += _slice_tables(pin_to_pin, cold_blind, "Pin -> pin (related pins)")
    if ab is not None:
        lines += _ab_section(ab)
    return "\n".join(lines).rstrip() + "\n"
