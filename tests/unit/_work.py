"""Work done, counted instead of timed: how many lines of a function ran, how often a function
was called. ``sys.settrace`` only watches the real code run; nothing is replaced. A bound on
work holds on a loaded machine as on an idle one, which a bound on seconds does not."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any


@dataclass
class Work:
    """What ran inside a :func:`counting` block, per watched function."""

    #: Lines run in the function's own frames (its loop iterations show here).
    lines: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)


@contextmanager
def counting(*functions: Callable[..., Any]) -> Iterator[Work]:
    """Count the calls of ``functions`` (Python functions) and the lines they run, in this
    thread, while the block runs."""
    watched: dict[CodeType, str] = {f.__code__: f.__qualname__ for f in functions}
    work = Work({name: 0 for name in watched.values()}, {name: 0 for name in watched.values()})

    def in_frame(frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            work.lines[watched[frame.f_code]] += 1
        return in_frame

    def on_call(frame: FrameType, event: str, arg: object) -> Any:
        name = watched.get(frame.f_code)
        if name is None:
            return None  # not watched: no line events for it
        work.calls[name] += 1
        return in_frame

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        yield work
    finally:
        sys.settrace(previous)
