"""The console's headless spoken turn (`RealtimeConsole.say`) and what its status line says after Stop."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ..session import with_closing_silence

if TYPE_CHECKING:  # pragma: no cover
    from ..conversation import Turn
    from ..session import RealtimeSession
    from .player import AudioPlayer
    from .recorder import MicRecorder

AudioInput = str | os.PathLike[str] | np.ndarray
# What the status line says after Stop, by how the turn ended (RealtimeSession.end_speech).
STOPPED = {
    "committed": ("Stopped: what you said was sent; the answer follows", "ok"),
    "discarded": ("Stopped: the speech that had just begun was discarded (nothing was sent)", "info"),
}


async def speak(
    session: RealtimeSession,
    recorder: MicRecorder,
    player: AudioPlayer,
    audio: AudioInput,
    barge_in: bool,
    realtime: bool,
    timeout: float | None,
) -> Turn:
    """`audio` through the recorder's chunk path with closing silence; the Turn it triggers."""
    from ..audio import to_pcm16

    config = session.config
    if config.manual_commit:
        raise ValueError("say() needs server or semantic VAD; with manual turns use session.send_audio()")
    speech = np.asarray(to_pcm16(audio), dtype=np.int16)
    if not barge_in:
        await answer_heard(session, player)
    since = len(session.conversation.turns)
    await recorder.feed(with_closing_silence(speech, config.silence_duration_ms), realtime=realtime)
    return await session.wait_for_turn(since, timeout=timeout)


async def answer_heard(session: RealtimeSession, player: AudioPlayer, timeout: float = 120.0) -> None:
    """Until the answer in progress is done and the player has played it to its end."""
    while any(t.status == "in_progress" for t in session.conversation.turns):
        await session.wait_for("response.done", timeout=timeout)
    await player.wait_until_played(timeout)
