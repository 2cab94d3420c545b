"""Record notebook 07's committed cassette against the emulator standing in for Azure.

`python bench/record_notebook_cassette.py` runs `notebooks/07_record_and_replay.ipynb` under nbmake
with `REALTIME_WIDGETS_CASSETTE=notebooks/cassettes/07_research` (mode `all`) and the AZURE_OPENAI_*
variables pointing at an emulator with its own key and replies ("Azure speaking. ..."), so the
cassette holds answers the plain emulator never gives. CI then replays it with no endpoint
(tests/test_cassette_notebook.py). Run it again whenever section 1 of the notebook changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from realtime_widgets import Emulator

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "07_record_and_replay.ipynb"
CASSETTE = REPO / "notebooks" / "cassettes" / "07_research"
STAND_IN_KEY = "stand-in-azure-key-0123456789"


def azure_reply(text: str | None, seconds: float) -> str:
    return f"Azure speaking. You asked: {text}" if text else "Azure heard you."


def main() -> int:
    with Emulator(api_key=STAND_IN_KEY, reply=azure_reply) as azure, tempfile.TemporaryDirectory() as work:
        copy = Path(work) / NOTEBOOK.name
        shutil.copy(NOTEBOOK, copy)
        shutil.copytree(NOTEBOOK.parent / "cassettes", Path(work) / "cassettes")
        env = {
            **os.environ,
            "AZURE_OPENAI_ENDPOINT": azure.endpoint,
            "AZURE_OPENAI_API_KEY": STAND_IN_KEY,
            "AZURE_OPENAI_DEPLOYMENT_NAME": "gpt-realtime",
            "REALTIME_WIDGETS_CASSETTE": str(CASSETTE),
            "REALTIME_WIDGETS_RECORD_MODE": "all",
        }
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "--nbmake", "-q", "-p", "no:cacheprovider", copy.name],
            cwd=work,
            env=env,
            check=False,
        )
    for path in sorted(CASSETTE.iterdir()):
        print(f"{path.name:28} {path.stat().st_size:>8,} bytes")
    leaked = [p.name for p in CASSETTE.iterdir() if STAND_IN_KEY.encode() in p.read_bytes()]
    print("the key is in:", leaked or "no file")
    return run.returncode or bool(leaked)


if __name__ == "__main__":
    sys.exit(main())
