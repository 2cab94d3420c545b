"""Run notebooks under nbmake in a folder of copies, as CI does, without writing into the repository."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def run_nbmake(
    names: list[str], cwd: Path, env: dict[str, str], timeout: float, *options: str
) -> subprocess.CompletedProcess[bytes]:
    """`pytest --nbmake --overwrite` on `names` (copies already in `cwd`), so the executed outputs can be read back."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbmake",
            "--overwrite",
            *options,
            "-q",
            "-p",
            "no:cacheprovider",
            *names,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def run_nbmake_each(
    names: list[str], cwd: Path, env: dict[str, str], timeout: float, *options: str, at_once: int = 2
) -> list[tuple[str, subprocess.CompletedProcess[bytes]]]:
    """`run_nbmake` on each notebook alone, `at_once` at a time; each writes its report to `cwd/NAME.xml`."""

    def one(name: str) -> subprocess.CompletedProcess[bytes]:
        return run_nbmake([name], cwd, env, timeout, *options, f"--junitxml={cwd / name}.xml")

    with ThreadPoolExecutor(at_once) as pool:
        return list(zip(names, pool.map(one, names), strict=True))
