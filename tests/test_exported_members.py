"""The package's one `__all__` holds every public name, and every exception of errors.py (as httpx checks)."""

from __future__ import annotations

import inspect
import types

import realtime_widgets
from realtime_widgets import errors


def _error_classes() -> set[str]:
    return {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
        and not name.startswith("_")
    }


def test_every_exception_of_errors_py_is_exported():
    classes = _error_classes()
    assert {"RealtimeWidgetsError", "SessionClosed", "PreviewRetiredWarning"} <= classes
    assert classes <= set(realtime_widgets.__all__)
    for name in classes:
        assert getattr(realtime_widgets, name) is getattr(errors, name)


def test_the_tree_has_one_root():
    for name in _error_classes() - {"PreviewRetiredWarning"}:
        assert issubclass(getattr(errors, name), errors.RealtimeWidgetsError), name
    assert issubclass(errors.PreviewRetiredWarning, FutureWarning)


def test_the_drawing_names_every_exception():
    drawing = errors.__doc__ or ""
    assert [name for name in sorted(_error_classes()) if name not in drawing] == []


def test_all_is_sorted_unique_and_every_name_resolves():
    names = realtime_widgets.__all__
    assert names == sorted(set(names))
    for name in names:
        value = getattr(realtime_widgets, name)
        assert value.__module__.startswith("realtime_widgets"), name


def test_all_holds_every_public_name():
    for name in realtime_widgets.__all__:  # load the lazy names, as a user's code would
        getattr(realtime_widgets, name)
    public = {
        name
        for name, value in vars(realtime_widgets).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(realtime_widgets.__all__)
    assert set(dir(realtime_widgets)) >= set(realtime_widgets.__all__)
