"""Widget messages as the page sends and receives them, each checked against its typed shape."""

from __future__ import annotations

from collections.abc import Iterable

import pydantic

from realtime_widgets.widgets._protocols import FROM_PAGE, TO_PAGE

_STRICT = pydantic.ConfigDict(extra="forbid", strict=True)


def check_shape(table: dict, widget: object, content: dict) -> None:
    """Raise unless `content` is one of the shapes `table` gives `widget`'s class (no extra keys)."""
    shape = table[type(widget).__name__]
    # A list around the shape: pydantic takes a config for a list (not for a bare TypedDict).
    pydantic.TypeAdapter(list[shape], config=_STRICT).validate_python([content])


def page_sends(widget, content: dict, buffers: Iterable = (), *, checked: bool = True) -> None:
    """Deliver a custom message as the page would, through the widget's comm, after checking its
    shape (`checked=False` for a message no page of ours sends, to see it ignored)."""
    if checked:
        check_shape(FROM_PAGE, widget, content)
    data = {"method": "custom", "content": content}
    widget.comm.handle_msg({"content": {"data": data}, "buffers": list(buffers)})


def sent_to_page(widget, kind: str | None = None) -> list[dict]:
    """What a widget sent through its RecordingComm (the `front_end` fixture), each checked."""
    contents = widget.comm.custom(kind)
    for content in contents:
        check_shape(TO_PAGE, widget, content)
    return contents
