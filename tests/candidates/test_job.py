"""The candidates job: exclusions, exactness, sharding + merge, idempotent re-runs, bad input."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graph_build.graph import PinBoardGraph
from graphrec.candidates.config import CandidatesConfig, CandidatesError, IndexConfig, Shard, parse_shard
from graphrec.candidates.job import is_complete, run_candidates
from graphrec.candidates.merge import merge_candidates
from graphrec.embeddings import boards_from_pins, load_embeddings, write_embeddings
from graphrec.utils.io import OutputExistsError, read_json, sha256_file

CFG = CandidatesConfig(k=15, batch_size=64, recall_sample=200)
TABLES = ("pin_candidates.parquet", "board_candidates.parquet")


def tables_sha(out: Path) -> dict[str, str]:
    return {t: sha256_file(out / t) for t in TABLES}


@pytest.fixture(scope="module")
def reference(graph: PinBoardGraph, emb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cand") / "ref"
    run_candidates(graph.root, emb_dir, out, CFG)
    return out


def test_outputs_exclude_self_and_saved_pins_and_keep_k(graph: PinBoardGraph, reference: Path) -> None:
    pins = pd.read_parquet(reference / "pin_candidates.parquet")
    boards = pd.read_parquet(reference / "board_candidates.parquet")
    assert list(pins.columns) == ["pin_id", "candidate_pin_id", "rank", "score"]
    assert list(boards.columns) == ["board_id", "candidate_pin_id", "rank", "score"]
    assert (pins["pin_id"] != pins["candidate_pin_id"]).all()
    assert len(pins) == graph.n_pins * CFG.k and pins.groupby("pin_id").size().eq(CFG.k).all()
    assert pins.groupby("pin_id")["rank"].apply(lambda r: r.tolist() == list(range(1, CFG.k + 1))).all()
    assert (pins.groupby("pin_id")["score"].diff().dropna() <= 0).all()
    pid = graph.pins["pin_id"].to_numpy()
    bid = graph.boards["board_id"].to_numpy()
    p, b = graph.edges("train")
    saved = set(zip(bid[b], pid[p]))
    hits = [pair in saved for pair in zip(boards["board_id"], boards["candidate_pin_id"])]
    assert not any(hits)
    assert boards.groupby("board_id").size().eq(CFG.k).all() and boards["board_id"].nunique() == graph.n_boards
    m = read_json(reference / "manifest.json")
    assert m["counts"]["pin_candidate_rows"] == len(pins) and m["counts"]["board_candidate_rows"] == len(boards)
    assert m["index"]["kind"] == "flat" and m["recall_estimate"]["recall"] == pytest.approx(1.0)
    assert m["files_sha256"] == tables_sha(reference)
    assert not (reference / "parts").exists()


def test_more_splits_can_count_as_saved(graph: PinBoardGraph, emb_dir: Path, tmp_path: Path) -> None:
    cfg = CandidatesConfig(k=15, batch_size=64, recall_sample=0, exclude_saved_splits=("train", "val"))
    run_candidates(graph.root, emb_dir, tmp_path / "c", cfg)
    boards = pd.read_parquet(tmp_path / "c" / "board_candidates.parquet")
    pid, bid = graph.pins["pin_id"].to_numpy(), graph.boards["board_id"].to_numpy()
    got = set(zip(boards["board_id"], boards["candidate_pin_id"]))
    for split in ("train", "val"):
        p, b = graph.edges(split)
        assert not got & set(zip(bid[b], pid[p]))
    assert boards.groupby("board_id").size().eq(15).all()


def test_flat_job_equals_brute_force(graph: PinBoardGraph, emb_dir: Path, reference: Path) -> None:
    emb = load_embeddings(emb_dir, graph)
    pin = emb.pin.astype(np.float64)
    board = boards_from_pins(graph, emb.pin).astype(np.float64)
    s = pin @ pin.T
    np.fill_diagonal(s, -np.inf)
    sb = board @ pin.T
    sb[graph.csr("train").T.toarray() > 0] = -np.inf
    pid = graph.pins["pin_id"].to_numpy()
    for table, scores, key in (
        (reference / "pin_candidates.parquet", s, "pin_id"),
        (reference / "board_candidates.parquet", sb, "board_id"),
    ):
        got = pd.read_parquet(table)
        top = np.argsort(-scores, axis=1, kind="stable")[:, : CFG.k]
        expected = pid[top].ravel()
        top_scores = np.take_along_axis(scores, top, axis=1)
        clear = (np.abs(np.diff(top_scores, axis=1)) > 1e-5).all(axis=1)  # rows without near-ties
        mask = np.repeat(clear, CFG.k)
        assert clear.mean() > 0.8
        np.testing.assert_array_equal(got["candidate_pin_id"].to_numpy()[mask], expected[mask])
        np.testing.assert_allclose(got["score"].to_numpy(), top_scores.ravel(), atol=1e-5)


def test_board_vectors_come_from_the_embedding_dir(graph: PinBoardGraph, graph_emb_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    run_candidates(graph.root, graph_emb_dir, out, CFG)
    emb = load_embeddings(graph_emb_dir, graph)
    boards = pd.read_parquet(out / "board_candidates.parquet")
    first = boards[boards["board_id"] == graph.boards["board_id"].iloc[0]]
    cand = graph.pins.set_index("pin_id").loc[first["candidate_pin_id"], "pin_idx"].to_numpy()
    np.testing.assert_allclose(first["score"].to_numpy(), emb.pin[cand] @ emb.board[0], atol=1e-5)
    assert read_json(out / "manifest.json")["board_vectors"] == "embedding dir"


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_shard_merge_equals_unsharded(graph: PinBoardGraph, emb_dir: Path, tmp_path: Path, kind: str) -> None:
    cfg = CandidatesConfig(k=15, batch_size=64, recall_sample=100, index=IndexConfig(kind=kind, hnsw_m=8))
    run_candidates(graph.root, emb_dir, tmp_path / "one", cfg)
    results = [run_candidates(graph.root, emb_dir, tmp_path / "four", cfg, Shard(i, 4)) for i in (3, 1, 4, 2)]
    assert [r.status for r in results] == ["part", "part", "part", "merged"]
    assert tables_sha(tmp_path / "four") == tables_sha(tmp_path / "one")
    a = pd.read_parquet(tmp_path / "one" / "pin_candidates.parquet")
    assert not a.duplicated(["pin_id", "rank"]).any()
    # more shards than batches: some parts are empty, the merge is still identical
    many = CandidatesConfig(k=15, batch_size=256, recall_sample=100, index=cfg.index)
    run_candidates(graph.root, emb_dir, tmp_path / "a", many)
    for i in range(1, 6):
        run_candidates(graph.root, emb_dir, tmp_path / "b", many, Shard(i, 5))
    assert tables_sha(tmp_path / "a") == tables_sha(tmp_path / "b")


def test_merge_verb_joins_parts_from_separate_machines(
    graph: PinBoardGraph, emb_dir: Path, tmp_path: Path, reference: Path
) -> None:
    cfg = CandidatesConfig(k=15, batch_size=64, recall_sample=200, keep_parts=True)
    for i in (1, 2):  # each "machine" has its own directory and only computes its shard
        run_candidates(graph.root, emb_dir, tmp_path / f"m{i}", cfg, Shard(i, 2))
    joined = tmp_path / "joined"
    shutil.copytree(tmp_path / "m1", joined)
    with pytest.raises(CandidatesError, match="part-00002-of-00002"):
        merge_candidates(joined)
    shutil.copytree(tmp_path / "m2" / "parts" / "part-00002-of-00002", joined / "parts" / "part-00002-of-00002")
    manifest = merge_candidates(joined)
    assert manifest["merged_from_parts"] == 2
    assert tables_sha(joined) == tables_sha(reference)


def test_rerun_after_a_kill_finishes_without_duplicates(
    graph: PinBoardGraph, emb_dir: Path, tmp_path: Path, reference: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "c"
    # 1) a crash in the middle of writing a part (after some batches were written)
    import graphrec.candidates.job as job

    calls = {"n": 0}
    real = job.topk_table

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(job, "topk_table", dying)
    with pytest.raises(KeyboardInterrupt):
        run_candidates(graph.root, emb_dir, out, CFG, Shard(1, 2))
    monkeypatch.setattr(job, "topk_table", real)
    assert (out / "index" / "bundle.json").exists() and not (out / "manifest.json").exists()
    # 2) what a SIGKILL leaves: a half-written temp part, a half-written merged table
    tmp_part = out / "parts" / ".part-00001-of-00002.tmp-dead"
    tmp_part.mkdir(parents=True)
    (tmp_part / "pin_candidates.parquet").write_bytes(b"PAR1 half")
    (out / ".pin_candidates.parquet.tmp").write_bytes(b"half")
    (out / "pin_candidates.parquet").write_bytes(b"torn merged table without manifest")
    # 3) re-run both shards: shard 2 first (no merge yet), then shard 1 finishes and merges
    assert run_candidates(graph.root, emb_dir, out, CFG, Shard(2, 2)).status == "part"
    r = run_candidates(graph.root, emb_dir, out, CFG, Shard(1, 2))
    assert r.status == "merged"
    assert tables_sha(out) == tables_sha(reference)
    leftovers = [p.name for p in out.rglob(".*") if p.name != ".lock"]
    assert leftovers == []
    # 4) a completed part is skipped on re-run; a completed job is a no-op
    assert run_candidates(graph.root, emb_dir, out, CFG).status == "complete"
    assert is_complete(out, graph.root, emb_dir, CFG)


def test_part_written_before_a_kill_is_reused(
    graph: PinBoardGraph, emb_dir: Path, tmp_path: Path, reference: Path
) -> None:
    out = tmp_path / "c"
    run_candidates(graph.root, emb_dir, out, CFG, Shard(1, 2))
    part = out / "parts" / "part-00001-of-00002" / "pin_candidates.parquet"
    stamp = part.stat().st_mtime_ns
    r = run_candidates(graph.root, emb_dir, out, CFG, Shard(1, 2))
    assert r.part_skipped and r.status == "part" and part.stat().st_mtime_ns == stamp
    assert run_candidates(graph.root, emb_dir, out, CFG, Shard(2, 2)).status == "merged"
    assert tables_sha(out) == tables_sha(reference)


def test_same_inputs_same_bytes(graph: PinBoardGraph, emb_dir: Path, tmp_path: Path, reference: Path) -> None:
    run_candidates(graph.root, emb_dir, tmp_path / "again", CFG)
    assert tables_sha(tmp_path / "again") == tables_sha(reference)
    a, b = read_json(reference / "manifest.json"), read_json(tmp_path / "again" / "manifest.json")
    assert a == b


def test_stale_or_foreign_output_needs_force(graph: PinBoardGraph, emb_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    run_candidates(graph.root, emb_dir, out, CFG)
    other = CandidatesConfig(k=7, batch_size=64, recall_sample=0)
    with pytest.raises(CandidatesError, match="--force"):
        run_candidates(graph.root, emb_dir, out, other)
    assert read_json(out / "manifest.json")["k"] == CFG.k  # untouched
    run_candidates(graph.root, emb_dir, out, other, force=True)
    assert read_json(out / "manifest.json")["k"] == 7
    assert pd.read_parquet(out / "pin_candidates.parquet").groupby("pin_id").size().eq(7).all()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        run_candidates(graph.root, emb_dir, foreign, CFG)
    assert (foreign / "notes.txt").exists()


def test_embeddings_of_another_graph_are_refused(graph: PinBoardGraph, tmp_path: Path, synth_dataset: Path) -> None:
    from graph_build.build import build_graph
    from graph_build.graph import load_graph
    from graph_build.split import SplitConfig

    build_graph(synth_dataset, tmp_path / "g2", SplitConfig(seed=4))
    other = load_graph(tmp_path / "g2")
    emb = tmp_path / "emb"
    write_embeddings(emb, other, model_name="content", pin=np.ones((other.n_pins, 4), np.float32))
    with pytest.raises(ValueError, match="computed for graph"):
        run_candidates(graph.root, emb, tmp_path / "out", CFG)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "text, ok",
    [
        ("2/4", Shard(2, 4)),
        (" 1 / 1 ", Shard(1, 1)),
        (None, Shard(1, 1)),
        ("3/2", None),
        ("0/2", None),
        ("1/0", None),
        ("a/b", None),
        ("2", None),
    ],
)
def test_parse_shard(text: str | None, ok: Shard | None) -> None:
    if ok is None:
        with pytest.raises(CandidatesError, match="--shard"):
            parse_shard(text)
    else:
        assert parse_shard(text) == ok


def test_shard_batch_ranges_cover_every_batch_once() -> None:
    for n_batches in (0, 1, 3, 10, 17):
        for count in (1, 2, 3, 5, 8):
            got = [b for i in range(1, count + 1) for b in Shard(i, count).batch_range(n_batches)]
            assert got == list(range(n_batches))


def test_index_bundle_supports_add_pins(reference: Path, graph: PinBoardGraph, tmp_path: Path) -> None:
    from graphrec.candidates.bundle import load_bundle

    bundle = load_bundle(reference / "index")
    pin_row = 17
    ids = bundle.add_pins(["new-pin"], bundle.pin_vectors[[pin_row]])
    assert ids.tolist() == [graph.n_pins]
    top = bundle.vector_candidates(bundle.pin_vectors[[pin_row]], 5, exclude_ids=ids)
    assert top.ids[0, 0] == pin_row  # the duplicate's twin, once the new pin itself is excluded
    scores, boards = bundle.top_boards(bundle.pin_vectors[[pin_row]], 3)
    assert boards.shape == (1, 3) and (np.diff(scores[0]) <= 0).all()
    bundle.save(tmp_path / "bundle")
    again = load_bundle(tmp_path / "bundle")
    assert again.index.ntotal == graph.n_pins + 1 and again.pin_ids[-1] == "new-pin"
    assert again.pin_candidates(np.array([graph.n_pins]), 3).ids[0, 0] == pin_row
    assert os.path.exists(tmp_path / "bundle" / "bundle.json")
