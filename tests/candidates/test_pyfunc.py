"""The MLflow pyfunc candidate generator: log, register, alias, load by alias, predict = batch job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graph_build.graph import PinBoardGraph
from graphrec.candidates.config import CandidatesConfig, IndexConfig
from graphrec.candidates.job import run_candidates


def test_registered_model_predicts_what_the_batch_job_wrote(
    graph: PinBoardGraph, emb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from graphrec.candidates.pyfunc import log_candidate_model

    monkeypatch.chdir(tmp_path)  # MLflow puts artifacts of a sqlite store under ./mlruns
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns.db")
    cand = tmp_path / "cand"
    cfg = CandidatesConfig(k=12, batch_size=64, recall_sample=0, index=IndexConfig(kind="hnsw", hnsw_m=8))
    run_candidates(graph.root, emb_dir, cand, cfg)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlruns.db")
    with mlflow.start_run() as run:
        info = log_candidate_model(cand)
    assert info.registered_model_version == 1 and info.run_id == run.info.run_id
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias("graphrec-candidates", "candidate").version) == "1"

    model = mlflow.pyfunc.load_model("models:/graphrec-candidates@candidate")
    pins = pd.read_parquet(cand / "pin_candidates.parquet")
    boards = pd.read_parquet(cand / "board_candidates.parquet")
    some_pins = graph.pins["pin_id"].iloc[[0, 5, 77, 300]].tolist()
    some_boards = graph.boards["board_id"].iloc[[1, 40]].tolist()

    got = model.predict(pd.DataFrame({"pin_id": some_pins}))
    assert list(got.columns) == ["query_type", "query_id", "rank", "candidate_pin_id", "score"]
    want = (
        pins[pins["pin_id"].isin(some_pins)].set_index(["pin_id", "rank"]).loc[list(zip(got["query_id"], got["rank"]))]
    )
    assert len(got) == 4 * 12 and got["query_id"].tolist() == [p for p in some_pins for _ in range(12)]
    np.testing.assert_array_equal(got["candidate_pin_id"].to_numpy(), want["candidate_pin_id"].to_numpy())
    np.testing.assert_allclose(got["score"].to_numpy(), want["score"].to_numpy(), atol=1e-5)

    got_b = model.predict(pd.DataFrame({"board_id": some_boards}), params={"k": 4})
    want_b = boards[boards["board_id"].isin(some_boards) & (boards["rank"] <= 4)]
    assert (
        got_b["candidate_pin_id"].tolist() == want_b.set_index("board_id").loc[some_boards, "candidate_pin_id"].tolist()
    )

    mixed = model.predict(
        pd.DataFrame({"pin_id": [some_pins[0], None], "board_id": [None, some_boards[0]]}), params={"k": 2}
    )
    assert mixed["query_type"].tolist() == ["pin", "pin", "board", "board"]
    with pytest.raises(Exception, match="unknown pin_id"):
        model.predict(pd.DataFrame({"pin_id": ["no-such-pin"]}))

    # logging again, this time built straight from graph + embeddings, moves the alias to version 2
    with mlflow.start_run():
        assert log_candidate_model(graph_dir=graph.root, emb_dir=emb_dir, config=cfg).registered_model_version == 2
    assert str(client.get_model_version_by_alias("graphrec-candidates", "candidate").version) == "2"
    v2 = mlflow.pyfunc.load_model("models:/graphrec-candidates@candidate")
    assert (
        v2.predict(pd.DataFrame({"pin_id": some_pins}))["candidate_pin_id"].tolist() == got["candidate_pin_id"].tolist()
    )
