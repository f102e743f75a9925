"""Time-ordered replay of the held-out saves: would an arm have shown the pin when it was saved?

Real data has no click model, but it has a log: every held-out save ``(board b, pin p, time t)``
happened. The replay walks these saves in time order and asks, for each arm, whether ``p`` was
in the arm's feed for ``b`` *at time t*:

* the feed is the arm's top ``feed_size`` pins among the pins **eligible** at ``t``: the pin
  exists (``available_from[q] <= t``: the pin's ``created_at``, else its first save in any
  split), the board has not saved it yet (its train saves, and val saves when walking test,
  as in the offline protocol, plus its saves of the walked split *strictly* before ``t``);
* the arm is **credited** when ``p`` is in that feed (a hit); ``exam_credit`` weights a hit by
  the examination probability of its position (``1/log2(rank+1)`` by default), i.e. the
  expected clicks on the saved pin under the A/B simulator's position-based model.

Score ties are broken by the protocol's seeded permutation (the pin earlier in it ranks first).
The arms are fitted once on train (no online update), so only the masks and the catalogue move
with time. Lifts (``eval.stats.paired_lifts``, the A/B lifts' rules) compare per-event rates,
``hits / events`` and ``exam_credit / events``, on the slices fresh (the saved pin is cold),
warm and all, with a paired bootstrap over boards and ``insufficient data`` below
``min_events`` hits per arm.

This is the replay method of Li et al. 2011 ("Unbiased offline evaluation of
contextual-bandit-based news article recommendation algorithms") without its precondition:
their log comes from a *uniformly random* logging policy, so keeping the events where the
evaluated policy agrees with the log is unbiased. Organic saves were made under an unknown
exposure (whatever the site showed), so the replay measures agreement with what users went on
to save, favours pins that were easy to find then, and cannot credit a good pin nobody saved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from eval.protocol import known_splits
from eval.stats import paired_lifts
from graph_build.graph import SPLITS, PinBoardGraph

log = logging.getLogger(__name__)
REPLAY_SLICES = ("fresh", "warm", "all")
REPLAY_METRICS = ("hit_rate", "exam_credit")
ALWAYS = np.iinfo(np.int64).min
"""``available_from`` of a pin with no known time: in the catalogue from the start."""
_CELLS = 1 << 23  # events x pins per scored block
ScoreFn = Callable[[np.ndarray], torch.Tensor]
"""``score(boards B) -> B x n_pins`` scores (a fitted recommender's ``score_boards``)."""


@dataclass(frozen=True)
class ReplayLog:
    """The held-out saves to replay, in time order, and what every board had saved before.

    Args:
        board, pin, time: one row per event, sorted by ``(time, board, pin)``.
        fresh: per event, whether the saved pin is cold (no train save).
        available_from: per pin, the first time it may be shown (``ALWAYS``: no known time).
        known: ``boards x pins`` saves masked at every time (train, + val when walking test).
    """

    board: np.ndarray
    pin: np.ndarray
    time: np.ndarray
    fresh: np.ndarray
    available_from: np.ndarray
    known: sp.csr_matrix

    def __post_init__(self) -> None:
        n = len(self.board)
        if not (len(self.pin) == len(self.time) == len(self.fresh) == n):
            raise ValueError("replay: board, pin, time and fresh need one entry per event")
        if n and np.any(np.diff(self.time) < 0):
            raise ValueError("replay: events must be sorted by time")


def replay_log(graph: PinBoardGraph, split: str, boards: np.ndarray | None = None) -> ReplayLog | None:
    """The ``split`` saves of ``boards`` (default: all) as a replay log; None without times."""
    if any("saved_at" not in graph.saves[s].columns for s in SPLITS):
        return None
    first = np.full(graph.n_pins, np.iinfo(np.int64).max)
    for s in SPLITS:
        df = graph.saves[s]
        np.minimum.at(first, df["pin_idx"].to_numpy(np.int64), df["saved_at"].to_numpy(np.int64))
    if "created_at" in graph.pins.columns:
        created = graph.pins["created_at"].to_numpy()
        ok = ~np.isnan(created.astype(np.float64))
        first[ok] = np.minimum(first[ok], created[ok].astype(np.int64))
    available = np.where(first == np.iinfo(np.int64).max, ALWAYS, first)
    df = graph.saves[split]
    pin, board = df["pin_idx"].to_numpy(np.int64), df["board_idx"].to_numpy(np.int64)
    time = df["saved_at"].to_numpy(np.int64)
    if boards is not None:
        keep = np.isin(board, boards)
        pin, board, time = pin[keep], board[keep], time[keep]
    order = np.lexsort((pin, board, time))
    known = sum((graph.csr(s) for s in known_splits(split)), sp.csr_matrix((graph.n_pins, graph.n_boards)))
    known = sp.csr_matrix(known.T, dtype=np.float32)
    return ReplayLog(
        board=board[order],
        pin=pin[order],
        time=time[order],
        fresh=graph.is_cold[pin[order]],
        available_from=available,
        known=known,
    )


def _earlier_saves(rlog: ReplayLog) -> sp.csr_matrix:
    """``events x pins``: for each event, the pins its board saved in the log strictly before it."""
    n = len(rlog.board)
    _, t_rank = np.unique(rlog.time, return_inverse=True)
    n_t = int(t_rank.max()) + 1 if n else 1
    key = rlog.board * n_t + t_rank  # int64: boards x distinct times
    order = np.argsort(key, kind="stable")
    skey = key[order]
    lo = np.searchsorted(skey, rlog.board * n_t, side="left")  # the board's first event
    hi = np.searchsorted(skey, key, side="left")  # its first event at this event's time
    counts = hi - lo
    rows = np.repeat(np.arange(n), counts)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    cols = rlog.pin[order[starts + np.arange(counts.sum())]]
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, len(rlog.available_from)))


