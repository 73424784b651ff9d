"""losslab.cli.csvio: the CSV reader of the losslab command.

Oracles: hand-written files whose expected contents are spelled out in each
test, and Python's csv.writer (the round-trip property test: whatever the
standard writer produces, read_csv reads back unchanged).
"""

import csv
import gzip
import io
import string

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from losslab.cli.csvio import load_array, read_csv
from losslab.cli.errors import CliError


def write(tmp_path, name, text, *, encoding="utf-8", raw=None):
    p = tmp_path / name
    if raw is not None:
        p.write_bytes(raw)
    else:
        p.write_bytes(text.encode(encoding))
    return p


def test_header_quotes_bom_and_missing(tmp_path):
    text = (
        "\ufeffid,name,price,flag\n"
        '1,"Smith, John",10.5,yes\n'
        '2,"say ""hi""",NA,\n'
        '3,"two\nlines","7",?\n'
        "4,plain,NaN,null\n"
    )
    t = read_csv(write(tmp_path, "a.csv", text))
    assert t.columns == ["id", "name", "price", "flag"]  # BOM stripped from "id"
    assert t.data["name"] == ["Smith, John", 'say "hi"', "two\nlines", "plain"]
    assert t.data["price"] == ["10.5", None, "7", None]
    assert t.data["flag"] == ["yes", None, None, None]
    price = t.numeric("price")
    np.testing.assert_array_equal(np.isnan(price), [False, True, False, True])
    assert price[0] == 10.5 and price[2] == 7.0  # a quoted number is a number
    assert t.numeric("name") is None
    assert t.numeric("id").dtype == np.float64


def test_underscore_digit_groups_are_text(tmp_path):
    # Oracle: pandas.read_csv and R's read.csv read "1_000" as a string;
    # Python's float() alone accepts it.
    t = read_csv(write(tmp_path, "u.csv", "a,b\n1_000,1\n2,2_0\n3,3\n"))
    assert t.numeric("a") is None
    assert t.numeric("b") is None
    t = read_csv(write(tmp_path, "v.csv", "a;b\n1_0,5;1\n2;2\n"))
    assert t.numeric("a") is None


def test_semicolon_separator_and_decimal_comma(tmp_path):
    text = 'a;b;c\n1,5;x;"3"\n2;y, z;4\n'
    t = read_csv(write(tmp_path, "s.csv", text))
    assert t.sep == ";"
    assert t.columns == ["a", "b", "c"]
    assert t.data["b"] == ["x", "y, z"]
    np.testing.assert_array_equal(t.numeric("a"), [1.5, 2.0])
    np.testing.assert_array_equal(t.numeric("c"), [3.0, 4.0])


def test_tab_separator_and_forced_separator(tmp_path):
    p = write(tmp_path, "t.tsv", "x\ty,z\n1\t2\n")
    t = read_csv(p)
    assert t.columns == ["x", "y,z"]
    assert read_csv(write(tmp_path, "c.csv", "x;y,z\n1;2,3\n"), sep=",").columns == ["x;y", "z"]


def test_gzip_and_latin1(tmp_path):
    p = tmp_path / "g.csv.gz"
    p.write_bytes(gzip.compress("k,v\nä,1\n".encode("utf-8")))
    t = read_csv(p)
    assert t.data["k"] == ["ä"]
    t2 = read_csv(write(tmp_path, "l.csv", "k,v\nç,2\n", encoding="latin-1"))
    assert t2.data["k"] == ["ç"]


def test_ragged_rows_report_the_physical_line(tmp_path):
    # line 1 header, line 2 ok, lines 3-4 one quoted record, line 5 blank, line 6 ragged
    text = 'a,b,c\n1,2,3\n4,"x\ny",6\n\n7,8\n'
    with pytest.raises(CliError) as e:
        read_csv(write(tmp_path, "data.csv", text))
    assert str(e.value).startswith("data.csv line 6: expected 3 fields, found 2")
    with pytest.raises(CliError, match=r"line 3: expected 2 fields, found 3"):
        read_csv(write(tmp_path, "d2.csv", "a,b\n1,2\n1,2,3\n"))


def test_unclosed_quote_names_its_line_and_the_cause(tmp_path):
    # The quote opened on line 3 swallows lines 4-5 into one field: 2 fields, not 3.
    text = 'a,b,c\n1,2,3\n4,"5,6\n7,8,9\n10,11,12\n'
    with pytest.raises(CliError) as e:
        read_csv(write(tmp_path, "q.csv", text))
    msg = str(e.value)
    assert msg.startswith("q.csv line 3: expected 3 fields, found 2")
    assert "quote" in msg and "next 3 line(s)" in msg and "\n" not in msg


def test_missing_empty_and_duplicate_names(tmp_path):
    with pytest.raises(CliError, match="no such file"):
        read_csv(tmp_path / "nope.csv")
    with pytest.raises(CliError, match="empty"):
        read_csv(write(tmp_path, "e.csv", "\n\n"))
    with pytest.raises(CliError, match="NUL"):
        read_csv(write(tmp_path, "b.csv", None, raw=b"a,b\n\x00,1\n"))
    t = read_csv(write(tmp_path, "d.csv", "a,a,,b\n1,2,3,4\n"))
    assert t.columns == ["a", "a.1", "column3", "b"]
    assert read_csv(write(tmp_path, "h.csv", "a,b\n")).n_rows == 0


def test_load_array_csv_with_and_without_header_and_npy(tmp_path):
    np.testing.assert_array_equal(load_array(write(tmp_path, "h.csv", "x,y\n1,2\n3,4\n")), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(load_array(write(tmp_path, "n.csv", "1.5\n2\n")), [1.5, 2.0])
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.save(tmp_path / "a.npy", a)
    b = load_array(tmp_path / "a.npy")
    assert b.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    with pytest.raises(CliError, match="not a number"):
        load_array(write(tmp_path, "bad.csv", "1,2\nx,3\n"))


_field = st.text(alphabet=string.ascii_letters + string.digits + ' ,;"\n.-é', max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda ncol: st.tuples(
            st.lists(st.text(alphabet=string.ascii_letters, min_size=1, max_size=5), min_size=ncol, max_size=ncol, unique=True),
            st.lists(st.lists(_field, min_size=ncol, max_size=ncol), min_size=1, max_size=6),
        )
    ),
    st.sampled_from([",", ";", "\t"]),
)
def test_round_trip_against_csv_writer(tmp_path_factory, table, sep):
    header, rows = table
    # A row of only empty fields is written as a blank line when there is one
    # column; read_csv skips blank lines, so keep one non-empty field.
    rows = [r if any(v.strip() for v in r) else ["x"] + r[1:] for r in rows]
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, quoting=csv.QUOTE_ALL if sep != "," else csv.QUOTE_MINIMAL)
    w.writerow(header)
    w.writerows(rows)
    p = tmp_path_factory.mktemp("rt") / "r.csv"
    p.write_text(buf.getvalue(), encoding="utf-8", newline="")
    t = read_csv(p, sep=sep)
    assert t.columns == header
    for j, h in enumerate(header):
        want = [None if r[j].strip().lower() in ("", "na", "n/a", "nan", "null", "?") else r[j].strip() for r in rows]
        assert t.data[h] == want
