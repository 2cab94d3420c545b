"""Voice-to-voice latency in Chromium, from the audio itself: the WebSocket relay vs WebRTC (issue 13).

    python bench/bench_voice_latency.py [--turns 30] [--transports websocket,webrtc]
                                        [--profiles loopback,impaired] [--webrtc auto|console|raw]

JupyterLab + Chromium (Debian's, through Playwright; fake microphone) + the emulator in its own
process. The microphone file loops one turn: a short eSpeak question, then silence long enough for
the short reply (the instructions quote it) to play. Server VAD ends each turn.

Per turn, from the page's audio graph only (bench/_voice_taps.py): t0 = the last audible sample of
the question in the microphone stream the page captured, t1 = the first audible sample of the reply
in what the page plays (the relay's player in front of the speakers; the model's remote track for
WebRTC), both on performance.now() through each context's getOutputTimestamp(). Voice-to-voice =
t1 - t0. Not from event timestamps: those only split the total (the emulator's VAD silence and its
compute, speech_stopped -> first audio, as the kernel saw them).

Both transports run in the same run, twice: on loopback, and with the emulator started with
`--network-delay-ms 50 --network-jitter-ms 20 --network-loss 0.02` (its network profile,
emulator/netem.py: RTP packets dropped and delayed one by one; WebSocket frames delayed in order, a
lost one retransmitted after an RTO that holds every later frame). Underruns: the relay's player
reports each gap in a response; for WebRTC, the page's inbound-rtp concealment events while a reply
was audible (the jitter buffer had no packet to play: late or lost).

Goals (issue 13): impaired, WebRTC's p99 >= 30 % below the relay's, with fewer underruns; loopback,
WebRTC no slower at p50 (else the jitter buffer's mean delay is printed to explain it); the relay's
own share on loopback (p50 minus the VAD silence, the emulator's compute and the reply's leading
silence) <= 40 ms; 0 underruns on loopback. Exits 1 when a goal is missed.

`--webrtc raw` (or `auto` while `RealtimeConsole(transport="webrtc")` does not exist) measures WebRTC
with the raw page exchange of tests/emulator/test_emulator_webrtc_chromium.py instead of the console.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _harness import (
    CHROMIUM,
    KernelProbe,
    chromium_args,
    emulator_process,
    lab_server,
    open_lab_page,
)
from _voice_taps import AUDIBLE, TAKE, Taps, concealment_causes, init_script

QUESTION = "What time is it?"
REPLY = "It is noon."
INSTRUCTIONS = f'Say "{REPLY}"'
MIC_RATE = 48_000
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# The reply is quoted in the instructions, so nothing needs the question's words: without the
# recognizer the emulator answers in milliseconds instead of pocketsphinx's (seconds on a busy machine).
EMULATOR_FLAGS = ("--no-recognizer",)
PROFILES = {
    "loopback": EMULATOR_FLAGS,
    "impaired": (
        *EMULATOR_FLAGS,
        "--network-delay-ms",
        "50",
        "--network-jitter-ms",
        "20",
        "--network-loss",
        "0.02",
    ),
}

CONSOLE_CELL = """\
from types import SimpleNamespace
from realtime_widgets import ConnectionConfig, RealtimeConsole, SessionConfig

connection = ConnectionConfig.for_emulator(
    SimpleNamespace(endpoint="{endpoint}", deployment="gpt-realtime", api_key="emulator-key")
)
console = RealtimeConsole(connection, config=SessionConfig(instructions={instructions!r}){transport})
import time as _time
_recording = []  # the kernel's CPU and wall clock at the first microphone chunk
console.recorder.on_chunk(lambda _s: _recording or _recording.extend([_time.process_time(), _time.monotonic()]))

