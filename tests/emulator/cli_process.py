"""`python -m realtime_widgets.emulator ...` as a separate process, as a person starts it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _command(args: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "realtime_widgets.emulator", *args]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def start_cli(*args: str) -> subprocess.Popen[str]:
    """The emulator's CLI running in the background, its stdout and stderr as text pipes."""
    return subprocess.Popen(
        _command(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT
    )


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The emulator's CLI run to its exit (for arguments it must refuse), output captured as text."""
    return subprocess.run(
        _command(args), capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=timeout, check=False
    )
