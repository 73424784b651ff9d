"""CSV input as users have it, on Python's ``csv`` module.

``read_csv(path)`` reads a header row and the data rows into a
:class:`Table` of strings (``None`` for a missing value). Rules:

* encoding UTF-8, with or without a byte-order mark; a file that is not
  valid UTF-8 is read as Latin-1 (every byte is a character there);
* ``.gz`` files are decompressed;
* the separator is ``,`` ``;`` or tab, whichever occurs most often in the
  header line outside quotes (ties: tab, then ``;``, then ``,``; ``sep=``
  forces one; ``,`` when none occurs);
* fields may be quoted (``"a, b"``, ``""`` for a quote inside, line breaks
  inside quotes);
* missing: an empty field, ``NA``, ``N/A``, ``NaN``, ``null`` or ``?`` (any
  case, surrounding blanks ignored);
* blank lines are skipped; a data row with another number of fields than
  the header is an error naming the 1-based physical line where the row
  starts: ``data.csv line 17: expected 5 fields, found 4``;
* empty header names become ``column<k>``; a repeated name gets ``.1``,
  ``.2``... (as pandas does).

``read_csv`` prints nothing and raises only :class:`CliError` for bad content
or a missing file. ``Table.numeric(col)`` converts a column to float64 (NaN
for missing; with ``;`` as separator a decimal comma ``1,5`` is read as 1.5).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import zlib
from dataclasses import dataclass, field

import numpy as np

from .errors import CliError

__all__ = ["Table", "read_csv", "load_array", "MISSING_TOKENS", "is_missing"]

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "?"})
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+(?:[eE][+-]?\d+)?$")


def is_missing(value) -> bool:
    return value is None or value.strip().lower() in MISSING_TOKENS


@dataclass
class Table:
    """Columns in file order; ``data[col]`` is the list of raw strings
    (``None`` where missing). ``source`` is the file name for messages."""

    columns: list
    data: dict
    sep: str = ","
    source: str = ""
    _numeric_cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_rows(self) -> int:
        return len(self.data[self.columns[0]]) if self.columns else 0

    def __len__(self) -> int:
        return self.n_rows

    def n_missing(self, col: str) -> int:
        return sum(v is None for v in self.data[col])

    def numeric(self, col: str):
        """float64 array (NaN for missing) or None if a present value is not
        a number. Infinite values count as not numeric."""
        if col in self._numeric_cache:
            return self._numeric_cache[col]
        values = self.data[col]
        result = _to_float(values, self.sep == ";")
        self._numeric_cache[col] = result
        return result


def _to_float(values, decimal_comma: bool):
    # Python's float (which numpy uses for strings) reads "1_000" as 1000, a
    # source-code spelling; in a data file it is text (pandas and R agree).
    if any("_" in v for v in values if v is not None):
        return None
    filled = ["nan" if v is None else v for v in values]
    try:
        arr = np.asarray(filled, dtype=np.float64) if filled else np.zeros(0)
    except ValueError:
        if not decimal_comma:
            return None
        try:
            arr = np.asarray(
                [v.strip().replace(",", ".") if _DECIMAL_COMMA.match(v.strip()) else v for v in filled],
                dtype=np.float64,
            )
        except ValueError:
            return None
    # numpy also parses "inf" / "nan" spelled otherwise; an infinite value in
    # a data file is not a usable number.
    if np.isinf(arr).any():
        return None
    bad_nan = np.isnan(arr)
    if bad_nan.any():
        for i in np.flatnonzero(bad_nan):
            if values[i] is not None:  # e.g. "NAN " spelled unusually but not missing
                return None
    return arr


def _read_text(path) -> tuple[str, str]:
    name = os.path.basename(str(path))
    if not os.path.exists(path):
        raise CliError(f"{path}: no such file; check the path (or use --dataset for a bundled one)")
    if os.path.isdir(path):
        raise CliError(f"{path} is a directory; give a CSV file")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if str(path).endswith(".gz") or raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise CliError(f"{name}: cannot read the file ({e}); is it a valid (gzip) CSV?") from None
    if b"\x00" in raw:
        raise CliError(f"{name}: contains NUL bytes; this is not a text CSV file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return name, text


def _detect_sep(header_line: str) -> str:
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    # Ties go to tab, then ';', then ',': a rarer separator that occurs as
    # often as commas is the one chosen on purpose.
    best = max(("\t", ";", ","), key=lambda c: counts[c])
    return best if counts[best] > 0 else ","


def _rows(text: str, sep: str, name: str):
    """Yields (physical 1-based start line, fields) for non-blank rows."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quotechar='"', doublequote=True, strict=False)
    line_end = 0
    while True:
        start = line_end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise CliError(f"{name} line {start}: {e}") from None
        line_end = reader.line_num
        if not row or (len(row) == 1 and row[0].strip() == ""):
            continue
        yield start, row


