"""Barge-in over WebRTC in JupyterLab and real Chromium: the fake microphone asks again while the long
answer plays; the service clears its output buffer, the page's audio stops, and the console's transcript
shows the words heard and the rest struck through, as the service truncated the item."""

from __future__ import annotations

from browser_harness import KernelProbe, open_notebook

CONSOLE = """\
import asyncio
from realtime_widgets import RealtimeConsole, SessionConfig

LONG = " ".join(["The quick brown fox jumps over the lazy dog."] * 6)
console = RealtimeConsole(
    transport="webrtc", config=SessionConfig(instructions=f'Say "{LONG}"', transcription_model="whisper-1")
)
# What the page's output tap carried, and how far it had got when the service cleared its output buffer.
out_peaks, went_quiet = [], []
console.call.widget.on_tap(lambda side, pcm, at: side == "output" and out_peaks.append(int(abs(pcm.astype(int)).max())))
async def note_the_cut():  # once the console has joined the call: where the service cleared its output
    while console.session.transport != "webrtc":
        await asyncio.sleep(0.05)
    console.session.on("output_audio_buffer.cleared", lambda e: went_quiet.append(len(out_peaks)))
watcher = asyncio.ensure_future(note_the_cut())
console"""

CUT = "[t.index for t in console.session.conversation.turns if t.status == 'truncated' and t.truncated_ms]"


def test_speaking_over_the_answer_cuts_it_as_the_service_does(page, jupyter_server, artifacts) -> None:
    name = "console_webrtc_barge_in.ipynb"
    open_notebook(page, jupyter_server, name, [CONSOLE])
    page.locator('.rw-call-state[data-state="connected"]').wait_for(timeout=60_000)
    # The fake microphone loops its question every ~3.5 s: the second ask lands in the 15 s answer.
    page.get_by_role("button", name="Record").click()
    with KernelProbe(jupyter_server, name) as probe:
        index = probe.wait_for(CUT, timeout=60)[0]
        page.get_by_role("button", name="Stop").click()
        kinds = set(probe.value("[e.type for e in console.session.event_log]"))
        sent = set(probe.value("[e.type for e in console.session.event_log if e.direction == 'client']"))
        turn = probe.value(
            f"(lambda t: dict(ms=t.truncated_ms, heard=t.heard_transcript, unheard=t.unheard_transcript,"
            f" duration=t.duration_s))(console.session.conversation.turns[{index}])"
        )
        probe.wait_for("went_quiet and len(out_peaks) >= went_quiet[0] + 8", timeout=10)
        peaks, quiet_at = probe.value("out_peaks"), probe.value("went_quiet[0]")
    print("cut turn:", turn, "output peaks around the cut:", peaks[max(0, quiet_at - 5) : quiet_at + 8])
    assert {"output_audio_buffer.cleared", "conversation.item.truncated"} <= kinds, kinds
    assert not sent & {"conversation.item.truncate", "response.cancel"}  # the service cut it, not the kernel
    # The page's audio stopped: the answer was loud before the cut, and the track is silent 0.3-0.8 s after.
    assert max(peaks[:quiet_at]) > 3000
    assert max(peaks[quiet_at + 3 : quiet_at + 8]) < 1500, peaks[quiet_at - 5 : quiet_at + 8]
    # The kernel's copy of the answer is what played, about truncated_ms, not the whole 15 s.
    assert turn["duration"] * 1000 <= turn["ms"] + 1500, turn
    assert turn["heard"] and turn["unheard"]
    row = page.locator(f'.rw-tr-msg[data-role="assistant"][data-turn="{index}"]')
    row.locator(".rw-tr-mark", has_text="interrupted at").wait_for(timeout=10_000)
    assert row.locator(".rw-tr-unheard").inner_text().strip() == turn["unheard"]
    page.locator(".rw-console").screenshot(path=str(artifacts / "console_webrtc_barge_in.png"))
