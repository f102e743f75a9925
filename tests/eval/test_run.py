"""The evaluate / ab-sim stages in process: model ordering, output contract, determinism, atomic updates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.ab_run import ab_sim
from eval.config import ABConfig
from eval.run import evaluate
from graph_build.graph import load_graph
from graphrec.utils.io import OutputExistsError, read_json
from tests.eval.conftest import tiny_config

CONTRACT_SLICE_KEYS = {"recall@20", "ndcg@20", "hit@20", "mrr"}
AB_KEYS = {"repin_rate_lift", "repin_rate_ci95", "ctr_lift", "ctr_ci95"}


@pytest.fixture(scope="module")
def eval_dir(synth_graph: Path, runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "E"
    evaluate(synth_graph, [runs["content"], runs["sage_raw"]], out, tiny_config())
    return out


def test_metrics_json_has_exactly_the_contract_keys(eval_dir: Path) -> None:
    m = read_json(eval_dir / "metrics.json")
    assert set(m) == {"dataset", "protocol", "models", "ab", "ci95"} and m["ci95"] is None
    assert m["dataset"] == "synthetic-fashion" and m["ab"] is None
    assert m["protocol"] == {"task": "board_to_pin", "k": [10, 20, 50], "split": "test"}
    assert set(m["models"]) == {
        "popularity",
        "als",
        "bpr",
        "lightgcn",
        "ease",
        "rp3beta",
        "content_minilm",
        "blend",
        "content",
        "sage_raw",
        "oracle",
    }
    for name, d in m["models"].items():
        assert {"warm", "cold", "all", "coverage@20"} <= set(d)
        assert set(d) - {"warm", "cold", "all"} == {"coverage@10", "coverage@20", "coverage@50"}
        for s in ("warm", "cold", "all"):
            assert CONTRACT_SLICE_KEYS <= set(d[s])
            assert all(isinstance(v, float) for v in d[s].values()), (name, s)
    p2p = read_json(eval_dir / "pin_to_pin.json")
    assert p2p["protocol"]["task"] == "pin_to_pin" and set(p2p["models"]) == set(m["models"])


def test_oracle_highest_and_popularity_lowest_on_cold(eval_dir: Path) -> None:
    models = read_json(eval_dir / "metrics.json")["models"]
    cold = {name: d["cold"]["recall@20"] for name, d in models.items()}
    assert cold["oracle"] > max(v for n, v in cold.items() if n != "oracle")
    assert cold["popularity"] == min(cold.values())
    assert cold["popularity"] < cold["content"]
    # the planted-truth content model beats random vectors on every slice
    assert all(models["content"][s]["recall@20"] > models["sage_raw"][s]["recall@20"] for s in ("warm", "cold", "all"))


def test_report_and_plots_render(eval_dir: Path) -> None:
    report = (eval_dir / "report.md").read_text()
    assert "Cannot score cold pins: popularity, als, bpr, lightgcn" in report
    assert (
        "Not evaluated (their stage has not produced an embedding directory): clip_no_neighbors, sage, full" in report
    )
    cold_table = report.split("### Cold slice")[1].split("###")[0]
    rows = [r.split("|")[1].strip() for r in cold_table.splitlines() if r.startswith("| ") and "model" not in r]
    assert rows[0].startswith("oracle") and all("no cold scores" in r for r in rows[-4:])
    png = (eval_dir / "plots" / "recall_warm_cold.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    manifest = read_json(eval_dir / "manifest.json")
    assert manifest["models"]["als"]["can_score_cold"] is False and manifest["models"]["content"]["can_score_cold"]


def test_same_seed_same_metrics_bytes(synth_graph: Path, runs: dict[str, Path], eval_dir: Path, tmp_path: Path) -> None:
    evaluate(synth_graph, [runs["content"], runs["sage_raw"]], tmp_path / "again", tiny_config())
    for f in ("metrics.json", "pin_to_pin.json"):
        assert (tmp_path / "again" / f).read_bytes() == (eval_dir / f).read_bytes()
    evaluate(synth_graph, [], tmp_path / "seed1", tiny_config(seed=1, models=("lightgcn",)))
    assert (
        read_json(tmp_path / "seed1" / "metrics.json")["models"]["lightgcn"]
        != read_json(eval_dir / "metrics.json")["models"]["lightgcn"]
    )


def test_existing_output_needs_force(synth_graph: Path, eval_dir: Path) -> None:
    with pytest.raises(OutputExistsError, match="--force"):
        evaluate(synth_graph, [], eval_dir, tiny_config(models=("popularity",)))


def test_ab_sim_adds_to_the_eval_dir_atomically(
    synth_graph: Path, runs: dict[str, Path], eval_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import eval.ab_run as ab_run

    cfg = tiny_config(
        ab=ABConfig(
            control="sage_raw",
            treatment="content",
            n_bootstrap=100,
            n_permutations=100,
            feed_size=10,
            min_events=5,
            sessions=5,
        )
    )
    before = {p.name: p.read_bytes() for p in eval_dir.iterdir() if p.is_file()}

    def boom(*a, **k):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(ab_run, "simulate_ab", boom)
    with pytest.raises(RuntimeError):
        ab_sim(synth_graph, [runs["content"], runs["sage_raw"]], eval_dir, cfg)
    assert {p.name: p.read_bytes() for p in eval_dir.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in eval_dir.iterdir()) == sorted([*before, "plots"])
    monkeypatch.undo()

    ab = ab_sim(synth_graph, [runs["content"], runs["sage_raw"]], eval_dir, cfg)
    m = read_json(eval_dir / "metrics.json")
    assert set(m["ab"]) >= {"control", "treatment", "fresh", "warm"}
    assert m["ab"]["control"] == "sage_raw" and m["ab"]["treatment"] == "content"
    assert m["ab"]["warm"]["ctr_status"] == "ok"
    for s in ("fresh", "warm"):
        assert set(m["ab"][s]) >= AB_KEYS
        if m["ab"][s]["ctr_status"] != "ok":  # too few events on this tiny graph: no lift printed
            assert m["ab"][s]["ctr_lift"] is None and m["ab"][s]["ctr_ci95"] is None
            continue
        lo, hi = m["ab"][s]["ctr_ci95"]
        assert lo <= m["ab"][s]["ctr_lift"] <= hi
        # planted-truth content vs random vectors: a clear CTR gain
        assert lo > 0
    assert m["models"] == json.loads(before["metrics.json"])["models"]  # evaluate's results are kept
    assert read_json(eval_dir / "ab.json") == ab
    assert "## Offline A/B simulation" in (eval_dir / "report.md").read_text()
    assert (eval_dir / "plots" / "ab_lifts.png").stat().st_size > 10_000
    assert not [p for p in eval_dir.iterdir() if p.name.startswith(".")]
    with pytest.raises(OutputExistsError, match="--force"):
        ab_sim(synth_graph, [runs["content"], runs["sage_raw"]], eval_dir, cfg)


def test_ab_sim_refuses_an_eval_dir_of_another_graph(tmp_path: Path, eval_dir: Path, tiny_dataset: Path) -> None:
    from graph_build.build import build_graph
    from graph_build.split import SplitConfig

    build_graph(tiny_dataset, tmp_path / "g", SplitConfig(seed=0))
    cfg = tiny_config(ab=ABConfig(control="popularity", treatment="als", n_bootstrap=100, n_permutations=20))
    with pytest.raises(ValueError, match="not .*use a new --out"):
        ab_sim(tmp_path / "g", [], eval_dir, cfg)


def test_ab_sim_into_a_new_dir_and_cold_blind_control(synth_graph: Path, runs: dict[str, Path], tmp_path: Path) -> None:
    cfg = tiny_config(ab=ABConfig(n_bootstrap=100, n_permutations=50, feed_size=10, interleaving=True))
    ab = ab_sim(synth_graph, [runs["content"]], tmp_path / "A", cfg)  # auto: content vs lightgcn
    assert (ab["treatment"], ab["control"]) == ("content", "lightgcn")
    m = read_json(tmp_path / "A" / "metrics.json")
    assert m["models"] == {} and m["ab"]["fresh"]["ctr_lift"] is None  # control serves no fresh pins
    assert ab["arms"]["control"]["fresh"]["impressions"] == 0 and ab["arms"]["treatment"]["fresh"]["impressions"] > 0
    assert ab["interleaving"]["wins"] + ab["interleaving"]["losses"] + ab["interleaving"]["ties"] == ab["users"]
    assert "n/a" in (tmp_path / "A" / "report.md").read_text()
    # the synthetic saves have times: the replay walks every test save of the simulated boards
    assert ab["replay"]["events"] == len(load_graph(synth_graph).saves["test"])
    assert ab["replay"]["arms"]["control"]["fresh"]["hits"] == 0  # lightgcn cannot score cold pins
    assert "Time-ordered replay" in (tmp_path / "A" / "report.md").read_text()
    assert m["ab"]["replay"]["all"]["hit_rate_status"] in ("ok", "insufficient data")
    with pytest.raises(ValueError, match="no embedding model for the treatment"):
        ab_sim(synth_graph, [], tmp_path / "B", cfg)
    assert not (tmp_path / "B").exists()


@pytest.mark.slow  # ~10 s: mlflow import and sqlite schema set-up
def test_mlflow_child_run_per_model_with_sanitised_names(
    synth_graph: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns.db")
    monkeypatch.setenv("GRAPHREC_MLFLOW", "1")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "eval-test")
    monkeypatch.chdir(tmp_path)  # the sqlite store puts artifacts in ./mlruns
    from graphrec.tracking import open_run
    from graphrec.utils.config import to_dict

    cfg = tiny_config(models=("popularity", "oracle"), tasks=("board_to_pin",))
    with open_run("evaluate", params=to_dict(cfg)) as tracker:
        evaluate(synth_graph, [], tmp_path / "E", cfg, tracker=tracker)
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name("eval-test")
    runs = {r.data.tags["mlflow.runName"]: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {"evaluate", "evaluate.popularity", "evaluate.oracle"}
    parent = runs["evaluate"].info.run_id
    oracle = runs["evaluate.oracle"]
    assert oracle.data.tags["mlflow.parentRunId"] == parent
    want = read_json(tmp_path / "E" / "metrics.json")["models"]["oracle"]
    assert oracle.data.metrics["cold_recall_at_20"] == pytest.approx(want["cold"]["recall@20"])
    assert oracle.data.metrics["coverage_at_20"] == pytest.approx(want["coverage@20"])
    assert runs["evaluate"].data.params["lightgcn.epochs"] == "2"
    assert "metrics.json" in [a.path for a in client.list_artifacts(parent)]


def test_shipped_eval_yaml_equals_the_defaults() -> None:
    from eval.config import EvalConfig
    from graphrec.utils.config import load_config

    root = Path(__file__).resolve().parents[2]
    assert load_config(EvalConfig, root / "experiments" / "configs" / "eval.yaml") == EvalConfig()


def test_manifest_and_report_show_the_values_chosen_on_val(eval_dir: Path) -> None:
    manifest = read_json(eval_dir / "manifest.json")
    for name in ("als", "ease", "rp3beta", "blend"):
        chosen = manifest["models"][name]["chosen"]
        assert chosen["criterion"] == "val recall@20 (all)" and len(chosen["grid"]) >= 2, name
        best = max(r["val_all_recall@20"] for r in chosen["grid"])
        assert any(
            r["val_all_recall@20"] == best and all(r[k] == v for k, v in chosen["values"].items())
            for r in chosen["grid"]
        ), name
    assert manifest["models"]["blend"]["chosen"]["values"]["cf_model"] in ("als", "rp3beta")
    assert manifest["skipped_models"] == {}
    assert "Chosen on the val split" in (eval_dir / "report.md").read_text()


def test_models_not_given_are_not_warned_about_but_requested_ones_are(
    synth_graph: Path, runs: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="eval.run"):
        evaluate(synth_graph, [runs["content"]], tmp_path / "E1", tiny_config())  # no sage_raw, no full: fine
    assert "left out" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="eval.run"):
        evaluate(synth_graph, [runs["content"]], tmp_path / "E2", tiny_config(models=("popularity", "sage_raw")))
    assert "left out (not available): sage_raw" in caplog.text


def test_auto_control_is_the_content_only_run_with_the_best_validation_cold_recall(
    synth_graph: Path, runs: dict[str, Path], tmp_path: Path
) -> None:
    """Two content-only runs: planted truth and random vectors, under either name; the control
    follows the truth (validation cold recall), whatever the names' order in the table."""
    import numpy as np

    from graphrec.embeddings import l2_normalize, write_embeddings
    from tests.eval.conftest import truth_content

    g = load_graph(synth_graph)
    rng = np.random.default_rng(3)
    good, bad = truth_content(g, 0.15, 0), l2_normalize(rng.normal(size=(g.n_pins, 8)))
    cfg = tiny_config(ab=ABConfig(treatment="sage_raw", n_bootstrap=100, n_permutations=20, feed_size=10))
    for truth_name, other in (("content", "clip_no_neighbors"), ("clip_no_neighbors", "content")):
        d = tmp_path / truth_name
        write_embeddings(d / "a", g, model_name=truth_name, pin=good)
        write_embeddings(d / "b", g, model_name=other, pin=bad)
        ab = ab_sim(synth_graph, [d / "a", d / "b", runs["sage_raw"]], d / "eval", cfg)
        choice = ab["control_choice"]
        assert ab["control"] == choice["chosen"] == truth_name
        val = choice["val_recall@20"]
        assert set(val) == {"content", "clip_no_neighbors"} and val[truth_name]["cold"] > val[other]["cold"]
        assert read_json(d / "eval" / "ab.json")["control_choice"] == choice
