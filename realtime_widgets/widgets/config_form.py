"""SessionConfigForm: every SessionConfig field as a control, in the Azure playground's words.

`form.value` is the SessionConfig the controls describe (validated); **Apply** (or
`await form.apply()`) sends it as `session.update` and shows the server's answer. The connection
section (endpoint, deployment, protocol, API key) builds a ConnectionConfig; the API key travels
from the page in a one-off custom message and lives only in a private Python attribute: it is
never a synced trait, so it never reaches widget state or a saved notebook.
"""

from __future__ import annotations

import asyncio
import html
import pathlib
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets as w
import traitlets as t

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
from ._protocols import ConfigurableSession, Unsubscribe

if TYPE_CHECKING:
    from ..config import ConnectionConfig
    from ..events import RealtimeEvent

StatusKind = str  # "ok" | "error" | "info"

_TURN_DETECTION_OPTIONS = [
    ("Server VAD", "server_vad"),
    ("Semantic VAD", "semantic_vad"),
    ("None (manual commit)", "manual"),
]
_NOISE_OPTIONS = [("Off", None)] + [(n.replace("_", " ").capitalize(), n) for n in NOISE_REDUCTION_TYPES]
_TRANSCRIPTION_OPTIONS = [("Off", None)] + [(m, m) for m in TRANSCRIPTION_MODELS]
_MS_SLIDER_MAX = 2000
_STYLE = {"description_width": "150px"}
_WIDE = w.Layout(width="420px")


class SecretInput(anywidget.AnyWidget):
    """A password box whose value is never a trait: only `has_value` is synced."""

    _esm = pathlib.Path(__file__).parent / "config_form.js"
    label = t.Unicode("API key").tag(sync=True)
    placeholder = t.Unicode("").tag(sync=True)
    has_value = t.Bool(False).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.__value = ""
        self.on_msg(self._on_front_msg)

    def _on_front_msg(self, _widget: Any, content: dict, _buffers: list) -> None:
        if isinstance(content, dict) and content.get("kind") == "secret":
            self.set_value(str(content.get("value") or ""))

    def set_value(self, value: str) -> None:
        self.__value = value.strip()
        self.has_value = bool(self.__value)

    def get_value(self) -> str:
        return self.__value

    def __repr__(self) -> str:
        return f"<SecretInput {self.label!r} {'set' if self.has_value else 'empty'}>"


def _status_html(text: str, kind: StatusKind = "info") -> str:
    color = {"ok": "#1a7f37", "error": "#a40e26", "info": "inherit"}[kind]
    return f'<span class="rw-form-status" data-kind="{kind}" style="color:{color}">{html.escape(text)}</span>'


def run_soon(coro: Coroutine[Any, Any, Any], session: object = None) -> asyncio.Future | Future | None:
    """Run `coro` after a button click returns: on the running loop (the kernel's), else on the
    session's loop thread (scripts with `run_sync`); None (and the coroutine closed) when neither runs."""
    try:
        return asyncio.get_running_loop().create_task(coro)
    except RuntimeError:
        pass
    session_loop = getattr(session, "loop", None)  # the session's own loop thread, when not ours
    if session_loop is not None and session_loop.is_running():
        return asyncio.run_coroutine_threadsafe(coro, session_loop)
    coro.close()
    return None


