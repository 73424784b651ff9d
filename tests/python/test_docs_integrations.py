"""Every Python block of docs/integrations.md runs, in order, in one namespace."""

import pathlib
import re

import pytest

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "integrations.md"


def test_integration_snippets_run():
    pytest.importorskip("xgboost")
    pytest.importorskip("lightgbm")
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
