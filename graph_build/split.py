"""Leakage-free warm/cold split of saves, vectorised over edge arrays.

Order of operations (each step is deterministic given ``seed``):

1. Filter: drop boards with fewer than ``min_board_saves`` saves and pins with fewer than
   ``min_pin_saves`` saves, repeating until stable (a k-core). Pins with no saves stay in the
   catalogue when ``min_pin_saves`` is 0 (they are candidates, never relevant items).
2. Cold pins: among pins with saves, the ``cold_fraction`` whose first save is newest (``time``:
   first ``saved_at``, else ``created_at``), or a seeded random fraction (``random``). All their
   saves go to val/test, never to train; val gets the earlier ``val_share`` of cold pins.
3. Boards left with no warm save (only cold pins) are dropped: they cannot have a train save.
4. Warm hold-out: per board, ``holdout_fraction`` of its warm saves (stochastic rounding, at
   most all but one) go to val/test, chosen at random or the most recent (``latest``).
5. Repair: a warm pin whose saves were all held out gets one back in train, so every board and
   every warm pin keeps >= 1 train save.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from graphrec.utils.config import check_min, check_range

log = logging.getLogger(__name__)

TRAIN, VAL, TEST, DROPPED = 0, 1, 2, -1
SPLIT_NAMES = {TRAIN: "train", VAL: "val", TEST: "test"}


@dataclass(frozen=True)
class SplitConfig:
    """How saves are split.

    Args:
        cold_fraction: share of pins with saves that become cold (default 0.2).
        cold_by: ``time`` (newest first save), ``random``, or ``auto`` (time when the data has
            timestamps).
        holdout_fraction: share of each board's warm saves held out for val/test (default 0.2).
        warm_holdout: ``random`` or ``latest`` (each board's most recent saves).
        val_share: share of held-out saves (and of cold pins) that go to val; the rest is test.
        min_board_saves: boards with fewer saves are dropped (default 2).
        min_pin_saves: pins with fewer saves are dropped (default 0: keep the whole catalogue).
        seed: the one seed.
    """

    cold_fraction: float = 0.2
    cold_by: Literal["auto", "time", "random"] = "auto"
    holdout_fraction: float = 0.2
    warm_holdout: Literal["random", "latest"] = "random"
    val_share: float = 0.5
    min_board_saves: int = 2
    min_pin_saves: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        check_range("split", self, "holdout_fraction", "val_share", hi_closed=True)
        check_range("split", self, "cold_fraction")  # < 1: some pins must stay warm
        check_min("split", self, 1, "min_board_saves")
        check_min("split", self, 0, "min_pin_saves")


@dataclass
class SplitResult:
    """Per-save split labels and per-node masks, aligned with the input arrays."""

    save_split: np.ndarray  # int8: TRAIN / VAL / TEST / DROPPED
    keep_pin: np.ndarray  # bool per input pin
    keep_board: np.ndarray  # bool per input board
    is_cold: np.ndarray  # bool per input pin: no train save
    info: dict[str, Any] = field(default_factory=dict)


def _kcore(pin: np.ndarray, board: np.ndarray, n_pins: int, n_boards: int, cfg: SplitConfig):
    keep_pin = np.ones(n_pins, dtype=bool)
    keep_board = np.ones(n_boards, dtype=bool)
    keep = np.ones(len(pin), dtype=bool)
    for _ in range(100):
        board_deg = np.bincount(board[keep], minlength=n_boards)
        pin_deg = np.bincount(pin[keep], minlength=n_pins)
        new_board = keep_board & (board_deg >= cfg.min_board_saves)
        new_pin = keep_pin & (pin_deg >= cfg.min_pin_saves)
        if np.array_equal(new_board, keep_board) and np.array_equal(new_pin, keep_pin):
            break
        keep_board, keep_pin = new_board, new_pin
        keep &= keep_board[board] & keep_pin[pin]
    return keep, keep_pin, keep_board


def _first_times(pin, keep, saved_at, created_at, n_pins) -> np.ndarray | None:
    if saved_at is not None:
        first = np.full(n_pins, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, pin[keep], saved_at[keep])
        return first
    if created_at is not None:
        return np.asarray(created_at, dtype=np.int64)
    return None


def _choose_cold(candidates, first_time, u_pin, cfg: SplitConfig, mode: str):
    """Return (cold pins ordered val-first, number in val, cutoff time or None)."""
    n_cold = int(round(cfg.cold_fraction * len(candidates)))
    if mode == "time":
        order = candidates[np.lexsort((u_pin[candidates], first_time[candidates]))]
        cold = order[len(order) - n_cold :]
        cutoff = int(first_time[cold[0]]) if n_cold else None
    else:
        cold = candidates[np.argsort(u_pin[candidates], kind="stable")][:n_cold]
        cutoff = None
    return cold, int(round(cfg.val_share * n_cold)), cutoff


def _stochastic_round(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.floor(x + u).astype(np.int64)


def _warm_holdout(split, warm_idx, board, saved_at, u_save, u_b1, u_b2, n_boards, cfg: SplitConfig) -> None:
    """Label each board's held-out warm saves VAL/TEST in place (rank 0 = first held out)."""
    b = board[warm_idx]
    n_b = np.bincount(b, minlength=n_boards)
    n_hold = np.clip(_stochastic_round(cfg.holdout_fraction * n_b, u_b1), 0, np.maximum(n_b - 1, 0))
    n_val = np.minimum(_stochastic_round(cfg.val_share * n_hold, u_b2), n_hold)
    n_test = n_hold - n_val
    if cfg.warm_holdout == "latest":
        if saved_at is None:
            raise ValueError("split.warm_holdout=latest needs a saved_at column in saves")
        primary = -saved_at[warm_idx]
    else:
        primary = u_save[warm_idx]
    order = warm_idx[np.lexsort((u_save[warm_idx], primary, b))]
    ob = board[order]
    start = np.concatenate(([0], np.cumsum(n_b)[:-1]))
    rank = np.arange(len(order)) - start[ob]
    label = np.where(rank < n_test[ob], TEST, np.where(rank < n_hold[ob], VAL, TRAIN))
    split[order] = label.astype(np.int8)


def _repair_warm_pins(split, pin, warm_pin, u_save, n_pins) -> int:
    """Give every warm pin with no train save one of its held-out saves back. Returns the count."""
    train_count = np.bincount(pin[split == TRAIN], minlength=n_pins)
    bad = warm_pin & (train_count == 0)
    if not bad.any():
        return 0
    cand = np.flatnonzero(bad[pin] & ((split == VAL) | (split == TEST)))
    cand = cand[np.lexsort((u_save[cand], pin[cand]))]
    _, first = np.unique(pin[cand], return_index=True)
    split[cand[first]] = TRAIN
    return int(len(first))


def split_saves(
    n_pins: int,
    n_boards: int,
    pin: np.ndarray,
    board: np.ndarray,
    saved_at: np.ndarray | None,
    created_at: np.ndarray | None,
    cfg: SplitConfig,
) -> SplitResult:
    """Split deduplicated saves ``(pin[i], board[i])``; see the module docstring for the rules."""
    rng = np.random.default_rng(cfg.seed)
    u_save = rng.random(len(pin))
    u_pin = rng.random(n_pins)
    u_b1, u_b2 = rng.random(n_boards), rng.random(n_boards)

    keep, keep_pin, keep_board = _kcore(pin, board, n_pins, n_boards, cfg)
    has_save = np.bincount(pin[keep], minlength=n_pins) > 0
    first_time = _first_times(pin, keep, saved_at, created_at, n_pins)
    if cfg.cold_by == "time" and first_time is None:
        raise ValueError("split.cold_by=time needs saved_at in saves or created_at in pins")
    mode = "time" if cfg.cold_by in ("auto", "time") and first_time is not None else "random"
    cold, n_val_cold, cutoff = _choose_cold(np.flatnonzero(keep_pin & has_save), first_time, u_pin, cfg, mode)

    cold_label = np.full(n_pins, TRAIN, dtype=np.int8)
    cold_label[cold[:n_val_cold]] = VAL
    cold_label[cold[n_val_cold:]] = TEST
    is_cold = keep_pin & (cold_label != TRAIN)

    split = np.full(len(pin), DROPPED, dtype=np.int8)
    warm_board = np.bincount(board[keep & ~is_cold[pin]], minlength=n_boards) > 0
    orphan_boards = keep_board & ~warm_board
    keep_board &= warm_board
    keep &= keep_board[board]
    cold_save = keep & is_cold[pin]
    split[cold_save] = cold_label[pin[cold_save]]
    warm_idx = np.flatnonzero(keep & ~is_cold[pin])
    _warm_holdout(split, warm_idx, board, saved_at, u_save, u_b1, u_b2, n_boards, cfg)
    warm_pin = keep_pin & ~is_cold & has_save
    repaired = _repair_warm_pins(split, pin, warm_pin, u_save, n_pins)
    # Pins with no remaining save are not in the training graph: cold by definition.
    is_cold = keep_pin & (np.bincount(pin[split == TRAIN], minlength=n_pins) == 0)

    info = {
        "config": asdict(cfg),
        "cold_by_resolved": mode,
        "cold_cutoff": cutoff,
        "cold_pins_chosen": int(len(cold)),
        "cold_pins_val": int(n_val_cold),
        "cold_pins_test": int(len(cold) - n_val_cold),
        "boards_dropped_only_cold_pins": int(orphan_boards.sum()),
        "warm_saves_returned_to_train": repaired,
    }
    log.info("split: %s cold pins by %s, %d warm saves returned to train", len(cold), mode, repaired)
    return SplitResult(save_split=split, keep_pin=keep_pin, keep_board=keep_board, is_cold=is_cold, info=info)
