"""Cassettes on the client side: which mode a folder is in, and the recorders that write it.

`RealtimeSession(..., record=FOLDER)` and `AudioChat(..., record=FOLDER)` (or the variable
`REALTIME_WIDGETS_CASSETTE=FOLDER` for a whole run) record to FOLDER, or replay it through an
emulator serving the cassette (`Emulator(replay=FOLDER)`), by the mode (pytest-recording's):
`none` replays only, `once` records when the cassette is missing, `all` records again.
The choice is made once per folder and process, so every session of one run records, or every one
replays. Secrets never enter: events are written through the log redaction, and the cassette names
no endpoint. The format is in `cassette_format.py`; docs/cassettes.md says why it is so.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import cassette_format as fmt
from .errors import ConfigurationError
from .log_redaction import redact, remember_secret

if TYPE_CHECKING:  # pragma: no cover
    from .config import ConnectionConfig
    from .emulator import Emulator
    from .events import RealtimeEvent

__all__ = ["Cassette", "ChatRecorder", "SessionRecorder", "for_chat", "for_session", "forget"]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_decided: dict[Path, Cassette] = {}  # folder -> the cassette as decided for this process


def env_cassette() -> tuple[Path, str] | None:
    """The folder and mode the environment names, or None."""
    folder = os.environ.get(fmt.ENV_VARIABLE, "").strip()
    if not folder:
        return None
    return Path(folder).expanduser().resolve(), _check_mode(os.environ.get(fmt.MODE_VARIABLE, "once"))


def forget(folder: str | os.PathLike[str]) -> None:
    """Forget this process's decision about `folder`: its next use decides again, as a new run would."""
    with _lock:
        known = _decided.pop(Path(folder).expanduser().resolve(), None)
    if known is not None and known._emulator is not None:
        known._emulator.stop()


def _check_mode(mode: str) -> str:
    mode = (mode or "once").strip().lower()
    if mode not in fmt.MODES:
        raise ConfigurationError(
            f"record mode {mode!r} is not one of {', '.join(fmt.MODES)} "
            f"(set {fmt.MODE_VARIABLE} or record_mode= to one of them)"
        )
    return mode


