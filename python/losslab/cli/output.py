"""Terminal output of the losslab command: tables, JSON and a progress bar.

No dependency beyond the standard library: the table is plain aligned text
(parsable: columns are separated by two or more spaces), JSON is
``json.dumps`` with sorted keys and NaN / infinity written as ``null``, and
the progress bar is one line on stderr redrawn with a carriage return.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time

import numpy as np

_NUMERIC = re.compile(r"^(?:[-+]?(?:\d[\d.,]*(?:e[-+]?\d+)?|nan|inf|-)(?: ± [-+]?[\d.]+(?:e[-+]?\d+)?)?(?: \*)?)$")

__all__ = ["print_table", "format_table", "emit_json", "to_jsonable", "format_value", "Progress"]


def format_value(value) -> str:
    """Numbers with 4 significant digits (ints as they are), None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            return f"{v:.4g}"
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(value)


def format_table(rows, columns, title=None, mark=None) -> str:
    """The text of :func:`print_table`."""
    mark = mark or {}
    cells = [list(columns)]
    for i, row in enumerate(rows):
        line = []
        for c in columns:
            text = format_value(row.get(c))
            marked = mark.get(c)
            if marked is not None and i in marked:
                text += " *"
            line.append(text)
        cells.append(line)
    widths = [max(len(r[j]) for r in cells) for j in range(len(columns))]
    # Columns of numbers (also "0.91 ± 0.02", marked "*", "nan", "-") are
    # right-aligned, text columns left-aligned.
    right = [
        j > 0 and all(_NUMERIC.match(r[j]) for r in cells[1:]) and len(cells) > 1 for j in range(len(columns))
    ]
    out = []
    if title:
        out.append(title)
    for k, r in enumerate(cells):
        parts = [r[j].rjust(widths[j]) if right[j] else r[j].ljust(widths[j]) for j in range(len(r))]
        out.append("  ".join(parts).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def print_table(rows, columns, title=None, mark=None, file=None) -> None:
    """Prints ``rows`` (dicts) as an aligned plain-text table.

    columns: the keys to show, in order (also the header). mark: optional
    ``{column: set of row indices}``; those cells get a trailing ``*`` (the
    best value of the column). Floats are shown with 4 significant digits;
    strings are printed as they are (e.g. "0.91 ± 0.02").
    """
    print(format_table(rows, columns, title=title, mark=mark), file=file or sys.stdout)


def to_jsonable(obj):
    """numpy scalars / arrays to Python, NaN and infinities to None."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def emit_json(obj, file=None) -> None:
    """Prints ``obj`` as JSON: sorted keys, NaN -> null, numpy converted."""
    print(json.dumps(to_jsonable(obj), sort_keys=True, allow_nan=False), file=file or sys.stdout)


class Progress:
    """A one-line progress bar on stderr with live ``loss=... metric=...``.

        with Progress(total=50, desc="huber fold 1/5", enabled=True) as bar:
            bar.update(1, loss=0.31, mae=20.1)

    enabled: True / False, or None = only when stderr is a TTY (the
    environment variable LOSSLAB_PROGRESS=1 forces it on, =0 off). The
    command turns it off for ``--json``. Redraws at most every 0.1 s.
    """

    def __init__(self, total: int, desc: str = "", enabled=None, file=None):
        self.total = max(int(total), 1)
        self.desc = desc
        self.file = file or sys.stderr
        if enabled is None:
            force = os.environ.get("LOSSLAB_PROGRESS")
            if force in ("0", "1"):
                enabled = force == "1"
            else:
                enabled = hasattr(self.file, "isatty") and self.file.isatty()
        self.enabled = bool(enabled)
        self.n = 0
        self.values = {}
        self._last = 0.0
        self._start = time.perf_counter()
        self._drawn = False

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def update(self, n: int = 1, **values) -> None:
        self.n = min(self.n + int(n), self.total)
        self.values.update(values)
        now = time.perf_counter()
        if self.enabled and (now - self._last >= 0.1 or self.n == self.total):
            self._last = now
            self._draw()

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def _draw(self) -> None:
        width = 24
        filled = int(width * self.n / self.total)
        bar = "#" * filled + "." * (width - filled)
        extra = " ".join(f"{k}={format_value(v)}" for k, v in self.values.items())
        elapsed = time.perf_counter() - self._start
        line = f"\r{self.desc} [{bar}] {self.n}/{self.total} {elapsed:.1f}s {extra}"
        self.file.write(line[:200] + "\x1b[K")
        self.file.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.file.write("\r\x1b[K")
            self.file.flush()
            self._drawn = False

    def __exit__(self, *exc):
        self.close()
        return False