class ConnectionFields(w.VBox):
    """Endpoint, deployment, protocol and API key, and a Connect button: a ConnectionConfig.

    `report(text, kind)` shows what happened (the form's connection line); `run(coro)` runs what an
    `on_connect` callback returns.
    """

    def __init__(
        self,
        report: Callable[[str, StatusKind], None],
        run: Callable[[Coroutine[Any, Any, Any]], object],
    ) -> None:
        self._report = report
        self._run = run
        self._on_connect: list[Callable[[ConnectionConfig], object]] = []
        self.endpoint = w.Text(
            description="Endpoint",
            placeholder="https://RESOURCE.openai.azure.com",
            style=_STYLE,
            layout=_WIDE,
        )
        self.deployment = w.Text(description="Deployment", placeholder="gpt-realtime", style=_STYLE)
        self.protocol = w.ToggleButtons(
            options=[("GA", "ga"), ("Preview", "preview")], description="Protocol", style=_STYLE
        )
        self.api_key = SecretInput(label="API key", placeholder="leave empty for Entra ID (keyless)")
        self.connect_button = w.Button(description="Connect", tooltip="Connect to this endpoint")
        self.connect_button.on_click(lambda _b: self._connect_clicked())
        super().__init__([self.endpoint, self.deployment, self.protocol, self.api_key, self.connect_button])

    def connection_config(self) -> ConnectionConfig:
        """A ConnectionConfig from the fields (emulator when the endpoint is empty)."""
        from ..config import ConnectionConfig, entra_token_provider

        endpoint = self.endpoint.value.strip()
        if not endpoint:
            return ConnectionConfig.for_emulator(protocol=self.protocol.value)
        if not self.deployment.value.strip():
            raise ValueError("Deployment is empty: type the name of your realtime model deployment")
        kwargs: dict[str, Any] = {
            "endpoint": endpoint,
            "deployment": self.deployment.value.strip(),
            "protocol": self.protocol.value,
        }
        key = self.api_key.get_value()
        if key:
            kwargs["api_key"] = key
        else:  # keyless: Entra ID, as ConnectionConfig.from_env does without AZURE_OPENAI_API_KEY
            kwargs["token_provider"] = entra_token_provider()
        return ConnectionConfig(**kwargs)

    def on_connect(self, fn: Callable[[ConnectionConfig], object]) -> None:
        """Call `fn(connection_config)` when the user clicks Connect (the console reconnects)."""
        self._on_connect.append(fn)

    def _connect_clicked(self) -> None:
        try:
            conn = self.connection_config()
        except Exception as exc:
            self._report(f"Cannot connect: {exc}", "error")
            return
        if not self._on_connect:
            self._report(
                "Connection settings ready: pass form.connection_config() to RealtimeSession", "info"
            )
        for fn in self._on_connect:
            result = fn(conn)
            if asyncio.iscoroutine(result):
                self._run(result)


