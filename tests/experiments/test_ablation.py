"""The ablation table (known answer from a hand-written metrics.json) and the SAGE ladder stages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.ablation import LADDER, ablation_document, ablation_rows, format_markdown, write_ablation
from experiments.config import load_run_config
from experiments.pipeline import build_stages, ladder_sage

TINY = Path(__file__).resolve().parents[2] / "experiments" / "configs" / "tiny.yaml"


def _slices(warm: float, cold: float, all_: float, mrr: float = 0.1) -> dict:
    return {
        s: {"recall@20": v, "ndcg@20": v / 2, "mrr": mrr, "recall@10": v / 4}
        for s, v in (("warm", warm), ("cold", cold), ("all", all_))
    }


METRICS = {
    "dataset": "toy",
    "protocol": {"task": "board_to_pin", "k": [10, 20], "split": "test"},
    "ab": None,
    "models": {
        "content": _slices(0.2, 0.1, 0.2, mrr=0.05),
        "clip_no_neighbors": _slices(0.1, 0.1, 0.1),
        "sage_mean_pool": _slices(0.3, 0.0, 0.25),
        "full": _slices(0.4, 0.2, 0.3, mrr=0.1),
        "popularity": _slices(0.9, 0.0, 0.9),  # not a ladder row
    },
}


def test_rows_follow_the_ladder_with_relative_change_vs_content() -> None:
    rows = ablation_rows(METRICS)
    assert [r.label for r in rows] == [
        "content-only",
        "CLIP without neighbors",
        "SAGE mean-pool",
        "importance-pool",
        "+ hard negatives",
        "SAGE over PinCLIP",
        "full's teacher alone (ALS/EASE/RP3beta chosen on validation; no cold pins)",
        "+ MLP content student, calibrated (no recency term)",
        "+ inductive path chosen on validation (neighbours / MLP / mix)",
        "full: + recency term in the calibration",
    ]
    assert [r.model for r in rows] == [m for _, m in LADDER]
    full = rows[-1]
    assert full.values["recall@20"] == {"warm": 0.4, "cold": 0.2, "all": 0.3}
    assert full.relative["recall@20"]["warm"] == pytest.approx(1.0)  # 0.4 / 0.2 - 1
    assert full.relative["recall@20"]["cold"] == pytest.approx(1.0)  # 0.2 / 0.1 - 1
    assert full.relative["recall@20"]["all"] == pytest.approx(0.5)  # 0.3 / 0.2 - 1
    assert full.relative["ndcg@20"]["all"] == pytest.approx(0.5)
    assert full.relative["mrr"]["all"] == pytest.approx(1.0)  # 0.1 / 0.05 - 1
    assert rows[1].relative["recall@20"]["warm"] == pytest.approx(-0.5)
    assert rows[2].relative["recall@20"]["cold"] == pytest.approx(-1.0)
    assert rows[0].relative["recall@20"]["all"] == pytest.approx(0.0)
    missing = rows[3]
    assert not missing.evaluated and missing.values["recall@20"]["all"] is None
    assert missing.relative["recall@20"]["all"] is None


def test_markdown_and_json_written_from_a_run_dir(tmp_path: Path) -> None:
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics.json").write_text(json.dumps(METRICS))
    doc = write_ablation(tmp_path, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "ablation.json").read_text()) == doc
    md = (tmp_path / "out" / "ablation.md").read_text()
    assert md.index("## Recall@20") < md.index("## NDCG@20") < md.index("## MRR")
    assert (
        "| 10 | full: + recency term in the calibration | `full` | 0.4000 | +100.0% | 0.2000 "
        "| +100.0% | 0.3000 | +50.0% |"
    ) in md
    assert "| 1 | content-only | `content` | 0.2000 | base |" in md
    assert "| 4 | importance-pool | `sage_importance_pool` | n/a |  | n/a |" in md
    assert (
        "Not evaluated: sage_importance_pool, sage_hard_negatives, sage, full_teacher_only, "
        "full_mlp_no_recency, full_no_recency"
    ) in md
    assert "popularity" not in md


def test_k_must_be_one_of_the_protocol_cutoffs() -> None:
    with pytest.raises(ValueError, match="cut-offs"):
        ablation_rows(METRICS, k=50)
    doc = ablation_document(METRICS, k=10)
    assert doc["metrics"] == ["recall@10", "ndcg@10", "mrr"]
    assert doc["rows"][-1]["values"]["recall@10"]["all"] == pytest.approx(0.075)
    assert "## Recall@10" in format_markdown(doc)


def test_ladder_configs_add_one_thing_per_row() -> None:
    cfg = load_run_config(None, ["sage.loss.hard_negatives=3", "sage.model.pooling=mean"])
    mean, imp, hard = (
        ladder_sage(cfg, p, h) for p, h in (("mean", False), ("importance", False), ("importance", True))
    )
    assert (mean.model.pooling, mean.loss.hard_negatives) == ("mean", 0)
    assert (imp.model.pooling, imp.loss.hard_negatives) == ("importance", 0)
    assert (hard.model.pooling, hard.loss.hard_negatives) == ("importance", 3)
    assert hard.train == cfg.sage.train and hard.sampler == cfg.sage.sampler


def test_ladder_is_off_by_default_and_adds_its_stages_when_on() -> None:
    default = [s.name for s in build_stages(load_run_config(None))]
    assert default == [
        "synth",
        "build-graph",
        "embed-text",
        "train-pinclip",
        "embed-pins",
        "train-pinclip-no-neighbors",
        "embed-pins-no-neighbors",
        "train-sage",
        "embed-graph",
        "fit-lightgcn",
        "train-full",
        "embed-full",
        "embed-full-teacher-only",
        "embed-full-mlp-no-recency",
        "embed-full-no-recency",
        "raw-features",
        "train-sage-raw",
        "embed-graph-raw",
        "evaluate",
        "ab-sim",
        "candidates",
    ]
    on = build_stages(load_run_config(None, ["ablations.sage_ladder=true", "ablations.clip_no_neighbors=false"]))
    names = [s.name for s in on]
    assert "embed-pins-no-neighbors" in names  # the ladder needs it
    for suffix in ("mean-pool", "importance-pool", "hard-negatives"):
        assert names.index(f"train-sage-{suffix}") < names.index(f"embed-graph-{suffix}") < names.index("evaluate")
    evaluate = next(s for s in on if s.name == "evaluate")
    assert "embed-graph-hard-negatives" in evaluate.inputs


def test_ablation_run_on_tiny_evaluates_every_ladder_row(tmp_path: Path) -> None:
    from experiments.sweep import run_ablation

    # both ladders are forced on, whatever the config says (the demo config turns full's off)
    overrides = ["ablations.sage_raw=false", "ablations.full_ladder=false", "sage.train.epochs=1"]
    tr, doc = run_ablation(TINY, tmp_path / "run", overrides=overrides)
    metrics = json.loads((tmp_path / "run" / "eval" / "metrics.json").read_text())
    for model in (
        "content",
        "clip_no_neighbors",
        "sage_mean_pool",
        "sage_importance_pool",
        "sage_hard_negatives",
        "full_teacher_only",
        "full_mlp_no_recency",
        "full_no_recency",
        "full",
    ):
        assert model in metrics["models"], model
    assert all(r["evaluated"] for r in doc["rows"])
    assert "| n/a" not in (tmp_path / "run" / "ablation.md").read_text()
    status = {s.name: s.status for s in tr.pipeline.stages}
    assert status["train-sage-importance-pool"] == "ran" and "train-sage-raw" not in status
    # the ladder's SAGE models really differ in pooling / hard negatives
    cfgs = {
        n: json.loads((tmp_path / "run" / "ablations" / n / "config.json").read_text())
        for n in ("sage_mean_pool", "sage_importance_pool", "sage_hard_negatives")
    }
    assert [(c["sage"]["model"]["pooling"], c["sage"]["loss"]["hard_negatives"]) for c in cfgs.values()] == [
        ("mean", 0),
        ("importance", 0),
        ("importance", 1),
    ]


def test_ablation_table_command_prints_and_writes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import graphrec.cli.sweep  # noqa: F401  (registers the commands)
    from graphrec.cli import app

    (tmp_path / "metrics.json").write_text(json.dumps(METRICS))
    res = CliRunner().invoke(app, ["ablation-table", str(tmp_path / "metrics.json"), "--out", str(tmp_path / "t")])
    assert res.exit_code == 0, res.output
    assert "calibration | `full` | 0.4000 | +100.0% |" in res.output
    assert (tmp_path / "t" / "ablation.json").is_file()
    res = CliRunner().invoke(app, ["ablation-table", str(tmp_path / "nowhere")])
    assert res.exit_code == 1 and "no metrics.json" in res.output
