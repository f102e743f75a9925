"""Sampled queries (``eval.max_queries``): a seeded sample, 95 % CIs in metrics.json, report.md."""

from __future__ import annotations

from pathlib import Path

from eval.config import EvalConfig
from eval.run import evaluate
from graphrec.utils.io import read_json
from tests.eval.conftest import tiny_config


def test_sampled_evaluation_writes_cis_and_says_so(synth_graph: Path, tmp_path: Path) -> None:
    cfg = tiny_config(models=("popularity",), tasks=("board_to_pin", "pin_to_pin"), max_queries=60)
    m = evaluate(synth_graph, [], tmp_path / "E", cfg)
    lo, hi = m["ci95"]["popularity"]["all"]["recall@20"]
    assert lo <= m["models"]["popularity"]["all"]["recall@20"] <= hi and lo < hi
    man = read_json(tmp_path / "E" / "manifest.json")
    smp = man["sampling"]["board_to_pin"]
    assert smp["scored"] == 60 < smp["total"]
    p2p = read_json(tmp_path / "E" / "pin_to_pin.json")
    assert p2p["ci95"]["popularity"]["cold"]["mrr"] is not None
    report = (tmp_path / "E" / "report.md").read_text()
    assert "recall@20 95% CI" in report and "a seeded sample of 60 of" in report
    # same seed, same sample, same numbers
    assert evaluate(synth_graph, [], tmp_path / "F", cfg) == m


def test_default_samples_only_above_a_documented_size() -> None:
    assert EvalConfig().max_queries == 20_000
    assert "20,000" in (EvalConfig.__doc__ or "")