class Cassette:
    """A cassette folder in one mode, decided once per process: replaying or recording."""

    def __init__(self, folder: Path, mode: str) -> None:
        self.folder = folder
        self.mode = mode
        exists = (folder / fmt.CASSETTE_FILE).is_file()
        if mode == "none" and not exists:
            raise ConfigurationError(
                f"no cassette at {folder} and the record mode is 'none' (replay only): record it first "
                f"with record_mode='once' (or {fmt.MODE_VARIABLE}=once) against your deployment"
            )
        self.replaying = mode == "none" or (mode == "once" and exists)
        self._sessions = 0
        self._chat: ChatRecorder | None = None
        self._emulator: Emulator | None = None

    @classmethod
    def resolve(cls, record: str | os.PathLike[str] | None, mode: str | None) -> Cassette | None:
        """The cassette `record=` (or else the environment) names, or None when none is named."""
        if record is None:
            named = env_cassette()
            if named is None:
                return None
            folder, chosen = named
            if mode is not None:
                chosen = _check_mode(mode)
        else:
            folder, chosen = Path(record).expanduser().resolve(), _check_mode(mode or "once")
        with _lock:
            known = _decided.get(folder)
            if known is None or known.mode != chosen:
                known = _decided[folder] = cls(folder, chosen)
                if not known.replaying:
                    known._start_recording()
            return known

    def _start_recording(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.iterdir():  # a new recording replaces the whole cassette
            if old.name == fmt.CASSETTE_FILE or old.name.startswith(("realtime-", "chat.")):
                old.unlink()

    # -- replay ----------------------------------------------------------------------------
    def emulator(self) -> Emulator:
        """The emulator serving this cassette (the shared one when the environment names it)."""
        from .emulator import Emulator

        named = env_cassette()
        if named is not None and named[0] == self.folder:
            return Emulator.shared()
        with _lock:
            if self._emulator is None or not self._emulator.running:
                self._emulator = Emulator(replay=self.folder).start()
            return self._emulator

    def replay_connection(self) -> ConnectionConfig:
        from .config import ConnectionConfig

        info = fmt.read_info(self.folder)
        return ConnectionConfig.for_emulator(self.emulator(), protocol=info.get("protocol", "ga"))

    # -- recording -------------------------------------------------------------------------
    def write_info(self, connection: ConnectionConfig) -> None:
        from . import __version__

        path = self.folder / fmt.CASSETTE_FILE
        info = fmt.read_info(self.folder) if path.is_file() else {}
        info.update(
            format=fmt.FORMAT_VERSION,
            protocol=connection.protocol,
            recorded_at=info.get("recorded_at") or datetime.datetime.now(datetime.timezone.utc).isoformat(),
            package_version=__version__,
            audio=f"PCM16 24 kHz mono as {fmt.AUDIO_SUFFIX} ({fmt.OPUS_BITRATE // 1000} kbit/s)",
            emulator=bool(connection.is_emulator),
        )
        info.setdefault("deployments", {})
        info["deployments"]["realtime"] = connection.deployment
        info["deployments"]["chat"] = connection.chat_deployment
        fmt.write_json(path, info)

    def session_recorder(self, connection: ConnectionConfig) -> SessionRecorder:
        _remember(connection)
        self.write_info(connection)
        return SessionRecorder(self)

    def next_session(self) -> int:
        with _lock:
            self._sessions += 1
            return self._sessions

    def chat_recorder(self, connection: ConnectionConfig) -> ChatRecorder:
        _remember(connection)
        with _lock:
            if self._chat is None:
                self._chat = ChatRecorder(self.folder)
        self.write_info(connection)
        return self._chat

    def __repr__(self) -> str:
        return f"<Cassette {self.folder} mode={self.mode} {'replaying' if self.replaying else 'recording'}>"


def _remember(connection: ConnectionConfig) -> None:
    remember_secret(connection.api_key)  # redacted wherever it might appear, as in the logs


def _line(value: dict[str, Any]) -> str:
    return redact(json.dumps(value, ensure_ascii=False)) + "\n"


class SessionRecorder:
    """Writes a realtime session's events, one connection (from its `session.created`) per file."""

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette
        self._file: Any = None
        self._stem = ""
        self._t0 = 0.0
        self._tracks: dict[str, fmt.AudioTrack] = {}

    def event(self, event: RealtimeEvent) -> None:
        if event.direction == "server" and event.type == "session.created":
            self.close()
            self._stem = fmt.realtime_file(self.cassette.next_session()).removesuffix(".jsonl")
            self._file = (self.cassette.folder / f"{self._stem}.jsonl").open("w", encoding="utf-8")
            self._t0 = event.time
            self._tracks = {d: fmt.AudioTrack(fmt.audio_file(self._stem, d)) for d in ("client", "server")}
        if self._file is None:
            return
        raw = fmt.strip_audio(event.raw, self._tracks[event.direction])
        t = round(event.time - self._t0, 4)
        self._file.write(_line({"t": t, "dir": event.direction, "event": raw}))
        if event.direction == "server" and event.type in ("response.done", "error"):
            self._file.flush()

    def wrap(self, record: Callable[[RealtimeEvent], None]) -> Callable[[RealtimeEvent], None]:
        """`record`, with this recorder seeing each event first."""

        def recorded(event: RealtimeEvent) -> None:
            try:
                self.event(event)
            except Exception:  # a full disk must not end the session; the log says the cassette is short
                log.exception("writing %s to the cassette %s failed", event.type, self.cassette.folder)
            record(event)

        return recorded

    def close(self) -> None:
        """Finish the current file and write its audio."""
        if self._file is None:
            return
        self._file.close()
        self._file = None
        for track in self._tracks.values():
            track.save(self.cassette.folder)


class ChatRecorder:
    """Appends audio chat completions (request and reply) to `chat.jsonl`, their audio to tracks."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._t0 = time.monotonic()
        self._tracks = {d: fmt.AudioTrack(fmt.audio_file("chat", d)) for d in ("client", "server")}
        self._lock = threading.Lock()

    def record(self, request: dict[str, Any], reply: dict[str, Any] | list[dict[str, Any]]) -> None:
        with self._lock:
            line = {
                "t": round(time.monotonic() - self._t0, 3),
                "request": fmt.strip_chat_request(request, self._tracks["client"]),
                "reply": fmt.strip_chat_reply(reply, self._tracks["server"], request),
            }
            with (self.folder / fmt.CHAT_FILE).open("a", encoding="utf-8") as f:
                f.write(_line(line))
            for track in self._tracks.values():  # small: a chat's audio is rewritten after each turn
                track.save(self.folder)


def for_session(
    connection: ConnectionConfig | None, record: str | os.PathLike[str] | None, mode: str | None
) -> tuple[ConnectionConfig, SessionRecorder | None]:
    """The connection a session uses (the replaying emulator when replaying, else `connection` or
    the environment's) and the recorder that writes it, if recording."""
    cassette, connection = _resolve(connection, record, mode)
    recording = cassette is not None and not cassette.replaying
    return connection, cassette.session_recorder(connection) if recording and cassette else None


def for_chat(
    connection: ConnectionConfig | None, record: str | os.PathLike[str] | None, mode: str | None
) -> tuple[ConnectionConfig, ChatRecorder | None]:
    """`for_session` for audio chat completions."""
    cassette, connection = _resolve(connection, record, mode)
    recording = cassette is not None and not cassette.replaying
    return connection, cassette.chat_recorder(connection) if recording and cassette else None


def _resolve(
    connection: ConnectionConfig | None, record: str | os.PathLike[str] | None, mode: str | None
) -> tuple[Cassette | None, ConnectionConfig]:
    cassette = Cassette.resolve(record, mode)
    if cassette is not None and cassette.replaying:
        return cassette, cassette.replay_connection()
    if connection is None:
        from .config import ConnectionConfig

        connection = ConnectionConfig.from_env()
    return cassette, connection
