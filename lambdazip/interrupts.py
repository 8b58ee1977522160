"""Ctrl-C and SIGTERM unwind the tool (every `finally` runs: containers removed, nothing half
written), except while what a job made is being removed: an interrupt landing between asking the
engine and its answer left a container behind (tests/test_faults.py found it). In such a section
(``uninterrupted``) the main thread's interrupt is held and raised when the section ends.
Signals are Python's to handle in the main thread only; other threads' sections hold nothing."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_state = {"held": 0, "pending": 0}


def interrupt(_signum: int, _frame: object) -> None:
    """The handler of SIGINT and SIGTERM that the command line installs."""
    if _state["held"]:
        _state["pending"] = 1
        return
    raise KeyboardInterrupt


def install() -> None:
    """Take SIGINT and SIGTERM (CI cancelling a job, `docker stop`, `kill`): both unwind like
    Ctrl-C, outside an uninterrupted section."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, interrupt)


@contextmanager
def uninterrupted() -> Iterator[None]:
    """An interrupt of the main thread waits until the section ends, then is raised."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state["held"] += 1
    try:
        yield
    finally:
        _state["held"] -= 1
        if not _state["held"] and _state["pending"]:
            _state["pending"] = 0
            raise KeyboardInterrupt
