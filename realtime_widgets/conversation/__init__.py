"""What was said and heard in a realtime session, with timing: `Conversation`, `Turn`, `PcmStream`.

A Conversation is built only by feeding it `RealtimeEvent`s (`apply`), client and server alike, in
the order they happened. That makes `load` a replay of the saved event log, and lets tests build one
from synthetic events without a connection.

Audio lives in two append-only streams, "input" (everything we appended) and "output" (every
assistant audio delta). Turns hold sample ranges into them, so no audio is stored twice, and event
payloads are replaced by references into the streams (see `events.py`).

| module | one concept |
| --- | --- |
| `conversation.py` | `Conversation`: applies events, owns the audio, tells listeners; `replay` |
| `stream.py` | `PcmStream`: one append-only PCM16 stream, older audio in a file |
| `turn.py` | `Turn`, `ToolCall`: one exchange, what widgets and plots read |
| `alignment.py` | `align_words`, `WordTime`: where each transcript word is spoken in the audio |
| `book.py` | `TurnBook`: turns, items and the indexes that find them |
| `user_side.py`, `response_side.py` | the event readers of each side of a turn |
| `event_list.py` | `EventList`: the recorded events, older ones as JSON lines in a file |
| `store.py` | `save` / `load` (events.jsonl + input.wav + output.wav) |
| `tables.py` | pandas tables: `TurnList.to_pandas`, the cost per turn, the events |
"""

from .alignment import WordTime, align_words
from .conversation import AudioListener, Conversation, replay
from .event_list import EventList
from .store import EVENTS_FILE, STREAMS
from .stream import PcmStream
from .tables import TurnList
from .turn import ToolCall, Turn

__all__ = [
    "EVENTS_FILE",
    "STREAMS",
    "AudioListener",
    "Conversation",
    "EventList",
    "PcmStream",
    "ToolCall",
    "Turn",
    "TurnList",
    "WordTime",
    "align_words",
    "replay",
]
