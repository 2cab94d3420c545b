"""The connection part of the config form: endpoint, deployment, protocol and a secret API key box.

The API key travels from the page in a one-off custom message and lives only in a private Python
attribute: it is never a synced trait, so it never reaches widget state or a saved notebook.
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

if TYPE_CHECKING:
    from ..config import ConnectionConfig

StatusKind = str  # "ok" | "error" | "info"
STYLE = {"description_width": "150px"}
WIDE = w.Layout(width="420px")


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


def status_html(text: str, kind: StatusKind = "info") -> str:
    color = {"ok": "#1a7f37", "error": "#a40e26", "info": "inherit"}[kind]
    return f'<span class="rw-form-status" data-kind="{kind}" style="color:{color}">{html.escape(text)}</span>'


def run_soon(
    coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop | None = None
) -> asyncio.Future | Future | None:
    """Run `coro` after a button click returns, on `loop` (the session's) when it runs: ipykernel 7
    may call comm handlers on a loop of its own, and scripts with `run_sync` run the session on a
    thread. Else on the running loop; None (and the coroutine closed) when neither runs."""
    try:
        here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    if loop is not None and loop.is_running() and loop is not here:
        return asyncio.run_coroutine_threadsafe(coro, loop)
    if here is not None:
        return here.create_task(coro)
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
            style=STYLE,
            layout=WIDE,
        )
        self.deployment = w.Text(description="Deployment", placeholder="gpt-realtime", style=STYLE)
        self.protocol = w.ToggleButtons(
            options=[("GA", "ga"), ("Preview", "preview")], description="Protocol", style=STYLE
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
