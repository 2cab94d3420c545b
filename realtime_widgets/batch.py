"""Run a folder of audio clips through audio chat completions, for evaluation.

Bounded concurrency (one semaphore), retry on HTTP 429 honouring Retry-After, a progress
callback (an ipywidgets bar in notebooks), and results as a pandas table that saves to CSV + JSON.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import audio as _audio
from .completions import AudioChat, AudioReply
from .config import ConnectionConfig
from .errors import ConnectionFailed
from .pricing import TokenPrices, cost_table, token_counts

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["ClipResult", "BatchResults", "evaluate_clips", "AUDIO_SUFFIXES"]

AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".webm")
DEFAULT_PROMPT = "Transcribe the audio, then answer it in one short sentence."


@dataclass
class ClipResult:
    """What one clip gave: the reply, its timing, and how many 429 retries it took."""

    clip: str
    input_s: float
    transcript: str = ""
    reply_s: float = 0.0
    latency_s: float = 0.0
    attempts: int = 0
    error: str = ""
    reply: AudioReply | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def status(self) -> str:
        return "ok" if self.ok else "failed"

    def row(self) -> dict[str, Any]:
        """The result as plain data: the fields, status, and the reply's tokens (None without one)."""
        row = asdict(self)
        usage = self.reply.usage if self.reply is not None else None
        counts = token_counts(usage) if usage is not None else None
        row.update(
            status=self.status,
            input_tokens=None if counts is None else counts.input,
            output_tokens=None if counts is None else counts.output,
        )
        row.pop("reply")
        return row


class BatchResults(list[ClipResult]):
    """A list of `ClipResult` that shows as a pandas table in a notebook and saves itself."""

    # Column dtypes of `to_pandas()`: seconds as floats, tokens as nullable ints (<NA> on failure).
    DTYPES = {
        "clip": "string",
        "status": "string",
        "input_s": "float64",
        "reply_s": "float64",
        "latency_s": "float64",
        "attempts": "int64",
        "input_tokens": "Int64",
        "output_tokens": "Int64",
        "transcript": "string",
        "error": "string",
    }
    COLUMNS = tuple(DTYPES)

    def rows(self) -> list[dict[str, Any]]:
        return [r.row() for r in self]

    def to_pandas(self) -> pd.DataFrame:
        """One row per clip, typed columns (`DTYPES`), in the order the clips were given."""
        import pandas as pd

        frame: pd.DataFrame = pd.DataFrame(self.rows(), columns=list(self.COLUMNS)).astype(self.DTYPES)
        return frame

    def cost(
        self,
        prices: TokenPrices | Mapping[str, Any] | None = None,
        *,
        model: str | None = None,
        total: bool = True,
    ) -> pd.DataFrame:
        """Tokens and US dollars per clip (index "clip") from each reply's usage, with a "total" row.

        Prices as `Conversation.cost` takes them; the model defaults to the one the replies name.
        """
        named = [r.reply.model for r in self if r.reply is not None and r.reply.model]
        usages = {r.clip: (r.reply.usage if r.reply is not None else None) for r in self}
        status = [r.status for r in self]
        return cost_table(
            usages,
            model or (named[0] if named else None),
            prices,
            total=total,
            status=status,
            index_name="clip",
        )

    def save(self, folder: str | Path, *, audio: bool = True) -> Path:
        """Write `results.csv`, `results.json` and (with `audio`) one reply WAV per clip."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        self.to_pandas().to_csv(out / "results.csv", index=False)
        (out / "results.json").write_text(json.dumps(self.rows(), indent=2))
        if audio:
            for r in self:
                if r.reply is not None:
                    r.reply.save(out / f"{Path(r.clip).stem}.reply.wav")
        return out

    def _repr_html_(self) -> str:
        html: str = self.to_pandas().to_html(float_format="{:.2f}".format, na_rep="", escape=True)
        return html


def _clip_paths(clips: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(clips, (str, Path)):
        folder = Path(clips)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder of audio clips")
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
        if not paths:
            raise ValueError(f"no audio clips ({', '.join(AUDIO_SUFFIXES)}) in {folder}")
        return paths
    paths = [Path(p) for p in clips]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"these clips do not exist: {', '.join(missing)}")
    return paths


async def _one(
    path: Path,
    connection: ConnectionConfig,
    prompt: str,
    voice: str,
    max_retries: int,
    gate: asyncio.Semaphore,
    sleep: Callable[[float], Any],
    client: Any,
) -> ClipResult:
    async with gate:  # decoding inside the gate too: at most `concurrency` clips in memory
        samples = await asyncio.to_thread(_audio.to_pcm16, path)
        result = ClipResult(clip=path.name, input_s=_audio.duration_s(samples))
        for attempt in range(1, max_retries + 2):
            result.attempts = attempt
            # A fresh chat per clip: clips are independent, no shared history.
            chat = AudioChat(connection, voice=voice, client=client)
            started = time.perf_counter()
            try:
                reply = await chat.ask_async(text=prompt, audio=samples, rate=_audio.SAMPLE_RATE)
            except ConnectionFailed as exc:
                if exc.status == 429 and attempt <= max_retries:
                    await sleep(exc.retry_after if exc.retry_after is not None else 2.0**attempt)
                    continue
                result.error = str(exc)
                return result
            result.latency_s = time.perf_counter() - started
            result.reply = reply
            result.transcript = reply.transcript
            result.reply_s = reply.duration_s
            return result
    return result  # pragma: no cover - the loop always returns


async def evaluate_clips(
    clips: str | Path | Sequence[str | Path],
    *,
    connection: ConnectionConfig | None = None,
    prompt: str = DEFAULT_PROMPT,
    voice: str = "alloy",
    concurrency: int = 4,
    max_retries: int = 3,
    progress: Callable[[int, int], Any] | bool = True,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> BatchResults:
    """Ask about every clip in a folder (or list) with at most `concurrency` requests in flight.

    HTTP 429 answers are retried up to `max_retries` times after the Retry-After the service
    sent; other failures are recorded in the clip's `error` and the batch goes on. `progress`
    is a callback `(done, total)`, or True for an ipywidgets progress bar.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    paths = _clip_paths(clips)
    connection = connection if connection is not None else ConnectionConfig.from_env()
    # Our loop owns 429 handling, so the SDK's own retries are switched off.
    connection = connection.replace(max_retries=0)
    report = _progress_bar(len(paths)) if progress is True else (progress or None)
    gate = asyncio.Semaphore(concurrency)
    client = connection.chat_async_client()  # one HTTP connection pool for the whole batch
    tasks = [
        asyncio.ensure_future(_one(p, connection, prompt, voice, max_retries, gate, sleep, client))
        for p in paths
    ]
    try:
        done = 0
        for finished in asyncio.as_completed(tasks):
            await finished
            done += 1
            if report:
                report(done, len(paths))
    finally:
        for t in tasks:
            t.cancel()
        await client.close()
    return BatchResults(t.result() for t in tasks)


def _progress_bar(total: int) -> Callable[[int, int], None]:
    import ipywidgets as w
    from IPython.display import display

    bar = w.IntProgress(value=0, min=0, max=total, description="clips", bar_style="info")
    display(bar)  # type: ignore[no-untyped-call]  # IPython declares no types for it

    def update(done: int, total: int) -> None:
        bar.value = done
        bar.description = f"{done}/{total}"
        if done == total:
            bar.bar_style = "success"

    return update
