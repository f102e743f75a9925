"""The ablation table in the style of PinSage Table 1, from any ``metrics.json``.

A cumulative ladder, each row adding one thing to the row above (board -> pin, warm/cold/all):

1. ``content-only``: PinCLIP embeddings (``content``),
2. ``CLIP without neighbors``: PinCLIP trained without neighbour alignment (``clip_no_neighbors``),
3. ``SAGE mean-pool``: GraphSAGE over (2), uniform pooling, no hard negatives (``sage_mean_pool``),
4. ``importance-pool``: (3) with importance pooling (``sage_importance_pool``),
5. ``+ hard negatives``: (4) with the config's curriculum hard negatives (``sage_hard_negatives``),
6. ``sage``: (5) over the PinCLIP-with-neighbour-alignment embeddings,
7. ``full_teacher_only`` .. ``full``: the served model built up from its teacher (rows from
   ``ablations.full_ladder``: the teacher alone, + the MLP student calibrated without recency,
   + the inductive path chosen on validation, + the recency term = ``full``).

Rows 3-5 come from ``ablations.sage_ladder`` (experiments/pipeline.py). Every value is shown with
its relative change against content-only. A model missing from metrics.json is shown as
``n/a`` (never faked); re-generate the table from any run directory with
``graphrec ablation-table RUN_DIR``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphrec.model_table import LADDER  # (row label, evaluation model name), in ladder order

BASELINE = "content"
SLICES = ("warm", "cold", "all")
ABLATION_MD, ABLATION_JSON = "ablation.md", "ablation.json"


@dataclass(frozen=True)
class AblationRow:
    """One ladder row.

    Args:
        label: the row's name in the table.
        model: the evaluation model name in metrics.json.
        values: ``metric -> slice -> value`` (None: not evaluated or undefined).
        relative: ``metric -> slice -> value / content-only - 1`` (None when either is missing or 0).
    """

    label: str
    model: str
    values: dict[str, dict[str, float | None]]
    relative: dict[str, dict[str, float | None]]

    @property
    def evaluated(self) -> bool:
        return any(v is not None for by_slice in self.values.values() for v in by_slice.values())


def metric_names(k: int = 20) -> tuple[str, ...]:
    """The table's metrics: Recall@k, NDCG@k and MRR."""
    return (f"recall@{k}", f"ndcg@{k}", "mrr")


def _rel(v: float | None, base: float | None) -> float | None:
    if v is None or base is None or base == 0:
        return None
    return v / base - 1.0


def ablation_rows(
    metrics: Mapping[str, Any], k: int = 20, ladder: Sequence[tuple[str, str]] = LADDER
) -> list[AblationRow]:
    """The ladder rows of a metrics.json document (``{"models": {name: {slice: {metric: v}}}}``)."""
    models = metrics.get("models", {})
    ks = metrics.get("protocol", {}).get("k")
    if ks is not None and k not in ks:
        raise ValueError(f"metrics.json has cut-offs {ks}, not {k}; pass one of them")
    names = metric_names(k)

    def values(model: str) -> dict[str, dict[str, float | None]]:
        res = models.get(model, {})
        return {m: {s: res.get(s, {}).get(m) for s in SLICES} for m in names}

    base = values(BASELINE)
    rows = []
    for label, model in ladder:
        vals = values(model)
        rel = {m: {s: _rel(vals[m][s], base[m][s]) for s in SLICES} for m in names}
        rows.append(AblationRow(label, model, vals, rel))
    return rows


def ablation_document(metrics: Mapping[str, Any], k: int = 20) -> dict[str, Any]:
    """ablation.json: dataset, protocol, the metrics, the baseline and the rows."""
    rows = ablation_rows(metrics, k)
    return {
        "dataset": metrics.get("dataset"),
        "protocol": metrics.get("protocol"),
        "task": "board_to_pin",
        "k": k,
        "metrics": list(metric_names(k)),
        "baseline": BASELINE,
        "rows": [
            {"row": r.label, "model": r.model, "evaluated": r.evaluated, "values": r.values, "relative": r.relative}
            for r in rows
        ],
    }


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:+.1%}"


def _title(metric: str) -> str:
    name, _, k = metric.partition("@")
    return {"recall": "Recall", "ndcg": "NDCG", "mrr": "MRR"}.get(name, name) + (f"@{k}" if k else "")


def format_markdown(doc: Mapping[str, Any]) -> str:
    """Markdown tables (one per metric) of an ablation document: value and change vs content-only."""
    proto = doc.get("protocol") or {}
    from eval.markdown import md_text  # user text (the dataset name) rendered literally

    out = [
        f"# Ablation: board -> pin on {proto.get('split', 'test')} saves ({md_text(doc.get('dataset', '?'))})",
        "",
        "Each row adds one thing to the row above; the change is relative to content-only "
        "(PinSage Table 1 style). n/a: model not in metrics.json.",
        "",
    ]
    header = ["#", "row", "model", "warm", "vs content", "cold", "vs content", "all", "vs content"]
    for metric in doc["metrics"]:
        out += [
            f"## {_title(metric)}",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---:", "---", "---"] + ["---:"] * 6) + "|",
        ]
        for i, row in enumerate(doc["rows"], 1):
            cells = [str(i), row["row"], f"`{row['model']}`"]
            base = row["model"] == doc["baseline"]
            for s in SLICES:
                cells += [_num(row["values"][metric][s]), "base" if base else _pct(row["relative"][metric][s])]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    missing = [r["model"] for r in doc["rows"] if not r["evaluated"]]
    if missing:
        out += [
            f"Not evaluated: {', '.join(missing)} (`graphrec ablation` runs them all: rows 3-5 need "
            "`ablations.sage_ladder=true`, the `full_*` rows `ablations.full_ladder=true`).",
            "",
        ]
    return "\n".join(out)


def find_metrics(path: str | Path) -> Path:
    """A metrics.json file, an EVAL_DIR holding one, or a run directory (``eval/metrics.json``)."""
    p = Path(path)
    for cand in (p, p / "metrics.json", p / "eval" / "metrics.json"):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"no metrics.json at {p}, {p / 'metrics.json'} or {p / 'eval' / 'metrics.json'}")


def write_ablation(metrics_path: str | Path, out_dir: str | Path, k: int = 20) -> dict[str, Any]:
    """Write ``ablation.md`` and ``ablation.json`` for a metrics.json (or its run dir) into ``out_dir``."""
    metrics = json.loads(find_metrics(metrics_path).read_text(encoding="utf-8"))
    doc = ablation_document(metrics, k)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / ABLATION_JSON).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (out / ABLATION_MD).write_text(format_markdown(doc), encoding="utf-8")
    return doc


def flat_metrics(doc: Mapping[str, Any]) -> dict[str, float]:
    """``ablation/<model>/<slice>_<metric>`` values of an ablation document, for MLflow."""
    flat: dict[str, float] = {}
    for row in doc["rows"]:
        for metric, by_slice in row["values"].items():
            flat.update({f"ablation/{row['model']}/{s}_{metric}": v for s, v in by_slice.items() if v is not None})
    return flat
