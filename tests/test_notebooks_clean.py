"""Notebooks are committed without outputs, so diffs stay readable and no secret is saved in them.

JupyterLab saves outputs into the notebooks a person runs (`make lab`), so the working copy is not what
is checked: nbstripout, set up by the Makefile as this clone's git filter, strips outputs from what
`git add` stores. The test checks what git would commit: each notebook passed through the clean
filter configured for it, or as it is where none is (CI's fresh clone, an unpacked sdist).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
GIT = shutil.which("git")


def _git(*args: str, cwd: Path = REPO, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    assert GIT is not None
    return subprocess.run([GIT, *args], cwd=cwd, input=stdin, capture_output=True, timeout=60)


def clean_filter(path: Path, repo: Path = REPO) -> str | None:
    """The clean command git runs on `git add` of this file, or None (stored as it is)."""
    if GIT is None or _git("rev-parse", "--git-dir", cwd=repo).returncode != 0:
        return None
    attr = _git("check-attr", "filter", "--", str(path.relative_to(repo)), cwd=repo).stdout.decode()
    name = attr.rsplit(": ", 1)[-1].strip()
    if name in ("unspecified", "unset", "set", ""):
        return None
    command = _git("config", "--get", f"filter.{name}.clean", cwd=repo).stdout.decode().strip()
    return command or None


def committed_bytes(path: Path, repo: Path = REPO) -> bytes:
    """What `git add path` would store."""
    data = path.read_bytes()
    command = clean_filter(path, repo)
    if command is None:
        return data
    command = command.replace("%f", shlex.quote(str(path.relative_to(repo))))
    done = subprocess.run(command, shell=True, cwd=repo, input=data, capture_output=True, timeout=60)
    assert done.returncode == 0, f"the clean filter {command!r} failed: {done.stderr.decode()[-500:]}"
    return done.stdout


def problems(nb: dict) -> list[str]:
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        if cell.get("outputs") != []:
            found.append(f"cell {i} has outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {i} has an execution count")
        if "skip-execution" in cell.get("metadata", {}).get("tags", []):
            found.append(f"cell {i} is tagged skip-execution")
    if "widgets" in nb.get("metadata", {}):
        found.append("saved widget state")
    return found


def test_there_are_tutorial_notebooks():
    assert len(NOTEBOOKS) >= 5, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_what_git_would_commit_is_stripped(path: Path):
    found = problems(json.loads(committed_bytes(path)))
    assert not found, (
        f"{path.name}: {found}; run `make git-filter` (then `git add` strips them) or `make strip`"
    )


def _notebook_with_outputs(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1", id="c00")
    cell.execution_count = 3
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=3)]
    nb.cells = [nbformat.v4.new_markdown_cell("# title", id="m00"), cell]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, str(path))


@pytest.mark.skipif(GIT is None, reason="git is not installed")
def test_the_makefile_filter_strips_what_git_adds_and_keeps_clean_notebooks_as_they_are(tmp_path: Path):
    # The same filter as `make git-filter`, in a repository of its own (this clone's config is left alone).
    makefile = (REPO / "Makefile").read_text()
    assert (
        "-m nbstripout --keep-id" in makefile and "git-filter" in makefile.split("\nlab:")[1].split("\n")[0]
    )
    repo = tmp_path / "repo"
    repo.mkdir()
    assert _git("init", "-q", cwd=repo).returncode == 0
    shutil.copy(REPO / ".gitattributes", repo / ".gitattributes")
    _git(
        "config",
        "filter.nbstripout.clean",
        f"{shlex.quote(sys.executable)} -m nbstripout --keep-id",
        cwd=repo,
    )
    (repo / "notebooks").mkdir()
    ran = repo / "notebooks" / "ran.ipynb"
    _notebook_with_outputs(ran)
    tutorial = NOTEBOOKS[0]
    shutil.copy(tutorial, repo / "notebooks" / tutorial.name)
    assert _git("add", ".", cwd=repo).returncode == 0

    # What a person ran in Lab keeps its outputs on disk, and git stores it stripped.
    assert problems(json.loads(ran.read_text())) != []
    staged = _git("show", ":notebooks/ran.ipynb", cwd=repo).stdout
    assert problems(json.loads(staged)) == []
    assert [c["id"] for c in json.loads(staged)["cells"]] == ["m00", "c00"]  # ids kept
    assert committed_bytes(ran, repo) == staged
    # A committed tutorial goes through unchanged, so the filter never shows it as modified...
    assert _git("show", f":notebooks/{tutorial.name}", cwd=repo).stdout == tutorial.read_bytes()
    assert _git("diff", "--name-only", cwd=repo).stdout.decode().strip() == ""  # working copy = index
    # ...and so does each of them as it would be committed (one process: nbstripout's own check).
    copies = []
    for path in NOTEBOOKS:
        copies.append(tmp_path / path.name)
        copies[-1].write_bytes(committed_bytes(path))
    verify = [sys.executable, "-m", "nbstripout", "--keep-id", "--verify", *map(str, copies)]
    done = subprocess.run(verify, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
