"""The config form's controls: one per SessionConfig field, and the mapping both ways."""

from __future__ import annotations

import html

import ipywidgets as w

from ..protocol import (
    MAX_OUTPUT_TOKENS,
    NOISE_REDUCTION_TYPES,
    SEMANTIC_VAD_EAGERNESS,
    SPEED_RANGE,
    TEMPERATURE_RANGE,
    THRESHOLD_RANGE,
    TRANSCRIPTION_MODELS,
    VOICES,
)
from ..session_config import SessionConfig
from .connection_fields import STYLE

_TURN_DETECTION_OPTIONS = [
    ("Server VAD", "server_vad"),
    ("Semantic VAD", "semantic_vad"),
    ("None (manual commit)", "manual"),
]
# A Dropdown whose value is None shows no selection at all, so "Off" is a string here.
_OFF = "off"
_NOISE_OPTIONS = [("Off", _OFF)] + [(n.replace("_", " ").capitalize(), n) for n in NOISE_REDUCTION_TYPES]
_TRANSCRIPTION_OPTIONS = [("Off", _OFF)] + [(m, m) for m in TRANSCRIPTION_MODELS]
_MS_SLIDER_MAX = 2000
VOICE_LOCKED = "locked: the service keeps the voice once the assistant has spoken"


def _or_off(value: str | None) -> str:
    return _OFF if value is None else value


def _none_if_off(value: str) -> str | None:
    return None if value == _OFF else value


def _slider(kind: type[w.FloatSlider] | type[w.IntSlider], description: str, **range_: float) -> w.Widget:
    # With the 150 px label column, a default-width slider kept ~55 px of track; this keeps ~230.
    return kind(description=description, style=STYLE, layout=w.Layout(width="480px"), **range_)


