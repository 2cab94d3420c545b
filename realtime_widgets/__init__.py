"""Jupyter widgets for Azure OpenAI voice models, with a local emulator of the service.

Public names are imported lazily so `import realtime_widgets` stays fast and the emulator
can run without loading the widget stack.
"""

import importlib
import typing

__version__ = "0.1.0"

_EXPORTS = {
    "ConnectionConfig": "realtime_widgets.config",
    "ClientSecret": "realtime_widgets.client_secret",
    "create_client_secret": "realtime_widgets.client_secret",
    "SessionConfig": "realtime_widgets.session_config",
    "RealtimeSession": "realtime_widgets.session",
    "RealtimeEvent": "realtime_widgets.events",
    "Conversation": "realtime_widgets.conversation",
    "Turn": "realtime_widgets.conversation",
    "ToolCall": "realtime_widgets.conversation",
    "AudioChat": "realtime_widgets.completions",
    "AudioReply": "realtime_widgets.completions",
    "speak": "realtime_widgets.completions",
    "plot_spectrogram": "realtime_widgets.plots",
    "plot_latencies": "realtime_widgets.plots",
    "Emulator": "realtime_widgets.emulator",
    "run_sync": "realtime_widgets.sync",
    "evaluate_clips": "realtime_widgets.batch",
    "TokenPrices": "realtime_widgets.pricing",
    "SessionConfigForm": "realtime_widgets.widgets",
    "MicRecorder": "realtime_widgets.widgets",
    "ClipRecorder": "realtime_widgets.widgets",
    "AudioPlayer": "realtime_widgets.widgets",
    "EventLog": "realtime_widgets.widgets",
    "TranscriptView": "realtime_widgets.widgets",
    "LiveCaptions": "realtime_widgets.widgets",
    "CaptionsView": "realtime_widgets.widgets",
    "RealtimeConsole": "realtime_widgets.widgets",
    "WebRTCCall": "realtime_widgets.widgets",
}
# The exception tree (drawn at the top of errors.py) and the one warning.
_EXPORTS.update(
    dict.fromkeys(
        (
            "AudioInputError",
            "CallAudioError",
            "CassetteMismatch",
            "ConfigurationError",
            "ConnectionFailed",
            "PreviewRetiredWarning",
            "RealtimeWidgetsError",
            "RequestTimeout",
            "ServerError",
            "SessionClosed",
            "SessionUpdateError",
            "UnknownModelPrices",
            "WebRTCCallFailed",
        ),
        "realtime_widgets.errors",
    )
)

__all__ = [
    "AudioChat",
    "AudioInputError",
    "AudioPlayer",
    "AudioReply",
    "CallAudioError",
    "CaptionsView",
    "CassetteMismatch",
    "ClientSecret",
    "ClipRecorder",
    "ConfigurationError",
    "ConnectionConfig",
    "ConnectionFailed",
    "Conversation",
    "Emulator",
    "EventLog",
    "LiveCaptions",
    "MicRecorder",
    "PreviewRetiredWarning",
    "RealtimeConsole",
    "RealtimeEvent",
    "RealtimeSession",
    "RealtimeWidgetsError",
    "RequestTimeout",
    "ServerError",
    "SessionClosed",
    "SessionConfig",
    "SessionConfigForm",
    "SessionUpdateError",
    "TokenPrices",
    "ToolCall",
    "TranscriptView",
    "Turn",
    "UnknownModelPrices",
    "WebRTCCall",
    "WebRTCCallFailed",
    "create_client_secret",
    "evaluate_clips",
    "plot_latencies",
    "plot_spectrogram",
    "run_sync",
    "speak",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'realtime_widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if typing.TYPE_CHECKING:  # pragma: no cover
    from .batch import evaluate_clips
    from .client_secret import ClientSecret, create_client_secret
    from .completions import AudioChat, AudioReply, speak
    from .config import ConnectionConfig
    from .conversation import Conversation, ToolCall, Turn
    from .emulator import Emulator
    from .errors import (
        AudioInputError,
        CallAudioError,
        CassetteMismatch,
        ConfigurationError,
        ConnectionFailed,
        PreviewRetiredWarning,
        RealtimeWidgetsError,
        RequestTimeout,
        ServerError,
        SessionClosed,
        SessionUpdateError,
        UnknownModelPrices,
        WebRTCCallFailed,
    )
    from .events import RealtimeEvent
    from .plots import plot_latencies, plot_spectrogram
    from .pricing import TokenPrices
    from .session import RealtimeSession
    from .session_config import SessionConfig
    from .sync import run_sync
    from .widgets import (
        AudioPlayer,
        CaptionsView,
        ClipRecorder,
        EventLog,
        LiveCaptions,
        MicRecorder,
        RealtimeConsole,
        SessionConfigForm,
        TranscriptView,
        WebRTCCall,
    )
