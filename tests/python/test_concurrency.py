"""Concurrent calls from Python threads (the GIL is released in the kernels).

Oracle: the serial result of the same call. Eight Python threads calling one
representative loss of each family at once must each get bitwise the serial
value and gradients, with the library's pool at its default size and at
set_num_threads(2), and a mix of all families at once must too.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import losslab
from test_bad_input_matrix import BY_NAME, build, call

# One per family, with a batch large enough for the kernels to take a while.
REPRESENTATIVES = {
    "mse_loss": 20000,                 # regression
    "cross_entropy": 4000,             # classification
    "triplet_margin_loss": 4000,       # embedding
    "dice_loss": 400,                  # segmentation
    "gaussian_kl_loss": 4000,          # generative
    "linear_cross_entropy": 512,       # LLM
}
THREADS = 8
CALLS_PER_THREAD = 4


def _flat(res):
    if isinstance(res, dict):
        return [v for k in sorted(res) for v in _flat(res[k])]
    if isinstance(res, (tuple, list)):
        return [v for r in res for v in _flat(r)]
    return [np.asarray(res)]


def _bits(res):
    return [np.asarray(v).tobytes() for v in _flat(res)]


def _job(name, seed):
    spec = BY_NAME[name]
    pos, kw = build(spec, n=REPRESENTATIVES[name], seed=seed)
    kw = dict(kw, return_grad=True)
    return spec, pos, kw


def _hammer(jobs):
    """Runs every job CALLS_PER_THREAD times on THREADS threads, all starting
    together; returns the results per job index."""
    barrier = threading.Barrier(THREADS)
    results = [[] for _ in jobs]

    def worker(t):
        barrier.wait()
        out = []
        for k in range(CALLS_PER_THREAD):
            i = (t + k) % len(jobs)
            spec, pos, kw = jobs[i]
            out.append((i, _bits(call(spec, pos, kw))))
        return out

    with ThreadPoolExecutor(THREADS) as ex:
        for fut in [ex.submit(worker, t) for t in range(THREADS)]:
            for i, bits in fut.result():
                results[i].append(bits)
    return results


@pytest.mark.parametrize("threads", [None, 2])
@pytest.mark.parametrize("name", list(REPRESENTATIVES))
def test_eight_python_threads_match_serial(name, threads, runtime_guard):
    """8 threads x 4 calls of one loss (two different inputs, so a mix-up of
    per-call buffers would show) equal the serial results bitwise."""
    if threads:
        losslab.set_num_threads(threads)
    jobs = [_job(name, 0), _job(name, 1)]
    serial = [_bits(call(*j)) for j in jobs]
    for i, got in enumerate(_hammer(jobs)):
        assert got, "job never ran"
        for bits in got:
            assert bits == serial[i]


@pytest.mark.parametrize("threads", [None, 2])
def test_all_families_at_once_match_serial(threads, runtime_guard):
    """Every representative at the same time, from 8 threads."""
    if threads:
        losslab.set_num_threads(threads)
    jobs = [_job(name, 2) for name in REPRESENTATIVES]
    serial = [_bits(call(*j)) for j in jobs]
    for i, got in enumerate(_hammer(jobs)):
        for bits in got:
            assert bits == serial[i]


def test_concurrent_errors_do_not_leak_between_threads():
    """Half the threads send a NaN target (error), half valid data: the
    errors stay with their callers and the valid calls are unaffected."""
    x = np.random.default_rng(0).normal(size=20000)
    y = np.random.default_rng(1).normal(size=20000)
    bad = y.copy()
    bad[-1] = np.nan
    ref = losslab.mse_loss(x, y, return_grad=True)
    barrier = threading.Barrier(THREADS)

    def worker(t):
        barrier.wait()
        for _ in range(CALLS_PER_THREAD):
            if t % 2:
                with pytest.raises(ValueError, match="^mse_loss: target"):
                    losslab.mse_loss(x, bad, return_grad=True)
            else:
                got = losslab.mse_loss(x, y, return_grad=True)
                assert _bits(got) == _bits(ref)

    with ThreadPoolExecutor(THREADS) as ex:
        for f in [ex.submit(worker, t) for t in range(THREADS)]:
            f.result()


def test_set_num_threads_while_other_threads_compute(runtime_guard):
    """One thread resizes the library's pool (1, 2, 3 threads) while 7 threads
    compute: results are bitwise the serial ones (they do not depend on the
    thread count) and nothing deadlocks or crashes."""
    jobs = [_job("mse_loss", 3), _job("cross_entropy", 3)]
    serial = [_bits(call(*j)) for j in jobs]
    stop = threading.Event()
    barrier = threading.Barrier(THREADS)

    def resizer():
        barrier.wait()
        k = 0
        while not stop.is_set():
            losslab.set_num_threads(1 + k % 3)
            k += 1
        return k

    def worker(t):
        barrier.wait()
        out = []
        for k in range(2 * CALLS_PER_THREAD):
            i = (t + k) % len(jobs)
            out.append((i, _bits(call(*jobs[i]))))
        return out

    with ThreadPoolExecutor(THREADS) as ex:
        rf = ex.submit(resizer)
        futs = [ex.submit(worker, t) for t in range(THREADS - 1)]
        try:
            results = [f.result(timeout=120) for f in futs]
        finally:
            stop.set()
        assert rf.result(timeout=60) > 0
    for out in results:
        for i, bits in out:
            assert bits == serial[i]


def test_training_and_checkpoints_from_threads_match_serial(tmp_path):
    """4 threads each train their own model (same seed and data) and save and
    reload it: every thread's weights are bitwise the serial run's (the
    training engine keeps no global state shared between models)."""
    from losslab import nn, optim
    from losslab.train import fit

    rng = np.random.default_rng(5)
    x = rng.normal(size=(256, 8)).astype(np.float32)
    y = (x @ rng.normal(size=(8, 1))).astype(np.float32)

    def run(tag):
        m = nn.MLP(8, [16], 1, seed=3)
        opt = optim.Adam(m, lr=1e-2)
        fit(m, x, y, optimizer=opt, epochs=3, batch_size=32, seed=7)
        path = tmp_path / f"{tag}.ckpt"
        m.save(path, optimizer=opt)
        m2 = nn.load(path)
        return m.parameters().tobytes(), m2.parameters().tobytes()

    serial = run("serial")
    assert serial[0] == serial[1]
    barrier = threading.Barrier(4)

    def worker(t):
        barrier.wait()
        return run(f"t{t}")

    with ThreadPoolExecutor(4) as ex:
        for f in [ex.submit(worker, t) for t in range(4)]:
            assert f.result(timeout=120) == serial