class SettingsControls:
    """Every SessionConfig field the form edits, laid out in `box`; `read` and `show` map them."""

    def __init__(self) -> None:
        self.instructions = w.Textarea(
            description="Model instructions", style=STYLE, layout=w.Layout(width="420px", height="80px")
        )
        self.voice = w.Dropdown(options=list(VOICES), description="Voice", style=STYLE)
        self.voice_note = w.HTML()  # why the voice is locked, once it is
        self.voice_note.add_class("rw-voice-note")
        self.turn_detection = w.Dropdown(
            options=_TURN_DETECTION_OPTIONS, description="Turn detection", style=STYLE
        )
        self.threshold = _slider(
            w.FloatSlider, "Threshold", min=THRESHOLD_RANGE[0], max=THRESHOLD_RANGE[1], step=0.01
        )
        self.prefix_padding_ms = _slider(
            w.IntSlider, "Prefix padding (ms)", min=0, max=_MS_SLIDER_MAX, step=10
        )
        self.silence_duration_ms = _slider(
            w.IntSlider, "Silence duration (ms)", min=0, max=_MS_SLIDER_MAX, step=10
        )
        self.eagerness = w.Dropdown(
            options=list(SEMANTIC_VAD_EAGERNESS), description="Eagerness", style=STYLE
        )
        self.create_response = w.Checkbox(description="Create response at end of speech", indent=False)
        self.interrupt_response = w.Checkbox(
            description="Interrupt response when the user speaks", indent=False
        )
        self.temperature = _slider(
            w.FloatSlider,
            "Temperature",
            min=TEMPERATURE_RANGE[0],
            max=TEMPERATURE_RANGE[1],
            step=0.05,
            value=0.8,
        )
        self.speed = _slider(
            w.FloatSlider, "Speed", min=SPEED_RANGE[0], max=SPEED_RANGE[1], step=0.05, value=1.0
        )
        self.unlimited_tokens = w.Checkbox(description="No limit", indent=False, value=True)
        self.max_output_tokens = w.BoundedIntText(
            min=1,
            max=MAX_OUTPUT_TOKENS,
            value=MAX_OUTPUT_TOKENS,
            description="Max response (tokens)",
            style=STYLE,
            disabled=True,
            layout=w.Layout(width="260px"),
        )
        self.transcription_model = w.Dropdown(
            options=_TRANSCRIPTION_OPTIONS, description="Transcription model", style=STYLE
        )
        self.noise_reduction = w.Dropdown(options=_NOISE_OPTIONS, description="Noise reduction", style=STYLE)

        self.vad_box = w.VBox([self.threshold, self.prefix_padding_ms, self.silence_duration_ms])
        self._semantic_box = w.VBox([self.eagerness])
        self._response_box = w.VBox([self.create_response, self.interrupt_response])
        self.temperature_row = w.HBox([self.temperature])
        self.speed_row = w.HBox([self.speed])
        self.turn_detection.observe(self.show_relevant, names="value")
        self.unlimited_tokens.observe(
            lambda ch: setattr(self.max_output_tokens, "disabled", ch["new"]), names="value"
        )
        self.box = w.VBox(
            [
                self.instructions,
                w.HBox([self.voice, self.voice_note], layout=w.Layout(align_items="center")),
                self.turn_detection,
                self.vad_box,
                self._semantic_box,
                self._response_box,
                self.temperature_row,
                self.speed_row,
                w.HBox([self.max_output_tokens, self.unlimited_tokens]),
                self.transcription_model,
                self.noise_reduction,
            ]
        )

    def all(self) -> list[w.ValueWidget]:
        return [
            self.instructions, self.voice, self.turn_detection, self.threshold, self.prefix_padding_ms,
            self.silence_duration_ms, self.eagerness, self.create_response, self.interrupt_response,
            self.temperature, self.speed, self.unlimited_tokens, self.max_output_tokens,
            self.transcription_model, self.noise_reduction,
        ]  # fmt: skip

    def read(self, base: SessionConfig, ga: bool) -> SessionConfig:
        """`base` with the controls' values (raises with the field and range when invalid)."""
        transcription = _none_if_off(self.transcription_model.value)
        return base.replace(
            instructions=self.instructions.value,
            voice=self.voice.value,
            turn_detection=self.turn_detection.value,
            threshold=float(self.threshold.value),
            prefix_padding_ms=int(self.prefix_padding_ms.value),
            silence_duration_ms=int(self.silence_duration_ms.value),
            eagerness=self.eagerness.value,
            create_response=bool(self.create_response.value),
            interrupt_response=bool(self.interrupt_response.value),
            temperature=None if ga else float(self.temperature.value),
            speed=(None if self.speed.value == 1.0 else float(self.speed.value)) if ga else None,
            max_output_tokens=None if self.unlimited_tokens.value else int(self.max_output_tokens.value),
            transcription_model=transcription,
            transcription_language=base.transcription_language if transcription else None,
            transcription_prompt=base.transcription_prompt if transcription else None,
            noise_reduction=_none_if_off(self.noise_reduction.value),
        )

    def show(self, config: SessionConfig) -> None:
        self.instructions.value = config.instructions
        self.voice.value = config.voice
        self.turn_detection.value = config.turn_detection
        self.threshold.value = config.threshold
        for slider, ms in (
            (self.prefix_padding_ms, config.prefix_padding_ms),
            (self.silence_duration_ms, config.silence_duration_ms),
        ):
            slider.max = max(_MS_SLIDER_MAX, ms)
            slider.value = ms
        self.eagerness.value = config.eagerness
        self.create_response.value = config.create_response
        self.interrupt_response.value = config.interrupt_response
        self.temperature.value = config.temperature if config.temperature is not None else 0.8
        self.speed.value = config.speed if config.speed is not None else 1.0
        limited = isinstance(config.max_output_tokens, int)
        self.unlimited_tokens.value = not limited
        self.max_output_tokens.value = config.max_output_tokens if limited else MAX_OUTPUT_TOKENS
        transcription = _or_off(config.transcription_model)
        if transcription not in dict(self.transcription_model.options).values():
            # an Azure deployment name: offer it beside the model names
            self.transcription_model.options = [
                *self.transcription_model.options,
                (transcription, transcription),
            ]
        self.transcription_model.value = transcription
        self.noise_reduction.value = _or_off(config.noise_reduction)
        self.show_relevant()

    def show_relevant(self, _change: object = None) -> None:
        mode = self.turn_detection.value
        self.vad_box.layout.display = "" if mode == "server_vad" else "none"
        self._semantic_box.layout.display = "" if mode == "semantic_vad" else "none"
        self._response_box.layout.display = "none" if mode == "manual" else ""

    def show_protocol(self, protocol: str) -> None:
        # Temperature exists only in preview; speed only in GA.
        self.temperature_row.layout.display = "" if protocol == "preview" else "none"
        self.speed_row.layout.display = "" if protocol == "ga" else "none"

    def lock_voice(self, reason: str | None = VOICE_LOCKED) -> None:
        """Show the voice as fixed with `reason` (the service refuses `cannot_update_voice` once
        assistant audio exists); None unlocks it."""
        self.voice.disabled = reason is not None
        self.voice_note.value = f'<span class="rw-form-note">{html.escape(reason)}</span>' if reason else ""
