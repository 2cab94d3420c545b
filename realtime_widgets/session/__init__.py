"""The realtime session: `RealtimeSession` and the parts it is made of.

| module | one concept |
| --- | --- |
| `session.py` | `RealtimeSession`: lifecycle, protocol calls and flows; a façade over the parts below |
| `link.py` | the SDK's WebSocket, the receive task, the ordered outbox, thread hand-off |
| `dispatch.py` | waiters, callbacks (`on`), iterators (`events`), error routing by event id |
| `client_events.py` | client events built by family (no flow logic) |
| `user_turns.py` | what the user says: text, audio appends, commits, clips, waiting for spoken turns |
| `barge_in.py` | interruption: outputs clear, the session truncates at what was heard |
| `tools.py` | function calling (`on_tool`, `send_tool_output`) |
| `reconnect.py` | the reconnect policy, history replay (`history_items`) |
"""

from .barge_in import AudioOutput, PlayedAudio
from .reconnect import history_items
from .session import RealtimeSession
from .user_turns import with_closing_silence

__all__ = ["AudioOutput", "PlayedAudio", "RealtimeSession", "history_items", "with_closing_silence"]
