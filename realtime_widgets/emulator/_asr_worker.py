"""The recognizer's worker process: length-prefixed 16 kHz PCM16 frames in, text out.

Run as `python -m realtime_widgets.emulator._asr_worker` by `recognizer.py`; it exits when its
stdin closes (its parent is gone).
"""

from __future__ import annotations

import os
import struct
import sys

from .worker_pipe import read_frame

OK, UNAVAILABLE = 0, 1
# Decoding is batch work: on a busy machine the emulator's event loop (every session's events) runs
# first, and a 3-minute commit decodes in the CPU left over instead of taking its share from the loop.
NICENESS = 10


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    if hasattr(os, "nice"):
        os.nice(NICENESS)
    try:
        from pocketsphinx import Decoder

        decoder = Decoder(samprate=16000, loglevel="FATAL")
    except Exception:  # missing wheel or model: recognition is optional
        decoder = None
    while True:
        pcm = read_frame(stdin)
        if pcm is None:
            return
        if decoder is None:
            stdout.write(struct.pack("<BI", UNAVAILABLE, 0))
        else:
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
            text = (hyp.hypstr.strip() if hyp is not None else "").encode()
            stdout.write(struct.pack("<BI", OK, len(text)) + text)
        stdout.flush()


if __name__ == "__main__":
    main()