def replay_ranks(score: ScoreFn, rlog: ReplayLog, perm: torch.Tensor) -> np.ndarray:
    """Per event, the 1-based rank of the saved pin among the pins eligible at that time.

    Args:
        score: the arm's board scores (``Recommender.score_boards``).
        rlog: the replay log.
        perm: the protocol's tie-breaking permutation (a pin earlier in it wins a tie).
    """
    n_pins = len(rlog.available_from)
    n = len(rlog.board)
    pos = torch.empty(n_pins, dtype=torch.long)
    pos[perm] = torch.arange(n_pins)
    earlier = _earlier_saves(rlog)
    available = torch.from_numpy(rlog.available_from)
    ranks = np.zeros(n, dtype=np.int64)
    by_board = np.argsort(rlog.board, kind="stable")  # score each board once per block
    step = max(1, _CELLS // max(n_pins, 1))
    for start in range(0, n, step):
        ev = by_board[start : start + step]
        boards, local = np.unique(rlog.board[ev], return_inverse=True)
        s = score(boards).to(torch.float32)[torch.from_numpy(local)]
        s = torch.nan_to_num(s, nan=-torch.inf)
        masked = torch.from_numpy((rlog.known[rlog.board[ev]] + earlier[ev]).toarray() > 0)
        masked |= available[None, :] > torch.from_numpy(rlog.time[ev])[:, None]
        pin = torch.from_numpy(rlog.pin[ev])
        rows = torch.arange(len(ev))
        sp_ = s[rows, pin][:, None]
        better = (s > sp_) | ((s == sp_) & (pos[None, :] < pos[pin][:, None]))
        ranks[ev] = ((better & ~masked).sum(1) + 1).numpy()
    return ranks


def _per_board(rlog: ReplayLog, values: np.ndarray, boards: np.ndarray) -> np.ndarray:
    """``len(boards) x 3`` per-board sums of ``values`` over the events of (fresh, warm, all)."""
    idx = np.searchsorted(boards, rlog.board)
    out = np.zeros((len(boards), 3))
    for j, sel in enumerate((rlog.fresh, ~rlog.fresh, np.ones(len(idx), dtype=bool))):
        np.add.at(out[:, j], idx[sel], values[sel])
    return out


def replay_compare(
    rlog: ReplayLog,
    ranks: dict[str, np.ndarray],
    exam: np.ndarray,
    n_bootstrap: int,
    n_permutations: int,
    min_events: int,
    rng: np.random.Generator,
) -> dict[str, object]:
    """Hits and examination credit per arm and slice, and the treatment-vs-control lifts.

    Args:
        rlog: the replay log.
        ranks: ``{"control": ranks, "treatment": ranks}`` from :func:`replay_ranks`.
        exam: examination probability of positions ``1..feed_size`` (its length is the feed size).
        n_bootstrap, n_permutations, min_events: the A/B statistics' settings.
        rng: the bootstrap's generator.
    """
    n = len(exam)
    boards = np.unique(rlog.board)
    ones = np.ones(len(rlog.board))
    events = _per_board(rlog, ones, boards)
    hits, credit = {}, {}
    for arm, r in ranks.items():
        hit = (r >= 1) & (r <= n)
        hits[arm] = _per_board(rlog, hit.astype(np.float64), boards)
        credit[arm] = _per_board(rlog, np.where(hit, exam[np.clip(r, 1, n) - 1], 0.0), boards)
    pairs, counts = {}, {}
    for j, s in enumerate(REPLAY_SLICES):
        ev = events[:, j]
        for m, v in (("hit_rate", hits), ("exam_credit", credit)):
            pairs[(s, m)] = (v["treatment"][:, j], ev, v["control"][:, j], ev)
            counts[(s, m)] = (int(hits["control"][:, j].sum()), int(hits["treatment"][:, j].sum()))
    lifts = paired_lifts(pairs, n_bootstrap, n_permutations, rng, events=counts, min_events=min_events)
    arms = {
        arm: {
            s: {
                "events": int(events[:, j].sum()),
                "hits": int(hits[arm][:, j].sum()),
                "hit_rate": _rate(hits[arm][:, j].sum(), events[:, j].sum()),
                "exam_credit": _rate(credit[arm][:, j].sum(), events[:, j].sum()),
            }
            for j, s in enumerate(REPLAY_SLICES)
        }
        for arm in ranks
    }
    out: dict[str, dict] = {s: {} for s in REPLAY_SLICES}
    for (s, m), lift in lifts.items():
        out[s][m] = lift.to_dict()
    return {
        "method": "time-ordered replay of the held-out saves: an arm is credited when the "
        "saved pin is in its top feed_size among the pins eligible at that time "
        "(released, not yet saved)",
        "events": int(len(rlog.board)),
        "boards": int(len(boards)),
        "feed_size": n,
        "time_range": [int(rlog.time[0]), int(rlog.time[-1])] if len(rlog.time) else None,
        "arms": arms,
        "lifts": out,
    }


def _rate(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None
