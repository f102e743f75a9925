"""eval.replay: the time-ordered replay on a hand-made log with known ranks, hits and lifts."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from eval.ab import examination, serve_feeds
from eval.protocol import board_to_pin_task, tie_break_permutation
from eval.replay import ALWAYS, ReplayLog, replay_compare, replay_log, replay_ranks
from graph_build.graph import PinBoardGraph

DOWN = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])  # control: pin 0 best
UP = DOWN.flip(0)  # treatment: pin 4 best


def _log() -> ReplayLog:
    """5 pins, 2 boards. Board 0 saved pin 0 in train. Pin 4 is released at t = 15.

    Events: t=10 board 0 saves pin 1; t=20 board 0 saves pin 4; t=30 board 1 saves pins 3 and 2
    (the same second: neither masks the other); t=40 board 1 saves pin 0. Pin 3 is cold (fresh).
    """
    known = sp.csr_matrix((np.ones(1, np.float32), ([0], [0])), shape=(2, 5))
    return ReplayLog(
        board=np.array([0, 0, 1, 1, 1]),
        pin=np.array([1, 4, 2, 3, 0]),
        time=np.array([10, 20, 30, 30, 40]),
        fresh=np.array([False, False, False, True, False]),
        available_from=np.array([ALWAYS, ALWAYS, ALWAYS, ALWAYS, 15]),
        known=known,
    )


def _scores(row: torch.Tensor):
    return lambda boards: row[None, :].repeat(len(boards), 1)


IDENTITY = torch.arange(5)


def test_ranks_follow_the_masks_and_the_catalogue_at_each_time() -> None:
    rlog = _log()
    # control at t=10, board 0: pin 0 known, pin 4 not released -> 1, 2, 3 eligible, pin 1 first
    # t=20: pins 0 (train) and 1 (saved at t=10) masked -> 2, 3, 4: pin 4 third
    # t=30, board 1: nothing masked (pin 2 and 3 are saved in the same second) -> pin 2 third, pin 3 fourth
    # t=40, board 1: pins 2 and 3 (saved at t=30) masked -> 0, 1, 4: pin 0 first
    np.testing.assert_array_equal(replay_ranks(_scores(DOWN), rlog, IDENTITY), [1, 3, 3, 4, 1])
    np.testing.assert_array_equal(replay_ranks(_scores(UP), rlog, IDENTITY), [3, 1, 3, 2, 3])


def test_ties_are_broken_by_the_protocols_permutation() -> None:
    rlog = _log()
    flat = torch.zeros(5)
    perm = torch.tensor([4, 3, 2, 1, 0])  # pin 4 wins every tie, then 3, ...
    # t=10 board 0: eligible 1, 2, 3 -> pin 1 last; t=20: 2, 3, 4 -> pin 4 first;
    # t=30 board 1: all five -> pin 2 third, pin 3 second; t=40: 0, 1, 4 -> pin 0 last
    np.testing.assert_array_equal(replay_ranks(_scores(flat), rlog, perm), [3, 1, 3, 2, 3])
    nan = torch.full((5,), float("nan"))
    assert replay_ranks(_scores(nan), rlog, perm).tolist() == [3, 1, 3, 2, 3]  # NaN scores tie at -inf


def test_hits_credit_and_lifts_on_the_hand_made_log() -> None:
    rlog = _log()
    ranks = {
        "control": replay_ranks(_scores(DOWN), rlog, IDENTITY),
        "treatment": replay_ranks(_scores(UP), rlog, IDENTITY),
    }
    exam = examination(2, "log2")  # feed of 2: positions 1 and 2 count
    res = replay_compare(rlog, ranks, exam, 200, 20, 0, np.random.default_rng(0))
    # control hits at t=10 (rank 1) and t=40 (rank 1); treatment at t=20 (rank 1) and t=30 (pin 3, rank 2)
    c, t = res["arms"]["control"], res["arms"]["treatment"]
    assert (c["all"]["hits"], t["all"]["hits"]) == (2, 2) and c["all"]["events"] == 5
    assert c["all"]["hit_rate"] == pytest.approx(0.4) and t["all"]["hit_rate"] == pytest.approx(0.4)
    assert c["all"]["exam_credit"] == pytest.approx(2.0 / 5)
    assert t["all"]["exam_credit"] == pytest.approx((1.0 + 1.0 / np.log2(3)) / 5)
    assert (t["fresh"]["hits"], c["fresh"]["hits"], t["fresh"]["events"]) == (1, 0, 1)
    hit = res["lifts"]["all"]["hit_rate"]
    assert hit["lift"] == pytest.approx(0.0) and hit["events"] == [2, 2] and hit["status"] == "ok"
    credit = res["lifts"]["all"]["exam_credit"]
    assert credit["lift"] == pytest.approx((1.0 + 1.0 / np.log2(3)) / 2 - 1.0) and credit["status"] == "ok"
    assert credit["ci95"][0] < credit["lift"] < credit["ci95"][1]
    assert res["lifts"]["fresh"]["hit_rate"]["status"] == "undefined"  # the control never hit a fresh pin
    assert res["events"] == 5 and res["boards"] == 2 and res["time_range"] == [10, 40]
    few = replay_compare(rlog, ranks, exam, 200, 20, 30, np.random.default_rng(0))
    assert few["lifts"]["all"]["hit_rate"]["status"] == "insufficient data"
    assert few["lifts"]["all"]["hit_rate"]["lift"] is None


def test_the_log_must_be_in_time_order() -> None:
    with pytest.raises(ValueError, match="sorted by time"):
        ReplayLog(
            board=np.array([0, 0]),
            pin=np.array([1, 2]),
            time=np.array([5, 1]),
            fresh=np.zeros(2, bool),
            available_from=np.zeros(3, np.int64),
            known=sp.csr_matrix((1, 3)),
        )


def test_replay_log_of_a_graph_is_the_split_in_time_order(graph: PinBoardGraph) -> None:
    rlog = replay_log(graph, "test")
    df = graph.saves["test"]
    assert len(rlog.board) == len(df) and np.all(np.diff(rlog.time) >= 0)
    assert set(zip(rlog.pin.tolist(), rlog.board.tolist())) == set(zip(df.pin_idx, df.board_idx))
    np.testing.assert_array_equal(rlog.fresh, graph.is_cold[rlog.pin])
    # a pin is released at its first save: every event's pin is available at that event
    assert np.all(rlog.available_from[rlog.pin] <= rlog.time)
    import pandas as pd

    first = pd.concat(graph.saves.values()).groupby("pin_idx")["saved_at"].min()
    want = np.full(graph.n_pins, ALWAYS)
    want[first.index.to_numpy()] = first.to_numpy()
    if "created_at" in graph.pins.columns:  # released at creation when that is earlier
        created = graph.pins["created_at"].to_numpy(np.int64)
        want = np.where(want == ALWAYS, created, np.minimum(want, created))
    np.testing.assert_array_equal(rlog.available_from, want)
    known = rlog.known.toarray() > 0  # train + val saves are masked when walking test
    for s in ("train", "val"):
        pin, board = graph.edges(s)
        assert known[board, pin].all()
    assert known.sum() == len(graph.saves["train"]) + len(graph.saves["val"])
    users = np.unique(df.board_idx)[:10]
    assert set(replay_log(graph, "test", users).board.tolist()) == set(users.tolist())


def test_at_one_time_with_every_pin_released_a_hit_is_membership_of_the_static_feed(graph: PinBoardGraph) -> None:
    """Without time (one timestamp, no release dates) the replay's feed is the A/B feed of serve_feeds."""
    from eval.recommenders.oracle import OracleRecommender

    model = OracleRecommender()
    model.fit(graph)
    full = replay_log(graph, "test")
    rlog = ReplayLog(
        board=full.board,
        pin=full.pin,
        time=np.zeros_like(full.time),
        fresh=full.fresh,
        available_from=np.full(graph.n_pins, ALWAYS),
        known=full.known,
    )
    perm = tie_break_permutation(graph.n_pins, 0)
    ranks = replay_ranks(model.score_boards, rlog, perm)
    users = np.unique(rlog.board)
    feeds = serve_feeds(model, graph, board_to_pin_task(graph, "test"), users, 20, 256, 0)
    in_feed = (feeds[np.searchsorted(users, rlog.board)] == rlog.pin[:, None]).any(1)
    np.testing.assert_array_equal(ranks <= 20, in_feed)
    assert 0 < in_feed.mean() < 1


