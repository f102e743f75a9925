"""Loss functions on tiny known inputs; neighbour sampling only uses train co-saves."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from graph_build.graph import load_graph
from graphrec.pinclip.losses import info_nce, masked_info_nce
from graphrec.pinclip.sampling import CoBoardSampler


def test_info_nce_matches_hand_computed_value() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    scale = torch.tensor(2.0)
    # logits = 2 * I: each row's softmax puts e^2 on the positive and e^0 on the negative.
    expected = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert info_nce(a, b, scale).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_is_symmetric_and_minimal_for_aligned_pairs() -> None:
    torch.manual_seed(0)
    a = F.normalize(torch.randn(8, 4), dim=-1)
    shuffled = a[torch.randperm(8)]
    s = torch.tensor(10.0)
    assert info_nce(a, a, s) < info_nce(a, shuffled, s)
    b = F.normalize(torch.randn(8, 4), dim=-1)
    assert info_nce(a, b, s).item() == pytest.approx(info_nce(b, a, s).item(), rel=1e-6)


def test_excluded_negatives_leave_the_softmax() -> None:
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    b = a.clone()
    s = torch.tensor(5.0)
    # Rows 0 and 1 are identical (co-board): as negatives of each other they hurt the loss...
    with_false_negatives = info_nce(a, b, s)
    exclude = torch.zeros(3, 3, dtype=torch.bool)
    exclude[0, 1] = exclude[1, 0] = True
    # ...masked out, only the true negative (row 2) remains.
    masked = info_nce(a, b, s, exclude)
    assert masked < with_false_negatives
    # Rows 0 and 1 keep one negative (row 2's vector, logit 0); row 2 keeps two (logits 0, 0).
    x = -math.log(math.exp(5) / (math.exp(5) + 1))
    y = -math.log(math.exp(5) / (math.exp(5) + 2))
    assert masked.item() == pytest.approx((2 * x + y) / 3, rel=1e-5)
    # The diagonal is never excluded, even if asked.
    assert info_nce(a, b, s, torch.ones(3, 3, dtype=torch.bool)).item() == pytest.approx(0.0, abs=1e-6)


def test_masked_info_nce_uses_only_kept_rows() -> None:
    a = F.normalize(torch.randn(5, 3), dim=-1)
    keep = torch.tensor([True, False, True, True, False])
    assert masked_info_nce(a, a, torch.tensor(3.0), keep).item() == pytest.approx(
        info_nce(a[keep], a[keep], torch.tensor(3.0)).item()
    )
    assert masked_info_nce(a, a, torch.tensor(3.0), torch.tensor([True, False, False, False, False])) is None


def test_positives_share_a_train_board_and_never_use_held_out_saves(synth_graph) -> None:
    g = load_graph(synth_graph)
    s = CoBoardSampler(g.csr("train"))
    assert not g.is_cold[s.anchors].any()
    rng = np.random.default_rng(0)
    anchors = rng.choice(s.anchors, 300)
    pos, board = s.positives(anchors, rng)
    train = g.csr("train")
    assert (train[anchors, board] > 0).all() and (train[pos, board] > 0).all()
    assert not g.is_cold[pos].any()
    # A pin is its own positive only when its board has no other pin.
    selfpos = pos == anchors
    assert (s.board_deg[board[selfpos]] == 1).all()


def test_co_board_mask_known_answer() -> None:
    # pins 0,1 on board 0; pins 1,2 on board 1; pin 3 on board 2.
    adj = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32))
    s = CoBoardSampler(adj)
    m = s.co_board(np.array([0, 2, 3]), np.array([1, 1, 0, 3]))
    assert m.tolist() == [[True, True, True, False], [True, True, False, False], [False, False, False, True]]
    with pytest.raises(ValueError, match="at least one train save"):
        CoBoardSampler(sp.csr_matrix((2, 1), dtype=np.float32)).positives(np.array([0]), np.random.default_rng(0))
