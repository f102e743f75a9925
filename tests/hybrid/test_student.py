"""The student's input dropout (nn.Dropout's distribution with a cheaper mask) and the sparse hit lookup
of the teacher search."""

from __future__ import annotations

import torch

from graphrec.hybrid.student import InputDropout


def test_input_dropout_drops_p_and_rescales_the_rest() -> None:
    torch.manual_seed(0)
    x = torch.full((400, 500), 2.0)
    d = InputDropout(0.2).train()
    y = d(x)
    dropped = (y == 0).float().mean().item()
    assert abs(dropped - 0.2) < 0.005
    torch.testing.assert_close(y[y != 0], torch.full_like(y[y != 0], 2.0 / 0.8))
    assert abs(y.mean().item() - 2.0) < 0.02  # inverted dropout keeps the mean
    torch.manual_seed(0)
    torch.testing.assert_close(d(x), y)  # the global generator: seeded runs repeat


def test_input_dropout_is_the_identity_in_eval_and_at_zero() -> None:
    x = torch.randn(8, 4)
    assert torch.equal(InputDropout(0.5).eval()(x), x)
    assert torch.equal(InputDropout(0.0).train()(x), x)
    assert torch.equal(InputDropout(1.0).train()(x), torch.zeros_like(x))


def test_csr_lookup_matches_the_dense_rows() -> None:
    import numpy as np
    import scipy.sparse as sp

    from graphrec.utils.sparse import csr_lookup

    rng = np.random.default_rng(0)
    m = sp.random(30, 50, density=0.2, format="csr", random_state=1)
    m.data[:] = 1.0
    ids = rng.integers(0, 50, size=(30, 7))
    want = np.take_along_axis(m.toarray() > 0, ids, 1)
    np.testing.assert_array_equal(csr_lookup(m, ids), want)
    unsorted = sp.csr_matrix((m.data[::-1].copy(), m.indices.copy(), m.indptr.copy()), shape=m.shape)
    unsorted.indices = np.concatenate([r[::-1] for r in np.split(m.indices, m.indptr[1:-1])])
    unsorted.has_sorted_indices = False
    np.testing.assert_array_equal(csr_lookup(unsorted, ids), want)
    assert not csr_lookup(sp.csr_matrix((30, 50)), ids).any()
