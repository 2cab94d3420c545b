"""`python -m realtime_widgets.emulator --port PORT [--api-key KEY] [--host 127.0.0.1]`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .emulator import Emulator
from .faults import Faults


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m realtime_widgets.emulator",
        description="Local emulator of Azure OpenAI realtime (WebSocket) and audio chat completions.",
    )
    p.add_argument("--port", type=int, required=True, help="TCP port to listen on (0 = any free port)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--api-key", default=None, help="accept only this key (default: any non-empty key)")
    p.add_argument(
        "--deployments", default=None, help="comma-separated deployment names to accept (default: any)"
    )
    p.add_argument(
        "--output-pace",
        type=float,
        default=4.0,
        help="output audio speed vs real time (0 = as fast as possible)",
    )
    p.add_argument("--no-recognizer", action="store_true", help="do not run pocketsphinx on input audio")
    g = p.add_argument_group("fault injection")
    g.add_argument(
        "--drop-after-events", type=int, default=None, help="abort each connection after N server events"
    )
    g.add_argument("--event-delay-ms", type=float, default=0.0, help="delay every server event by this much")
    g.add_argument("--handshake-429", action="store_true", help="answer every request with HTTP 429")
    g.add_argument("--retry-after", type=int, default=2, help="Retry-After seconds sent with 429")
    g.add_argument(
        "--max-session-seconds", type=float, default=None, help="close sessions (1001) after this long"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        faults = Faults(
            drop_after_events=args.drop_after_events,
            event_delay_ms=args.event_delay_ms,
            handshake_429=args.handshake_429,
            retry_after_s=args.retry_after,
            max_session_seconds=args.max_session_seconds,
        )
        deployments = (
            [d.strip() for d in args.deployments.split(",") if d.strip()] if args.deployments else None
        )
        emu = Emulator(
            api_key=args.api_key,
            deployments=deployments,
            faults=faults,
            host=args.host,
            port=args.port,
            output_pace=args.output_pace,
            recognize=not args.no_recognizer,
        ).start()
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    key_note = "" if args.api_key else "  # any non-empty key is accepted"
    print(f"Realtime emulator listening on {emu.endpoint}")
    print(f"  GA realtime:      ws://{emu.host}:{emu.port}/openai/v1/realtime?model={emu.deployment}")
    print(
        f"  preview realtime: ws://{emu.host}:{emu.port}/openai/realtime?api-version=2025-04-01-preview&deployment={emu.deployment}"
    )
    print("Export these to point clients at it:")
    print(f"export AZURE_OPENAI_ENDPOINT={emu.endpoint}")
    print(f"export AZURE_OPENAI_API_KEY={emu.api_key}{key_note}")
    print(f"export AZURE_OPENAI_DEPLOYMENT_NAME={emu.deployment}")
    sys.stdout.flush()

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            if not emu.running:
                break
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
