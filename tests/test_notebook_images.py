"""Every tutorial notebook runs against the emulator, and every cell that plots shows an image.

nbmake only checks that no cell raised: a figure shown as its text repr (`<Figure size 1000x340 with
2 Axes>`) passes it. This test executes each notebook the way nbmake does (nbclient, a python3
kernel, the notebook's folder as working directory: here a copy, so nothing is written into the
repository) and fails listing the plotting cells that produced no `image/png` output.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
# A cell plots when it calls the package's plot functions or matplotlib.
PLOTTING = re.compile(r"\bplot_(spectrogram|latencies)\(|\bplt\.|\bmatplotlib\b|\.subplots\(")
FIGURE_REPR = re.compile(r"<(\w+)?Figure size \d+x\d+ with \d+ Axes>")


def plotting_cells(nb: nbformat.NotebookNode) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and PLOTTING.search(c.source)]


def test_the_plotting_cells_are_found():
    found = {p.name: plotting_cells(nbformat.read(p, as_version=4)) for p in NOTEBOOKS}
    assert all(found[name] for name in found if name[:2] in {"01", "02", "04", "05"}), found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_plotting_cell_shows_an_image(path: Path, tmp_path: Path, monkeypatch):
    # A person's kernel has no MPLBACKEND (the test suite's Agg would hide pyplot figures).
    monkeypatch.delenv("MPLBACKEND", raising=False)
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(path, work / path.name)
    nb = nbformat.read(work / path.name, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    ).execute()

    missing: list[str] = []
    for i in plotting_cells(nb):
        outputs = nb.cells[i].outputs
        images = [o for o in outputs if "image/png" in o.get("data", {})]
        # What shows as text (an image output's text/plain twin is not shown).
        texts = " ".join(
            str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", ""))
            for o in outputs
            if o not in images
        )
        if not images or FIGURE_REPR.search(texts):
            first_line = nb.cells[i].source.strip().splitlines()[-1][:60]
            missing.append(f"cell {i} ({first_line!r}): {len(images)} images, text {texts[:80]!r}")
    assert not missing, f"{path.name}: plotting cells without their image:\n" + "\n".join(missing)
