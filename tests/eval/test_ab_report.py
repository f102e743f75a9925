"""The A/B table of `graphrec run` and the report section show expected lifts, events and status."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eval.ab import metrics_section, simulate_ab
from eval.config import ABConfig
from eval.report import _ab_section
from graphrec.utils.io import write_json
from tests.eval.test_ab import _planted_setup


def _ab_json(users: int) -> dict:
    u, control, treatment, relevance, is_cold, _ = _planted_setup(users, seed=0)
    wide = lambda x: np.hstack([x, x[:, ::-1]])  # noqa: E731
    cfg = ABConfig(feed_size=10, n_bootstrap=100, n_permutations=50, sessions=1)
    res = simulate_ab(u, wide(control), wide(treatment), relevance, is_cold, cfg, seed=0)
    return {
        "control": "c",
        "treatment": "t",
        "split": "test",
        "relevance": "planted",
        "engagement": "pbm",
        "config": {"n_permutations": 50, "min_events": 30},
        **res,
    }


def test_run_summary_prints_events_and_insufficient_data(tmp_path: Path) -> None:
    from experiments.pipeline import PipelineResult
    from experiments.summary import format_summary

    ab = _ab_json(60)  # few users: fresh repins are too few
    (tmp_path / "eval").mkdir()
    write_json(tmp_path / "eval" / "ab.json", ab)
    metrics = {"dataset": "toy", "protocol": {"split": "test"}, "models": {}, "ab": metrics_section("c", "t", ab)}
    text = format_summary(PipelineResult(out=tmp_path, metrics=metrics))
    assert "Offline A/B: treatment t vs control c, 60 users" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("fresh repins/user"))
    ev = ab["lifts"]["fresh"]["repins"]["events"]
    assert "insufficient data" in row and f"{ev[0]}/{ev[1]}" in row
    assert "Team-draft interleaving" in text and "Counterfactual lifts" in text
    assert "repins/user DR" in text


def test_report_section_has_sensitivity_interleaving_and_ope() -> None:
    ab = _ab_json(2000)
    text = "\n".join(_ab_section(ab))
    assert "Sensitivity of the expected lifts" in text and "examination=uniform" in text
    assert "Team-draft interleaving" in text and "95 % CI [" in text
    assert "Counterfactual estimates" in text and "| repins | DR |" in text
    assert "lift (expected)" in text and "events C / T" in text
