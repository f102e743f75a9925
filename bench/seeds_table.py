"""Mean and 95 % CI over seeds of Recall@20 per model and slice, from several run directories.

    .venv/bin/python bench/seeds_table.py RUN_SEED0 RUN_SEED1 RUN_SEED2 [--k 20]

Each RUN is the OUT_DIR of a `graphrec run` with a different `--set seed=S` (the seed sets the
split, every model's initialisation and the sampling). The CI is Student's t over the seeds.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy import stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--k", type=int, default=20)
    args = ap.parse_args()
    docs = [json.loads((r / "eval" / "metrics.json").read_text()) for r in args.runs]
    names = sorted(
        set.intersection(*(set(d["models"]) for d in docs)),
        key=lambda m: -np.mean([d["models"][m]["all"][f"recall@{args.k}"] or 0 for d in docs]),
    )
    n = len(docs)
    t = stats.t.ppf(0.975, n - 1) if n > 1 else math.nan
    print(f"Recall@{args.k}, mean [95% CI] over {n} seeds ({', '.join(str(r) for r in args.runs)})")
    print("| model | warm | cold | all |\n|---|---|---|---|")
    for m in names:
        cells = []
        for s in ("warm", "cold", "all"):
            v = np.array([d["models"][m][s][f"recall@{args.k}"] or 0.0 for d in docs], dtype=float)
            half = t * v.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
            cells.append(f"{v.mean():.4f} [{v.mean() - half:.4f}, {v.mean() + half:.4f}]")
        print(f"| {m} | " + " | ".join(cells) + " |")
    abs_ = [d.get("ab") or {} for d in docs]
    if all(a.get("fresh") for a in abs_):
        lifts = [a["fresh"].get("repin_rate_lift") for a in abs_]
        print(f"\nA/B fresh repin-rate lift per seed ({abs_[0].get('treatment')} vs {abs_[0].get('control')}): {lifts}")


if __name__ == "__main__":
    main()
