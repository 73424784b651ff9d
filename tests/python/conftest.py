"""Shared fixtures for the losslab Python suite."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import losslab


@pytest.fixture
def rng(request):
    """A NumPy Generator seeded from the test's node id: reproducible per test,
    different between tests (so parametrized cases do not share one sample)."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def runtime_guard():
    """Restores the SIMD target ('auto') and the thread count after a test that
    changes them, even when the test fails."""
    threads = losslab.get_num_threads()
    try:
        yield
    finally:
        losslab.set_simd_target("auto")
        losslab.set_num_threads(threads)
