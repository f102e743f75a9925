"""eval.ab_seeds: one lift over training seeds, with a CI that includes the seed-to-seed variance."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from eval.ab_seeds import check_replicates, combine, combine_lift, load_ab, t_interval
from eval.stats import Z
from graphrec.utils.io import write_json

T2 = 4.302652729911275  # Student t, 2 degrees of freedom, 0.975


def _lift(log_exp: float, log_obs: float, half: float = 0.05, events: tuple[int, int] = (100, 120)) -> dict:
    """A per-seed lift dict as ab.json writes it (log-ratio CI of half-width ``half`` around the observed)."""
    return {
        "lift": math.expm1(log_exp),
        "observed_lift": math.expm1(log_obs),
        "status": "ok",
        "ci95": [math.expm1(log_obs - half), math.expm1(log_obs + half)],
        "events": list(events),
    }


def test_t_interval_known_values() -> None:
    lo, hi = t_interval([0.1, 0.2, 0.3])
    half = T2 * 0.1 / math.sqrt(3)
    assert (lo, hi) == pytest.approx((0.2 - half, 0.2 + half))
    assert t_interval([0.1]) is None and t_interval([0.1, math.inf]) is None


def test_three_seeds_give_the_geometric_mean_lift_and_a_t_interval_over_seeds() -> None:
    per = [_lift(0.1, 0.12), _lift(0.2, 0.18), _lift(0.3, 0.33)]
    d = combine_lift(per, [0, 1, 2])
    assert d["lift"] == pytest.approx(math.expm1(0.2))  # the mean log expected lift
    m, sd = np.mean([0.12, 0.18, 0.33]), np.std([0.12, 0.18, 0.33], ddof=1)
    assert d["ci95"] == pytest.approx([math.expm1(m - T2 * sd / math.sqrt(3)), math.expm1(m + T2 * sd / math.sqrt(3))])
    assert d["expected_ci95"] == pytest.approx(
        [math.expm1(0.2 - T2 * 0.1 / math.sqrt(3)), math.expm1(0.2 + T2 * 0.1 / math.sqrt(3))]
    )
    se = math.sqrt(3 * (0.05 / Z) ** 2) / 3  # each seed's own CI: half-width 0.05 in log space
    assert d["users_only_ci95"] == pytest.approx([math.expm1(m - Z * se), math.expm1(m + Z * se)])
    assert d["events"] == [300, 360] and d["status"] == "ok" and d["per_seed"] == [p["lift"] for p in per]
    assert d["between_seed_sd_log"] == pytest.approx(0.1)


def test_one_seed_without_enough_events_makes_the_combined_lift_insufficient() -> None:
    few = {"lift": None, "observed_lift": 0.4, "ci95": None, "status": "insufficient data", "events": [3, 9]}
    d = combine_lift([_lift(0.1, 0.1), few, _lift(0.2, 0.2)], [0, 1, 2])
    assert d["lift"] is None and d["ci95"] is None and d["status"] == "insufficient data"
    assert d["reason"] == "seed 1: insufficient data" and d["events"] == [203, 249]
    und = {"lift": None, "ci95": None, "status": "undefined", "events": [0, 5]}
    assert combine_lift([_lift(0.1, 0.1), und], [0, 1])["status"] == "undefined"


def test_coverage_over_simulated_training_seeds() -> None:
    """Each seed's model has its own true log-lift ~ N(mu, 0.15^2); its experiment adds N(0, 0.03^2).

    Over 1,000 three-seed studies the t-interval covers mu ~95 % of the time; the users-only
    interval (each run's own CI, pooled) covers far less, and so would a z-interval (~81 %)."""
    rng = np.random.default_rng(0)
    mu, tau, sigma = 0.1, 0.15, 0.03
    hits, naive = [], []
    for _ in range(1000):
        true = rng.normal(mu, tau, 3)
        obs = true + rng.normal(0, sigma, 3)
        d = combine_lift([_lift(t, o, half=Z * sigma) for t, o in zip(true, obs)], [0, 1, 2])
        hits.append(math.log1p(d["ci95"][0]) <= mu <= math.log1p(d["ci95"][1]))
        naive.append(math.log1p(d["users_only_ci95"][0]) <= mu <= math.log1p(d["users_only_ci95"][1]))
    assert 0.93 <= np.mean(hits) <= 0.97, np.mean(hits)
    assert np.mean(naive) < 0.5, np.mean(naive)


def _ab(seed: int, control: str = "c", delta: float = 0.1, **cfg) -> dict:
    lift = _lift(0.1 * (seed + 1), 0.1 * (seed + 1))
    return {
        "dataset": "toy",
        "control": control,
        "treatment": "t",
        "split": "test",
        "seed": seed,
        "users": 50,
        "config": {"feed_size": 25, **cfg},
        "lifts": {"fresh": {"repins": lift}, "all": {"ctr": lift}},
        "interleaving": {"delta": delta + 0.01 * seed, "status": "ok"},
        "replay": {"lifts": {s: {"hit_rate": lift} for s in ("fresh", "warm", "all")}},
        "ope": {"lifts": {e: {"repins": lift, "fresh_repins": lift} for e in ("ips", "snips", "dr")}},
    }


def test_only_runs_that_differ_in_seed_are_combined() -> None:
    names = ["a", "b", "c"]
    check_replicates([_ab(0), _ab(1), _ab(2)], [None] * 3, names)
    with pytest.raises(ValueError, match="'control' differs"):
        check_replicates([_ab(0), _ab(1, control="other")], [None] * 2, names)
    with pytest.raises(ValueError, match="'config' differs"):
        check_replicates([_ab(0), _ab(1, sessions=20)], [None] * 2, names)
    with pytest.raises(ValueError, match="distinct seeds"):
        check_replicates([_ab(0), _ab(0)], [None] * 2, names)
    with pytest.raises(ValueError, match="at least 2 runs"):
        check_replicates([_ab(0)], [None], names)
    run = {"seed": 0, "split": {"seed": 0, "cold_fraction": 0.2}, "pinclip": {"train": {"steps": 120}}}
    other = {"seed": 1, "split": {"seed": 1, "cold_fraction": 0.2}, "pinclip": {"train": {"steps": 120}}}
    check_replicates([_ab(0), _ab(1)], [run, other], names)
    other["pinclip"]["train"]["steps"] = 300
    with pytest.raises(ValueError, match="'pinclip.train.steps'"):
        check_replicates([_ab(0), _ab(1)], [run, other], names)


def test_combine_covers_interleaving_replay_and_ope() -> None:
    c = combine([_ab(0), _ab(1), _ab(2)])
    assert c["n_seeds"] == 3 and c["seeds"] == [0, 1, 2]
    assert c["lifts"]["fresh"]["repins"]["lift"] == pytest.approx(math.expm1(0.2))
    assert c["replay"]["all"]["hit_rate"]["lift"] == pytest.approx(math.expm1(0.2))
    assert c["ope"]["dr"]["fresh_repins"]["ci95"] is not None
    il = c["interleaving"]
    assert il["delta"] == pytest.approx(0.11) and il["delta_ci95"] == pytest.approx(
        [0.11 - T2 * 0.01 / math.sqrt(3), 0.11 + T2 * 0.01 / math.sqrt(3)]
    )


def test_cli_reads_run_dirs_and_writes_the_combined_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from graphrec.cli import (
        app,
        evaluate,  # noqa: F401  (registers the command)
    )

    dirs = []
    for s in range(3):
        d = tmp_path / f"run{s}"
        (d / "eval").mkdir(parents=True)
        write_json(d / "eval" / "ab.json", _ab(s))
        (d / "config.yaml").write_text(yaml.safe_dump({"seed": s, "eval": {"seed": s, "ks": [10, 20]}}))
        dirs.append(str(d))
    assert load_ab(dirs[0])[1] == {"seed": 0, "eval": {"seed": 0, "ks": [10, 20]}}
    res = CliRunner().invoke(app, ["ab-seeds", *dirs, "--out", str(tmp_path / "seeds.json")])
    assert res.exit_code == 0, res.output
    assert "Offline A/B over 3 seeds [0, 1, 2]" in res.output and "| fresh repins/user | +22.1% |" in res.output
    assert "replay all hit rate" in res.output and "Team-draft interleaving delta over seeds: +0.1100" in res.output
    out = load_ab(tmp_path / "seeds.json")[0]
    assert out["runs"] == dirs and out["lifts"]["all"]["ctr"]["events"] == [300, 360]
    (tmp_path / "run2" / "config.yaml").write_text(yaml.safe_dump({"seed": 2, "eval": {"seed": 2, "ks": [20]}}))
    res = CliRunner().invoke(app, ["ab-seeds", *dirs])
    assert res.exit_code != 0 and "eval.ks" in res.output