def v2v_kernel():
    # The emulator's compute per turn as the kernel saw it: speech_stopped -> first reply audio
    # (a delta on the WebSocket; output_audio_buffer.started, from the sideband, on WebRTC).
    compute, stopped = [], None
    for e in list(console.session.event_log):
        if e.direction != "server":
            continue
        if e.type == "input_audio_buffer.speech_stopped":
            stopped = e.time
        elif stopped is not None and e.type in ("response.output_audio.delta", "output_audio_buffer.started"):
            compute.append((e.time - stopped) * 1000)
            stopped = None
    player = getattr(console, "player", None)
    recorder = console.recorder
    # The relay's hops: microphone chunk leaves the page -> the kernel has it; a reply's first delta
    # leaves the kernel -> the page schedules it; and the player's start lead after that.
    mic_ms = [k - t for _, t, k in recorder.timings]
    cpu = (_time.process_time() - _recording[0]) / (_time.monotonic() - _recording[1]) if _recording else None
    return dict(
        chunk_ms=recorder.chunk_ms,
        page_to_kernel_ms=mic_ms,
        kernel_to_page_ms=list(player.schedule_latencies_ms) if player is not None else [],
        start_lead_ms=list(player.start_leads_ms) if player is not None else [],
        kernel_cpu=cpu,
        compute_ms=compute,
        silence_ms=console.session.config.silence_duration_ms,
        underruns=len(player.underruns) if player is not None else 0,
        replies=[t.transcript for t in console.session.conversation.turns][-3:],
    )

