"""Jupyter widgets: views and controls over a RealtimeSession and its Conversation."""

from __future__ import annotations

from .captions import CaptionsView, LiveCaptions
from .clip import ClipRecorder
from .config_form import SessionConfigForm
from .console import RealtimeConsole
from .event_log import EventLog
from .player import AudioPlayer
from .recorder import MicRecorder
from .transcript import TranscriptView
from .webrtc_call import WebRTCCall

__all__ = [
    "AudioPlayer",
    "CaptionsView",
    "ClipRecorder",
    "EventLog",
    "LiveCaptions",
    "MicRecorder",
    "RealtimeConsole",
    "SessionConfigForm",
    "TranscriptView",
    "WebRTCCall",
]
