"""atheris fuzz target for the CLI's CSV reader, losslab.cli.csvio.read_csv
(issue 9).

The fuzzed bytes are written to a file (plain, or gzip-compressed with a
.gz name) and read with a fuzzed separator argument (None = auto-detect, ',',
';', tab). Asserted for every input:
  1. the only exception is losslab.cli.errors.CliError (read_csv's contract:
     bad content raises CliError, whose one-line message the CLI prints);
     its message is one non-empty line;
  2. a table that reads is consistent: `columns` is a list of str, `data`
     has exactly those keys, the names are unique (a repeated header
     name gets .1, .2...), every column has the same number of values,
     each value is a str or None (missing);
  3. Table.numeric(col) returns None or a float64 array of that length,
     with NaN exactly where the value is missing.

Input layout: byte 0 picks the separator argument (its value mod 4) and
gzip (bit 7); the rest is the file's content (see fuzz/corpus/csv).

Run: .venv/bin/python fuzz/fuzz_csv.py -max_total_time=60 [corpus_dir]
fuzz/corpus/csv fuzz/regressions/csv (`make fuzz-csv` / `make fuzz-ci`).
PYTHONPATH must reach the losslab package. `TestOneInput` is importable
without atheris: tests/python/test_bad_input_matrix.py replays
fuzz/regressions/csv with it.
"""

from __future__ import annotations

import gzip
import os
import sys
import tempfile

import numpy as np

try:
    import atheris
except ImportError:  # replaying fuzz/regressions/csv from pytest needs no atheris
    atheris = None

if atheris is not None:
    with atheris.instrument_imports(include=["losslab.cli", "csv", "gzip"]):
        from losslab.cli import csvio
        from losslab.cli.errors import CliError
else:
    from losslab.cli import csvio
    from losslab.cli.errors import CliError

SEPS = [None, ",", ";", "\t"]
_DIR = tempfile.mkdtemp(prefix="losslab_fuzz_csv_")
PLAIN = os.path.join(_DIR, "data.csv")
GZ = os.path.join(_DIR, "data.csv.gz")


def check_table(t):
    cols = t.columns
    assert isinstance(cols, list) and all(isinstance(c, str) for c in cols), cols
    assert len(set(cols)) == len(cols), f"repeated column names: {cols}"
    assert set(t.data) == set(cols), (cols, list(t.data))
    lengths = {len(t.data[c]) for c in cols}
    assert len(lengths) <= 1, f"columns of different lengths: {lengths}"
    n = lengths.pop() if lengths else 0
    for c in cols:
        for v in t.data[c]:
            assert v is None or isinstance(v, str), (c, v)
        num = t.numeric(c)
        if num is None:
            continue
        assert isinstance(num, np.ndarray) and num.dtype == np.float64, (c, type(num))
        assert num.shape == (n,), (c, num.shape, n)
        missing = np.array([v is None for v in t.data[c]], dtype=bool)
        assert np.all(np.isnan(num[missing])), (c, "a missing value is not NaN")


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    mode = data[0]
    body = data[1:]
    sep = SEPS[mode % len(SEPS)]
    if mode & 0x80:
        path = GZ
        with open(path, "wb") as f:
            f.write(gzip.compress(body, mtime=0))
    else:
        path = PLAIN
        with open(path, "wb") as f:
            f.write(body)
    try:
        table = csvio.read_csv(path, sep=sep)
    except CliError as e:
        msg = str(e)
        assert msg and "\n" not in msg, f"CliError message not one line: {msg!r}"
        return
    check_table(table)


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
