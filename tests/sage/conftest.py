"""Sage tests run torch and BLAS single-threaded: the graphs are tiny and the 2 cores are shared
(busy-waiting worker threads made these tests 10-20x slower under load)."""

from __future__ import annotations

import pytest
import torch
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)
