"""`Emulator`: the server on a background thread with its own event loop, for tests and notebooks."""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from aiohttp import web

from .. import cassette_format as fmt
from . import recognizer
from .context import Context, Stats
from .faults import Faults
from .identity import IDENTITY_PATH
from .limits import Limits
from .replay import Replay
from .replies import ReplyFn, default_reply
from .server import build_app
from .tls import EmulatorCertificate

PLACEHOLDER_KEY = "emulator-key"
DEFAULT_DEPLOYMENT = "gpt-realtime"


_shared_lock = threading.Lock()
_shared: Emulator | None = None


def _cassette_to_replay() -> Path | None:
    """The cassette the environment asks to replay (cassette.py decides the same way)."""
    folder = os.environ.get(fmt.ENV_VARIABLE, "").strip()
    mode = os.environ.get(fmt.MODE_VARIABLE, "once").strip().lower() or "once"
    if not folder or mode == "all":
        return None
    path = Path(folder).expanduser().resolve()
    if mode == "none" or (path / fmt.CASSETTE_FILE).is_file():
        return path  # with mode none and no cassette, Replay says what is missing
    return None


def _warm_voice() -> None:
    from . import voice

    voice.warm_up()
    voice.synthesize("ready")


class Emulator:
    """A local stand-in for an Azure OpenAI resource (realtime + audio chat completions).

    >>> with Emulator() as emu:
    ...     emu.endpoint, emu.api_key, emu.deployment

    `tls=True` serves https/wss with a certificate made at start; `emu.env()` then holds the
    variables that make Python clients trust it (`emu.ca_file` is the CA alone).
    `limits=Limits(...)` sets the frame and request sizes, JSON depth and the write, idle and
    handshake timeouts (the request size and handshake timeout are read at start, the rest per event).
    `replay=FOLDER` serves a cassette instead of answering (docs/cassettes.md): each connection
    gets the next recorded session, at the recorded pace divided by `replay_speed` (0: no waits).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        deployments: Iterable[str] | None = None,
        reply: ReplyFn | None = None,
        faults: Faults | None = None,
        limits: Limits | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        output_pace: float = 4.0,
        recognize: bool = True,
        tls: bool = False,
        replay: str | os.PathLike[str] | None = None,
        replay_speed: float = 1.0,
    ) -> None:
        if api_key is not None and not api_key.strip():
            raise ValueError("api_key must be a non-empty string, or None to accept any credential")
        deps = tuple(deployments) if deployments is not None else None
        if deps is not None and (not deps or not all(isinstance(d, str) and d for d in deps)):
            raise ValueError("deployments must be a non-empty list of names, or None to accept any name")
        if reply is not None and not callable(reply):
            raise TypeError("reply must be a callable fn(text_or_None, audio_seconds) -> str")
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0 (any free port) or 1-65535, got {port}")
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits(...) or None, got {type(limits).__name__}")
        if not isinstance(tls, bool):
            raise TypeError(f"tls must be True or False, got {tls!r}")
        self.host = host
        self.tls = tls
        self._certificate: EmulatorCertificate | None = None
        self._requested_port = port
        self._ctx = Context(
            api_key=api_key,
            deployments=deps,
            reply=reply or default_reply,
            faults=faults or Faults(),
            limits=limits or Limits(),
            output_pace=output_pace,
            recognize=recognize and replay is None,
            replay=Replay(replay, replay_speed) if replay is not None else None,
        )
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._startup_error: BaseException | None = None

    @classmethod
    def shared(cls) -> Emulator:
        """The process-wide emulator (default settings): started on first use, stopped at exit.

        `ConnectionConfig.from_env()` uses it when no endpoint is set; a stopped one is replaced.
        When `REALTIME_WIDGETS_CASSETTE` names a cassette to replay (mode `none`, or `once` with
        the cassette there), this emulator serves that cassette, so a recorded notebook runs in CI.
        """
        global _shared
        with _shared_lock:
            if _shared is None or not _shared.running:
                _shared = Emulator(replay=_cassette_to_replay()).start()
                atexit.register(_shared._stop_at_exit)
            return _shared

    def _stop_at_exit(self) -> None:
        try:
            self.stop()
        except Exception:  # interpreter shutdown: nothing useful to report
            pass

    # -- public surface ------------------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """The key clients should send (a placeholder when any key is accepted)."""
        return self._ctx.api_key or PLACEHOLDER_KEY

    @property
    def deployment(self) -> str:
        return self._ctx.deployments[0] if self._ctx.deployments else DEFAULT_DEPLOYMENT

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def websocket_base_url(self) -> str:
        """`ws://host:port/openai` (`wss://` with TLS; preview SDK base); append `/v1` for GA."""
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}/openai"

    @property
    def ca_file(self) -> Path | None:
        """The PEM file of the CA that signed the emulator's certificate (TLS mode, once started)."""
        return self._certificate.ca_file if self._certificate is not None else None

    @property
    def identity_endpoint(self) -> str:
        """The managed identity token URL (an emulator convenience; see `identity_env()`)."""
        return f"{self.endpoint}{IDENTITY_PATH}"

    @property
    def faults(self) -> Faults:
        return self._ctx.faults

    @property
    def limits(self) -> Limits:
        """Frame and request sizes, JSON depth, and the write, idle and handshake timeouts."""
        return self._ctx.limits

    @property
    def stats(self) -> Stats:
        return self._ctx.stats

    @property
    def live_sessions(self) -> int:
        return self._ctx.stats.live_sessions

    @property
    def reply(self) -> ReplyFn:
        return self._ctx.reply

    @reply.setter
    def reply(self, fn: ReplyFn | None) -> None:
        self._ctx.reply = fn or default_reply

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._started.is_set()

    def env(self) -> dict[str, str]:
        """Environment variables that point the official SDK (and this package) here.

        `OPENAI_BASE_URL` / `OPENAI_API_KEY` serve `OpenAI()` clients (the SDK derives the
        realtime URL from the base URL); in TLS mode `SSL_CERT_FILE` and `REQUESTS_CA_BUNDLE`
        make Python trust the emulator's certificate.
        """
        env = {
            "AZURE_OPENAI_ENDPOINT": self.endpoint,
            "AZURE_OPENAI_API_KEY": self.api_key,
            "AZURE_OPENAI_DEPLOYMENT_NAME": self.deployment,
            "OPENAI_BASE_URL": f"{self.endpoint}/openai/v1",
            "OPENAI_API_KEY": self.api_key,
        }
        if self._certificate is not None:
            env.update(self._certificate.env())
        return env

    def identity_env(self) -> dict[str, str]:
        """Variables under which azure-identity's `DefaultAzureCredential` gets its token here.

        Use them without `AZURE_OPENAI_API_KEY`: the managed identity is App Service's flavour
        (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), and `AZURE_TOKEN_CREDENTIALS` keeps the
        credential chain to it alone.
        """
        return {
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self._ctx.tokens.header_secret,
            "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
        }

    def start(self) -> Emulator:
        if self._thread is not None:
            raise RuntimeError("this Emulator is already started; create a new one to run another")
        if self.tls:
            self._certificate = EmulatorCertificate(self.host)
        self._thread = threading.Thread(target=self._run, name=f"emulator-{self.host}", daemon=True)
        self._thread.start()
        self._started.wait(10)
        if self._startup_error is not None:
            self._remove_certificate()
            raise RuntimeError(
                f"the emulator could not start on {self.host}:{self._requested_port}: {self._startup_error}"
            ) from self._startup_error
        if not self._started.is_set():
            raise RuntimeError("the emulator did not start within 10 s")
        if self._ctx.recognize:
            recognizer.warm_up()  # the worker loads its model while nobody waits for it
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            self._remove_certificate()
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        try:
            fut.result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            self._remove_certificate()

    def _remove_certificate(self) -> None:
        # The files go; ca_file keeps naming where they were, so clients fail to trust a dead server.
        if self._certificate is not None:
            self._certificate.remove()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Emulator {self.endpoint} {state} live_sessions={self.live_sessions}>"

    # -- loop thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:
            self._startup_error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _startup(self) -> None:
        # keepalive_timeout also runs from the first byte, so a half-sent request is dropped after it.
        self._runner = web.AppRunner(
            build_app(self._ctx),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=1.0,
            keepalive_timeout=self._ctx.limits.handshake_timeout_s,
        )
        await self._runner.setup()
        ssl_context = self._certificate.server_context() if self._certificate is not None else None
        site = web.TCPSite(self._runner, self.host, self._requested_port, ssl_context=ssl_context)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the port the OS chose when asked for 0
        # Start the voice processes off the loop now, so the first response does not wait for them.
        threading.Thread(target=_warm_voice, name="emulator-voice-warmup", daemon=True).start()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