def read_csv(path, *, sep=None) -> Table:
    """Reads a CSV file with a header row; see the module docstring."""
    name, text = _read_text(path)
    first = next((ln for ln in text.splitlines() if ln.strip()), None)
    if first is None:
        raise CliError(f"{name}: the file is empty; it needs a header row and data rows")
    if sep is None:
        sep = _detect_sep(first)
    elif sep not in (",", ";", "\t"):
        raise CliError(f"separator {sep!r} is not supported; use ',', ';' or a tab")
    csv.field_size_limit(1 << 24)
    rows = _rows(text, sep, name)
    first_row = next(rows, None)
    if first_row is None:
        raise CliError(f"{name}: no header row could be read (an unclosed quote?)")
    _, header = first_row
    columns = _unique_names([h.strip() for h in header])
    n = len(columns)
    cols = [[] for _ in range(n)]
    for line, row in rows:
        if len(row) != n:
            spans = row[-1].count("\n") if row else 0
            if spans:
                # A stray quote swallows the following lines into the row's
                # last field (a multi-line field elsewhere in the row was closed).
                raise CliError(
                    f"{name} line {line}: expected {n} fields, found {len(row)}; a quote (\") opened on "
                    f"this line runs over the next {spans} line(s): close it on this line, or write a quote "
                    f"inside a quoted field as \"\""
                )
            raise CliError(
                f"{name} line {line}: expected {n} fields, found {len(row)}; "
                f"fix that row (a field with the separator {_sep_name(sep)} inside must be quoted)"
            )
        for j, v in enumerate(row):
            cols[j].append(None if v.strip().lower() in MISSING_TOKENS else v.strip())
    return Table(columns=columns, data=dict(zip(columns, cols)), sep=sep, source=name)


def _sep_name(sep: str) -> str:
    return {",": "','", ";": "';'", "\t": "tab"}[sep]


def _unique_names(names):
    out, seen = [], {}
    for j, h in enumerate(names):
        h = h or f"column{j + 1}"
        if h in seen:
            seen[h] += 1
            cand = f"{h}.{seen[h]}"
            while cand in seen:
                seen[h] += 1
                cand = f"{h}.{seen[h]}"
            h = cand
        seen.setdefault(h, 0)
        out.append(h)
    return out


def load_array(path) -> np.ndarray:
    """An array from ``.npy`` (as stored) or a numeric CSV (float64; a first
    row that is not all numbers is taken as the header; one column gives a
    1-D array). Missing CSV values become NaN."""
    p = str(path)
    name = os.path.basename(p)
    if p.endswith(".npy"):
        if not os.path.exists(p):
            raise CliError(f"{p}: no such file; check the path")
        try:
            return np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise CliError(f"{name}: not a readable .npy array ({e})") from None
    _, text = _read_text(p)
    first = next((ln for ln in text.splitlines() if ln.strip()), None)
    if first is None:
        raise CliError(f"{name}: the file is empty")
    sep = _detect_sep(first)
    rows = list(_rows(text, sep, name))
    if rows and _to_float([None if is_missing(v) else v.strip() for v in rows[0][1]], False) is None:
        rows = rows[1:]
    if not rows:
        raise CliError(f"{name}: no numeric rows")
    n = len(rows[0][1])
    values = []
    for line, row in rows:
        if len(row) != n:
            raise CliError(f"{name} line {line}: expected {n} fields, found {len(row)}")
        values.extend(None if is_missing(v) else v.strip() for v in row)
    arr = _to_float(values, sep == ";")
    if arr is None:
        raise CliError(f"{name}: a value is not a number; an array file must be all numbers")
    arr = arr.reshape(len(rows), n)
    return arr[:, 0] if n == 1 else arr
