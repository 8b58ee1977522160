"""All terminal output goes through one Console: it knows whether colour is wanted, where errors go,
and how loud to be. Only the CLI creates one; library code returns values and raises errors."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from .findings import Finding, Severity

_CODES = {"red": "31", "yellow": "33", "green": "32", "bold": "1", "dim": "2"}


_LOCK = threading.Lock()


def _emit(text: str, file: TextIO, flush: bool = True) -> None:
    with _LOCK:
        file.write(text + "\n")
        if flush:
            file.flush()  # whole lines, also when parallel builds report at once


def wants_color(stream: TextIO, env: Mapping[str, str]) -> bool:
    """NO_COLOR (any value) turns colour off; FORCE_COLOR turns it on; else only on a TTY."""
    if "NO_COLOR" in env:
        return False
    if env.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and env.get("TERM") != "dumb"


@dataclass
class Console:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    color: bool = False
    verbosity: int = 0  # -1 quiet, 0 normal, 1 verbose
    _step: tuple[str, float] | None = None

    @classmethod
    def create(cls, env: Mapping[str, str], verbosity: int = 0) -> Console:
        return cls(sys.stdout, sys.stderr, wants_color(sys.stderr, env), verbosity)

    def paint(self, text: str, *styles: str) -> str:
        if not self.color or not styles:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\033[{codes}m{text}\033[0m"

    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            _emit(message, file=self.err, flush=True)

    def debug(self, message: str) -> None:
        if self.verbosity > 0:
            _emit(self.paint(message, "dim"), file=self.err, flush=True)

    def result(self, text: str) -> None:
        """The command's product (a report, JSON): stdout, never suppressed."""
        _emit(text, file=self.out, flush=True)

    def finding(self, finding: Finding) -> None:
        color = "red" if finding.severity is Severity.ERROR else "yellow"
        label = self.paint(f"{finding.severity.value}:", color, "bold")
        _emit(f"{label}{finding.line().split(':', 1)[1]}", file=self.out, flush=True)

    def step(self, title: str) -> None:
        """Begin a step of a long job; the previous one's duration is printed when it ends."""
        now = time.monotonic()
        self._end_step(now)
        self._step = (title, now)
        if self.verbosity >= 0:
            _emit(self.paint(f"==> {title}", "bold"), file=self.err, flush=True)

    def _end_step(self, now: float) -> None:
        if self._step is not None and self.verbosity > 0:
            _title, started = self._step
            _emit(self.paint(f"    ({now - started:.1f}s)", "dim"), file=self.err, flush=True)
        self._step = None

    def detail(self, line: str) -> None:
        """Output of a tool we run (pip, the engine): shown with -v, its errors always."""
        if self.verbosity > 0 or line.startswith("ERROR"):
            _emit(f"    {line}", file=self.err, flush=True)

    def success(self, message: str) -> None:
        self._end_step(time.monotonic())
        if self.verbosity >= 0:
            _emit(self.paint(message, "green"), file=self.err, flush=True)

    def error(self, message: str, tip: str | None = None) -> None:
        """One line: what failed, then what to do."""
        line = f"{message}; {tip}" if tip else message
        _emit(f"{self.paint('error:', 'red', 'bold')} {line}", file=self.err, flush=True)


class Prefixed:
    """Progress of one of several parallel jobs: its lines carry its name."""

    def __init__(self, console: Console, label: str) -> None:
        self.console = console
        self.label = label

    def step(self, title: str) -> None:
        if self.console.verbosity >= 0:
            _emit(self.console.paint(f"[{self.label}] ==> {title}", "bold"), self.console.err)

    def detail(self, line: str) -> None:
        if self.console.verbosity > 0 or line.startswith("ERROR"):
            _emit(f"[{self.label}]     {line}", self.console.err)