class SessionConfigForm(w.VBox):
    """Session settings with Apply, plus the connection line (and fields to connect to Azure).

    `SessionConfigForm(session=None, config=None, protocol=None)`; `form.value` -> SessionConfig;
    `await form.apply()`; `form.connection_config()` -> ConnectionConfig from the connection fields.
    """

    def __init__(
        self,
        session: ConfigurableSession | None = None,
        config: SessionConfig | None = None,
        protocol: str | None = None,
    ):
        self.session: ConfigurableSession | None = None
        self._protocol = protocol
        self._unsubscribe: Unsubscribe | None = None
        self._pending: asyncio.Future | Future | None = None

        self.instructions = w.Textarea(
            description="Model instructions", style=_STYLE, layout=w.Layout(width="420px", height="80px")
        )
        self.voice = w.Dropdown(options=list(VOICES), description="Voice", style=_STYLE)
        self.turn_detection = w.Dropdown(
            options=_TURN_DETECTION_OPTIONS, description="Turn detection", style=_STYLE
        )
        self.threshold = w.FloatSlider(
            min=THRESHOLD_RANGE[0], max=THRESHOLD_RANGE[1], step=0.01, description="Threshold", style=_STYLE
        )
        self.prefix_padding_ms = w.IntSlider(
            min=0, max=_MS_SLIDER_MAX, step=10, description="Prefix padding (ms)", style=_STYLE
        )
        self.silence_duration_ms = w.IntSlider(
            min=0, max=_MS_SLIDER_MAX, step=10, description="Silence duration (ms)", style=_STYLE
        )
        self.eagerness = w.Dropdown(
            options=list(SEMANTIC_VAD_EAGERNESS), description="Eagerness", style=_STYLE
        )
        self.create_response = w.Checkbox(description="Create response at end of speech", indent=False)
        self.interrupt_response = w.Checkbox(
            description="Interrupt response when the user speaks", indent=False
        )
        self.temperature = w.FloatSlider(
            min=TEMPERATURE_RANGE[0],
            max=TEMPERATURE_RANGE[1],
            step=0.05,
            value=0.8,
            description="Temperature",
            style=_STYLE,
        )
        self.speed = w.FloatSlider(
            min=SPEED_RANGE[0], max=SPEED_RANGE[1], step=0.05, value=1.0, description="Speed", style=_STYLE
        )
        self.unlimited_tokens = w.Checkbox(description="No limit", indent=False, value=True)
        self.max_output_tokens = w.BoundedIntText(
            min=1,
            max=MAX_OUTPUT_TOKENS,
            value=MAX_OUTPUT_TOKENS,
            description="Max response (tokens)",
            style=_STYLE,
            disabled=True,
            layout=w.Layout(width="260px"),
        )
        self.transcription_model = w.Dropdown(
            options=_TRANSCRIPTION_OPTIONS, description="Transcription model", style=_STYLE
        )
        self.noise_reduction = w.Dropdown(options=_NOISE_OPTIONS, description="Noise reduction", style=_STYLE)
        self.apply_button = w.Button(
            description="Apply", button_style="primary", tooltip="Send session.update"
        )
        self.status = w.HTML(_status_html("Not applied yet"))
        self.connection_status = w.HTML()
        self.connection_fields = ConnectionFields(self._show_connection, self._schedule)
        fields = self.connection_fields  # its controls are the form's too: form.endpoint, ...
        self.endpoint, self.deployment, self.protocol = fields.endpoint, fields.deployment, fields.protocol
        self.api_key, self.connect_button = fields.api_key, fields.connect_button
        self.connection_config = fields.connection_config
        self.on_connect = fields.on_connect

        self._vad_box = w.VBox([self.threshold, self.prefix_padding_ms, self.silence_duration_ms])
        self._semantic_box = w.VBox([self.eagerness])
        self._response_box = w.VBox([self.create_response, self.interrupt_response])
        self._temperature_row = w.HBox([self.temperature])
        self._speed_row = w.HBox([self.speed])
        self.turn_detection.observe(self._show_relevant, names="value")
        self.unlimited_tokens.observe(
            lambda ch: setattr(self.max_output_tokens, "disabled", ch["new"]), names="value"
        )
        self.protocol.observe(self._on_protocol, names="value")
        self.apply_button.on_click(lambda _b: self._schedule(self.apply()))

        settings = w.VBox(
            [
                self.instructions,
                self.voice,
                self.turn_detection,
                self._vad_box,
                self._semantic_box,
                self._response_box,
                self._temperature_row,
                self._speed_row,
                w.HBox([self.max_output_tokens, self.unlimited_tokens]),
                self.transcription_model,
                self.noise_reduction,
                w.HBox([self.apply_button, self.status]),
            ]
        )
        self._connection_box = w.Accordion(
            children=[fields], titles=("Connect to Azure",), selected_index=None
        )
        super().__init__([self.connection_status, settings, self._connection_box])
        self.add_class("rw-config-form")

        self.value = config if config is not None else SessionConfig()
        if session is not None:
            self.connect(session)
        else:
            self._show_protocol(protocol or "ga")
            self.refresh_connection()

    # -- value <-> controls ----------------------------------------------------------------
    @property
    def value(self) -> SessionConfig:
        """The SessionConfig the controls describe (raises with the field and range when invalid)."""
        base = getattr(self, "_base", None) or SessionConfig()
        ga = self.current_protocol == "ga"
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
            transcription_model=self.transcription_model.value,
            transcription_language=base.transcription_language if self.transcription_model.value else None,
            transcription_prompt=base.transcription_prompt if self.transcription_model.value else None,
            noise_reduction=self.noise_reduction.value,
        )

    @value.setter
    def value(self, config: SessionConfig) -> None:
        if not isinstance(config, SessionConfig):
            raise TypeError(f"SessionConfigForm.value must be a SessionConfig, got {type(config).__name__}")
        self._base = config  # keeps the fields the form has no control for (tools, language, ...)
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
        if config.transcription_model not in dict(self.transcription_model.options).values():
            # an Azure deployment name: offer it beside the model names
            options = [
                *self.transcription_model.options,
                (config.transcription_model, config.transcription_model),
            ]
            self.transcription_model.options = options
        self.transcription_model.value = config.transcription_model
        self.noise_reduction.value = config.noise_reduction
        self._show_relevant()

    def _show_relevant(self, _change: object = None) -> None:
        mode = self.turn_detection.value
        self._vad_box.layout.display = "" if mode == "server_vad" else "none"
        self._semantic_box.layout.display = "" if mode == "semantic_vad" else "none"
        self._response_box.layout.display = "none" if mode == "manual" else ""

    # -- protocol --------------------------------------------------------------------------
    @property
    def current_protocol(self) -> str:
        conn = getattr(self.session, "connection", None)
        return getattr(conn, "protocol", None) or self._protocol or self.protocol.value

    def _on_protocol(self, change: dict) -> None:
        if self.session is None:
            self._show_protocol(change["new"])

    def _show_protocol(self, protocol: str) -> None:
        # Temperature exists only in preview; speed only in GA.
        self._temperature_row.layout.display = "" if protocol == "preview" else "none"
        self._speed_row.layout.display = "" if protocol == "ga" else "none"
        if self.protocol.value != protocol:
            self.protocol.value = protocol

    # -- session ---------------------------------------------------------------------------
    def connect(self, session: ConfigurableSession) -> Unsubscribe:
        """Edit `session`'s settings: the controls take its current config; Apply updates it.
        Returns a function that disconnects."""
        self.disconnect()
        self.session = session
        config = getattr(session, "config", None)
        if isinstance(config, SessionConfig):
            self.value = config
        self._show_protocol(self.current_protocol)
        self._unsubscribe = session.on("*", self._on_event)
        self.refresh_connection()
        return self.disconnect

    def disconnect(self) -> None:
        """Stop following the session (Apply then has nothing to update)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.session = None
        self.refresh_connection()

    def _on_event(self, event: RealtimeEvent) -> None:
        if event.type in ("session.created", "session.updated", "error"):
            self.refresh_connection()

    def refresh_connection(self) -> None:
        """Show the session's connection and status on the connection line."""
        session = self.session
        if session is None:
            self._show_connection("Not connected")
            return
        status = session.status
        kind = "error" if status == "failed" else "ok" if status == "connected" else "info"
        self._show_connection(f"{session.connection.describe()} · {status}", kind)

    def _show_connection(self, text: str, kind: StatusKind = "info") -> None:
        self.connection_status.value = _status_html(text, kind)

    async def apply(self) -> dict | None:
        """Send the form's settings as `session.update`; the status line shows the server's answer."""
        try:
            config = self.value
        except (TypeError, ValueError) as exc:
            self.status.value = _status_html(f"Not sent: {exc}", "error")
            return None
        if self.session is None:
            self.status.value = _status_html("Not sent: no session (connect one first)", "error")
            return None
        self.status.value = _status_html("Applying…")
        try:
            result = await self.session.update(config)
        except Exception as exc:  # the server's error message is the useful part
            self.status.value = _status_html(f"Error: {exc}", "error")
            self.refresh_connection()
            return None
        self._base = config
        self.status.value = _status_html("Session updated", "ok")
        self.refresh_connection()
        return result

    def _schedule(self, coro: Coroutine[Any, Any, Any]) -> None:
        # Button callbacks return at once; the coroutine finishes on a loop afterwards.
        self._pending = run_soon(coro, self.session)
        if self._pending is None:
            self.status.value = _status_html(
                "Not sent: no running event loop; use `await form.apply()`", "error"
            )

    def __repr__(self) -> str:
        return f"<SessionConfigForm protocol={self.current_protocol!r} session={'yes' if self.session else 'no'}>"
