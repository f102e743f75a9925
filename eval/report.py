"""``report.md``: the evaluation tables, rendered only from the files of an EVAL_DIR.

``render`` takes ``metrics.json``, ``pin_to_pin.json``, ``manifest.json`` and ``ab.json``
contents, so ``graphrec ab-sim`` can re-render the report after adding an A/B result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eval.config import ORACLE
from eval.markdown import md_code, md_text
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
        ci = metrics.get("ci95") or {}  # sampled queries: the 95 % CI of recall@k
        header += [f"recall@{k} 95% CI"] if ci else []
        rows = []
        for m in order_models(models, s, k, cold_blind):
            d = models[m][s]
            row = [_label(m, cold_blind)] + [_fmt(d.get(f"recall@{x}")) for x in ks]
            row += [
                _fmt(d.get(f"ndcg@{k}")),
                _fmt(d.get(f"hit@{k}")),
                _fmt(d.get("mrr")),
                _fmt(d.get(f"popularity@{k}")),
            ]
            if s == "all":
                row += [_fmt(models[m].get(f"coverage@{x}")) for x in ks]
            if ci:
                lo_hi = (ci.get(m) or {}).get(s, {}).get(f"recall@{k}")
                row.append("n/a" if lo_hi is None else f"[{_fmt(lo_hi[0])}, {_fmt(lo_hi[1])}]")
            rows.append(row)
        lines += [f"### {SLICE_TITLES[s]}", ""] + _table(header, rows) + [""]
    return lines


def _ci(ci: Sequence[float] | None) -> str:
    return "n/a" if ci is None else f"[{_fmt(ci[0], True)}, {_fmt(ci[1], True)}]"


def _lift_cell(d: Mapping[str, Any]) -> str:
    """The lift, or why there is none (``insufficient data`` / ``undefined``)."""
    if d.get("lift") is not None:
        return _fmt(d["lift"], True)
    return d.get("status") if d.get("status") not in (None, "ok") else "n/a"


def _events(d: Mapping[str, Any]) -> str:
    ev = d.get("events")
    return "n/a" if ev is None else f"{ev[0]:,} / {ev[1]:,}"


AB_METRIC_TEXT = {
    "repins": "repins per user (all users)",
    "repin_exam": "repins per examination",
    "ctr_exam": "clicks per examination",
    "ctr": "CTR per impression",
    "repin_rate": "repins per impression",
    "share": "share of impressions",
    "exposure": "share of examination",
}


def _ab_section(ab: Mapping[str, Any]) -> list[str]:
    lines = [
        "## Offline A/B simulation",
        "",
        f"Control **{ab['control']}** vs treatment **{ab['treatment']}** on {ab['users']:,} simulated users "
        f"(the {ab['split']} boards); relevance = {ab['relevance']}. Engagement model: {ab['engagement']}.",
        "",
    ]
    cm = ab.get("click_model")
    if cm:
        lines += [
            f"Click model: {cm['kind']}, P(click) = {cm['p_click']} with c0 = {cm['c0']:g}, "
            f"dc = {cm['dc']:g}; examination {cm['examination']} ({cm['examination_source']}); "
            f"P(repin | click) = {cm['p_repin_given_click']}. Calibration: {cm['calibration']}.",
            "",
        ]
    header = [
        "arm",
        "slice",
        "impressions",
        "share",
        "exposure",
        "clicks",
        "repins",
        "exp. CTR",
        "exp. clicks / exam",
        "exp. repins / exam",
        "exp. repins / user",
    ]
    rows = []
    for arm in ("control", "treatment"):
        for s in ("fresh", "warm", "all"):
            d = ab["arms"][arm][s]
            rows.append(
                [
                    f"{ab[arm]} ({arm})",
                    s,
                    _fmt(d["impressions"]),
                    _fmt(d["share"]),
                    _fmt(d.get("exposure")),
                    _fmt(d["clicks"]),
                    _fmt(d["repins"]),
                    _fmt(d["expected_ctr"]),
                    _fmt(d.get("expected_ctr_exam")),
                    _fmt(d.get("expected_repin_exam")),
                    _fmt(d.get("expected_repins_per_user")),
                ]
            )
    lines += _table(header, rows) + [""]
    header = [
        "slice",
        "metric",
        "control",
        "treatment",
        "lift (expected)",
        "95% CI (simulated)",
        "observed lift",
        "events C / T",
        "p-value",
    ]
    rows = []
    for s in ("fresh", "warm", "all"):
        for m in ("repins", "repin_exam", "ctr_exam", "ctr", "repin_rate", "share", "exposure"):
            d = ab["lifts"][s].get(m)
            if d is None or (s == "all" and m in ("share", "exposure")):  # 1 by definition
                continue
            rows.append(
                [
                    s,
                    AB_METRIC_TEXT.get(m, m),
                    _fmt(d["control"]),
                    _fmt(d["treatment"]),
                    _lift_cell(d),
                    _ci(d["ci95"]),
                    _fmt(d.get("observed_lift"), True),
                    _events(d),
                    format_p(d["p_value"], ab["config"]["n_permutations"]) or "n/a",
                ]
            )
    lines += _table(header, rows) + [""]
    lines += [
        "**How to read it.** `lift (expected)` is the lift of the engagement model's expected clicks / repins "
        "on the served feeds (no click noise). The 95 % CI is a log-ratio bootstrap interval over users of "
        "one simulated experiment with these users (it covers the expected lift in ~95 % of seeds); "
        "`observed lift` is that experiment's point estimate. No lift is given (`insufficient data`) when "
        f"either arm has fewer than {ab['config'].get('min_events', 30)} events or a bootstrap replicate is "
        "non-finite; `undefined` when the control serves no pin of the slice or its rate is 0. Quality "
        "(per examination) is not gameable by placing fresh pins higher; quantity (`share`, `exposure`) "
        "is reported apart; `repins per user` is the volume over all users.",
        "",
    ]
    il = ab.get("interleaving")
    if il:
        status = "" if il.get("status", "ok") == "ok" else f" **{il['status']}**."
        lines += [
            f"**Team-draft interleaving**: {il['wins']:,} users prefer {ab['treatment']}, {il['losses']:,} "
            f"prefer {ab['control']}, {il['ties']:,} ties; delta {il['delta']:+.4f} "
            f"(95 % CI {_ci_plain(il.get('delta_ci95'))}, bootstrap over users), sign-test "
            f"p = {_fmt(il['p_value'])}; treatment's share of the expected credited clicks "
            f"{_fmt(il.get('expected_share'))} (95 % CI {_ci_plain(il.get('expected_share_ci95'))}; "
            f"0.5 = no preference).{status}",
            "",
        ]
    sens = ab.get("sensitivity")
    if sens:
        keys = [k for k in sens[0] if k.endswith("_lift")]
        header = ["click model", "c0", "dc", "examination"] + [k[:-5].replace("_", " ") for k in keys]
        rows = [
            [r["variant"], f"{r['click_min']:g}", f"{r['dc']:g}", r["examination"]] + [_fmt(r[k], True) for k in keys]
            for r in sens
        ]
        lines += ["### Sensitivity of the expected lifts to the click model", ""] + _table(header, rows)
        lines += [
            "",
            "Each row changes one parameter of the default; a conclusion that flips sign between rows "
            "depends on an assumption of the simulator, not on the models.",
            "",
        ]
    ope = ab.get("ope")
    if ope:
        lines += [
            "### Counterfactual estimates from logs of a stochastic policy",
            "",
            f"Logging policy: {ope['policy']} (eps = {ope['epsilon']:g}); propensities known exactly. "
            f"Slots matching the control / treatment feed: {ope['matched']['control']:,} / "
            f"{ope['matched']['treatment']:,}. {ope['reward_model']}. `truth` = each arm's expected "
            "reward per user under the click model (the online truth).",
            "",
        ]
        header = [
            "reward per user",
            "estimator",
            "control",
            "treatment",
            "truth C / T",
            "lift",
            "95% CI",
            "true lift",
            "CI covers truth",
        ]
        rows = []
        for r in ("repins", "fresh_repins", "clicks"):
            for e in ("ips", "snips", "dr"):
                est, lf = ope["estimates"][e][r], ope["lifts"][e][r]
                lift = _fmt(lf["lift"], True) if lf["lift"] is not None else lf["status"]
                cov = "n/a" if lf["covers_truth"] is None else ("yes" if lf["covers_truth"] else "**no**")
                rows.append(
                    [
                        r.replace("_", " "),
                        e.upper(),
                        _fmt(est["control"]["value"]),
                        _fmt(est["treatment"]["value"]),
                        f"{_fmt(est['control']['truth'])} / {_fmt(est['treatment']['truth'])}",
                        lift,
                        _ci(lf["ci95"]),
                        _fmt(lf["truth"], True),
                        cov,
                    ]
                )
        lines += _table(header, rows) + [""]
    lines += _replay_section(ab.get("replay"), ab)
    lines += ["![A/B lifts](plots/ab_lifts.png)", ""]
    return lines


def _replay_section(rp: Mapping[str, Any] | None, ab: Mapping[str, Any]) -> list[str]:
    """The time-ordered replay of the held-out saves (eval.replay), when the saves have times."""
    if not rp:
        return []
    lines = [
        "### Time-ordered replay of the held-out saves",
        "",
        f"{rp['events']:,} held-out saves of {rp['boards']:,} boards, replayed in time order: an arm is "
        f"credited when the saved pin is in its top {rp['feed_size']} among the pins eligible at that time "
        "(released, not yet saved by the board). `exam credit` weights a hit by the examination of its "
        "position. Organic saves were not logged under a random policy, so this measures agreement with "
        "what users went on to save, not an unbiased online rate (docs/evaluation.md).",
        "",
    ]
    header = [
        "slice",
        "events",
        "hits C / T",
        "hit rate C / T",
        "hit-rate lift",
        "hit-rate 95% CI",
        "exam-credit lift",
        "exam-credit 95% CI",
    ]
    rows = []
    for s in ("fresh", "warm", "all"):
        c, t = rp["arms"]["control"][s], rp["arms"]["treatment"][s]
        h, e = rp["lifts"][s]["hit_rate"], rp["lifts"][s]["exam_credit"]
        rows.append(
            [
                s,
                _fmt(c["events"]),
                f"{c['hits']:,} / {t['hits']:,}",
                f"{_fmt(c['hit_rate'])} / {_fmt(t['hit_rate'])}",
                _lift_cell(h),
                _ci(h["ci95"]),
                _lift_cell(e),
                _ci(e["ci95"]),
            ]
        )
    return lines + _table(header, rows) + [""]


def _ci_plain(ci: Sequence[float] | None) -> str:
    return "n/a" if ci is None else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"


def render(
    metrics: Mapping[str, Any],
    manifest: Mapping[str, Any],
    pin_to_pin: Mapping[str, Any] | None = None,
    ab: Mapping[str, Any] | None = None,
) -> str:
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
    lines = [
        f"# Evaluation: {md_text(metrics['dataset'])}",
        "",
        f"Graph {md_code(manifest.get('graph', {}).get('path', '?'))}, split **{p['split']}**, K = {p['k']}. "
        "Every pin of the catalogue is ranked for each query; the query board's earlier saves are masked; "
        "metrics are averaged per query over queries with >= 1 relevant pin in the slice "
        "(see docs/evaluation.md).",
        "",
    ]
    counts = manifest.get("n_queries", {})
    for task, c in counts.items():
        lines.append(f"- {task}: " + ", ".join(f"{s} {n:,} queries" for s, n in c.items()))
        smp = manifest.get("sampling", {}).get(task)
        if smp and smp["scored"] < smp["total"]:
            lines[-1] += (
                f" (a seeded sample of {smp['scored']:,} of {smp['total']:,} queries, "
                "`eval.max_queries`; 95 % CIs in the tables)"
            )
    if cold_blind:
        lines += [
            "",
            f"**Cannot score cold pins: {', '.join(cold_blind)}.** These models learn a vector only for "
            "pins with train saves, so every cold pin is ranked below every warm pin: their cold-slice "
            "numbers are ~0 by construction and they are listed last on the cold slice.",
        ]
    missing = manifest.get("missing_models", [])
    if missing:
        lines += ["", f"Not evaluated (their stage has not produced an embedding directory): {', '.join(missing)}."]
    skipped = manifest.get("skipped_models", {})
    if skipped:
        lines += ["", "Skipped: " + "; ".join(f"{m} ({why})" for m, why in skipped.items()) + "."]
    chosen = {m: d["chosen"]["values"] for m, d in info.items() if d.get("chosen")}
    if chosen:
        text = "; ".join(f"{m}: " + ", ".join(f"{k}={v}" for k, v in vals.items()) for m, vals in chosen.items())
        lines += ["", "Chosen on the val split (Recall@20; every grid point in manifest.json): " + text + "."]
    if ORACLE in metrics["models"]:
        lines += [
            "",
            "`oracle` ranks by the planted style/niche affinity of the synthetic generator; it ignores "
            "per-pin popularity (not in truth/), so popularity-aware models can beat it on warm pins.",
        ]
    sources = [f"{m}: {md_text(d['source'])}" for m, d in info.items() if d.get("source")]
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
