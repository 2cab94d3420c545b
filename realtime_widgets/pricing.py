"""Token prices of the realtime and audio models, and what a turn's `usage` costs.

`DEFAULT_PRICES` are the published prices in US dollars per million tokens as of `PRICES_AS_OF`
(source and reading in docs/emulator-fidelity.md, "Prices"). Azure's global deployments charge the
same as OpenAI's list; regional and data-zone deployments and negotiated rates differ: pass your own
with `prices=` (a `TokenPrices`, or a mapping of model name to `TokenPrices` or to a dict of its
fields).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from .errors import UnknownModelPrices

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "DEFAULT_PRICES",
    "PRICES_AS_OF",
    "TOKEN_KINDS",
    "TokenCounts",
    "TokenPrices",
    "cost_table",
    "cost_usd",
    "prices_for",
    "token_counts",
]

PRICES_AS_OF = "2026-11-23"

# The six kinds of billed token, in the order tables show them; uncached input apart from cached.
TOKEN_KINDS = ("text_in", "text_cached_in", "text_out", "audio_in", "audio_cached_in", "audio_out")


@dataclass(frozen=True)
class TokenPrices:
    """US dollars per million tokens of each kind (`*_in` is uncached input)."""

    text_in: float
    text_cached_in: float
    text_out: float
    audio_in: float
    audio_cached_in: float
    audio_out: float

    @classmethod
    def from_value(cls, value: TokenPrices | Mapping[str, float], model: str = "") -> TokenPrices:
        """`value` itself, or a TokenPrices built from a mapping of its six fields."""
        if isinstance(value, TokenPrices):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(
                f"prices for {model or 'a model'} must be a TokenPrices or a mapping, got {value!r}"
            )
        missing = [f.name for f in fields(cls) if f.name not in value]
        unknown = sorted(set(value) - {f.name for f in fields(cls)})
        if missing or unknown:
            raise ValueError(
                f"prices for {model or 'a model'}: give per-million-token prices for exactly "
                f"{', '.join(TOKEN_KINDS)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
        return cls(**{k: float(value[k]) for k in TOKEN_KINDS})


def _no_cache(text_in: float, text_out: float, audio_in: float, audio_out: float) -> TokenPrices:
    # Chat-completions audio models list no cached price: cached input is charged as input.
    return TokenPrices(text_in, text_in, text_out, audio_in, audio_in, audio_out)


DEFAULT_PRICES: Mapping[str, TokenPrices] = {
    "gpt-realtime": TokenPrices(4.00, 0.40, 16.00, 32.00, 0.40, 64.00),
    "gpt-realtime-1.5": TokenPrices(4.00, 0.40, 16.00, 32.00, 0.40, 64.00),
    "gpt-realtime-2": TokenPrices(4.00, 0.40, 24.00, 32.00, 0.40, 64.00),
    "gpt-realtime-mini": TokenPrices(0.60, 0.06, 2.40, 10.00, 0.30, 20.00),
    "gpt-4o-realtime-preview": TokenPrices(5.00, 2.50, 20.00, 40.00, 2.50, 80.00),
    "gpt-4o-mini-realtime-preview": TokenPrices(0.60, 0.30, 2.40, 10.00, 0.30, 20.00),
    "gpt-audio": _no_cache(2.50, 10.00, 32.00, 64.00),
    "gpt-audio-mini": _no_cache(0.60, 2.40, 10.00, 20.00),
    "gpt-4o-audio-preview": _no_cache(2.50, 10.00, 40.00, 80.00),
    "gpt-4o-mini-audio-preview": _no_cache(0.15, 0.60, 10.00, 20.00),
}


def prices_for(model: str | None, prices: TokenPrices | Mapping[str, Any] | None = None) -> TokenPrices:
    """The prices of `model` (a name or a dated snapshot such as gpt-4o-realtime-preview-2024-12-17).

    `prices` is a TokenPrices (used whatever the model), a mapping of model names to prices (looked
    up before the defaults), or None (the defaults). The longest known name the model starts with
    wins, so a snapshot finds its model; an Azure deployment named otherwise needs `prices=`.
    """
    if isinstance(prices, TokenPrices):
        return prices
    table: dict[str, Any] = dict(DEFAULT_PRICES)
    if prices is not None:
        if not isinstance(prices, Mapping):
            raise TypeError(
                f"prices must be a TokenPrices or a mapping of model name to prices, got {prices!r}"
            )
        if set(prices) <= set(TOKEN_KINDS) and prices:  # one model's six prices, given as a dict
            return TokenPrices.from_value(prices, model or "")
        table.update(prices)
    name = (model or "").strip().lower()
    matches = [k for k in table if name == k.lower() or name.startswith(k.lower() + "-")]
    if not name or not matches:
        known = ", ".join(sorted(table))
        raise UnknownModelPrices(
            f"no prices known for the model {model!r}: pass prices=TokenPrices(...) (US dollars per "
            f"million tokens of {', '.join(TOKEN_KINDS)}), or prices={{{model or 'MODEL'!r}: ...}}, "
            f"or model= one of {known}"
        )
    best = max(matches, key=len)
    return TokenPrices.from_value(table[best], best)


@dataclass(frozen=True)
class TokenCounts:
    """One usage's tokens by kind (input split into uncached and cached)."""

    text_in: int = 0
    text_cached_in: int = 0
    text_out: int = 0
    audio_in: int = 0
    audio_cached_in: int = 0
    audio_out: int = 0

    @property
    def input(self) -> int:
        return self.text_in + self.text_cached_in + self.audio_in + self.audio_cached_in

    @property
    def output(self) -> int:
        return self.text_out + self.audio_out

    @property
    def total(self) -> int:
        return self.input + self.output

    def __add__(self, other: TokenCounts) -> TokenCounts:
        return TokenCounts(*(getattr(self, k) + getattr(other, k) for k in TOKEN_KINDS))


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def token_counts(usage: Mapping[str, Any] | None) -> TokenCounts:
    """The tokens of a `usage` object: a realtime `response.done` one (input/output_token_details),
    a chat completion's (prompt/completion_tokens_details) or a transcription's (type "tokens";
    "duration" usage has no tokens). A detail missing counts its tokens as text.

    The service counts cached tokens inside `text_tokens` / `audio_tokens`; here they are apart.
    """
    usage = _dict(usage)
    inp = _dict(usage.get("input_token_details") or usage.get("prompt_tokens_details"))
    out = _dict(usage.get("output_token_details") or usage.get("completion_tokens_details"))
    total_in = _int(usage.get("input_tokens", usage.get("prompt_tokens")))
    total_out = _int(usage.get("output_tokens", usage.get("completion_tokens")))
    audio_in = _int(inp.get("audio_tokens"))
    # The SDK's model_dump() writes details the service left out as None: absent, not zero.
    text_in = _int(inp["text_tokens"]) if inp.get("text_tokens") is not None else max(0, total_in - audio_in)
    cached = _dict(inp.get("cached_tokens_details"))
    cached_audio = min(audio_in, _int(cached.get("audio_tokens")))
    split = cached.get("text_tokens") is not None
    cached_text = _int(cached["text_tokens"]) if split else _int(inp.get("cached_tokens"))
    cached_text = min(text_in, max(0, cached_text - (0 if split else cached_audio)))
    audio_out = _int(out.get("audio_tokens"))
    text_out = (
        _int(out["text_tokens"]) if out.get("text_tokens") is not None else max(0, total_out - audio_out)
    )
    return TokenCounts(
        text_in=text_in - cached_text,
        text_cached_in=cached_text,
        text_out=text_out,
        audio_in=audio_in - cached_audio,
        audio_cached_in=cached_audio,
        audio_out=audio_out,
    )


