"""`python -m realtime_widgets.emulator --port PORT [--api-key KEY] [--host 127.0.0.1] [--tls]
[--replay FOLDER [--replay-speed 0]]`, and the limits (`--idle-timeout 60`, ...) and faults (`--event-delay-ms 200`, ...) listed by `--help`."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading

from .emulator import Emulator
from .faults import Faults
from .limits import Limits


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
    p.add_argument(
        "--tls",
        action="store_true",
        help="serve https/wss with a certificate made at start (prints the variables that trust it)",
    )
    p.add_argument(
        "--replay",
        default=None,
        metavar="FOLDER",
        help="serve this cassette (recorded sessions and chat completions) instead of answering",
    )
    p.add_argument(
        "--replay-speed",
        type=float,
        default=1.0,
        help="replay the recorded timing this many times faster (0 = no waiting); default 1",
    )
    d = Limits()
    lim = p.add_argument_group("limits (bad input and abandoned clients; docs/emulator-fidelity.md)")
    lim.add_argument(
        "--max-frame-bytes",
        type=int,
        default=d.max_frame_bytes,
        help="largest WebSocket message (close 1009)",
    )
    lim.add_argument(
        "--max-request-bytes", type=int, default=d.max_request_bytes, help="largest HTTP request body (413)"
    )
    lim.add_argument("--max-json-depth", type=int, default=d.max_json_depth, help="deepest JSON nesting")
    lim.add_argument(
        "--write-timeout",
        type=float,
        default=d.write_timeout_s,
        help="seconds a client may read nothing while events wait for it",
    )
    lim.add_argument(
        "--idle-timeout",
        type=float,
        default=d.idle_timeout_s,
        help="close a session after this many seconds without a client frame (0 = never)",
    )
    lim.add_argument(
        "--handshake-timeout",
        type=float,
        default=d.handshake_timeout_s,
        help="seconds for a request's headers (and a chat body) to arrive",
    )
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
    g.add_argument(
        "--network-delay-ms", type=float, default=0.0, help="one-way network delay, both transports"
    )
    g.add_argument("--network-jitter-ms", type=float, default=0.0, help="network jitter (+/- this much)")
    g.add_argument(
        "--network-loss",
        type=float,
        default=0.0,
        help="packet loss fraction 0-1 (WebRTC: RTP dropped; WebSocket: a TCP retransmission)",
    )
    return p


def _export(name: str, value: str, note: str = "") -> None:
    print(f"export {name}={shlex.quote(value)}" + (f"  # {note}" if note else ""))


def _print_exports(emu: Emulator, *, key_given: bool) -> None:
    ws = "wss" if emu.tls else "ws"
    env = emu.env()
    print(f"Realtime emulator listening on {emu.endpoint}")
    print(f"  GA realtime:      {ws}://{emu.host}:{emu.port}/openai/v1/realtime?model={emu.deployment}")
    print(
        f"  preview realtime: {ws}://{emu.host}:{emu.port}/openai/realtime?api-version=2025-04-01-preview&deployment={emu.deployment}"
    )
    http = "https" if emu.tls else "http"
    print(
        f"  WebRTC:           POST {http}://{emu.host}:{emu.port}/openai/v1/realtime/client_secrets, then "
        "POST .../openai/v1/realtime/calls (SDP offer, ephemeral key); sideband: GA realtime URL with ?call_id="
    )
    print("Export these to point clients at it:")
    if emu.tls:
        _export(
            "SSL_CERT_FILE", env["SSL_CERT_FILE"], "its CA + your roots: openai (httpx), websockets, aiohttp"
        )
        _export("REQUESTS_CA_BUNDLE", env["REQUESTS_CA_BUNDLE"], "requests (sync azure-identity)")
    _export("AZURE_OPENAI_ENDPOINT", env["AZURE_OPENAI_ENDPOINT"])
    _export(
        "AZURE_OPENAI_API_KEY",
        env["AZURE_OPENAI_API_KEY"],
        "" if key_given else "any non-empty key is accepted",
    )
    _export("AZURE_OPENAI_DEPLOYMENT_NAME", env["AZURE_OPENAI_DEPLOYMENT_NAME"])
    print("For OpenAI() clients (the realtime URL is derived from the base URL):")
    _export("OPENAI_BASE_URL", env["OPENAI_BASE_URL"])
    _export("OPENAI_API_KEY", env["OPENAI_API_KEY"])
    print(
        "Keyless (DefaultAzureCredential): unset AZURE_OPENAI_API_KEY and export these; the token comes "
        "from the emulator's own managed identity endpoint, not from Azure:"
    )
    for name, value in emu.identity_env().items():
        _export(name, value)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        faults = Faults(
            drop_after_events=args.drop_after_events,
            event_delay_ms=args.event_delay_ms,
            handshake_429=args.handshake_429,
            retry_after_s=args.retry_after,
            max_session_seconds=args.max_session_seconds,
            network_delay_ms=args.network_delay_ms,
            network_jitter_ms=args.network_jitter_ms,
            network_loss=args.network_loss,
        )
        limits = Limits(
            max_frame_bytes=args.max_frame_bytes,
            max_request_bytes=args.max_request_bytes,
            max_json_depth=args.max_json_depth,
            write_timeout_s=args.write_timeout,
            idle_timeout_s=args.idle_timeout or None,
            handshake_timeout_s=args.handshake_timeout,
        )
        deployments = (
            [d.strip() for d in args.deployments.split(",") if d.strip()] if args.deployments else None
        )
        emu = Emulator(
            api_key=args.api_key,
            deployments=deployments,
            faults=faults,
            limits=limits,
            host=args.host,
            port=args.port,
            output_pace=args.output_pace,
            recognize=not args.no_recognizer,
            tls=args.tls,
            replay=args.replay,
            replay_speed=args.replay_speed,
        ).start()
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_exports(emu, key_given=args.api_key is not None)
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
