"""SessionConfigForm: every SessionConfig field as a control, in the Azure playground's words.

`form.value` is the SessionConfig the controls describe (validated); **Apply** (or
`await form.apply()`) sends it as `session.update` and shows the server's answer. The connection
section (endpoint, deployment, protocol, API key) builds a ConnectionConfig; the API key travels
from the page in a one-off custom message and lives only in a private Python attribute: it is
never a synced trait, so it never reaches widget state or a saved notebook.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..errors import SessionUpdateError
from ..session_config import SessionConfig
from ._protocols import ConfigurableSession, Unsubscribe
from .connection_fields import ConnectionFields, StatusKind, run_soon, status_html
from .settings_controls import SettingsControls

if TYPE_CHECKING:
    from ..events import RealtimeEvent


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

        c = self.controls = SettingsControls()  # its controls are the form's too: form.voice, ...
        self.instructions, self.voice, self.voice_note = c.instructions, c.voice, c.voice_note
        self.turn_detection, self.threshold, self.eagerness = c.turn_detection, c.threshold, c.eagerness
        self.prefix_padding_ms, self.silence_duration_ms = c.prefix_padding_ms, c.silence_duration_ms
        self.create_response, self.interrupt_response = c.create_response, c.interrupt_response
        self.temperature, self.speed = c.temperature, c.speed
        self.unlimited_tokens, self.max_output_tokens = c.unlimited_tokens, c.max_output_tokens
        self.transcription_model, self.noise_reduction = c.transcription_model, c.noise_reduction
        self.apply_button = w.Button(
            description="Apply", button_style="primary", tooltip="Send session.update"
        )
        self.status = w.HTML(status_html(""))
        self._syncing = False  # the controls are being set from a config: no edit is pending
        self.connection_status = w.HTML()
        self.connection_fields = ConnectionFields(self._show_connection, self._schedule)
        fields = self.connection_fields  # its controls are the form's too: form.endpoint, ...
        self.endpoint, self.deployment, self.protocol = fields.endpoint, fields.deployment, fields.protocol
        self.api_key, self.connect_button = fields.api_key, fields.connect_button
        self.connection_config = fields.connection_config
        self.on_connect = fields.on_connect

        self.protocol.observe(self._on_protocol, names="value")
        self.apply_button.on_click(lambda _b: self._schedule(self.apply()))
        for control in c.all():
            control.observe(self._edited, names="value")

        settings = w.VBox([c.box, w.HBox([self.apply_button, self.status])])
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
        return self.controls.read(base, ga=self.current_protocol == "ga")

    @value.setter
    def value(self, config: SessionConfig) -> None:
        if not isinstance(config, SessionConfig):
            raise TypeError(f"SessionConfigForm.value must be a SessionConfig, got {type(config).__name__}")
        self._syncing = True
        try:
            self._base = config  # keeps the fields the form has no control for (tools, language, ...)
            self.controls.show(config)
        finally:
            self._syncing = False
        self._edited()

    def _edited(self, _change: object = None) -> None:
        """The status line says "Not applied yet" while, and only while, the controls differ from
        the settings in effect."""
        if self._syncing:
            return
        try:
            pending = self.value != self._base
        except (TypeError, ValueError) as exc:
            self.status.value = status_html(f"Not valid: {exc}", "error")
            return
        if pending:
            self.status.value = status_html("Not applied yet")
        elif "Not applied yet" in self.status.value or "Not valid" in self.status.value:
            self.status.value = status_html("")

    # -- protocol --------------------------------------------------------------------------
    @property
    def current_protocol(self) -> str:
        conn = getattr(self.session, "connection", None)
        return getattr(conn, "protocol", None) or self._protocol or self.protocol.value

    def _on_protocol(self, change: dict) -> None:
        if self.session is None:
            self._show_protocol(change["new"])

    def _show_protocol(self, protocol: str) -> None:
        self.controls.show_protocol(protocol)
        if self.protocol.value != protocol:
            self.protocol.value = protocol

    # -- session ---------------------------------------------------------------------------
    def connect(self, session: ConfigurableSession) -> Unsubscribe:
        """Edit `session`'s settings: the controls take its current config; Apply updates it.
        Returns a function that disconnects."""
        self.disconnect()
        self.session = session
        self.controls.lock_voice(None)
        config = getattr(session, "config", None)
        if isinstance(config, SessionConfig):
            self.value = config
        if _has_assistant_audio(session):
            self.controls.lock_voice()
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
        elif event.type == "response.output_audio.delta" and not self.voice.disabled:
            self.controls.lock_voice()

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
        self.connection_status.value = status_html(text, kind)

    async def apply(self) -> dict | None:
        """Send the form's settings as `session.update`; the status line shows the server's answer."""
        try:
            config = self.value
        except (TypeError, ValueError) as exc:
            self.status.value = status_html(f"Not sent: {exc}", "error")
            return None
        if self.session is None:
            self.status.value = status_html("Not sent: no session (connect one first)", "error")
            return None
        self.status.value = status_html("Applying…")
        session = self.session
        voice_kept = None
        current = getattr(session, "config", None)
        if self.voice.disabled and isinstance(current, SessionConfig) and config.voice != current.voice:
            voice_kept = current.voice  # known to be refused: not asked (no error event in the log)
            config = config.replace(voice=voice_kept)
        try:
            try:
                result = await session.update(config)
            except SessionUpdateError as exc:
                if exc.code != "cannot_update_voice" or not isinstance(current, SessionConfig):
                    raise
                # The other edits of this Apply still go through, with the voice the session has.
                voice_kept = current.voice
                config = config.replace(voice=voice_kept)
                result = await session.update(config)
        except Exception as exc:  # the server's error message is the useful part
            self.status.value = status_html(f"Error: {exc}", "error")
            self.refresh_connection()
            return None
        self._syncing = True
        try:
            self._base = config
            if voice_kept is not None:
                self.voice.value = voice_kept
                self.controls.lock_voice()
        finally:
            self._syncing = False
        if voice_kept is None:
            self.status.value = status_html("Session updated", "ok")
        else:
            self.status.value = status_html(
                f"Session updated, but the voice stays {voice_kept}: the service refuses a new voice "
                "once the assistant has spoken",
                "info",
            )
        self.refresh_connection()
        return result

    def _schedule(self, coro: Coroutine[Any, Any, Any]) -> None:
        # Button callbacks return at once; the coroutine finishes on a loop afterwards.
        self._pending = run_soon(coro, getattr(self.session, "loop", None))
        if self._pending is None:
            self.status.value = status_html(
                "Not sent: no running event loop; use `await form.apply()`", "error"
            )

    def __repr__(self) -> str:
        return f"<SessionConfigForm protocol={self.current_protocol!r} session={'yes' if self.session else 'no'}>"


def _has_assistant_audio(session: object) -> bool:
    conversation = getattr(session, "conversation", None)
    return any(getattr(t, "audio_samples", 0) for t in getattr(conversation, "turns", ()))
