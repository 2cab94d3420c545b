"""The recorder's in-page resampler (used when a browser refuses a 24 kHz capture), in Chromium.

    python bench/bench_resampler.py [--seconds 20]

The AudioWorklet source is taken from `recorder.js` and run in Chromium's V8 with a stub
`AudioWorkletProcessor` (same JIT as the audio thread). For each device rate it prints the time
per 128-frame render quantum against the quantum's real-time budget, and what a 15 kHz tone
folds back to at 9 kHz relative to a 1 kHz tone (the low-pass filter's job).
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = pathlib.Path("/usr/bin/chromium")

for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)

PAGE_SCRIPT = """([source, rate, seconds]) => {
  const out = [];
  globalThis.sampleRate = rate;
  globalThis.AudioWorkletProcessor = class { constructor() { this.port = { postMessage: (m) => out.push(m) }; } };
  globalThis.registerProcessor = () => {};
  const Chunker = new Function(source + "; return PcmChunker;")();
  const p = new Chunker({ processorOptions: { outRate: 24000, chunkSamples: 2400 } });
  const blocks = Math.ceil((rate * seconds) / 128);
  const quanta = [];
  for (let b = 0; b < blocks; b++) {
    const x = new Float32Array(128);
    for (let i = 0; i < 128; i++) {
      const t = (b * 128 + i) / rate;
      x[i] = 0.25 * Math.sin(2 * Math.PI * 1000 * t) + 0.25 * Math.sin(2 * Math.PI * 15000 * t);
    }
    quanta.push(x);
  }
  for (let b = 0; b < 200; b++) p.process([[quanta[b]]]); // warm the JIT
  out.length = 0;
  const t0 = performance.now();
  for (const x of quanta) p.process([[x]]);
  const elapsed = performance.now() - t0;
  const y = [];
  for (const m of out) for (const s of new Int16Array(m.pcm)) y.push(s / 32768);
  const amp = (f) => {
    let re = 0, im = 0;
    for (let i = 0; i < y.length; i++) {
      re += y[i] * Math.cos((2 * Math.PI * f * i) / 24000);
      im += y[i] * Math.sin((2 * Math.PI * f * i) / 24000);
    }
    return (2 * Math.hypot(re, im)) / y.length;
  };
  return { usPerQuantum: (elapsed * 1000) / quanta.length, samplesOut: y.length, tone: amp(1000), alias: amp(9000) };
}"""


def worklet_source() -> str:
    js = (ROOT / "realtime_widgets" / "widgets" / "recorder.js").read_text()
    start = js.index("const WORKLET = `") + len("const WORKLET = `")
    return js[start : js.index("registerProcessor", start)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"skipped: {CHROMIUM} is absent (make system-deps)")
        return 0
    from playwright.sync_api import sync_playwright

    source = worklet_source()
    print(
        f"{'device rate':>12} {'us/quantum':>11} {'budget us':>10} {'share':>7} {'1 kHz':>7} {'9 kHz alias':>12}"
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        for rate in (44_100, 48_000, 96_000):
            r = page.evaluate(PAGE_SCRIPT, [source, rate, args.seconds])
            budget = 128 / rate * 1e6
            alias_db = 20 * math.log10(max(r["alias"], 1e-12) / r["tone"])
            print(
                f"{rate:>12} {r['usPerQuantum']:>11.1f} {budget:>10.0f} {r['usPerQuantum'] / budget:>7.1%} "
                f"{r['tone']:>7.3f} {alias_db:>9.1f} dB"
            )
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
