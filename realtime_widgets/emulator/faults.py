"""Fault injection switches, read by the server at each handshake, event and session tick.

The emulator holds one `Faults` object; tests mutate it on a live emulator
(`emu.faults.drop_after_events = 5`) and the next connection picks the change up.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Faults:
    # Abort the TCP connection (no close frame) after this many server events of a session.
    drop_after_events: int | None = None
    # Wait this long before sending each server event.
    event_delay_ms: float = 0.0
    # Answer realtime handshakes and chat completion requests with HTTP 429:
    # True = always, an int n > 0 = the next n requests only, False/0 = never.
    handshake_429: bool | int = False
    retry_after_s: int = 2
    # End realtime sessions after this many seconds (close code 1001, as Azure does at 30 min).
    max_session_seconds: float | None = None
    # A network profile on the emulator's send and receive sides, for both transports (netem.py):
    # one-way delay, uniform jitter (+/- this much) and loss (0-1). WebRTC drops and delays RTP
    # packets; a WebSocket holds a lost frame for a retransmission timeout, and every later one behind it.
    network_delay_ms: float = 0.0
    network_jitter_ms: float = 0.0
    network_loss: float = 0.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.drop_after_events is not None and (
            isinstance(self.drop_after_events, bool) or self.drop_after_events < 1
        ):
            raise ValueError(
                f"drop_after_events must be a positive int or None, got {self.drop_after_events!r}"
            )
        if self.event_delay_ms < 0:
            raise ValueError(f"event_delay_ms must be >= 0, got {self.event_delay_ms!r}")
        if self.max_session_seconds is not None and self.max_session_seconds <= 0:
            raise ValueError(f"max_session_seconds must be > 0 or None, got {self.max_session_seconds!r}")
        for name in ("network_delay_ms", "network_jitter_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 <= self.network_loss < 1:
            raise ValueError(f"network_loss is a fraction in [0, 1), got {self.network_loss!r}")
        if not isinstance(self.handshake_429, (bool, int)) or self.handshake_429 < 0:
            raise ValueError(f"handshake_429 must be True/False or a count >= 0, got {self.handshake_429!r}")

    def reset(self) -> None:
        """Back to no faults (the defaults)."""
        for f in fields(self):
            setattr(self, f.name, f.default)

    @property
    def network_impaired(self) -> bool:
        return bool(self.network_delay_ms or self.network_jitter_ms or self.network_loss)

    def take_429(self) -> bool:
        """Whether this request gets a 429; counts down a numeric `handshake_429`."""
        if self.handshake_429 is True:
            return True
        if self.handshake_429 is False or self.handshake_429 <= 0:
            return False
        self.handshake_429 -= 1
        return True
