"""The model registry is safe to use: one name per dataset, no duplicate versions, the alias moves
only when asked (or to follow ``add-pins``), and ``@candidate`` answers for a pin added later."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.config import RegisterConfig
from experiments.registry import REGISTRY_JSON, model_name, register_run
from graphrec.utils.io import read_json

NAME = "graphrec-synthetic-fashion"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    import mlflow

    monkeypatch.chdir(tmp_path)  # a sqlite store keeps artifacts under ./mlruns
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("GRAPHREC_MLFLOW", "1")
    mlflow.set_tracking_uri(uri)
    return mlflow.MlflowClient()


def _alias(client, name: str = NAME, alias: str = "candidate") -> str:  # noqa: ANN001
    return str(client.get_model_version_by_alias(name, alias).version)


def test_model_name_includes_the_dataset() -> None:
    assert model_name(RegisterConfig().name, "synthetic-fashion") == NAME
    assert model_name("graphrec-{dataset}", "my shop/2024") == "graphrec-my-shop-2024"
    assert model_name("fixed-name", "movielens-small") == "fixed-name"
    with pytest.raises(ValueError, match="register.name"):
        RegisterConfig(name=" ")


def test_unchanged_rerun_registers_nothing_and_alias_moves_only_with_promote(run_copy: Path, store) -> None:  # noqa: ANN001
    cfg = RegisterConfig()
    first = register_run(run_copy, cfg)
    assert (first.name, first.version, first.new, first.alias_version) == (NAME, "1", True, "1")
    assert _alias(store) == "1"
    assert read_json(run_copy / REGISTRY_JSON)["version"] == "1"

    again = register_run(run_copy, cfg)  # same bundle bytes: nothing new
    assert (again.version, again.new) == ("1", False)
    assert len(store.search_model_versions(f"name = '{NAME}'")) == 1

    # another run (other seed = other bundle) on the same dataset: new version, alias stays
    other = run_copy.parent / "other"
    shutil.copytree(run_copy, other)
    emb = other / "candidates" / "index" / "pin_emb.npy"
    _perturb_bundle(other)
    v2 = register_run(other, cfg)
    assert (v2.version, v2.new, v2.alias_version) == ("2", True, "1")
    assert _alias(store) == "1" and "--promote moves it" in v2.describe()
    assert emb.is_file()

    promoted = register_run(other, RegisterConfig(promote=True))  # same bundle: no v3, alias moves
    assert (promoted.version, promoted.new, promoted.alias_version) == ("2", False, "2")
    assert _alias(store) == "2"
    assert len(store.search_model_versions(f"name = '{NAME}'")) == 2


def _with_val_recall(run: Path, value: float) -> None:
    from graphrec.utils.io import write_json

    path = run / "full" / "manifest.json"
    m = read_json(path)
    m.setdefault("chosen", {}).setdefault("val", {})["all"] = value
    write_json(path, m)


def test_promote_if_better_moves_the_alias_only_for_a_better_validation_recall(run_copy: Path, store) -> None:  # noqa: ANN001
    from experiments.registry import TAG_METRIC, validation_metric

    _with_val_recall(run_copy, 0.20)
    first = register_run(run_copy, RegisterConfig())
    assert first.alias_version == "1" and validation_metric(run_copy) == 0.20
    assert store.get_model_version(NAME, "1").tags[TAG_METRIC] == "0.2"
    worse, better = run_copy.parent / "worse", run_copy.parent / "better"
    for source, (run, value) in enumerate(((worse, 0.19), (better, 0.21)), start=1):
        shutil.copytree(run_copy, run)
        _perturb_bundle(run, source)
        _with_val_recall(run, value)
    auto = RegisterConfig(promote_if_better=True)
    assert register_run(worse, auto).alias_version == "1" and _alias(store) == "1"
    assert register_run(better, auto).alias_version == "3" and _alias(store) == "3"
    assert register_run(better, RegisterConfig()).alias_version == "3"  # plain re-run: stays


def _perturb_bundle(run: Path, source: int = 1) -> None:
    """Rewrite the bundle with one pin vector changed (a different model, same ids)."""
    from graphrec.candidates.bundle import build_bundle, load_bundle

    b = load_bundle(run / "candidates" / "index")
    vec = b.pin_vectors.copy()
    vec[0] = vec[source]
    build_bundle(vec, b.board_vectors, b.pin_ids, b.board_ids, b.saved, b.index.cfg, meta=b.meta).save(
        run / "candidates" / "index", overwrite=True
    )


def test_add_pins_registers_a_version_that_answers_for_the_new_pin(run_copy: Path, store) -> None:  # noqa: ANN001
    import mlflow

    import graphrec.cli.addpins  # noqa: F401  (registers the command)
    from graphrec.cli import app

    register_run(run_copy, RegisterConfig())
    pins = pd.read_parquet(run_copy / "data" / "pins.parquet")
    graph_pins = pd.read_parquet(run_copy / "graph" / "pins.parquet")
    cold = graph_pins.loc[graph_pins["is_cold"], "pin_id"].iloc[0]  # content-only: its copy = itself
    new = pins[pins["pin_id"] == cold].assign(pin_id="brand-new-pin")
    new_dir = run_copy.parent / "new"
    new_dir.mkdir()
    new.to_parquet(new_dir / "pins.parquet", index=False)
    shutil.copy(run_copy / "data" / "images.npy", new_dir / "images.npy")

    old = mlflow.pyfunc.load_model(f"models:/{NAME}@candidate")
    with pytest.raises(Exception, match="unknown pin_id"):
        old.predict(pd.DataFrame({"pin_id": ["brand-new-pin"]}))

    res = CliRunner().invoke(
        app, ["add-pins", "--run", str(run_copy), "--pins", str(new_dir / "pins.parquet"), "--k", "5"]
    )
    assert res.exit_code == 0, res.output
    assert f"registered {NAME} v2 (@candidate)" in res.output
    assert _alias(store) == "2"
    served = mlflow.pyfunc.load_model(f"models:/{NAME}@candidate")
    got = served.predict(pd.DataFrame({"pin_id": ["brand-new-pin"]}), params={"k": 5})
    assert len(got) == 5 and set(got["query_id"]) == {"brand-new-pin"}
    assert got["candidate_pin_id"].iloc[0] == cold  # a cold pin's copy has the original's vector
    back = served.predict(pd.DataFrame({"pin_id": [cold]}), params={"k": 5})
    assert back["candidate_pin_id"].iloc[0] == "brand-new-pin"
    assert read_json(run_copy / REGISTRY_JSON)["version"] == "2"