def test_the_summary_and_the_report_show_the_replay(tmp_path) -> None:
    from eval.ab import metrics_section
    from eval.report import _ab_section
    from experiments.pipeline import PipelineResult
    from experiments.summary import format_summary
    from graphrec.utils.io import write_json
    from tests.eval.test_ab_report import _ab_json

    rlog = _log()
    ranks = {
        "control": replay_ranks(_scores(DOWN), rlog, IDENTITY),
        "treatment": replay_ranks(_scores(UP), rlog, IDENTITY),
    }
    ab = {
        **_ab_json(60),
        "replay": replay_compare(rlog, ranks, examination(2, "log2"), 200, 20, 0, np.random.default_rng(0)),
    }
    (tmp_path / "eval").mkdir()
    write_json(tmp_path / "eval" / "ab.json", ab)
    section = metrics_section("c", "t", ab)
    assert section["replay"]["all"]["hit_rate_events"] == [2, 2]
    text = format_summary(
        PipelineResult(
            out=tmp_path, metrics={"dataset": "toy", "protocol": {"split": "test"}, "models": {}, "ab": section}
        )
    )
    assert "Time-ordered replay of 5 held-out saves" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("all hit rate"))
    assert "0.4000 -> 0.4000" in row and "2/2 of 5" in row
    report = "\n".join(_ab_section(ab))
    assert "### Time-ordered replay of the held-out saves" in report and "| fresh | 1 | 0 / 1 |" in report