console
"""

# The raw exchange of tests/emulator/test_emulator_webrtc_chromium.py (no widget, no kernel), on
# the emulator's own origin; the data channel's events (unfiltered) are kept with their times.
RAW_CALL = """async ({key, base}) => {
  const pc = new RTCPeerConnection();
  const mic = await navigator.mediaDevices.getUserMedia({audio: true});
  pc.addTrack(mic.getAudioTracks()[0], mic);
  window.rawEvents = [];
  pc.ontrack = (e) => {
    const player = new Audio(); player.srcObject = new MediaStream([e.track]); player.play();
  };
  const dc = pc.createDataChannel("oai-events");
  dc.onmessage = (e) => window.rawEvents.push([performance.now(), JSON.parse(e.data).type]);
  await pc.setLocalDescription(await pc.createOffer());
  const r = await fetch(base + "/openai/v1/realtime/calls", {
    method: "POST", body: pc.localDescription.sdp,
    headers: {"Authorization": "Bearer " + key, "Content-Type": "application/sdp"},
  });
  await pc.setRemoteDescription({type: "answer", sdp: await r.text()});
  window.rawPc = pc;
  return r.status;
}"""


HOPS = ("page_to_kernel_ms", "kernel_to_page_ms", "start_lead_ms")


@dataclass
class Cell:
    """One transport under one network profile: its turns and figures."""

    profile: str
    transport: str
    how: str = ""
    v2v_ms: list[float] = field(default_factory=list)
    missing: int = 0
    underruns: int = 0
    concealments_all: int = 0
    compute_ms: list[float] = field(default_factory=list)
    silence_ms: float = 500.0
    jitter_buffer_ms: float = float("nan")
    packets: tuple[int, int] = (0, 0)
    causes: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    relay: dict[str, Any] = field(default_factory=dict)  # the relay's hops, from the kernel (websocket)

    def pct(self, q: float) -> float:
        return float(np.percentile(self.v2v_ms, q)) if self.v2v_ms else float("nan")


def make_turn_wav(path: Path, loop_s: float) -> tuple[Path, float]:
    """48 kHz mono 16-bit: 0.3 s silence, the question, silence up to `loop_s`; and the speech's length."""
    from realtime_widgets.emulator import synthesize

    speech = np.asarray(synthesize(QUESTION, "alloy", rate=MIC_RATE), dtype=np.int16)
    lead = np.zeros(int(0.3 * MIC_RATE), np.int16)
    tail = np.zeros(max(int(loop_s * MIC_RATE) - len(lead) - len(speech), MIC_RATE), np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(MIC_RATE)
        w.writeframes(np.concatenate([lead, speech, tail]).astype("<i2").tobytes())
    return path, len(speech) / MIC_RATE


def reply_lead_ms() -> float:
    """The reply's own leading silence (eSpeak's), before its first audible sample: the emulator's part."""
    from realtime_widgets.emulator import synthesize

    audio = np.abs(np.asarray(synthesize(REPLY, "alloy"), dtype=np.float64)) / 32768
    return float(np.argmax(audio >= AUDIBLE) / 24.0)


def console_has_webrtc() -> bool:
    from realtime_widgets import RealtimeConsole

    return "transport" in inspect.signature(RealtimeConsole.__init__).parameters


def measure(page: Any, cell: Cell, turns: int, loop_s: float) -> Taps:
    """Collect the taps until `turns` turns are finished; print each as it comes."""
    taps = Taps()
    shown = 0
    deadline = time.monotonic() + 90 + 2.5 * loop_s * (turns + 2)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        taken = page.evaluate(TAKE)
        if taken["errors"]:
            raise RuntimeError(f"the page's taps failed: {taken['errors']}")
        taps.add(taken)
        finished = taps.turns()[:-1]  # the last one's reply may still be coming
        for turn in finished[shown:]:
            shown += 1
            v2v = turn.voice_to_voice_ms
            if v2v is None:
                cell.missing += 1
                print(
                    f"  [{cell.profile:8} {cell.transport:9}] turn {shown:3}: no audible reply before the next question"
                )
            else:
                cell.v2v_ms.append(v2v)
                print(f"  [{cell.profile:8} {cell.transport:9}] turn {shown:3}: voice-to-voice {v2v:7.1f} ms")
        if shown >= turns:
            info = ", ".join(
                f"{k} {v['rate']} Hz (latency {1000 * (v['baseLatency'] + v['outputLatency']):.0f} ms)"
                for k, v in taken["info"].items()
            )
            print(f"  taps: {info}")
            return taps
    raise TimeoutError(
        f"{cell.profile}/{cell.transport}: {shown} of {turns} turns in time; info {taken['info']}"
    )


def run_console(browser: Any, server: Any, endpoint: str, cell: Cell, turns: int, loop_s: float) -> None:
    name = f"v2v_{cell.profile}_{cell.transport}.ipynb"
    transport = ', transport="webrtc"' if cell.transport == "webrtc" else ""
    source = CONSOLE_CELL.format(endpoint=endpoint, instructions=INSTRUCTIONS, transport=transport)
    page = open_lab_page(browser, server, name, source, init_script(cell.transport))
    cell.how = 'RealtimeConsole(transport="webrtc")' if transport else "RealtimeConsole()"
    try:
        page.get_by_role("button", name="Record").click(timeout=60_000)
        taps = measure(page, cell, turns, loop_s)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"v2v_{cell.profile}_{cell.transport}.png"))
        with KernelProbe(server, name) as probe:
            kernel = probe.value("v2v_kernel()", timeout=60)
        cell.compute_ms, cell.silence_ms = kernel["compute_ms"], kernel["silence_ms"]
        cell.relay = kernel
        if cell.transport == "websocket":
            cell.underruns = kernel["underruns"]
        else:
            collect_webrtc(taps, cell)
    finally:
        page.close()
        server.shutdown_kernels()


def run_raw_webrtc(browser: Any, endpoint: str, cell: Cell, turns: int, loop_s: float) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{endpoint}/openai/v1", api_key="emulator-key")
    session = {"type": "realtime", "model": "gpt-realtime", "instructions": INSTRUCTIONS}
    key = client.realtime.client_secrets.create(session=session).value  # type: ignore[arg-type]
    cell.how = "raw page exchange (tests/emulator/test_emulator_webrtc_chromium.py), not the console"
    page = browser.new_page()
    page.add_init_script(init_script("webrtc"))
    try:
        page.goto(f"{endpoint}/")
        status = page.evaluate(RAW_CALL, {"key": key, "base": endpoint})
        if status != 201:
            raise RuntimeError(f"the emulator answered the offer with {status}")
        taps = measure(page, cell, turns, loop_s)
        events = page.evaluate("window.rawEvents")
        stopped = None
        for t, kind in events:
            if kind == "input_audio_buffer.speech_stopped":
                stopped = t
            elif kind == "output_audio_buffer.started" and stopped is not None:
                cell.compute_ms.append(t - stopped)
                stopped = None
        collect_webrtc(taps, cell)
        page.evaluate("window.rawPc.close()")
    finally:
        page.close()


