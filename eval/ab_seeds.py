"""One A/B lift over training seeds: combine the ab.json of runs that differ only in their seed.

A single ``graphrec ab-sim`` CI is over the users of one trained model: it ignores that another
seed (another split, initialisation and sampling) trains another model with another lift. Given
S >= 2 runs that differ only in seed, each metric's per-seed log-lifts ``l_s = log(1 + lift_s)``
are treated as S exchangeable draws around the method's mean log-lift ``mu``:

* **lift** = ``exp(mean_s l_s) - 1`` on the per-seed *expected* lifts (the headline of each run);
* **ci95** = ``exp(mean_s o_s +- t_{S-1, 0.975} sd(o_s) / sqrt(S)) - 1``, a Student-t interval
  over the per-seed *observed* (simulated) log-lifts ``o_s``. Their spread holds both the
  training-seed variance and each run's user/click sampling variance, so the interval includes
  both; ``expected_ci95`` is the same interval on the expected lifts (training seeds only);
* ``users_only_ci95``: the fixed-effect interval pooled from the per-seed CIs alone (what a
  single run reports, S times over): what ignoring the training seed would claim, for comparison;
* a metric is ``insufficient data`` / ``undefined`` when any seed's is (dropping those seeds
  would keep only the seeds where the treatment happened to do something).

Why a t-interval and not a bootstrap over (seed, user): with S = 3 seeds a bootstrap that
resamples seeds has 10 distinct resamples, its variance is biased low by (S - 1) / S, and its
percentile interval cannot leave the range of the S values, which misses the mean with
probability 2 / 2^S = 25 % for S = 3. The t quantile (4.30 for S = 3) pays for estimating the
seed variance from 3 values; coverage is 95 % when the per-seed log-lifts are about normal
(tests/eval/test_ab_seeds.py: 95 % over simulated seeds, where the users-only interval covers
far less).

Interleaving's ``delta`` (already a difference) is combined the same way on its own scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import t as student_t

from eval.stats import LEVEL, OK, Z
from graphrec.utils.io import read_json

SAME = ("dataset", "control", "treatment", "split", "config")
"""ab.json keys that must agree between replicates (``config`` is the whole simulator section)."""
METHOD = (
    "t-interval over seeds of the per-seed observed log-lifts (training-seed + user "
    "variance); headline = exp(mean per-seed log expected lift) - 1"
)


def load_ab(path: str | Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(ab.json, the run's config or None)`` from a run dir, an EVAL_DIR or an ab.json file."""
    p = Path(path)
    candidates = ((p / "eval" / "ab.json", p / "config.yaml"), (p / "ab.json", None), (p, None))
    for cand, cfg in candidates:
        if cand.is_file():
            run_cfg = None
            if cfg is not None and cfg.is_file():
                import yaml

                run_cfg = yaml.safe_load(cfg.read_text())
            return read_json(cand), run_cfg
    raise ValueError(f"{p}: no ab.json (pass a `graphrec run` OUT dir, an EVAL_DIR or an ab.json file)")


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(_flat(v, key + ".") if isinstance(v, Mapping) else {key: v})
    return out


def check_replicates(
    abs_: Sequence[Mapping[str, Any]], configs: Sequence[Mapping[str, Any] | None], names: Sequence[str]
) -> None:
    """Raise ValueError unless the runs differ only in seed (same arms, data, simulator, config)."""
    if len(abs_) < 2:
        raise ValueError("ab-seeds needs at least 2 runs (one per seed) to estimate the seed variance")
    first = abs_[0]
    for ab, name in zip(abs_[1:], names[1:]):
        for key in SAME:
            if ab.get(key) != first.get(key):
                raise ValueError(
                    f"{name}: ab.json {key!r} differs from {names[0]} "
                    f"({ab.get(key)!r} vs {first.get(key)!r}); the runs must "
                    "differ only in seed"
                )
    seeds = [ab.get("seed") for ab in abs_]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the runs must have distinct seeds, got {seeds}")
    given = [(_flat(c), n) for c, n in zip(configs, names) if c is not None]
    if given:
        base = {k: v for k, v in given[0][0].items() if not k.endswith("seed")}
        base_name = given[0][1]
        for flat, name in given[1:]:
            other = {k: v for k, v in flat.items() if not k.endswith("seed")}
            diff = sorted(k for k in base.keys() | other.keys() if base.get(k) != other.get(k))
            if diff:
                raise ValueError(
                    f"{name}: config differs from {base_name} in {diff[0]!r} "
                    f"({other.get(diff[0])!r} vs {base.get(diff[0])!r}), "
                    "not only in seed"
                )


