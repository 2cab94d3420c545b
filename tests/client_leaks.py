"""A pytest plugin that fails the test which leaves an async `openai` client open for the garbage collector.

An unclosed `AsyncOpenAI` is closed by its `__del__` with a task on whatever loop runs when it is
collected: another test's, where closing sockets of a closed loop logs "Task exception was never
retrieved" and fails that innocent test. So every async SDK HTTP client is marked with the test that
made it; after each test that made one, a client of that test still open is collected, and a
collection of an open client (now, or later for one a wider fixture held) is reported against its
maker. (A sync `OpenAI` left open closes itself synchronously when collected: harmless, not counted.)
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Generator
from typing import Any

import pytest
from openai._base_client import AsyncHttpxClientWrapper

WRAPPERS = (AsyncHttpxClientWrapper,)
_current_test = "(outside a test)"
_made_by_this_test: weakref.WeakSet[Any] = weakref.WeakSet()
# (client class, the test that made it) for each client collected while still open.
collected_open: list[tuple[str, str]] = []


def _install() -> None:
    for wrapper in WRAPPERS:
        if getattr(wrapper, "_leak_guard", False):
            continue
        original_init, original_del = wrapper.__init__, wrapper.__del__

        def __init__(self: Any, *args: Any, _init: Any = original_init, **kwargs: Any) -> None:
            _init(self, *args, **kwargs)
            self._made_by = _current_test
            _made_by_this_test.add(self)

        def __del__(self: Any, _del: Any = original_del) -> None:
            if not self.is_closed:
                collected_open.append((type(self).__name__, getattr(self, "_made_by", "?")))
            _del(self)

        wrapper.__init__ = __init__  # type: ignore[method-assign]
        wrapper.__del__ = __del__  # type: ignore[method-assign]
        wrapper._leak_guard = True  # type: ignore[attr-defined]


def take_collected_open() -> list[tuple[str, str]]:
    """The open clients collected since the last call (and forget them)."""
    found = collected_open[:]
    collected_open.clear()
    return found


def pytest_configure(config: pytest.Config) -> None:
    _install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
    global _current_test
    _current_test = item.nodeid
    try:
        return (yield)
    finally:
        _current_test = "(outside a test)"


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
    result = yield  # the test's fixtures are torn down: what they held is released
    if any(not client.is_closed for client in _made_by_this_test):
        gc.collect()  # only when this test left one open: collecting costs time
    _made_by_this_test.clear()
    leaks = take_collected_open()
    if leaks:
        where = "; ".join(f"a {kind} made by {maker}" for kind, maker in leaks)
        raise AssertionError(
            f"openai client(s) garbage-collected while open: {where}. Close each client the test makes "
            "(`with`/`async with` the client, `await client.close()`, or a fixture that closes it)."
        )
    return result
