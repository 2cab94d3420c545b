"""What every connection shares: settings of the emulator, faults, and counters for tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from .faults import Faults
from .identity import TokenIssuer
from .limits import Limits
from .replay import Replay
from .replies import ReplyFn, default_reply


@dataclass
class Stats:
    live_sessions: int = 0
    total_sessions: int = 0
    rejected_handshakes: int = 0
    completion_requests: int = 0
    responses: int = 0
    client_events: int = 0
    server_events: int = 0
    # Connections the emulator ended: a client that stopped reading, or went idle.
    slow_clients_closed: int = 0
    idle_sessions_closed: int = 0


@dataclass
class Context:
    api_key: str | None = None  # None: any non-empty credential is accepted
    deployments: tuple[str, ...] | None = None  # None: any deployment name
    reply: ReplyFn = default_reply
    faults: Faults = field(default_factory=Faults)
    stats: Stats = field(default_factory=Stats)
    limits: Limits = field(default_factory=Limits)
    # Output audio is produced this many times faster than real time (the service is faster than
    # real time too); a finite pace leaves room for barge-in and cancel while audio streams.
    output_pace: float = 4.0
    recognize: bool = True  # run pocketsphinx on input audio when it is installed
    # Chat-completion audio ids handed out: id -> (expires_at, transcript).
    audio_store: dict[str, tuple[int, str]] = field(default_factory=dict)
    # Managed identity tokens handed out by /msi/token; accepted as credentials like the key.
    tokens: TokenIssuer = field(default_factory=TokenIssuer)
    # A cassette to serve instead of answering (Emulator(replay=FOLDER)); docs/cassettes.md.
    replay: Replay | None = None

    def accepts(self, credential: str | None) -> bool:
        if not credential:
            return False
        return self.api_key is None or credential == self.api_key or self.tokens.is_valid(credential)
