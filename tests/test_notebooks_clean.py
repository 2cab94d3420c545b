"""Notebooks are committed without outputs, so diffs stay readable and no secret is saved in them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_tutorial_notebooks():
    assert len(NOTEBOOKS) >= 5, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped(path: Path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs: run `make strip`"
        assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"
        assert "skip-execution" not in cell.get("metadata", {}).get("tags", []), f"{path.name} cell {i}"
    assert "widgets" not in nb.get("metadata", {}), f"{path.name} saved widget state: run `make strip`"
