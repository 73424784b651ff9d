"""Training faults (issue 9): a process killed in the middle of a checkpoint
save leaves the previous checkpoint loadable, and a hostile checkpoint (huge
counts, wrong sizes, bad values) gives a clear ValueError without a large
allocation.

Oracles: the checkpoint contract of include/losslab/train/checkpoint.h
("a crash leaves the old file or the new one, never a mix"; "every count is
checked against the bytes left in the file before anything is allocated"),
the values the child process wrote (every parameter of save number i is i),
and the operating system's accounting (RLIMIT_AS, ru_maxrss) for the
allocation bound.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import losslab
from losslab import nn, optim

# The package directory the parent imported, so that children import the same
# build.
_PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(losslab.__file__)))


def _child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = _PKG_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env


# ---------------------------------------------------------------------------
# kill -9 in the middle of a save loop

# 2.1 M parameters + SGD momentum buffer: a 17 MB checkpoint, about 0.1 s to
# write and fsync, so a kill at a random moment usually lands inside a save.
_SAVER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from losslab import nn, optim
    path = sys.argv[1]
    m = nn.MLP(512, [1024, 1024], 512, seed=0)
    opt = optim.SGD(m, lr=0.1, momentum=0.9)
    n = m.num_parameters
    m.set_parameters(np.zeros(n, np.float32))
    m.save(path, optimizer=opt)
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        m.set_parameters(np.full(n, i, np.float32))
        print("start", i, flush=True)
        m.save(path, optimizer=opt)
        print("done", i, flush=True)
    """
)

TRIALS = 20


def test_kill_9_during_save_loop_leaves_a_loadable_checkpoint(tmp_path):
    """20 child processes save a large model in a loop (save i holds the value
    i in every parameter) and are SIGKILLed at a random moment. The file at
    the checkpoint path always loads, whole: every parameter is the last
    value whose save returned, or the one being saved when the kill came
    (rename done, "done" not yet printed); never a mix, never a load error."""
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    rng = np.random.default_rng(9)
    mid_save = 0
    for trial in range(TRIALS):
        path = tmp_path / f"trial{trial}.ckpt"
        child = subprocess.Popen(
            [sys.executable, str(script), str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_child_env(),
            text=True,
        )
        try:
            line = child.stdout.readline()
            assert line.strip() == "ready", (line, child.stderr.read())
            time.sleep(float(rng.uniform(0.0, 0.4)))
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == -signal.SIGKILL
        events = [ln.split() for ln in child.stdout.read().splitlines()]
        child.stdout.close()
        child.stderr.close()
        done = max([int(i) for e, i in events if e == "done"], default=0)
        started = max([int(i) for e, i in events if e == "start"], default=0)
        if started > done:
            mid_save += 1
        model, opt = nn.load(path, with_optimizer=True)
        p = model.parameters()
        assert p.size == 2_099_712
        v = float(p[0])
        assert np.all(p == v), f"trial {trial}: a mix of saves in one file"
        assert v in (done, started), (trial, v, done, started)
        assert opt is not None and opt.steps == 0
        # A temporary file of the killed save may be left beside the path
        # (named <path>.tmp<pid>, so it never clobbers another writer's).
        for leftover in tmp_path.glob(f"{path.name}.tmp*"):
            assert leftover.name == f"{path.name}.tmp{child.pid}"
            leftover.unlink()
    # The kills must test something: most land inside a save (start printed,
    # done not), since a save is nearly all of the loop's time.
    assert mid_save >= 1, "no kill landed inside a save"


# ---------------------------------------------------------------------------
# Hostile checkpoints


def _fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _rehash(body: bytes) -> bytes:
    """body without its checksum -> body + checksum (so that the loader's
    structural checks, not the checksum, are what rejects it)."""
    return body + struct.pack("<Q", _fnv1a(body))


class _Layout:
    """Offsets of the fields of a checkpoint (the layout of
    include/losslab/train/checkpoint.h). Fields after the parameters are
    located for versions 1 and 2 (the optimizer section is the same in both;
    version 2 adds the precision byte after it)."""

    def __init__(self, data: bytes):
        self.data = data
        assert data[:8] == b"LLTRAIN\0"
        self.version, self.flags = struct.unpack_from("<II", data, 8)
        self.layer_count_at = 16
        (nl,) = struct.unpack_from("<Q", data, 16)
        self.layers_at = 24
        self.nl = nl
        o = 24 + 25 * nl
        self.dropout_at = o
        self.param_count_at = o + 16
        (np_,) = struct.unpack_from("<Q", data, self.param_count_at)
        self.params_at = self.param_count_at + 8
        self.n_params = np_
        o = self.params_at + 4 * np_
        self.opt_at = o if self.version in (1, 2) and self.flags & 1 else None
        self.precision_at = None
        if self.opt_at is not None:
            self.opt_steps_at = o + 1 + 64 + 3
            self.opt_nbuf_at = self.opt_steps_at + 8
            self.opt_buf0_at = self.opt_nbuf_at + 8
            (nbuf,) = struct.unpack_from("<Q", data, self.opt_nbuf_at)
            o = self.opt_buf0_at
            for _ in range(nbuf):
                (k,) = struct.unpack_from("<Q", data, o)
                o += 8 + 4 * k
            if self.version == 2:
                self.precision_at = o

    def layer(self, i):
        return self.layers_at + 25 * i


def _put(data: bytes, at: int, fmt: str, value) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, at, value)
    return bytes(b)


