"""Run notebooks under nbmake in a folder of copies, as CI does, without writing into the repository."""

from __future__ import annotations

import subprocess
import sys
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
