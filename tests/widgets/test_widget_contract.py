"""One widget contract: typed messages with "kind", one ESM file per widget, one CSS prefix,
`connect()` returning the function that disconnects, per-model front-end state without a synced uid."""

from __future__ import annotations

import pathlib
import re
import types
import typing

import anywidget
import numpy as np
import pytest
from anywidget._file_contents import FileContents
from page_messages import page_sends, sent_to_page

from realtime_widgets.conversation import Conversation
from realtime_widgets.emulator import synthesize
from realtime_widgets.events import RealtimeEvent
from realtime_widgets.widgets import (
    CaptionsView,
    ClipRecorder,
    EventLog,
    MicRecorder,
    SessionConfigForm,
    TranscriptView,
    WebRTCCall,
    config_form,
    connection_fields,
)
from realtime_widgets.widgets._protocols import FROM_PAGE, TO_PAGE

WIDGETS = pathlib.Path(config_form.__file__).parent
# The widgets of this contract (the player and the console follow it in their own modules).
ESM_OF = {
    "MicRecorder": "recorder.js",
    "EventLog": "event_log.js",
    "TranscriptView": "transcript.js",
    "CaptionsView": "captions.js",
    "SecretInput": "config_form.js",
    "ClipRecorder": "clip.js",
    "WebRTCCall": "webrtc_call.js",
}
OWN_FILES = [
    *ESM_OF.values(),
    "recorder.css",
    "event_log.css",
    "transcript.css",
    "captions.css",
    "clip.css",
    "webrtc_call.css",
    "webrtc_call.py",
    "recorder.py",
    "event_log.py",
    "transcript.py",
    "captions.py",
    "config_form.py",
    "connection_fields.py",
    "clip.py",
]


def kinds(shape: object) -> set[str]:
    """The "kind" values a shape (a TypedDict or a union of them) allows."""
    members = typing.get_args(shape) if typing.get_origin(shape) in (typing.Union, types.UnionType) else ()
    out: set[str] = set()
    for member in members or (shape,):
        out.update(typing.get_args(typing.get_type_hints(member)["kind"]))
    return out


@pytest.mark.parametrize("widget", sorted(ESM_OF))
def test_the_esm_sends_and_handles_only_typed_kinds(widget: str) -> None:
    js = (WIDGETS / ESM_OF[widget]).read_text()
    sent = set(re.findall(r'\.send\(\s*\{\s*kind: "(\w+)"', js))
    handled = set(re.findall(r'msg\.kind [!=]== "(\w+)"', js))
    assert sent and sent <= kinds(FROM_PAGE[widget]), sent
    assert handled <= kinds(TO_PAGE[widget]) if widget in TO_PAGE else not handled
    assert not re.search(r"\.send\(\s*\{\s*type:", js) and "msg.type" not in js


def test_every_anywidget_has_its_own_esm_file() -> None:
    for cls in (
        MicRecorder,
        EventLog,
        TranscriptView,
        CaptionsView,
        connection_fields.SecretInput,
        ClipRecorder,
        WebRTCCall,
    ):
        # anywidget wraps a path in FileContents; an inline string would not be one
        assert isinstance(cls._esm, FileContents), cls
        assert str(cls._esm) == (WIDGETS / ESM_OF[cls.__name__]).read_text()
        assert issubclass(cls, anywidget.AnyWidget)


def test_one_css_prefix() -> None:
    for name in OWN_FILES:
        text = (WIDGETS / name).read_text()
        assert "rtw-" not in text, name
        for cls in re.findall(r"\.(r[a-z]*-[a-z-]+)\s*[{,.:\[ ]", text) if name.endswith(".css") else ():
            assert cls.startswith("rw-"), (name, cls)


def test_the_recorder_keeps_its_engine_per_model_not_by_a_synced_uid() -> None:
    assert "_uid" not in MicRecorder().trait_names()
    js = (WIDGETS / "recorder.js").read_text()
    assert "export default () =>" in js and "new Map()" not in js


async def test_messages_of_a_spoken_turn_match_their_shapes(session, front_end) -> None:
    recorder, log, view = MicRecorder(), EventLog(session), TranscriptView(session.conversation)
    recorder.connect(session)
    since = len(session.conversation.turns)
    silence = np.zeros(24_000, dtype=np.int16)
    await recorder.feed(np.concatenate([silence[:6000], synthesize("Hello there.", "alloy"), silence]))
    await session.wait_for_turn(since, timeout=30)
    turn = session.conversation.turns[-1]
    page_sends(log, {"kind": "ready"})
    page_sends(log, {"kind": "detail", "index": 0})
    page_sends(log, {"kind": "export"})
    page_sends(view, {"kind": "ready"})
    page_sends(view, {"kind": "play", "index": turn.index, "side": "user"})
    log.flush()
    view.flush()
    got = {w: {m["kind"] for m in sent_to_page(w)} for w in (recorder, log, view)}
    assert got[recorder] == {"ack"}
    assert got[log] == {"reset", "rows", "detail", "export"}
    assert {"reset", "turns", "audio"} <= got[view]


def test_a_message_of_the_wrong_shape_is_refused_by_the_check() -> None:
    recorder = MicRecorder()
    with pytest.raises(ValueError, match="kind"):
        page_sends(recorder, {"type": "start", "stream": 1})  # the old name of "kind"


async def test_connect_returns_the_function_that_disconnects(session, front_end) -> None:
    recorder, log, view, form = MicRecorder(), EventLog(), TranscriptView(), SessionConfigForm()
    offs = [recorder.connect(session), log.connect(session), view.connect(session.conversation)]
    offs.append(form.connect(session))
    assert all(callable(off) for off in offs)
    await recorder.feed(np.zeros(2400, dtype=np.int16))
    await session.send_text("Hi.")
    n_events, n_rows = len(log.events), len(view.rows())
    assert n_events and n_rows == 1 and form.session is session
    for off in offs:
        off()
    await recorder.feed(np.zeros(2400, dtype=np.int16))
    await session.send_text("Again.")
    assert len(log.events) == n_events and len(view.rows()) == 2  # rows are read from the conversation
    assert view.flush() == [] and form.session is None
    assert "Not connected" in form.connection_status.value
    appends = [e for e in session.event_log if e.type == "input_audio_buffer.append"]
    assert len(appends) == 1


def test_captions_connect_returns_the_function_that_disconnects(front_end) -> None:
    conv = Conversation()

    def speak(item_id: str, text: str) -> None:
        item = {"id": item_id, "type": "message", "role": "user", "content": [{"type": "input_audio"}]}
        for raw in (
            {"type": "input_audio_buffer.speech_started", "item_id": item_id, "audio_start_ms": 0},
            {"type": "input_audio_buffer.speech_stopped", "item_id": item_id, "audio_end_ms": 500},
            {"type": "conversation.item.added", "item": item},
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "transcript": text,
            },
        ):
            conv.apply(RealtimeEvent.from_raw(raw, "server", 0.0))

    view = CaptionsView()
    off = view.connect(conv)
    speak("i0", "Heard.")
    view.flush()
    off()
    speak("i1", "Not heard.")
    view.flush()
    assert view.lines == ["Heard."]
