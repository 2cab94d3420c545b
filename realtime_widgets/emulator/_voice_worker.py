"""The voice worker process: it owns an eSpeak NG engine (global state, one per process) and makes
the slices of speech made ahead of streaming. Length-prefixed pickled requests
`(text, voice, rate, end_pause)` in; out, for each, `(True, (audio, words))` (PCM16 at `rate`, word
start times) or `(False, message)`.

Run as `python -m realtime_widgets.emulator._voice_worker [niceness]` by `voice.py`; it exits when
its stdin closes (its parent is gone). Synthesis and resampling take about 1.5 ms of CPU per
second of speech (a 24-word slice: ~7 ms, then ~4 ms): in a process of their own they do not hold
the emulator's GIL, which its event loop needs.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys

from .worker_pipe import read_frame, write_frame


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    if len(sys.argv) > 1 and hasattr(os, "nice"):
        os.nice(int(sys.argv[1]))
    from .espeak import make_slice

    with contextlib.suppress(Exception):  # eSpeak and a voice loaded now; a failure is told per slice
        make_slice("ready", "alloy", 24_000, False)
    stdout.write(b"ready\n")  # imported: the parent may count start-up from here
    stdout.flush()
    while True:
        request = read_frame(stdin)
        if request is None:
            return
        try:
            result: tuple[bool, object] = (True, make_slice(*pickle.loads(request)))  # noqa: S301 - our parent
        except Exception as exc:  # noqa: BLE001 - the parent raises it for the slice's caller
            result = (False, f"{type(exc).__name__}: {exc}")
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        write_frame(stdout, data)


if __name__ == "__main__":
    main()