def t_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float] | None:
    """``mean +- t_{S-1} sd / sqrt(S)`` of ``values``; None for < 2 values or a non-finite one."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2 or not np.all(np.isfinite(v)):
        return None
    t = float(student_t.ppf(0.5 + level / 2, len(v) - 1))
    half = t * float(v.std(ddof=1)) / math.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def _users_only(per_seed: Sequence[Mapping[str, Any]]) -> tuple[float, float] | None:
    """Fixed-effect pooling of the per-seed log-ratio CIs: the seed-to-seed variance left out."""
    logs, var = [], []
    for d in per_seed:
        ci, obs = d.get("ci95"), d.get("observed_lift", d.get("lift"))
        if ci is None or obs is None or ci[0] <= -1:
            return None
        logs.append(math.log1p(obs))
        var.append(((math.log1p(ci[1]) - math.log1p(ci[0])) / (2 * Z)) ** 2)
    m, se = float(np.mean(logs)), math.sqrt(sum(var)) / len(var)
    return float(np.expm1(m - Z * se)), float(np.expm1(m + Z * se))


def _expm1(ci: tuple[float, float] | None) -> list[float] | None:
    return None if ci is None else [float(np.expm1(ci[0])), float(np.expm1(ci[1]))]


def combine_lift(per_seed: Sequence[Mapping[str, Any]], seeds: Sequence[Any]) -> dict[str, Any]:
    """One lift over seeds from the per-seed lift dicts (``Lift.to_dict()`` or an OPE lift)."""
    lifts = [d.get("lift") for d in per_seed]
    events = [d.get("events") for d in per_seed]
    total = (
        [int(sum(e[0] for e in events)), int(sum(e[1] for e in events))] if all(e is not None for e in events) else None
    )
    out: dict[str, Any] = {"per_seed": lifts, "seeds": list(seeds), "events_per_seed": events, "events": total}
    bad = [(s, d.get("status")) for s, d in zip(seeds, per_seed) if d.get("status", OK) != OK or d.get("lift") is None]
    if bad:
        status = "undefined" if any(st == "undefined" for _, st in bad) else "insufficient data"
        return {
            **out,
            "lift": None,
            "ci95": None,
            "expected_ci95": None,
            "users_only_ci95": None,
            "status": status,
            "reason": "; ".join(f"seed {s}: {st or 'no lift'}" for s, st in bad),
        }
    exp_log = np.log1p(np.asarray(lifts, dtype=np.float64))
    obs = [d["lift"] if d.get("observed_lift") is None else d["observed_lift"] for d in per_seed]
    obs_log = np.log1p(np.asarray(obs, dtype=np.float64))
    return {
        **out,
        "lift": float(np.expm1(exp_log.mean())),
        "ci95": _expm1(t_interval(obs_log)),
        "expected_ci95": _expm1(t_interval(exp_log)),
        "users_only_ci95": _users_only(per_seed),
        "between_seed_sd_log": float(exp_log.std(ddof=1)),
        "status": OK,
        "reason": None,
    }


def _interleaving(abs_: Sequence[Mapping[str, Any]], seeds: Sequence[Any]) -> dict[str, Any] | None:
    ils = [ab.get("interleaving") for ab in abs_]
    if any(il is None for il in ils):
        return None
    deltas = [il["delta"] for il in ils]
    ok = all(il.get("status", OK) == OK for il in ils)
    ci = t_interval(deltas) if ok else None
    return {
        "delta": float(np.mean(deltas)) if ok else None,
        "delta_ci95": list(ci) if ci else None,
        "per_seed": deltas,
        "seeds": list(seeds),
        "status": OK if ok else "insufficient data",
    }


def combine(abs_: Sequence[Mapping[str, Any]], seeds: Sequence[Any] | None = None) -> dict[str, Any]:
    """Per slice and metric of ``lifts`` (and ``replay``, ``ope``): one lift over the seeds."""
    seeds = list(seeds) if seeds is not None else [ab.get("seed") for ab in abs_]
    first = abs_[0]
    lifts = {
        s: {m: combine_lift([ab["lifts"][s][m] for ab in abs_], seeds) for m in per}
        for s, per in first["lifts"].items()
    }
    out: dict[str, Any] = {
        "method": METHOD,
        "n_seeds": len(abs_),
        "seeds": seeds,
        **{k: first.get(k) for k in ("dataset", "control", "treatment", "split")},
        "users_per_seed": [ab.get("users") for ab in abs_],
        "lifts": lifts,
        "interleaving": _interleaving(abs_, seeds),
        "replay": None,
        "ope": None,
    }
    if all(ab.get("replay") for ab in abs_):
        out["replay"] = {
            s: {m: combine_lift([ab["replay"]["lifts"][s][m] for ab in abs_], seeds) for m in per}
            for s, per in first["replay"]["lifts"].items()
        }
    if all(ab.get("ope") for ab in abs_):
        out["ope"] = {
            e: {r: combine_lift([ab["ope"]["lifts"][e][r] for ab in abs_], seeds) for r in per}
            for e, per in first["ope"]["lifts"].items()
        }
    return out


_ROWS = (
    ("repins", "repins/user"),
    ("repin_exam", "repins/exam"),
    ("ctr_exam", "clicks/exam"),
    ("ctr", "CTR"),
    ("repin_rate", "repin rate"),
)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1%}"


def _cells(d: Mapping[str, Any]) -> list[str]:
    ci = d.get("ci95")
    per = ", ".join(_pct(x) for x in d["per_seed"])
    return [
        _pct(d["lift"]) if d["lift"] is not None else d["status"],
        "n/a" if ci is None else f"[{ci[0]:+.1%}, {ci[1]:+.1%}]",
        "n/a"
        if d.get("users_only_ci95") is None
        else f"[{d['users_only_ci95'][0]:+.1%}, {d['users_only_ci95'][1]:+.1%}]",
        per,
        "n/a" if d.get("events") is None else f"{d['events'][0]}/{d['events'][1]}",
    ]


def format_table(c: Mapping[str, Any]) -> str:
    """Markdown table of the combined lifts (A/B, interleaving, replay, IPS/SNIPS/DR)."""
    head = ["slice metric", "lift", "95% CI over seeds", "users-only CI", "per seed", "events C/T (sum)"]
    rows = [
        [f"{s} {label}", *_cells(c["lifts"][s][m])]
        for s in ("fresh", "warm", "all")
        for m, label in _ROWS
        if m in c["lifts"].get(s, {})
    ]
    if c.get("replay"):
        rows += [[f"replay {s} hit rate", *_cells(c["replay"][s]["hit_rate"])] for s in ("fresh", "warm", "all")]
    if c.get("ope"):
        rows += [
            [f"{r.replace('_', ' ')}/user {e.upper()}", *_cells(c["ope"][e][r])]
            for r in ("repins", "fresh_repins")
            for e in ("ips", "snips", "dr")
        ]
    lines = [
        f"Offline A/B over {c['n_seeds']} seeds {c['seeds']}: treatment {c['treatment']} "
        f"vs control {c['control']} ({c['dataset']}); {c['method']}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    il = c.get("interleaving")
    if il:
        ci = il.get("delta_ci95")
        lines += [
            "",
            f"Team-draft interleaving delta over seeds: "
            f"{'n/a' if il['delta'] is None else format(il['delta'], '+.4f')} "
            f"(95% CI {'n/a' if ci is None else f'[{ci[0]:+.4f}, {ci[1]:+.4f}]'}; per seed "
            + ", ".join(f"{d:+.4f}" for d in il["per_seed"])
            + ")",
        ]
    return "\n".join(lines) + "\n"
