"""Every tutorial notebook runs under nbmake against the emulator, and every cell that plots shows an image.

nbmake only checks that no cell raised: a figure shown as its text repr (`<Figure size 1000x340 with
2 Axes>`) passes it. So the notebooks are copied to a temporary folder, run there once by
`pytest --nbmake --overwrite` (nothing is written into the repository; two notebooks at a time, as
their kernels mostly wait on real-time audio), and the executed copies are read back: each notebook must have passed nbmake, and each plotting cell must hold an `image/png`.
"""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from tests.nbmake_run import run_nbmake_each

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
# A cell plots when it calls the package's plot functions or matplotlib.
PLOTTING = re.compile(r"\bplot_(spectrogram|latencies)\(|\bplt\.|\bmatplotlib\b|\.subplots\(")
FIGURE_REPR = re.compile(r"<(\w+)?Figure size \d+x\d+ with \d+ Axes>")


def plotting_cells(nb: nbformat.NotebookNode) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and PLOTTING.search(c.source)]


@pytest.fixture(scope="module")
def nbmake_run(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """Run every notebook under nbmake once; return the executed copies' folder and each one's failure text."""
    work = tmp_path_factory.mktemp("notebooks")
    for path in NOTEBOOKS:
        shutil.copy(path, work / path.name)
    for extra in (Path(__file__).parents[1] / "notebooks").iterdir():
        if extra.is_dir() and not extra.name.startswith("."):
            shutil.copytree(extra, work / extra.name)
    # A person's kernel has no MPLBACKEND (the test suite's Agg would hide pyplot figures).
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    failures: dict[str, str] = {}
    for name, run in run_nbmake_each([p.name for p in NOTEBOOKS], work, env, 600, "--nbmake-timeout=300"):
        report = work / f"{name}.xml"
        assert report.exists(), (
            f"nbmake wrote no report for {name}:\n{run.stdout.decode()[-3000:]}{run.stderr.decode()[-3000:]}"
        )
        for case in ET.parse(report).getroot().iter("testcase"):
            problem = case.find("failure") if case.find("failure") is not None else case.find("error")
            if problem is not None:
                failures[name] = (problem.get("message") or "") + (problem.text or "")[-2000:]
    return work, failures


def test_the_plotting_cells_are_found():
    found = {p.name: plotting_cells(nbformat.read(p, as_version=4)) for p in NOTEBOOKS}
    assert all(found[name] for name in found if name[:2] in {"01", "02", "04", "05"}), found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_runs_and_each_plotting_cell_shows_an_image(path: Path, nbmake_run):
    work, failures = nbmake_run
    assert path.name not in failures, f"{path.name} failed under nbmake:\n{failures[path.name]}"
    nb = nbformat.read(work / path.name, as_version=4)
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "nbmake wrote no outputs back"

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