def cost_usd(counts: TokenCounts, prices: TokenPrices) -> dict[str, float]:
    """US dollars for `counts` at `prices`: text, audio and their sum."""
    text = (
        counts.text_in * prices.text_in
        + counts.text_cached_in * prices.text_cached_in
        + counts.text_out * prices.text_out
    ) / 1e6
    audio = (
        counts.audio_in * prices.audio_in
        + counts.audio_cached_in * prices.audio_cached_in
        + counts.audio_out * prices.audio_out
    ) / 1e6
    return {"text_usd": text, "audio_usd": audio, "cost_usd": text + audio}


def cost_table(
    usages: Mapping[str, Mapping[str, Any] | None],
    model: str | None,
    prices: TokenPrices | Mapping[str, Any] | None = None,
    *,
    total: bool = True,
    status: Sequence[str] | None = None,
    index_name: str = "turn",
) -> pd.DataFrame:
    """A pandas table of tokens and US dollars, one row per `usages` entry (label -> usage, None for
    none yet), then a "total" row unless `total=False`.

    Columns: `status` (when given), the six token kinds (`*_in_tokens` uncached, `*_cached_in_tokens`),
    `total_tokens` (int64), `text_usd`, `audio_usd`, `cost_usd` (float64). `attrs` holds the model and
    the `TokenPrices` used. Prices as `prices_for` reads them.
    """
    import pandas as pd

    price = prices_for(model, prices)
    token_columns = [f"{k}_tokens" for k in TOKEN_KINDS] + ["total_tokens"]
    rows: list[dict[str, Any]] = []
    for label, usage in usages.items():
        counts = token_counts(usage)
        row: dict[str, Any] = {index_name: label}
        row.update({f"{k}_tokens": getattr(counts, k) for k in TOKEN_KINDS}, total_tokens=counts.total)
        row.update(cost_usd(counts, price))
        rows.append(row)
    columns = [index_name, *token_columns, "text_usd", "audio_usd", "cost_usd"]
    frame = pd.DataFrame(rows, columns=columns)
    if total:
        sums = {c: frame[c].sum() for c in columns[1:]}
        frame = pd.concat([frame, pd.DataFrame([{index_name: "total", **sums}])], ignore_index=True)
    dtypes: dict[str, str] = {index_name: "string"}
    dtypes.update(dict.fromkeys(token_columns, "int64"))
    dtypes.update(dict.fromkeys(("text_usd", "audio_usd", "cost_usd"), "float64"))
    table: pd.DataFrame = frame.astype(dtypes).set_index(index_name)
    if status is not None:
        labels = list(status) + ([None] if total else [])
        table.insert(0, "status", pd.Series(labels, index=table.index, dtype="string"))
    table.attrs.update(model=model, prices=price)
    return table
