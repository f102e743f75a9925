"""Loss functions on tiny inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import torch

from graphrec.sage.config import LossConfig
from graphrec.sage.losses import max_margin, sampled_softmax
from graphrec.sage.objective import PairBatch, batch_loss


def test_max_margin_known_values_and_mask() -> None:
    pos = torch.tensor([0.5])
    neg = torch.tensor([[0.3, 0.45, 0.7]])
    # hinges: max(0, 0.3-0.5+0.1)=0, 0.05, 0.3
    assert math.isclose(max_margin(pos, neg, 0.1).item(), (0.05 + 0.3) / 3, rel_tol=1e-6)
    valid = torch.tensor([[True, True, False]])
    assert math.isclose(max_margin(pos, neg, 0.1, valid).item(), 0.05 / 2, rel_tol=1e-6)
    assert max_margin(pos, neg, 0.1, torch.zeros_like(valid)).item() == 0.0


def test_sampled_softmax_known_values_logq_and_mask() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    target = torch.tensor([0])
    plain = -math.log(math.exp(2) / (math.exp(2) + math.exp(1) + 1))
    assert math.isclose(sampled_softmax(logits, target).item(), plain, rel_tol=1e-6)
    log_q = torch.log(torch.tensor([1.0, 0.5, 1.0]))  # candidate 1 was sampled half as often
    corrected = -math.log(math.exp(2) / (math.exp(2) + math.exp(1 + math.log(2)) + 1))
    assert math.isclose(sampled_softmax(logits, target, log_q).item(), corrected, rel_tol=1e-6)
    valid = torch.tensor([[False, False, True]])  # column 1 masked; the target is always kept
    masked = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert math.isclose(sampled_softmax(logits, target, None, valid).item(), masked, rel_tol=1e-6)


def _unit(*rows: list[float]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


def test_batch_loss_never_counts_the_positive_or_a_co_positive_as_a_negative() -> None:
    zq = _unit([1, 0], [0, 1])
    zp = _unit([1, 0.1], [0.1, 1])
    zn = _unit([1, 0])  # identical to query 0's positive direction
    zh = torch.zeros(2, 0, 2)
    cfg = LossConfig(kind="max_margin", margin=0.5)
    batch = PairBatch(
        pos=np.array([7, 8]),
        group=np.array([0, 1]),
        easy=np.array([7]),
        hard=np.empty((2, 0), np.int64),
        pos_log_q=np.zeros(2),
        easy_log_q=0.0,
    )
    masked = batch_loss(zq, zp, zn, zh, batch, cfg, torch.tensor(1.0))
    other = PairBatch(
        pos=np.array([7, 8]),
        group=np.array([0, 1]),
        easy=np.array([9]),
        hard=np.empty((2, 0), np.int64),
        pos_log_q=np.zeros(2),
        easy_log_q=0.0,
    )
    unmasked = batch_loss(zq, zp, zn, zh, other, cfg, torch.tensor(1.0))
    assert unmasked.item() > masked.item()
    # sampled softmax: two positives of the same board are not each other's negatives
    sm = LossConfig(kind="sampled_softmax", logq=False)
    same_board = PairBatch(
        pos=np.array([7, 8]),
        group=np.array([3, 3]),
        easy=np.array([9]),
        hard=np.empty((2, 0), np.int64),
        pos_log_q=np.zeros(2),
        easy_log_q=0.0,
    )
    zq2 = _unit([1, 0], [1, 0])
    loss_same = batch_loss(zq2, zp, zn, zh, same_board, sm, torch.tensor(10.0)).item()
    loss_diff = batch_loss(zq2, zp, zn, zh, other, sm, torch.tensor(10.0)).item()
    assert loss_same < loss_diff


def test_logit_scale_is_learnable_and_clamped() -> None:
    from graphrec.sage.model import build_model
    from tests.sage.helpers import tiny_config

    model = build_model(tiny_config("loss.temperature_init=0.07"), 8)
    assert math.isclose(model.logit_scale(100.0).item(), 1 / 0.07, rel_tol=1e-5)
    assert model.log_logit_scale.requires_grad
    with torch.no_grad():
        model.log_logit_scale.fill_(10.0)
    assert model.logit_scale(100.0).item() == 100.0


def test_batch_loss_subtracts_log_q_known_value_and_direction() -> None:
    """Sampled softmax with logQ on a 2-query batch, computed by hand: logits - log Q per column.

    A negative that the sampler draws often (high Q) must weigh less: the loss falls as its
    log Q rises. Negating the correction flips both."""
    zq = _unit([1, 0], [0, 1])
    zp = _unit([1, 0.2], [0.3, 1])
    zn = _unit([1, 1])
    zh = torch.zeros(2, 0, 2)
    cfg = LossConfig(kind="sampled_softmax", logq=True)
    scale = 5.0

    def batch(easy_log_q: float) -> PairBatch:
        return PairBatch(
            pos=np.array([1, 2]),
            group=np.array([0, 1]),
            easy=np.array([3]),
            hard=np.empty((2, 0), np.int64),
            pos_log_q=np.log(np.array([0.5, 0.1])),
            easy_log_q=easy_log_q,
        )

    got = batch_loss(zq, zp, zn, zh, batch(math.log(0.2)), cfg, torch.tensor(scale)).item()
    s = scale * torch.cat([zq @ zp.T, zq @ zn.T], dim=1).double()
    z = s - torch.log(torch.tensor([0.5, 0.1, 0.2], dtype=torch.float64))[None, :]
    want = float(-(z[0, 0] - torch.logsumexp(z[0], 0) + z[1, 1] - torch.logsumexp(z[1], 0)) / 2)
    assert math.isclose(got, want, rel_tol=1e-5)
    often = batch_loss(zq, zp, zn, zh, batch(math.log(0.9)), cfg, torch.tensor(scale)).item()
    rarely = batch_loss(zq, zp, zn, zh, batch(math.log(0.01)), cfg, torch.tensor(scale)).item()
    assert often < got < rarely


def test_positive_log_q_is_the_log_probability_of_being_in_a_batch() -> None:
    """prepare_epoch's logQ of a positive = log min(1, batch * frequency): <= 0, larger for frequent pins."""
    from graphrec.sage.adjacency import Bipartite
    from graphrec.sage.train import prepare_epoch
    from tests.sage.helpers import tiny_config

    # pin 0 on 30 boards, pins 1..30 on one board each
    pin = np.concatenate([np.zeros(30, np.int64), np.arange(1, 31)])
    board = np.concatenate([np.arange(30), np.arange(30)])
    bip = Bipartite.from_edges(pin, board, 31, 30)
    cfg = tiny_config("train.batch_size=4", "train.supervision_fraction=0", "train.cold_fraction=0")
    data = prepare_epoch(bip, np.zeros((31, 4), np.float32), cfg, epoch=0)
    freq = np.bincount(data.sup_pin, minlength=31) / len(data.sup_pin)
    want = np.log(np.minimum(4 * freq[data.sup_pin], 1.0))
    np.testing.assert_allclose(data.pos_log_q, want, rtol=1e-6)
    assert np.all(data.pos_log_q <= 0)
    assert data.pos_log_q[data.sup_pin == 0].min() > data.pos_log_q[data.sup_pin != 0].max()