def _hostile_files(tmp_path):
    """(name, path, regex of the expected ValueError message)."""
    m = nn.MLP(6, [8], 3, dropout=0.25, seed=0)  # dense relu dropout dense
    opt = optim.Adam(m)
    good = tmp_path / "good.ckpt"
    m.save(good, optimizer=opt)
    data = good.read_bytes()
    lay = _Layout(data)
    body = data[:-8]
    cases = []

    def add(name, new_body, pattern, rehash=True):
        p = tmp_path / f"{name}.ckpt"
        p.write_bytes(_rehash(new_body) if rehash else new_body)
        cases.append((name, str(p), pattern))

    big = 1 << 62
    add("layer-count-2^62", _put(body, lay.layer_count_at, "<Q", big), r"layer count")
    add("layer-count-1000", _put(body, lay.layer_count_at, "<Q", 1000), r"layer count")
    add("layer-kind-200", _put(body, lay.layer(0), "<B", 200), r"unknown kind")
    for f, v in (("in", 1 << 31), ("out", 1 << 31), ("in", -1), ("out", 0)):
        off = lay.layer(0) + (1 if f == "in" else 9)
        add(f"dense-{f}={v}", _put(body, off, "<q", v), r"cannot hold|must be >= 1")
    # A width that fits the file but not the next layer or the parameters.
    add("dense-in+1", _put(body, lay.layer(0) + 1, "<q", 7), r"parameters|inputs")
    add("dropout-p-nan", _put(body, lay.layer(2) + 17, "<d", float("nan")), r"drop probability|\bp\b")
    add("dropout-p-1", _put(body, lay.layer(2) + 17, "<d", 1.0), r"drop probability|\bp\b")
    add("param-count-2^61", _put(body, lay.param_count_at, "<Q", 1 << 61), r"parameter count")
    # 64 MB claimed in a file of a few hundred bytes.
    add("param-count-16M", _put(body, lay.param_count_at, "<Q", 1 << 24), r"parameter count")
    add("param-count-minus-1", _put(body, lay.param_count_at, "<Q", lay.n_params - 1),
        r"parameters|truncat|remain|bytes")
    add("version-99", _put(body, 8, "<I", 99), r"version 99")
    add("magic", b"PK\x03\x04" + body[4:], r"magic")
    add("trailing-bytes", body + struct.pack("<Q", _fnv1a(body)) + b"\0" * 8, r"unexpected bytes",
        rehash=False)
    flipped = bytearray(body)
    flipped[lay.params_at + 5] ^= 0x10
    add("bit-flip-in-params", bytes(flipped) + data[-8:], r"checksum does not match",
        rehash=False)
    add("empty", b"", r"magic", rehash=False)
    if lay.opt_at is not None:
        add("optimizer-kind-99", _put(body, lay.opt_at, "<B", 99), r"optimizer kind")
        add("optimizer-lr-nan", _put(body, lay.opt_at + 1, "<d", float("nan")), r"\blr\b")
        add("optimizer-beta2-1", _put(body, lay.opt_at + 1 + 5 * 8, "<d", 1.0), r"beta2")
        add("optimizer-steps-negative", _put(body, lay.opt_steps_at, "<q", -5), r"negative step")
        add("optimizer-buffers-2^40", _put(body, lay.opt_nbuf_at, "<Q", 1 << 40), r"buffer count")
        add("optimizer-buffers-1", _put(body, lay.opt_nbuf_at, "<Q", 1), r"state buffers")
        add("optimizer-buffer-length-2^60", _put(body, lay.opt_buf0_at, "<Q", 1 << 60),
            r"buffer length")
        add("optimizer-buffer-length-short", _put(body, lay.opt_buf0_at, "<Q", lay.n_params - 1),
            r"values for|truncat|remain|bytes")
    if lay.precision_at is not None:
        add("precision-99", _put(body, lay.precision_at, "<B", 99), r"precision")
    # Every truncation of the valid file (the checksum no longer fits).
    for k in range(0, len(data), max(1, len(data) // 60)):
        add(f"truncated-{k}", data[:k], r"truncat|remain|magic|short|checksum|bytes", rehash=False)
    return good, cases


_LOADER = textwrap.dedent(
    """
    import json, resource, sys
    from losslab import nn
    good, cases = json.loads(sys.stdin.read())
    nn.load(good, with_optimizer=True)  # warm up: the first load's allocations
    def vm_kb():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1])
    # The address space may grow by at most 256 MB from here: a loader that
    # believed a hostile count would fail with MemoryError (or be killed),
    # not with ValueError.
    limit = (vm_kb() + 256 * 1024) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = []
    for name, path, pattern in cases:
        try:
            nn.load(path, with_optimizer=True)
            out.append([name, "loaded", ""])
        except BaseException as e:
            out.append([name, type(e).__name__, str(e)])
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"results": out, "maxrss_growth_kb": rss1 - rss0}))
    """
)


def test_hostile_checkpoints_give_clear_errors_without_large_allocations(tmp_path):
    """Huge or inconsistent counts, widths and option values, bad magic and
    version, flipped bits, trailing bytes and every truncation: each load
    raises ValueError whose message says what is wrong, in a process whose
    address space may not grow by more than 256 MB and whose peak resident
    memory grows by less than 16 MB over all cases (one case claims 64 MB of
    parameters in a file of a few hundred bytes)."""
    good, cases = _hostile_files(tmp_path)
    assert len(cases) >= 40
    script = tmp_path / "loader.py"
    script.write_text(_LOADER)
    proc = subprocess.run(
        [sys.executable, str(script)],
        input=json.dumps([str(good), cases]),
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    patterns = {name: pattern for name, _, pattern in cases}
    for name, kind, msg in report["results"]:
        assert kind == "ValueError", (name, kind, msg)
        assert re.search(patterns[name], msg), (name, msg)
        # Loader errors name the function and the file; the model's and the
        # optimizer's own checks name the layer or the setting.
        assert msg.startswith(("load_checkpoint: ", "Sequential", "Adam", "adam")) or "layer" in msg, (
            name, msg)
    assert report["maxrss_growth_kb"] < 16 * 1024, report["maxrss_growth_kb"]


# Values that the file format can hold but the model or the optimizer rejects.
_VALUE_CASES = ("dropout-p-nan", "dropout-p-1", "optimizer-lr-nan", "optimizer-beta2-1")


@pytest.mark.parametrize("name", _VALUE_CASES)
def test_hostile_checkpoint_value_errors_name_the_file(tmp_path, name):
    _, cases = _hostile_files(tmp_path)
    path = dict((n, p) for n, p, _ in cases)[name]
    # The loader names the file and says it is not a valid checkpoint, then
    # gives the model's or the optimizer's own complaint.
    with pytest.raises(ValueError, match=r"^load_checkpoint: '.*%s\.ckpt' is not a valid" % re.escape(name)):
        nn.load(path, with_optimizer=True)


def test_directory_and_missing_paths(tmp_path):
    with pytest.raises(ValueError, match="not a regular file"):
        nn.load(tmp_path)
    with pytest.raises(ValueError, match="cannot open"):
        nn.load(tmp_path / "missing.ckpt")


_CKPT_REGRESSIONS = sorted(
    (pathlib.Path(__file__).resolve().parents[2] / "fuzz" / "regressions" / "checkpoint").glob("*"))


@pytest.mark.parametrize("path", _CKPT_REGRESSIONS, ids=lambda p: p.name)
def test_checkpoint_fuzz_regressions(path):
    """Every input that failed fuzz/fuzz_checkpoint.cc loads or raises a
    ValueError with the loader's prefix (the undefined behaviour these
    inputs reached shows only under UBSan: `make fuzz-cpp` replays them in
    the sanitized build)."""
    try:
        nn.load(path, with_optimizer=True)
    except ValueError as e:
        assert str(e).startswith("load_checkpoint: "), str(e)
