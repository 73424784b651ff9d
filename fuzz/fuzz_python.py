"""atheris fuzz target over the Python API (issue 9).

Drives every loss of the bad-input matrix's table (tests/python/
test_bad_input_matrix.py) with fuzzed shapes, dtypes (float16/32/64, ints,
bool), memory layouts (strided, Fortran, 0-d, empty), options (valid and
not), reductions and values (NaN, +-Inf, denormals, +-1e30, raw bits).
Asserted for every call:
  1. no crash and no exception other than ValueError / TypeError whose
     message starts with "<function>: ";
  2. a call whose arrays are all finite and moderate (|v| <= 1e3) and that
     succeeds returns no NaN (loss or gradient); kl_divergence is exempt (it
     is +inf, then NaN-free, only where q = 0 -- documented) .

Run: .venv/bin/python fuzz/fuzz_python.py -max_total_time=60 [corpus_dir]
(`make fuzz-python` / `make fuzz-ci`). PYTHONPATH must reach a built losslab
(the Makefile uses the installed package in .venv).
"""

from __future__ import annotations

import os
import re
import sys
import warnings

import atheris
import numpy as np

with atheris.instrument_imports():
    import losslab

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))
with atheris.instrument_imports():
    from test_bad_input_matrix import SPECS, build  # noqa: E402

# losslab's code is native (no Python coverage): coverage feedback comes from
# the instrumented driver below (which branch of the argument perturbation,
# which exception), so the corpus keeps inputs that reach new error paths.
warnings.filterwarnings("ignore", category=RuntimeWarning)

SPECIALS = [np.nan, np.inf, -np.inf, 1e30, -1e30, 1e-40, 5e-320, 0.0, -0.0]
DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.bool_]
REDUCTIONS = ["mean", "sum", "none", "batchmean", "avg"]
OPTION_VALUES = [-1.0, 0.0, 0.5, 1.0, 2.0, 1.5, np.nan, np.inf, -0.1, 1e30, 3]
OPTIONS = sorted({k for s in SPECS for o in s.bad_options for k in o if k not in
                  ("weight", "pos_weight", "weight_per_class", "mode", "kind",
                   "recon_kind")})
# Losses whose value may legitimately be NaN-free +inf, and one documented NaN
# source: kl_divergence (q = 0 where p > 0 gives +inf).
EXEMPT = {"kl_divergence"}
# Other function names a loss's message may start with (known bugs, listed
# with a strict xfail in tests/python/test_bad_input_matrix.py). Empty: the
# last ones (reconstruction_loss / vae_loss / linear_cross_entropy letting an
# inner loss's message through) are fixed.
KNOWN_PREFIXES: dict = {}


@atheris.instrument_func
def perturb(fdp, arr):
    """Returns a fuzzed variant of a valid argument."""
    a = np.array(arr, copy=True)
    if a.dtype.kind == "f" and a.size:
        for _ in range(fdp.ConsumeIntInRange(0, 3)):
            i = fdp.ConsumeIntInRange(0, a.size - 1)
            choice = fdp.ConsumeIntInRange(0, len(SPECIALS) + 1)
            if choice < len(SPECIALS):
                a.flat[i] = SPECIALS[choice]
            elif choice == len(SPECIALS):
                a.flat[i] = fdp.ConsumeRegularFloat()
            else:
                a.flat[i] = np.frombuffer(fdp.ConsumeBytes(8).ljust(8, b"\0"),
                                          np.float64)[0]
    elif a.dtype.kind == "i" and a.size and fdp.ConsumeBool():
        a.flat[fdp.ConsumeIntInRange(0, a.size - 1)] = fdp.ConsumeIntInRange(-200, 200)
    layout = fdp.ConsumeIntInRange(0, 9)
    if layout == 0:
        a = a.astype(DTYPES[fdp.ConsumeIntInRange(0, len(DTYPES) - 1)])
    elif layout == 1 and a.ndim:
        a = np.stack([a, a], axis=-1)[..., 0]  # strided view
    elif layout == 2 and a.ndim >= 2:
        a = np.asfortranarray(a)
    elif layout == 3 and a.ndim:
        a = a[: fdp.ConsumeIntInRange(0, a.shape[0])]  # shorter / empty
    elif layout == 4:
        a = a[..., None]  # attempted broadcast
    elif layout == 5 and a.ndim:
        a = a.reshape(-1)
    return a


def moderate(x):
    x = np.asarray(x)
    return x.dtype.kind != "f" or bool(np.all(np.abs(x.astype(np.float64)) <= 1e3))


def flat(res):
    if isinstance(res, dict):
        return [v for k in sorted(res) for v in flat(res[k])]
    if isinstance(res, (tuple, list)):
        return [v for r in res for v in flat(r)]
    return [np.asarray(res, dtype=np.float64)]


# LOSSLAB_FUZZ_LAST=<file>: each input is written there before it runs, so
# that a hang inside native code (where atheris' -timeout, a Python signal
# handler, cannot fire) leaves its input behind.
LAST = os.environ.get("LOSSLAB_FUZZ_LAST")


@atheris.instrument_func
def TestOneInput(data):
    if LAST:
        with open(LAST, "wb") as f:
            f.write(data)
    fdp = atheris.FuzzedDataProvider(data)
    spec = SPECS[fdp.ConsumeIntInRange(0, len(SPECS) - 1)]
    n = fdp.ConsumeIntInRange(1, 12)
    dt = np.float32 if fdp.ConsumeBool() else np.float64
    pos, kw = build(spec, n=n, dtype=dt, seed=fdp.ConsumeIntInRange(0, 1000))
    for name in list(pos):
        if fdp.ConsumeIntInRange(0, 3) == 0:
            pos[name] = perturb(fdp, pos[name])
    kw["reduction"] = REDUCTIONS[fdp.ConsumeIntInRange(0, len(REDUCTIONS) - 1)]
    kw["return_grad"] = fdp.ConsumeBool()
    if fdp.ConsumeIntInRange(0, 3) == 0 and OPTIONS:
        kw[OPTIONS[fdp.ConsumeIntInRange(0, len(OPTIONS) - 1)]] = \
            OPTION_VALUES[fdp.ConsumeIntInRange(0, len(OPTION_VALUES) - 1)]
    if fdp.ConsumeIntInRange(0, 7) == 0:
        losslab.set_num_threads(fdp.ConsumeIntInRange(1, 2))
    try:
        res = getattr(losslab, spec.name)(*pos.values(), **kw)
    except (ValueError, TypeError) as e:
        names = (spec.name,) + KNOWN_PREFIXES.get(spec.name, ())
        if not re.match("(%s): " % "|".join(map(re.escape, names)), str(e)):
            # nanobind's own signature mismatch (e.g. a float for an int
            # option) is a TypeError without the prefix: acceptable.
            if isinstance(e, TypeError) and "incompatible function arguments" in str(e):
                return
            raise AssertionError(f"{spec.name}: message without prefix: {e}") from e
        return
    if spec.name in EXEMPT:
        return
    arrays = [v for v in pos.values()]
    finite = all(np.all(np.isfinite(np.asarray(a, dtype=np.float64))) for a in arrays
                 if np.asarray(a).dtype.kind == "f")
    if finite and all(moderate(a) for a in arrays):
        for v in flat(res):
            if np.any(np.isnan(v)):
                raise AssertionError(f"{spec.name}: NaN from finite input "
                                     f"{ {k: np.asarray(a).tolist() for k, a in pos.items()} } {kw}")


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