def collect_webrtc(taps: Taps, cell: Cell) -> None:
    spans = [(t.reply_ms, t.reply_end_ms) for t in taps.turns() if t.reply_ms is not None]
    cell.underruns, cell.concealments_all = taps.concealments_in(spans)  # type: ignore[arg-type]
    cell.jitter_buffer_ms = taps.jitter_buffer_ms()
    cell.packets = taps.packets()
    cell.causes = concealment_causes(taps, spans)  # type: ignore[arg-type]


def report(cells: dict[tuple[str, str], Cell], lead_ms: float) -> bool:
    """Print the figures side by side and the goals; True when every goal that could be checked holds."""
    print()
    print(f"{'profile':9} {'transport':10} {'turns':>5} {'p50 ms':>8} {'p99 ms':>8} {'underruns':>9}  how")
    for c in cells.values():
        extra = ""
        if c.transport == "webrtc":
            extra = (
                f"; jitter buffer {c.jitter_buffer_ms:.0f} ms mean; RTP {c.packets[0]} received, "
                f"{c.packets[1]} lost; {c.concealments_all} concealments in all"
            )
            if c.causes:
                extra += (
                    "; in replies {lost:.0f} after a loss, {late:.0f} late; FEC packets {fec_packets:.0f}, "
                    "discarded {discarded:.0f}, audible concealment {audible_concealed_ms:.0f} ms"
                ).format(**c.causes)
        missing = f" ({c.missing} without a reply)" if c.missing else ""
        print(
            f"{c.profile:9} {c.transport:10} {len(c.v2v_ms):>5} {c.pct(50):>8.0f} {c.pct(99):>8.0f} "
            f"{c.underruns:>9}  {c.how}{missing}{extra}"
        )
    for profile in PROFILES:
        ws, rtc = cells.get((profile, "websocket")), cells.get((profile, "webrtc"))
        if ws and rtc and ws.v2v_ms and rtc.v2v_ms:
            print(
                f"{profile}: WebRTC / relay  p50 {rtc.pct(50) / ws.pct(50):.2f}  p99 {rtc.pct(99) / ws.pct(99):.2f}"
            )
    for c in cells.values():
        if c.compute_ms:
            share = c.pct(50) - c.silence_ms - float(np.median(c.compute_ms)) - lead_ms
            print(
                f"{c.profile}/{c.transport}: p50 {c.pct(50):.0f} = VAD silence {c.silence_ms:.0f} + emulator "
                f"compute {np.median(c.compute_ms):.0f} (median) + reply's leading silence {lead_ms:.0f} "
                f"+ the rest {share:.0f} ms"
            )
    for c in cells.values():
        r = c.relay
        if c.transport == "websocket" and r:
            med = {k: float(np.median(r[k])) if r.get(k) else float("nan") for k in HOPS}
            print(
                f"{c.profile}/websocket, the relay's hops (median): microphone chunks {r['chunk_ms']} ms (the end of "
                f"the VAD's silence waits ~{r['chunk_ms'] / 2:.0f} ms on average for its chunk to fill), page -> kernel "
                f"{med['page_to_kernel_ms']:.1f} ms per chunk; kernel -> page (a reply's first delta) "
                f"{med['kernel_to_page_ms']:.1f} ms; player start lead {med['start_lead_ms']:.1f} ms; "
                f"kernel CPU while recording {100 * (r['kernel_cpu'] or 0):.1f} % (of one core)"
            )
    goals: list[tuple[str, str, bool]] = []
    imp_ws, imp_rtc = cells.get(("impaired", "websocket")), cells.get(("impaired", "webrtc"))
    if imp_ws and imp_rtc:
        goals.append(
            (
                "impaired: WebRTC p99 <= 0.70 x relay p99",
                f"{imp_rtc.pct(99):.0f} vs {imp_ws.pct(99):.0f} ms ({imp_rtc.pct(99) / imp_ws.pct(99):.2f})",
                imp_rtc.pct(99) <= 0.7 * imp_ws.pct(99),
            )
        )
        fewer = imp_rtc.underruns < imp_ws.underruns or imp_rtc.underruns == imp_ws.underruns == 0
        goals.append(
            ("impaired: WebRTC fewer underruns", f"{imp_rtc.underruns} vs {imp_ws.underruns}", fewer)
        )
    lo_ws, lo_rtc = cells.get(("loopback", "websocket")), cells.get(("loopback", "webrtc"))
    if lo_ws and lo_rtc:
        slower = lo_rtc.pct(50) - lo_ws.pct(50)
        why = f"; jitter buffer {lo_rtc.jitter_buffer_ms:.0f} ms mean" if slower > 0 else ""
        goals.append(
            (
                "loopback: WebRTC p50 <= relay p50",
                f"{lo_rtc.pct(50):.0f} vs {lo_ws.pct(50):.0f} ms{why}",
                slower <= 0,
            )
        )
    if lo_ws and lo_ws.compute_ms:
        share = lo_ws.pct(50) - lo_ws.silence_ms - float(np.median(lo_ws.compute_ms)) - lead_ms
        goals.append(("loopback: the relay's own share at p50 <= 40 ms", f"{share:.0f} ms", share <= 40))
    for c in cells.values():
        if c.profile == "loopback":
            goals.append((f"loopback: {c.transport} underruns == 0", str(c.underruns), c.underruns == 0))
    for c in cells.values():
        goals.append(
            (f"{c.profile}/{c.transport}: every turn answered", f"{c.missing} missing", c.missing == 0)
        )
    print(f"\n{'goal':52} {'measured':40} ok")
    for name, measured, ok in goals:
        print(f"{name:52} {measured:40} {'yes' if ok else 'NO'}")
    return all(ok for _, _, ok in goals)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=30, help="measured turns per transport and profile")
    parser.add_argument("--transports", default="websocket,webrtc")
    parser.add_argument("--profiles", default="loopback,impaired")
    parser.add_argument("--webrtc", choices=("auto", "console", "raw"), default="auto")
    parser.add_argument("--loop-s", type=float, default=4.0, help="length of one microphone loop (one turn)")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"skipped: {CHROMIUM} is absent")
        return 0
    from playwright.sync_api import sync_playwright

    transports = args.transports.split(",")
    webrtc = args.webrtc if args.webrtc != "auto" else ("console" if console_has_webrtc() else "raw")
    lead_ms = reply_lead_ms()
    cells: dict[tuple[str, str], Cell] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, lab_server() as server, sync_playwright() as pw:
        mic, speech_s = make_turn_wav(Path(tmp) / "turn.wav", args.loop_s)
        print(
            f"microphone loop {args.loop_s:.1f} s: {QUESTION!r} ({speech_s:.2f} s); reply {REPLY!r} "
            f"(leading silence {lead_ms:.0f} ms); {args.turns} turns per cell; WebRTC via {webrtc}"
        )
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(mic))
        try:
            for profile in args.profiles.split(","):
                with emulator_process(*PROFILES[profile]) as endpoint:
                    for transport in transports:
                        cell = cells[(profile, transport)] = Cell(profile, transport)
                        if transport == "webrtc" and webrtc == "raw":
                            run_raw_webrtc(browser, endpoint, cell, args.turns, args.loop_s)
                        else:
                            run_console(browser, server, endpoint, cell, args.turns, args.loop_s)
                        print(
                            f"{profile}/{transport}: p50 {cell.pct(50):.0f} ms, p99 {cell.pct(99):.0f} ms, "
                            f"underruns {cell.underruns} ({time.monotonic() - started:.0f} s in)"
                        )
        finally:
            browser.close()
    ok = report(cells, lead_ms)
    print(f"\nwhole run {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
