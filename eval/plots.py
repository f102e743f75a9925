"""Matplotlib (Agg) figures of the evaluation report, written as PNG files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def format_p(p: float | None, n_permutations: int) -> str:
    """``p=0.034``, or ``p<0.001`` when no permutation was as extreme (the floor 1/(n+1))."""
    if p is None:
        return ""
    if p <= 1.0 / (n_permutations + 1) + 1e-15:
        return f"p<{1.0 / n_permutations:.2g}"
    return f"p={p:.2g}"


def plot_recall_warm_cold(metrics: Mapping[str, Any], cold_blind: Sequence[str], path: Path) -> None:
    """Grouped bars: Recall@K on the warm and the cold slice per model, one panel per K.

    Models that cannot score cold pins are hatched and their cold bar is labelled.
    """
    plt = _pyplot()
    models = list(metrics["models"])
    ks = list(metrics["protocol"]["k"])
    fig, axes = plt.subplots(1, len(ks), figsize=(4.2 * len(ks), 4.2), squeeze=False, sharey=True)
    x = np.arange(len(models))
    for ax, k in zip(axes[0], ks):
        warm = [_num(metrics["models"][m]["warm"].get(f"recall@{k}")) for m in models]
        cold = [_num(metrics["models"][m]["cold"].get(f"recall@{k}")) for m in models]
        hatch = ["//" if m in cold_blind else "" for m in models]
        bars = [
            *ax.bar(x - 0.2, warm, 0.4, label="warm", color="#4C72B0"),
            *ax.bar(x + 0.2, cold, 0.4, label="cold", color="#DD8452"),
        ]
        for b, h in zip(bars, hatch + hatch):  # warm bars too: a cold bar of height 0 shows none
            b.set_hatch(h)
        for i, m in enumerate(models):
            if m in cold_blind:
                ax.annotate(
                    "cannot score cold",
                    (x[i] + 0.2, 0),
                    xytext=(0, 3),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    rotation=90,
                    fontsize=7,
                    color="#8C3B00",
                )
        ax.set_xticks(x, models, rotation=35, ha="right", fontsize=8)
        ax.set_title(f"Recall@{k}")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(f"recall ({metrics['protocol']['split']} split, board -> pin)")
    from matplotlib.patches import Patch

    handles = axes[0][0].get_legend_handles_labels()[0]
    if cold_blind:
        handles.append(Patch(facecolor="white", edgecolor="#555555", hatch="//", label="cannot score cold pins"))
    axes[0][0].legend(handles=handles, loc="upper left", fontsize=8)
    fig.suptitle(
        f"{metrics['dataset']}: warm vs cold recall (hatched: cannot score cold pins, ranks them last)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_ab_lifts(ab: Mapping[str, Any], path: Path) -> None:
    """Horizontal error bars: expected lift (dot) and the simulated experiment's 95 % CI per metric.

    Lifts without a value are labelled with their status (``insufficient data``, ``undefined``).
    When ab.json carries counterfactual estimates, a second panel shows the IPS / SNIPS / DR
    lifts of repins per user with their CIs and the true lift (a cross). The time-ordered replay's
    hit-rate lifts (real saves, no click model) are the last rows of the first panel.
    """
    plt = _pyplot()
    names = {"repins": "repins/user", "repin_exam": "repins/exam", "ctr_exam": "clicks/exam", "ctr": "CTR"}
    rows = [
        (s, f"{s} {names[m]}", ab["lifts"][s][m])
        for s in ("fresh", "warm", "all")
        for m in ("repins", "repin_exam", "ctr_exam", "ctr")
        if m in ab["lifts"][s]
    ]
    if ab.get("replay"):
        rows += [(s, f"replay {s} hit rate", ab["replay"]["lifts"][s]["hit_rate"]) for s in ("fresh", "warm", "all")]
    ope = ab.get("ope")
    ncol = 2 if ope else 1
    fig, axes = plt.subplots(1, ncol, figsize=(7.5 * ncol, 0.42 * len(rows) + 1.8), squeeze=False)
    ax = axes[0][0]
    colors = {"fresh": "#DD8452", "warm": "#4C72B0", "all": "#55A868"}
    for i, (s, _, d) in enumerate(rows):
        y = len(rows) - 1 - i
        if d["lift"] is None:
            why = d.get("status") or "undefined"
            if d.get("events") is not None:
                why += f" ({d['events'][0]} / {d['events'][1]} events)"
            ax.text(
                0.5,
                y,
                why,
                va="center",
                ha="center",
                fontsize=7,
                color="dimgrey",
                transform=ax.get_yaxis_transform(),
                bbox={"facecolor": "white", "edgecolor": "lightgrey", "boxstyle": "round"},
            )
            continue
        lo, hi = d["ci95"] if d["ci95"] is not None else (d["lift"], d["lift"])
        ax.plot([100 * lo, 100 * hi], [y, y], color=colors[s], lw=2)
        ax.plot(100 * d["lift"], y, "o", color=colors[s])
        ax.annotate(
            f"{100 * d['lift']:+.1f}%  {format_p(d['p_value'], ab['config']['n_permutations'])}",
            (100 * max(hi, d["lift"]), y),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    ax.axvline(0, color="black", lw=0.8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_yticks(range(len(rows)), [label for _, label, _ in reversed(rows)], fontsize=8)
    ax.set_xlabel("relative lift (%): dot = expected (replay: observed), bar = 95 % CI")
    ax.set_title(f"offline A/B: {ab['treatment']} vs {ab['control']} ({ab['users']} users)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    if ope:
        ax2 = axes[0][1]
        labels = []
        for i, r in enumerate(("repins", "fresh_repins", "clicks")):
            for j, e in enumerate(("ips", "snips", "dr")):
                y = -(3 * i + j)
                labels.append((y, f"{r.replace('_', ' ')} {e.upper()}"))
                lf = ope["lifts"][e][r]
                if lf["truth"] is not None:
                    ax2.plot(100 * lf["truth"], y, "x", color="black")
                if lf["lift"] is None or lf["ci95"] is None:
                    ax2.text(
                        0.02,
                        y,
                        lf["status"],
                        va="center",
                        fontsize=7,
                        color="dimgrey",
                        transform=ax2.get_yaxis_transform(),
                    )
                    continue
                ax2.plot([100 * lf["ci95"][0], 100 * lf["ci95"][1]], [y, y], color="#8172B2", lw=2)
                ax2.plot(100 * lf["lift"], y, "o", color="#8172B2")
        ax2.axvline(0, color="black", lw=0.8)
        ax2.set_yticks([y for y, _ in labels], [t for _, t in labels], fontsize=8)
        ax2.set_xlabel("counterfactual lift (%) with 95 % CI; x = true (online) lift")
        ax2.set_title(f"off-policy estimates from a logging policy (eps = {ope['epsilon']:g})", fontsize=9)
        ax2.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
